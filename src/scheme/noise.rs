//! Stochastic training as stochastic differential equations (Lu et al. 2018, §4): random terms
//! that compose with any stepping rule, active only in training (autodiff device). They wrap the
//! block's vector field once ([`Noisy`], a [`Field`]) or the state after a step
//! ([`StageNoise::inject`]), so every rule of [`super`] sees them the same way: a dropped
//! RevNet or FractalNet block applies its rule with f = 0 (the identity for RevNet, the
//! k-combination of states for FractalNet, as for LM below).
//!
//! - **Stochastic depth** (Huang et al. 2016): `X_{n+1} = step(X, η_n f(X_n))`, η_n ~ Bernoulli(p_n),
//!   a weak approximation of `dX = p(t) f(X) dt + √(p(t)(1 − p(t))) f(X) ⊙ [1, 0, …] dB_t`.
//!   Survival decays linearly with the block index l = 1 … L: `p_l = 1 − (l/L)(1 − p_L)`.
//!   A dropped block costs nothing (its branch is not evaluated). With the LM rule the dropped
//!   block still applies the two-step combination of states: this is the paper's stochastic
//!   LM-ResNet `X_{n+1} = (2 + g_n) X_n − (1 + g_n) X_{n−1} + η_n f(X_n)` with `g_n = −(1 + k_n)`.
//!   Two scalings keep E[update] equal to the deterministic update: [`DropScaling::AtTest`]
//!   (Huang, the paper: train with η f, test with p f) and [`DropScaling::Inverted`] (official
//!   LM-ResNet code: train with η f / p, test with f).
//! - **Noise injection** (official code `ResNet_N`): after every block, add Gaussian N(0, σ²) or
//!   uniform U(0, σ) noise to the state; an Euler–Maruyama step of `dX = f dt + σ dB_t`
//!   (uniform: plus a drift σ/2 and variance σ²/12).
//! - Shake-shake lives with the branches ([`crate::nn::BranchKind::ShakeShake`]), since it mixes
//!   two branch outputs: `η f_1 + (1 − η) f_2`, η ~ U(0, 1), i.e. drift (f_1 + f_2)/2 and
//!   diffusion (f_1 − f_2)/√12.

use super::Field;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

/// How a stochastic-depth network keeps the expected update equal to the deterministic one.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum DropScaling {
    /// Huang et al. and the paper: η f in training, p f at test time.
    #[default]
    AtTest,
    /// Official LM-ResNet code: η f / p in training, f at test time.
    Inverted,
}

/// Which blocks stochastic depth indexes, i.e. where the linear decay of survival starts.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum SurvivalIndexing {
    /// Huang et al. (2016) and the paper: `p_l = 1 − (l/L)(1 − p_L)` for blocks l = 1 … L.
    #[default]
    Huang,
    /// Official LM-ResNet code: `p_i = 1 − (i/(L − 1))(1 − p_L)` for blocks i = 0 … L − 1, so the
    /// first block is never dropped.
    Official,
}

/// The random term of a network's blocks; serialised into every run's config.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NoiseConfig {
    /// Deterministic training.
    #[default]
    None,
    /// Stochastic depth with linear decay down to survival `p_last` at the last block.
    StochasticDepth {
        p_last: f64,
        scaling: DropScaling,
        /// Older configs have none: Huang's indexing, the only one then.
        #[serde(default)]
        indexing: SurvivalIndexing,
    },
    /// N(0, σ²) added to the state after every block.
    Gaussian { sigma: f64 },
    /// U(0, σ) added to the state after every block (as in the official code).
    Uniform { sigma: f64 },
}

/// Survival probability of block `l` (1-based) of `total`: `p_l = 1 − (l/L)(1 − p_L)` (Huang),
/// or `1 − ((l − 1)/(L − 1))(1 − p_L)` (official code, 0-based i = l − 1; 1 for a single block).
pub fn survival(l: usize, total: usize, p_last: f64, indexing: SurvivalIndexing) -> f64 {
    let fraction = match indexing {
        SurvivalIndexing::Huang => l as f64 / total.max(1) as f64,
        SurvivalIndexing::Official if total <= 1 => 0.0,
        SurvivalIndexing::Official => (l - 1) as f64 / (total - 1) as f64,
    };
    1.0 - fraction * (1.0 - p_last)
}

