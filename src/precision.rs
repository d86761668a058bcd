//! Float precision of a run: f32 everywhere, or bf16 mixed precision.
//!
//! Mixed precision keeps the parameters (the "master weights"), the optimiser, the loss and every
//! checkpoint in f32, and runs the activations in bf16:
//! - the trainer casts each input batch with [`Precision::activations`];
//! - an f32 parameter meets a bf16 activation through [`like`], a cast the autodiff graph records,
//!   so its gradient arrives in f32;
//! - batch normalisation computes its statistics in f32 and hands bf16 back
//!   ([`crate::kernels::bn_relu`]), as cuDNN does under PyTorch's autocast;
//! - the classifier runs in f32 on the pooled features, so logits and loss are f32.
//!
//! This module owns the rule; the places where a parameter or a freshly drawn tensor meets an
//! activation call [`like`], and nothing else in the models knows which precision runs.

use burn::prelude::*;
use burn::tensor::DType;
use serde::{Deserialize, Serialize};

/// Float precision of the activations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// bf16 activations, f32 parameters, optimiser, batch-norm statistics and loss.
    Bf16,
}

impl Precision {
    /// The float type of the activations.
    pub fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::Bf16 => DType::BF16,
        }
    }

    /// The input batch in this precision.
    pub fn activations<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        to(x, self.dtype())
    }

    /// The name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
        }
    }
}

/// `t` in the float type of `activation`; a no-op when they already agree (always, in f32 runs).
pub fn like<const D: usize, const E: usize>(t: Tensor<D>, activation: &Tensor<E>) -> Tensor<D> {
    to(t, activation.dtype())
}

/// `t` in `dtype`; a no-op when it already is.
pub fn to<const D: usize>(t: Tensor<D>, dtype: DType) -> Tensor<D> {
    if t.dtype() == dtype { t } else { t.cast(dtype) }
}
