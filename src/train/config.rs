//! The resolved configuration of a training run, written as `config.json` before step one.

use crate::data::{Augment, DatasetKind, Normalization};
use super::optim::{KDecayTarget, OptimConfig};
use crate::net::NetConfig;
use crate::precision::Precision;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the data comes from and how it is fed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DataConfig {
    pub kind: DatasetKind,
    pub path: PathBuf,
    /// Keep only the first N training images of each class (small runs and tests).
    pub train_per_class: Option<usize>,
    /// Keep only the first N test images of each class.
    pub test_per_class: Option<usize>,
    pub augment: Augment,
    /// Per-channel mean and std used to normalise the images (older configs: dataset statistics).
    #[serde(default)]
    pub normalization: Normalization,
}

/// Learning-rate schedule over epochs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    /// lr × gamma^(number of milestones ≤ current epoch), epochs counted from 0.
    Step { milestones: Vec<usize>, gamma: f64 },
    /// Cosine decay from lr to 0 over all iterations.
    Cosine,
    Constant,
}

impl Schedule {
    /// Learning rate at `epoch` (0-based) after `progress` ∈ [0, 1) of that epoch.
    pub fn lr(&self, base: f64, epoch: usize, progress: f64, epochs: usize) -> f64 {
        match self {
            Self::Step { milestones, gamma } => {
                let passed = milestones.iter().filter(|&&m| epoch >= m).count();
                base * gamma.powi(passed as i32)
            }
            Self::Cosine => {
                let t = (epoch as f64 + progress) / epochs.max(1) as f64;
                0.5 * base * (1.0 + (std::f64::consts::PI * t).cos())
            }
            Self::Constant => base,
        }
    }
}

/// Everything a run needs; `odenet train` resolves flags into this and saves it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    pub model: NetConfig,
    pub data: DataConfig,
    pub optim: OptimConfig,
    pub schedule: Schedule,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// `cpu`, `cuda[:N]` or `wgpu`.
    pub device: String,
    /// RevNet models: recompute coupled stages in the backward pass instead of storing their
    /// activations ([`crate::reversible`]).
    #[serde(default)]
    pub reversible: bool,
    /// f32, or bf16 mixed precision (bf16 activations, f32 parameters and optimiser; see
    /// [`crate::precision`]). Configs written before it existed train in f32.
    #[serde(default)]
    pub precision: Precision,
}

/// Named recipes from the paper (Lu et al., ICML 2018, §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// CIFAR-10 LM-ResNet: lr 0.1, ÷10 at epochs 80 and 120, 160 epochs, wd 1e-4, batch 128.
    PaperCifar10,
    /// CIFAR-100 LM-ResNet: lr 0.1, ÷10 at epochs 150 and 225, 300 epochs.
    PaperCifar100,
    /// Stochastic-depth LM-ResNet on CIFAR-10: lr 0.1, ÷10 at epochs 250 and 375, 500 epochs,
    /// with stochastic depth (p_L = 0.8 for depth ≤ 56, 0.5 deeper, as in the paper).
    PaperSd,
    /// ImageNet (the paper's schedule was not recovered; this is the standard one it most likely
    /// used): lr 0.1, ÷10 at epochs 30, 60 and 80, 90 epochs, wd 1e-4, batch 256.
    PaperImagenet,
    /// The paper-cifar10 recipe with every convention of the official LM-ResNet code
    /// (2prime/LM-ResNet `MResNet.py`): weight decay pulls k toward 1, per-channel k starts in
    /// [1, 1.1], stochastic depth indexes blocks 0 … L − 1 and divides by p in training, CIFAR
    /// normalised with the code's constants.
    Official,
}

impl Preset {
    /// (epochs, schedule) of the recipe.
    pub fn schedule(self) -> (usize, Schedule) {
        match self {
            Self::PaperCifar10 | Self::Official => {
                (160, Schedule::Step { milestones: vec![80, 120], gamma: 0.1 })
            }
            Self::PaperCifar100 => {
                (300, Schedule::Step { milestones: vec![150, 225], gamma: 0.1 })
            }
            Self::PaperSd => (500, Schedule::Step { milestones: vec![250, 375], gamma: 0.1 }),
            Self::PaperImagenet => (90, Schedule::Step { milestones: vec![30, 60, 80], gamma: 0.1 }),
        }
    }

