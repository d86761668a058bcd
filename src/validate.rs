//! Every rule a configuration must satisfy, in one place, checked before any tensor is made:
//! by `train` (flags and `--resume` alike), `eval`, `analyze` and [`crate::train::fit`]. Each
//! rejection names the field, the value and the rule; callers add the file it came from.

use crate::net::NetConfig;
use crate::nn::BranchKind;
use crate::precision::Precision;
use crate::scheme::noise::NoiseConfig;
use crate::train::{Normalization, Schedule, TrainConfig};
pub use crate::config_error::ConfigError;
use crate::config_error::{check, positive};

impl TrainConfig {
    /// Checks every field of the run (including the model, see [`NetConfig::validate`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.model.validate().map_err(|e| ConfigError { field: format!("model.{}", e.field), ..e })?;
        positive("epochs", self.epochs)?;
        positive("batch_size", self.batch_size)?;
        let o = &self.optim;
        check(o.lr.is_finite() && o.lr > 0.0, "optim.lr", o.lr, "must be a finite number > 0")?;
        check(
            o.weight_decay.is_finite() && o.weight_decay >= 0.0,
            "optim.weight_decay",
            o.weight_decay,
            "must be a finite number ≥ 0",
        )?;
        check(
            (0.0..1.0).contains(&o.momentum),
            "optim.momentum",
            o.momentum,
            "must be in [0, 1)",
        )?;
        if let Schedule::Step { milestones, gamma } = &self.schedule {
            check(
                milestones.windows(2).all(|w| w[0] < w[1]),
                "schedule.milestones",
                milestones,
                "must be strictly increasing epochs",
            )?;
            check(gamma.is_finite() && *gamma > 0.0, "schedule.gamma", gamma, "must be a finite number > 0")?;
        }
        for (field, n) in [("train_per_class", self.data.train_per_class), ("test_per_class", self.data.test_per_class)] {
            if let Some(n) = n {
                check(n >= 1, format!("data.{field}"), n, "must be at least 1 (an empty dataset cannot train)")?;
            }
        }
        check(
            !self.reversible || self.model.noise == NoiseConfig::None,
            "reversible",
            self.reversible,
            "reversible training recomputes each block from the inverse of its output, which needs \
             deterministic steps: drop model.noise (a dropped block would be drawn again, and \
             injected noise cannot be inverted)",
        )?;
        check(
            self.precision == Precision::F32 || !self.reversible,
            "precision",
            self.precision.name(),
            "reversible training reconstructs activations by inverting each step, which bf16 \
             rounding makes inexact: train reversible models in f32",
        )?;
        check(
            self.precision == Precision::F32 || !self.device.starts_with("wgpu"),
            "precision",
            self.precision.name(),
            "WGSL shaders have no bf16 type: use bf16 with --device cpu or cuda, or f32 on wgpu",
        )?;
        check(
            self.data.normalization != Normalization::OfficialCifar || self.model.in_channels == 3,
            "data.normalization",
            self.data.normalization,
            "the official CIFAR constants apply to 3-channel images only",
        )
    }
}

impl NetConfig {
    /// Checks that the network can be built: positive sizes, a branch that fits its widths, a
    /// scheme with sensible parameters and a valid stochastic term.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("in_channels", self.in_channels)?;
        positive("num_classes", self.num_classes)?;
        positive("stem_width", self.stem_width)?;
        check(!self.widths.is_empty(), "widths", &self.widths, "needs at least one stage")?;
        check(
            self.depths.len() == self.widths.len(),
            "depths",
            &self.depths,
            &format!("needs one entry per stage ({} widths)", self.widths.len()),
        )?;
        for (i, (&w, &d)) in self.widths.iter().zip(&self.depths).enumerate() {
            positive(format!("widths[{i}]"), w)?;
            positive(format!("depths[{i}]"), d)?;
            match self.branch {
                BranchKind::Bottleneck { expansion, groups, base_width } => {
                    positive("branch.expansion", expansion)?;
                    positive("branch.groups", groups)?;
                    positive("branch.base_width", base_width)?;
                    check(
                        w * base_width / 64 >= 1,
                        format!("widths[{i}]"),
                        w,
                        &format!(
                            "too narrow for base_width {base_width}: the grouped 3×3 has \
                             groups × (width × base_width / 64) channels, which must be ≥ groups"
                        ),
                    )?;
                }
                BranchKind::Coupled => {
                    check(w % 2 == 0, format!("widths[{i}]"), w, "must be even (RevNet splits channels in halves)")?
                }
                _ => {}
            }
        }
        if self.branch == BranchKind::Coupled {
            check(self.stem_width % 2 == 0, "stem_width", self.stem_width, "must be even (RevNet splits channels in halves)")?;
        }
        self.validate_scheme()?;
        match self.noise {
            NoiseConfig::None => Ok(()),
            NoiseConfig::StochasticDepth { p_last, .. } => check(
                p_last > 0.0 && p_last <= 1.0,
                "noise.p_last",
                p_last,
                "must be a survival probability in (0, 1]",
            ),
            NoiseConfig::Gaussian { sigma } | NoiseConfig::Uniform { sigma } => {
                check(sigma.is_finite() && sigma > 0.0, "noise.sigma", sigma, "must be a finite number > 0")
            }
        }
    }

    /// The scheme's own rules ([`crate::scheme::RuleConfig::validate`]), and the branch its step
    /// reads: a rule that needs a two-part field (RevNet's F, G; FractalNet's f1, f2) is refused
    /// with a branch that does not provide it.
    fn validate_scheme(&self) -> Result<(), ConfigError> {
        self.scheme.validate()?;
        match self.scheme.needs_field() {
            Some(form) => check(
                self.branch.field_form() == form,
                "branch",
                self.branch,
                &format!("the {} scheme needs the {} branch ({})", self.scheme.rule(), form.branch(), form.describe()),
            ),
            None => Ok(()),
        }
    }
}
