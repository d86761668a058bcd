//! The LM-architecture: the linear two-step rule of Lu et al. (ICML 2018, §2) with a trainable
//! coefficient k_n per step (paper convention; the official code's `ks` is 1 − k):
//!
//! `u_{n+1} = (1 − k_n) u_n + k_n u_{n−1} + f_n(u_n)`,
//!
//! computed as `u_n + f_n + k_n (u_{n−1} − u_n)`, one fused operation forward and backward on the
//! fast CPU kernels ([`crate::kernels::lm_step`]), three element-wise operations elsewhere.
//! Step 0 of a stage is the Euler start ([`super::Scheme::start`]), so a stage of B blocks
//! learns k_1 … k_{B−1}. With a fixed k the rule is `Multistep::lm(k)`: a = [1 − k, k],
//! b = [1, 0], zero-stable iff −1 < k ≤ 1 and consistent with the rescaled ODE (1 + k) u̇ = f
//! (see [`super::stability`]).

use super::stability::{self, SchemeReport};
use super::{Coefficient, Coefficients, Field, History, RuleConfig, Scheme, SchemeConfig, Step};
use crate::config_error::{ConfigError, check};
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

/// `{"rule": "linear-two-step", "k_init": [lo, hi], "per_channel": bool}`: LM-ResNet.
/// `k_init` is the U[lo, hi] range at initialisation (paper: [−0.1, 0]); `per_channel` learns
/// one k per channel instead of one scalar per block (official MResNetC).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearTwoStepConfig {
    pub k_init: [f64; 2],
    pub per_channel: bool,
}

impl RuleConfig for LinearTwoStepConfig {
    fn describe(&self) -> String {
        "linear two-step (LM, trainable k_n)".into()
    }

    /// At the mid-point of `k_init`.
    fn report(&self) -> SchemeReport {
        let [lo, hi] = self.k_init;
        lm_report(0.5 * (lo + hi))
    }

    /// Either end of `k_init`.
    fn reports_to_check(&self) -> Vec<SchemeReport> {
        self.k_init.map(lm_report).to_vec()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let [lo, hi] = self.k_init;
        check(
            lo.is_finite() && hi.is_finite() && lo <= hi,
            "scheme.k_init",
            [lo, hi],
            "must be a finite range [lo, hi] with lo ≤ hi",
        )
    }

    /// Euler for a single-block stage (no step n ≥ 1 to learn a k for).
    fn init(&self, blocks: usize, channels: usize, device: &Device) -> Scheme {
        LinearTwoStep::init(self.k_init, self.per_channel, blocks, channels, device)
            .map_or_else(Scheme::euler, Scheme::LinearTwoStep)
    }
}

/// Learned k_n for steps n = 1 … blocks − 1.
#[derive(Module, Debug)]
pub struct LinearTwoStep {
    /// `[steps, 1]` (one scalar per step, the paper) or `[steps, C]` (per channel, official
    /// MResNetC); row n − 1 holds k_n.
    pub lm_k: Param<Tensor<2>>,
}

impl LinearTwoStep {
    /// k_n ~ U[lo, hi] for a stage of `blocks` blocks; `None` for a single block (no step n ≥ 1).
    pub fn init(
        [lo, hi]: [f64; 2],
        per_channel: bool,
        blocks: usize,
        channels: usize,
        device: &Device,
    ) -> Option<Self> {
        let steps = blocks.checked_sub(1).filter(|&s| s > 0)?;
        let width = if per_channel { channels } else { 1 };
        // U[k, k] is the constant k (Burn's uniform sampler refuses an empty range).
        let k = match lo < hi {
            true => Tensor::random([steps, width], Distribution::Uniform(lo, hi), device),
            false => Tensor::full([steps, width], lo, device),
        };
        Some(Self { lm_k: Param::from_tensor(k) })
    }

    /// k_n as a broadcastable `[1, C or 1, 1, 1]` tensor.
    fn k_at(&self, n: usize) -> Tensor<4> {
        let [_, width] = self.lm_k.dims();
        self.lm_k.val().slice([n - 1..n]).reshape([1, width, 1, 1])
    }
}

impl Step for LinearTwoStep {
    fn history_len(&self) -> usize {
        2
    }

    fn step<F: Field>(&self, n: usize, history: &mut History, f: &F) {
        let u = history.current().clone();
        let fu = f.eval(u.clone());
        history.record_f(fu.clone());
        let next = match history.state(1) {
            Some(prev) => crate::kernels::lm_step(u, prev.clone(), fu, self.k_at(n)),
            None => u + fu,
        };
        history.advance(next);
    }

    fn coefficients(&self) -> Vec<Coefficients<'_>> {
        vec![Coefficients { coefficient: Coefficient::LmK, param: &self.lm_k, first_step: 1 }]
    }
}

/// The LM rule with a fixed k as a 2-step rule (a = [1 − k, k], b = [1, 0]).
pub fn lm_report(k: f64) -> SchemeReport {
    stability::analyse(&[1.0 - k, k], &[1.0, 0.0])
}

impl SchemeConfig {
    /// The paper's LM rule: scalar k_n ~ U[−0.1, 0].
    pub fn lm_paper() -> Self {
        Self::lm([-0.1, 0.0], false)
    }

    /// The LM rule with k_n ~ U[`k_init`], one k per channel if `per_channel`.
    pub fn lm(k_init: [f64; 2], per_channel: bool) -> Self {
        Self::LinearTwoStep(LinearTwoStepConfig { k_init, per_channel })
    }
}
