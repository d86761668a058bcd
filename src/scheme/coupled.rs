//! RevNet as forward Euler on a coupled system (Lu et al. 2018, §1; Gomez et al. 2017).
//!
//! The state is split into two channel halves u = [x, y] and stepped in Gauss–Seidel order
//! (symplectic Euler) on `ẋ = F(y)`, `ẏ = G(x)`:
//! `x_{n+1} = x_n + F(y_n)`, `y_{n+1} = y_n + G(x_{n+1})`.
//! The step is exactly invertible, `y_n = y_{n+1} − G(x_{n+1})`, `x_n = x_{n+1} − F(y_n)`, which
//! is what lets a reversible network recompute activations instead of storing them.

use super::field::two_parts;
use super::{Field, FieldForm, History, RuleConfig, Scheme, SchemeConfig, SchemeReport, Step};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// `{"rule": "coupled-euler"}`: RevNet, on the coupled (F, G) branch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoupledEulerConfig {}

impl RuleConfig for CoupledEulerConfig {
    fn describe(&self) -> String {
        "coupled forward Euler (RevNet, reversible)".into()
    }

    fn report(&self) -> SchemeReport {
        SchemeReport::one_step(1)
    }

    fn needs_field(&self) -> Option<FieldForm> {
        Some(FieldForm::Halves)
    }

    fn init(&self, _blocks: usize, _channels: usize, _device: &Device) -> Scheme {
        Scheme::Coupled(CoupledEuler)
    }
}

/// RevNet's coupled Euler step; no parameters (F and G are the block's two branches).
#[derive(Module, Debug, Default)]
pub struct CoupledEuler;

impl Step for CoupledEuler {
    /// Keeps one state: F(y_n) is not recorded as an f (no multistep rule reads it).
    fn step<F: Field>(&self, _n: usize, history: &mut History, f: &F) {
        let [f, g] = two_parts(f, "coupled-euler (RevNet)");
        let next = coupled_step(history.current().clone(), f, g);
        history.advance(next);
    }

    fn inverse<F: Field>(&self, _n: usize, next: Tensor<4>, f: &F) -> Option<Tensor<4>> {
        let [f, g] = two_parts(f, "coupled-euler (RevNet)");
        Some(coupled_inverse(next, f, g))
    }
}

/// The two channel halves of a state `[batch, C, H, W]` (C even).
fn halves(u: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let half = u.dims()[1] / 2;
    (u.clone().narrow(1, 0, half), u.narrow(1, half, half))
}

/// One coupled forward-Euler step; `f` and `g` act on half-width states.
pub fn coupled_step(
    u: Tensor<4>,
    f: impl Fn(Tensor<4>) -> Tensor<4>,
    g: impl Fn(Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    let (x, y) = halves(u);
    let x_next = x + f(y.clone());
    let y_next = y + g(x_next.clone());
    Tensor::cat(vec![x_next, y_next], 1)
}

/// The exact inverse of [`coupled_step`]: recovers u_n from u_{n+1}.
pub fn coupled_inverse(
    u_next: Tensor<4>,
    f: impl Fn(Tensor<4>) -> Tensor<4>,
    g: impl Fn(Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    let (x_next, y_next) = halves(u_next);
    let y = y_next - g(x_next.clone());
    let x = x_next - f(y.clone());
    Tensor::cat(vec![x, y], 1)
}

impl SchemeConfig {
    /// RevNet's rule (with [`crate::nn::BranchKind::Coupled`] branches).
    pub fn coupled_euler() -> Self {
        Self::CoupledEuler(CoupledEulerConfig {})
    }
}
