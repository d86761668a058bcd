//! The whole network: stem → stages (each an ODE integration interval) → head.

use crate::nn::{BranchKind, batch_norm, conv};
use crate::scheme::SchemeConfig;
use crate::stage::{Stage, StageConfig};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

/// Everything needed to build a network; written into every run's `config.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NetConfig {
    /// Registry name, e.g. `lm-resnet56`.
    pub name: String,
    pub in_channels: usize,
    pub num_classes: usize,
    /// Output channels of the 3×3 stem convolution.
    pub stem_width: usize,
    /// Stage widths (before bottleneck expansion); stage i > 0 halves the resolution.
    pub widths: Vec<usize>,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    pub branch: BranchKind,
    pub scheme: SchemeConfig,
}

impl NetConfig {
    /// The stage layouts, with the channel count flowing from one stage to the next.
    pub fn stages(&self) -> Vec<StageConfig> {
        let mut in_channels = self.stem_width;
        self.widths
            .iter()
            .zip(&self.depths)
            .enumerate()
            .map(|(i, (&width, &blocks))| {
                let stage = StageConfig {
                    in_channels,
                    width,
                    blocks,
                    stride: if i == 0 { 1 } else { 2 },
                    branch: self.branch,
                };
                in_channels = stage.out_channels();
                stage
            })
            .collect()
    }

    /// Channels entering the head.
    pub fn feature_channels(&self) -> usize {
        self.stages().last().map_or(self.stem_width, |s| s.out_channels())
    }

    /// Total number of residual blocks.
    pub fn num_blocks(&self) -> usize {
        self.depths.iter().sum()
    }

    /// Builds the network; logs a warning if the scheme is not convergent (see
    /// [`SchemeConfig::warn_if_not_convergent`]).
    pub fn init(&self, device: &Device) -> Net {
        self.scheme.warn_if_not_convergent();
        let features = self.feature_channels();
        Net {
            stem: conv([self.in_channels, self.stem_width], 3, 1, 1, device),
            stages: self.stages().iter().map(|s| s.init(&self.scheme, device)).collect(),
            head_bn: batch_norm(features, device),
            head_fc: LinearConfig::new(features, self.num_classes).init(device),
        }
    }
}

/// A residual network whose stages step an ODE with the configured scheme.
#[derive(Module, Debug)]
pub struct Net {
    pub stem: Conv2d,
    pub stages: Vec<Stage>,
    pub head_bn: BatchNorm,
    pub head_fc: Linear,
}

impl Net {
    /// # Shapes
    /// - `x`: `[batch, C_in, H, W]` → `[batch, C_features, H', W']`
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<4> {
        let mut u = self.stem.forward(x);
        for stage in &self.stages {
            u = stage.forward(u);
        }
        u
    }

    /// BN → ReLU → global average pool → linear.
    ///
    /// # Shapes
    /// - `u`: `[batch, C, H, W]` → `[batch, classes]`
    pub fn forward_head(&self, u: Tensor<4>) -> Tensor<2> {
        let [batch, channels, _, _] = u.dims();
        let u = relu(self.head_bn.forward(u));
        let pooled = u.mean_dim(3).mean_dim(2).reshape([batch, channels]);
        self.head_fc.forward(pooled)
    }

    /// # Shapes
    /// - `x`: `[batch, C_in, H, W]` → logits `[batch, classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_head(self.forward_features(x))
    }

    /// Learned k_n of every LM step, in block order, as (stage, step, values).
    pub fn k_values(&self) -> Vec<(usize, usize, Vec<f32>)> {
        self.stages
            .iter()
            .enumerate()
            .flat_map(|(s, stage)| {
                stage.scheme.k_values().into_iter().enumerate().map(move |(n, k)| (s, n + 1, k))
            })
            .collect()
    }
}