/// The noise of one stage: its config and the survival probability of each of its blocks.
#[derive(Module, Debug)]
pub struct StageNoise {
    #[module(skip)]
    pub config: NoiseConfig,
    /// Survival probability per block of the stage (1 without stochastic depth).
    #[module(skip)]
    pub survival: Vec<f64>,
}

impl StageNoise {
    /// Noise for blocks `first + 1 ..= first + blocks` (global 1-based indices) of `total`.
    pub fn new(config: &NoiseConfig, first: usize, blocks: usize, total: usize) -> Self {
        let survival = (1..=blocks)
            .map(|i| match config {
                NoiseConfig::StochasticDepth { p_last, indexing, .. } => {
                    survival(first + i, total, *p_last, *indexing)
                }
                _ => 1.0,
            })
            .collect();
        Self { config: config.clone(), survival }
    }

    /// Which blocks run in this forward pass. All of them at test time; in training each block
    /// survives with its probability, drawn once per mini-batch from the device RNG (so a fixed
    /// seed gives the same draws).
    pub fn draw_survivors(&self, device: &Device) -> Vec<bool> {
        let stochastic = matches!(self.config, NoiseConfig::StochasticDepth { .. });
        if !stochastic || !device.is_autodiff() || self.survival.is_empty() {
            return vec![true; self.survival.len()];
        }
        let u: Tensor<1> = Tensor::random([self.survival.len()], Distribution::Default, device);
        let u: Vec<f32> = u.into_data().try_to_vec::<f32>().unwrap_or_default();
        u.iter().zip(&self.survival).map(|(&x, &p)| (x as f64) < p).collect()
    }

    /// Scales a surviving branch output so that E[update] is the deterministic update.
    pub fn scale(&self, block: usize, fu: Tensor<4>) -> Tensor<4> {
        let NoiseConfig::StochasticDepth { scaling, .. } = self.config else { return fu };
        let p = self.survival[block];
        match (scaling, fu.device().is_autodiff()) {
            (DropScaling::Inverted, true) => fu.div_scalar(p),
            (DropScaling::AtTest, false) => fu.mul_scalar(p),
            _ => fu,
        }
    }

    /// Block `block`'s field under stochastic depth: not evaluated when it did not `survive`,
    /// else every part scaled by [`StageNoise::scale`].
    pub fn wrap<'a, F: Field>(&'a self, block: usize, survive: bool, field: &'a F) -> Noisy<'a, F> {
        Noisy { field, noise: self, block, survive }
    }

    /// Adds the injected noise to a state after a block (training only).
    pub fn inject(&self, u: Tensor<4>) -> Tensor<4> {
        let device = u.device();
        if !device.is_autodiff() {
            return u;
        }
        let dist = match self.config {
            NoiseConfig::Gaussian { sigma } => Distribution::Normal(0.0, sigma),
            NoiseConfig::Uniform { sigma } => Distribution::Uniform(0.0, sigma),
            _ => return u,
        };
        let noise = crate::precision::like(Tensor::random(u.shape(), dist, &device), &u);
        u + noise
    }
}

/// A block's field with stochastic depth applied (see [`StageNoise::wrap`]).
pub struct Noisy<'a, F> {
    field: &'a F,
    noise: &'a StageNoise,
    block: usize,
    survive: bool,
}

impl<F: Field> Field for Noisy<'_, F> {
    fn eval(&self, u: Tensor<4>) -> Tensor<4> {
        match self.survive {
            true => self.noise.scale(self.block, self.field.eval(u)),
            false => u.zeros_like(),
        }
    }

    fn parts(&self) -> usize {
        self.field.parts()
    }

    fn part(&self, i: usize, u: Tensor<4>) -> Tensor<4> {
        match self.survive {
            true => self.noise.scale(self.block, self.field.part(i, u)),
            false => u.zeros_like(),
        }
    }

    fn dropped(&self) -> bool {
        !self.survive
    }
}
