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
use super::{Coefficient, Field, History, Learned, Step};
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;

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

    fn learned(&self) -> Vec<Learned> {
        Learned::rows(Coefficient::LmK, &self.lm_k, 1)
    }
}

/// The LM rule with a fixed k as a 2-step rule (a = [1 − k, k], b = [1, 0]).
pub fn lm_report(k: f64) -> SchemeReport {
    stability::analyse(&[1.0 - k, k], &[1.0, 0.0])
}
