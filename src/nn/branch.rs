//! Residual branches f(u): the pre-activation basic and bottleneck blocks of He et al. (2016).

use super::BnReluConv;
use crate::scheme::{Field, FieldForm};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

/// Which residual branch a network uses.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BranchKind {
    /// BN-ReLU-conv3x3-BN-ReLU-conv3x3; output width = stage width.
    Basic,
    /// BN-ReLU-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1; output width = `expansion` × stage width.
    /// The inner width is `groups × base_width × width / 64` (torchvision's convention): a plain
    /// bottleneck is `groups = 1, base_width = 64`; ResNeXt `C×d` is `groups = C, base_width = d`
    /// (Xie et al. 2017), with the 3×3 a grouped convolution.
    Bottleneck { expansion: usize, groups: usize, base_width: usize },
    /// Shake-shake (Gastaldi 2017): two basic branches mixed as `η f_1 + (1 − η) f_2` with
    /// η ~ U(0, 1) per image in the forward pass and an independent η' in the backward pass;
    /// `(f_1 + f_2) / 2` at test time. An SDE with drift (f_1 + f_2)/2 and diffusion (f_1 − f_2)/√12.
    ShakeShake,
    /// RevNet: two basic branches F and G on the two channel halves (each of half the stage
    /// width). As a plain field (a stage's first, non-reversible step) it is [F(x), G(y)]; under
    /// the coupled scheme the stage steps x += F(y), y += G(x).
    Coupled,
    /// FractalNet: two full-width basic branches f1, f2 for the two stages of its RK2-like block.
    /// As a plain field (a stage's first step) it is f2(f1(u)).
    Pair,
}

impl BranchKind {
    /// The sub-fields a block of this kind gives a stepping rule (see [`FieldForm`]).
    pub fn field_form(self) -> FieldForm {
        match self {
            Self::Coupled => FieldForm::Halves,
            Self::Pair => FieldForm::Pair,
            Self::Basic | Self::Bottleneck { .. } | Self::ShakeShake => FieldForm::Whole,
        }
    }

    /// The paper's CIFAR bottleneck (LM-ResNet-164): [1×1, p; 3×3, p; 1×1, 4p].
    pub const BOTTLENECK: Self = Self::Bottleneck { expansion: 4, groups: 1, base_width: 64 };

    /// ResNeXt bottleneck of cardinality `groups` and width `base_width` per group at width 64.
    pub const fn resnext(groups: usize, base_width: usize) -> Self {
        Self::Bottleneck { expansion: 4, groups, base_width }
    }

    /// Channels coming out of a stage of this width.
    pub fn out_channels(&self, width: usize) -> usize {
        match self {
            Self::Basic | Self::ShakeShake | Self::Coupled | Self::Pair => width,
            Self::Bottleneck { expansion, .. } => width * expansion,
        }
    }
}

/// One branch: its kind, input width, stage width and stride.
#[derive(Clone, Copy, Debug)]
pub struct BranchConfig {
    pub kind: BranchKind,
    pub in_channels: usize,
    pub width: usize,
    pub stride: usize,
}

impl BranchConfig {
    pub fn init(&self, device: &Device) -> Branch {
        let (c_in, w, s) = (self.in_channels, self.width, self.stride);
        let basic = || Basic {
            a: BnReluConv::new([c_in, w], 3, s, 1, device),
            b: BnReluConv::new([w, w], 3, 1, 1, device),
        };
        match self.kind {
            BranchKind::Basic => Branch::Basic(basic()),
            BranchKind::ShakeShake => Branch::ShakeShake(ShakeShake { left: basic(), right: basic() }),
            BranchKind::Pair => Branch::Pair(Pair {
                f1: basic(),
                f2: Basic {
                    a: BnReluConv::new([w, w], 3, 1, 1, device),
                    b: BnReluConv::new([w, w], 3, 1, 1, device),
                },
            }),
            BranchKind::Coupled => {
                let half = |c: usize| (c / 2).max(1);
                let part = || Basic {
                    a: BnReluConv::new([half(c_in), half(w)], 3, s, 1, device),
                    b: BnReluConv::new([half(w), half(w)], 3, 1, 1, device),
                };
                Branch::Coupled(Coupled { f: part(), g: part() })
            }
            BranchKind::Bottleneck { expansion, groups, base_width } => {
                let mid = groups * (w * base_width / 64);
                Branch::Bottleneck(Bottleneck {
                    a: BnReluConv::new([c_in, mid], 1, 1, 1, device),
                    b: BnReluConv::new([mid, mid], 3, s, groups, device),
                    c: BnReluConv::new([mid, w * expansion], 1, 1, 1, device),
                })
            }
        }
    }
}

