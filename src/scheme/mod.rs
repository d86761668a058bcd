//! Stepping rules: how a residual network combines its states u_n, u_{n-1}, … with the branch
//! output f_n(u_n). This is the only place where a skip connection is added.
//!
//! Lu, Zhong, Li, Dong (ICML 2018), §2: ResNet is forward Euler, `u_{n+1} = u_n + f_n(u_n)`;
//! the LM-architecture is the linear two-step method
//! `u_{n+1} = (1 − k_n) u_n + k_n u_{n−1} + f_n(u_n)` with a trainable k_n per block.
//!
//! A stage of blocks is one integration interval. Its first step is always forward Euler (it may
//! change width and resolution through a projection, see [`crate::stage`]), exactly as a
//! multistep solver starts with a one-step method (diffrax `LeapfrogMidpoint.init`). Steps
//! n ≥ 1 of the stage are taken by [`Scheme::step`].

pub mod noise;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

/// A stepping rule, as data. Serialised into every run's `config.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum SchemeConfig {
    /// ResNet: u_{n+1} = u_n + f_n(u_n).
    ForwardEuler,
    /// LM-ResNet: u_{n+1} = (1 − k_n) u_n + k_n u_{n−1} + f_n(u_n) (paper convention; the official
    /// code stores 1 − k). `k_init` is the U[lo, hi] range at initialisation (paper: [−0.1, 0]);
    /// `per_channel` learns one k per channel instead of one scalar per block (official MResNetC).
    LinearTwoStep { k_init: [f64; 2], per_channel: bool },
}

impl SchemeConfig {
    /// The paper's LM rule: scalar k_n ~ U[−0.1, 0].
    pub fn lm_paper() -> Self {
        Self::LinearTwoStep { k_init: [-0.1, 0.0], per_channel: false }
    }

    /// Short human name of the numerical scheme.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::ForwardEuler => "forward Euler",
            Self::LinearTwoStep { .. } => "linear two-step (LM, trainable k_n)",
        }
    }

    /// Builds the rule for a stage of `blocks` blocks of `channels` output channels.
    pub fn init(&self, blocks: usize, channels: usize, device: &Device) -> Scheme {
        // Step 0 of a stage is Euler, so only blocks − 1 steps carry a k.
        let steps = blocks.saturating_sub(1);
        let lm_k = match self {
            Self::ForwardEuler => None,
            Self::LinearTwoStep { .. } if steps == 0 => None,
            Self::LinearTwoStep { k_init: [lo, hi], per_channel } => {
                let width = if *per_channel { channels } else { 1 };
                let k = Tensor::random([steps, width], Distribution::Uniform(*lo, *hi), device);
                Some(Param::from_tensor(k))
            }
        };
        Scheme { lm_k }
    }
}

/// The trainable part of a stepping rule (k_n of the LM rule); parameter-free for Euler.
#[derive(Module, Debug)]
pub struct Scheme {
    /// `[steps, 1]` or `[steps, C]`: k_n for steps n = 1 … blocks − 1 of the stage.
    pub lm_k: Option<Param<Tensor<2>>>,
}

impl Scheme {
    /// One step n ≥ 1 of a stage: u_{n+1} from u_n, u_{n−1} and the branch output f_n(u_n).
    ///
    /// The LM combination is written `u + f + k·(u_{n−1} − u)`: three element-wise operations
    /// instead of the five of the literal formula.
    ///
    /// # Shapes
    /// - `u`, `prev`, `fu`: `[batch, C, H, W]`
    pub fn step(&self, n: usize, u: Tensor<4>, prev: Tensor<4>, fu: Tensor<4>) -> Tensor<4> {
        match &self.lm_k {
            None => u + fu,
            Some(k) => {
                let k = self.k_at(k, n);
                let delta = (prev - u.clone()) * k;
                u + fu + delta
            }
        }
    }

    /// k_n as a broadcastable `[1, C or 1, 1, 1]` tensor.
    fn k_at(&self, k: &Param<Tensor<2>>, n: usize) -> Tensor<4> {
        let [_, width] = k.dims();
        k.val().slice([n - 1..n]).reshape([1, width, 1, 1])
    }

    /// The learned k_n of this stage, one row per step (empty for Euler).
    pub fn k_values(&self) -> Vec<Vec<f32>> {
        let Some(k) = &self.lm_k else { return Vec::new() };
        let [steps, width] = k.dims();
        let flat: Vec<f32> = k.val().into_data().try_into_vec_as::<f32>().unwrap_or_default();
        (0..steps).map(|s| flat[s * width..(s + 1) * width].to_vec()).collect()
    }
}
