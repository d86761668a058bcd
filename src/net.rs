//! The whole network: stem → stages (each an ODE integration interval) → head.

use crate::kernels;
use crate::nn::{BranchKind, batch_norm, conv};
use crate::scheme::{Coefficients, Learned, SchemeConfig};
use crate::scheme::noise::NoiseConfig;
use crate::stage::{Stage, StageConfig};
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The layers before the first stage.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StemKind {
    /// CIFAR: one 3×3 convolution, no BN (pre-activation blocks normalise its output).
    #[default]
    Cifar,
    /// ImageNet: 7×7 stride-2 convolution → BN → ReLU → 3×3 stride-2 max-pool (He et al. 2016).
    ImageNet,
}

/// Everything needed to build a network; written into every run's `config.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NetConfig {
    /// Registry name, e.g. `lm-resnet56`.
    pub name: String,
    pub in_channels: usize,
    pub num_classes: usize,
    /// Output channels of the stem convolution.
    pub stem_width: usize,
    #[serde(default)]
    pub stem: StemKind,
    /// Stage widths (before bottleneck expansion); stage i > 0 halves the resolution.
    pub widths: Vec<usize>,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    pub branch: BranchKind,
    pub scheme: SchemeConfig,
    /// Stochastic training term (stochastic depth, noise injection); none by default.
    #[serde(default)]
    pub noise: NoiseConfig,
}

impl NetConfig {
    /// The stage layouts, with the channel count flowing from one stage to the next.
    pub fn stages(&self) -> Vec<StageConfig> {
        let mut in_channels = self.stem_width;
        let total_blocks = self.num_blocks();
        let mut first_block = 0;
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
                    first_block,
                    total_blocks,
                };
                in_channels = stage.out_channels();
                first_block += blocks;
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
            stem: match self.stem {
                StemKind::Cifar => Stem::Cifar(conv([self.in_channels, self.stem_width], 3, 1, 1, device)),
                StemKind::ImageNet => Stem::ImageNet(ImageNetStem {
                    conv: conv([self.in_channels, self.stem_width], 7, 2, 1, device),
                    bn: batch_norm(self.stem_width, device),
                    pool: MaxPool2dConfig::new([3, 3])
                        .with_strides([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(),
                }),
            },
            stages: self.stages().iter().map(|s| s.init(&self.scheme, &self.noise, device)).collect(),
            head_bn: batch_norm(features, device),
            head_fc: LinearConfig::new(features, self.num_classes).init(device),
        }
    }
}

/// The stem module; see [`StemKind`].
#[derive(Module, Debug)]
pub enum Stem {
    Cifar(Conv2d),
    ImageNet(ImageNetStem),
}

#[derive(Module, Debug)]
pub struct ImageNetStem {
    pub conv: Conv2d,
    pub bn: BatchNorm,
    pub pool: MaxPool2d,
}

impl Stem {
    /// # Shapes
    /// - `x`: `[batch, C_in, H, W]` → `[batch, stem_width, H, W]` (CIFAR) or `H/4, W/4` (ImageNet)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Cifar(conv) => kernels::forward(conv, x),
            Self::ImageNet(s) => s.pool.forward(kernels::bn_relu(&s.bn, kernels::forward(&s.conv, x))),
        }
    }
}

/// A residual network whose stages step an ODE with the configured scheme.
#[derive(Module, Debug)]
pub struct Net {
    pub stem: Stem,
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
        let u = kernels::bn_relu(&self.head_bn, u);
        let pooled = u.mean_dim(3).mean_dim(2).reshape([batch, channels]);
        // Mixed precision: the classifier and the logits in the parameters' f32.
        self.head_fc.forward(crate::precision::like(pooled, &self.head_fc.weight.val()))
    }

    /// # Shapes
    /// - `x`: `[batch, C_in, H, W]` → logits `[batch, classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_head(self.forward_features(x))
    }

    /// The trainable coefficient tensors of every stage's scheme, in stage order.
    pub fn coefficients(&self) -> impl Iterator<Item = Coefficients<'_>> {
        self.stages.iter().flat_map(|s| s.scheme.coefficients())
    }

    /// Every learned coefficient of the network, in block order (stage, then step), with its
    /// stage and global block filled in.
    pub fn learned(&self) -> Vec<Learned> {
        let mut first_block = 0;
        let mut all = Vec::new();
        for (s, stage) in self.stages.iter().enumerate() {
            all.extend(stage.scheme.learned().into_iter().map(|row| Learned {
                stage: s,
                block: first_block + row.step + 1,
                ..row
            }));
            first_block += stage.branches.len();
        }
        all
    }
}