/// A residual branch f; `forward` returns f(u) only.
#[derive(Module, Debug)]
pub enum Branch {
    Basic(Basic),
    Bottleneck(Bottleneck),
    ShakeShake(ShakeShake),
    Coupled(Coupled),
    Pair(Pair),
}

/// FractalNet's two branches of one block.
#[derive(Module, Debug)]
pub struct Pair {
    pub f1: Basic,
    pub f2: Basic,
}

impl Pair {
    pub fn f1(&self, x: Tensor<4>) -> Tensor<4> {
        self.f1.forward(x)
    }

    pub fn f2(&self, z: Tensor<4>) -> Tensor<4> {
        self.f2.forward(z)
    }
}

/// RevNet's pair of half-width fields.
#[derive(Module, Debug)]
pub struct Coupled {
    pub f: Basic,
    pub g: Basic,
}

impl Coupled {
    /// F on a half-width state.
    pub fn f(&self, y: Tensor<4>) -> Tensor<4> {
        self.f.forward(y)
    }

    /// G on a half-width state.
    pub fn g(&self, x: Tensor<4>) -> Tensor<4> {
        self.g.forward(x)
    }

    /// The block-diagonal field [F(x), G(y)] of a non-reversible (transition) step.
    fn forward(&self, u: Tensor<4>) -> Tensor<4> {
        let half = u.dims()[1] / 2;
        let x = u.clone().narrow(1, 0, half);
        let y = u.narrow(1, half, half);
        Tensor::cat(vec![self.f.forward(x), self.g.forward(y)], 1)
    }
}

#[derive(Module, Debug)]
pub struct ShakeShake {
    pub left: Basic,
    pub right: Basic,
}

impl Basic {
    fn forward(&self, u: Tensor<4>) -> Tensor<4> {
        self.b.forward(self.a.forward(u))
    }
}

impl ShakeShake {
    /// Training (autodiff device): forward value `η f_1 + (1 − η) f_2`, gradient through
    /// `η' f_1 + (1 − η') f_2`, η and η' ~ U(0, 1) per image. Test: `(f_1 + f_2) / 2`.
    fn forward(&self, u: Tensor<4>) -> Tensor<4> {
        let f1 = self.left.forward(u.clone());
        let f2 = self.right.forward(u);
        shake(f1, f2)
    }
}

/// The shake-shake mix of two branch outputs: in training (autodiff device) the forward value is
/// `η f_1 + (1 − η) f_2` and the gradient flows through `η' f_1 + (1 − η') f_2`, η, η' ~ U(0, 1)
/// independent per image; at test time `(f_1 + f_2) / 2`.
pub fn shake(f1: Tensor<4>, f2: Tensor<4>) -> Tensor<4> {
    let device = f1.device();
    if !device.is_autodiff() {
        return (f1 + f2).mul_scalar(0.5);
    }
    let batch = f1.dims()[0];
    let uniform = || {
        crate::precision::like(Tensor::<4>::random([batch, 1, 1, 1], Distribution::Default, &device), &f1)
    };
    let (eta, eta_back) = (uniform(), uniform());
    let diff = f1 - f2.clone();
    let backward_path = f2 + diff.clone() * eta_back.clone();
    backward_path + (diff * (eta - eta_back)).detach()
}

#[derive(Module, Debug)]
pub struct Basic {
    pub a: BnReluConv,
    pub b: BnReluConv,
}

#[derive(Module, Debug)]
pub struct Bottleneck {
    pub a: BnReluConv,
    pub b: BnReluConv,
    pub c: BnReluConv,
}

impl Branch {
    /// # Shapes
    /// - `u`: `[batch, C_in, H, W]` → `[batch, C_out, H / stride, W / stride]`
    pub fn forward(&self, u: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Basic(b) => b.forward(u),
            Self::ShakeShake(b) => b.forward(u),
            Self::Coupled(b) => b.forward(u),
            Self::Pair(p) => p.f2.forward(p.f1.forward(u)),
            Self::Bottleneck(b) => b.c.forward(b.b.forward(b.a.forward(u))),
        }
    }
}

/// A branch is the vector field of its block; RevNet's and FractalNet's branches have two parts,
/// (F, G) on the channel halves and (f1, f2), for the rules that step them separately.
impl Field for Branch {
    fn eval(&self, u: Tensor<4>) -> Tensor<4> {
        self.forward(u)
    }

    fn parts(&self) -> usize {
        match self {
            Self::Coupled(_) | Self::Pair(_) => 2,
            _ => 1,
        }
    }

    fn part(&self, i: usize, u: Tensor<4>) -> Tensor<4> {
        match (self, i) {
            (Self::Coupled(c), 0) => c.f(u),
            (Self::Coupled(c), _) => c.g(u),
            (Self::Pair(p), 0) => p.f1(u),
            (Self::Pair(p), _) => p.f2(u),
            _ => self.forward(u),
        }
    }
}