    /// How the recipe normalises images: the official code's CIFAR constants for `official` on
    /// CIFAR, the training split's own statistics otherwise.
    pub fn normalization(self, kind: &DatasetKind) -> Normalization {
        if self == Self::Official { kind.facts().official_normalization } else { Normalization::Dataset }
    }

    /// How stochastic depth keeps E[update] deterministic in this recipe: the official code
    /// divides f by p in training, the paper (Huang et al.) scales f by p at test time.
    pub fn drop_scaling(self) -> crate::scheme::noise::DropScaling {
        use crate::scheme::noise::DropScaling;
        if self == Self::Official { DropScaling::Inverted } else { DropScaling::AtTest }
    }

    /// How stochastic depth indexes blocks for p_l: the official code's i/(L − 1) or Huang's l/L.
    pub fn sd_indexing(self) -> crate::scheme::noise::SurvivalIndexing {
        use crate::scheme::noise::SurvivalIndexing;
        if self == Self::Official { SurvivalIndexing::Official } else { SurvivalIndexing::Huang }
    }

    /// Mini-batch size of the recipe.
    pub fn batch_size(self) -> usize {
        match self {
            Self::PaperImagenet => 256,
            _ => 128,
        }
    }

    /// Survival probability of the last block the recipe implies for a net of `blocks` blocks:
    /// the paper uses p_L = 0.8 for LM-ResNet-56 (27 blocks) and 0.5 for LM-ResNet-110 (54).
    pub fn p_last(self, blocks: usize) -> Option<f64> {
        match self {
            Self::PaperSd => Some(if blocks <= 27 { 0.8 } else { 0.5 }),
            _ => None,
        }
    }

    pub fn optim(self) -> OptimConfig {
        let k_decay_target = match self {
            Self::Official => KDecayTarget::Official,
            _ => KDecayTarget::Paper,
        };
        OptimConfig { lr: 0.1, momentum: 0.9, nesterov: false, weight_decay: 1e-4, decay_k: true, k_decay_target }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_step_schedule_divides_by_ten_at_80_and_120() {
        let (_, s) = Preset::PaperCifar10.schedule();
        let lr = |e| s.lr(0.1, e, 0.0, 160);
        assert!((lr(0) - 0.1).abs() < 1e-12 && (lr(79) - 0.1).abs() < 1e-12);
        assert!((lr(80) - 0.01).abs() < 1e-12 && (lr(119) - 0.01).abs() < 1e-12);
        assert!((lr(120) - 0.001).abs() < 1e-12 && (lr(159) - 0.001).abs() < 1e-12);
    }

    #[test]
    fn paper_sd_recipe_is_500_epochs_with_the_papers_survival() {
        let (epochs, s) = Preset::PaperSd.schedule();
        assert_eq!(epochs, 500);
        assert!((s.lr(0.1, 249, 0.0, 500) - 0.1).abs() < 1e-12);
        assert!((s.lr(0.1, 250, 0.0, 500) - 0.01).abs() < 1e-12);
        assert!((s.lr(0.1, 375, 0.0, 500) - 0.001).abs() < 1e-12);
        assert_eq!(Preset::PaperSd.p_last(27), Some(0.8)); // LM-ResNet-56
        assert_eq!(Preset::PaperSd.p_last(54), Some(0.5)); // LM-ResNet-110
        assert_eq!(Preset::PaperCifar10.p_last(27), None);
    }

    #[cfg(feature = "cli")]
    #[test]
    fn a_preset_parses_by_its_command_line_name() {
        use clap::ValueEnum;
        for p in Preset::value_variants() {
            let name = p.to_possible_value().expect("named").get_name().to_string();
            let parsed = crate::reproduce::experiment::parse_preset(&name.to_uppercase());
            assert_eq!(parsed.ok(), Some(*p), "{name}");
        }
        assert!(crate::reproduce::experiment::parse_preset("paper").is_err());
    }

    #[test]
    fn cosine_starts_at_base_and_halves_midway() {
        let s = Schedule::Cosine;
        assert!((s.lr(0.1, 0, 0.0, 10) - 0.1).abs() < 1e-12);
        assert!((s.lr(0.1, 5, 0.0, 10) - 0.05).abs() < 1e-12);
    }
}
