//! Vector fields only: every branch here returns f(u) and never adds a skip connection.
//! How f(u) is combined with the state history is the job of [`crate::scheme`].

mod branch;

pub use branch::{Branch, BranchConfig, BranchKind, shake};

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::prelude::*;

/// A bias-free convolution with "same" padding and He (fan-out) normal init, as in the official
/// LM-ResNet code: `W ~ N(0, 2 / (k·k·C_out))` (He et al. 2015, fan-out mode).
pub fn conv(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    let pad = kernel / 2;
    let std = (2.0 / (kernel * kernel * channels[1]) as f64).sqrt();
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device)
}

/// Batch norm with PyTorch's defaults (eps 1e-5, momentum 0.1, γ = 1, β = 0).
pub fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels).init(device)
}

/// The pre-activation unit BN → ReLU → conv (He et al. 2016, "Identity Mappings").
#[derive(Module, Debug)]
pub struct BnReluConv {
    pub bn: BatchNorm,
    pub conv: Conv2d,
}

impl BnReluConv {
    pub fn new(
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        groups: usize,
        device: &Device,
    ) -> Self {
        Self {
            bn: batch_norm(channels[0], device),
            conv: conv(channels, kernel, stride, groups, device),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, C_in, H, W]` → `[batch, C_out, H / stride, W / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = crate::kernels::bn_relu(&self.bn, x);
        crate::kernels::forward(&self.conv, x)
    }
}
