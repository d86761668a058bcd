//! PolyNet as an approximation of backward Euler (Lu et al. 2018, §1).
//!
//! The implicit step `u_{n+1} = u_n + F(u_{n+1})`, i.e. `u_{n+1} = (I − F)^{-1} u_n`, is
//! approximated in two ways, both evaluating the block's one branch F several times with shared
//! weights:
//! - the truncated Neumann series `(I + F + F² + … + F^m) u` — PolyNet's poly block
//!   `u + F(u) + F(F(u))` is m = 2 ([`poly_step`]);
//! - the fixed-point iteration `z_0 = u_n`, `z_{j+1} = u_n + F(z_j)`, j < m, which converges to
//!   the backward-Euler step when F is a contraction ([`fixed_point_step`]). For linear F both
//!   coincide: two iterations give `u + Fu + F²u`.
//!
//! Neither is A-stable: for F = hλ both give the polynomial Σ_{j≤m} (hλ)^j, which grows without
//! bound for hλ < −1 (hλ = −3, m = 2: 1 − 3 + 9 = 7), whereas the exact step 1/(1 − hλ) = ¼.
//! The damped iteration `z_{j+1} = (1 − ω) z_j + ω (u + F(z_j))` ([`damped_step`]) has the same
//! fixed point and contracts by |1 − ω (1 − hλ)| per iteration, so ω < 2/(1 + L) converges for
//! every eigenvalue hλ ∈ [−L, 0]: it reaches the stable backward-Euler step on stiff problems.

use super::{Field, History, RuleConfig, Scheme, SchemeConfig, SchemeReport, Step};
use crate::config_error::{ConfigError, check, positive};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// `{"rule": "poly", "order": m}`: PolyNet, u_{n+1} = u_n + F(u_n) + F²(u_n) + … + F^m(u_n), a
/// truncated Neumann series of the backward-Euler step (I − F)^{-1} u_n; order 2 is the paper's
/// poly block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Poly {
    pub order: usize,
}

impl RuleConfig for Poly {
    fn describe(&self) -> String {
        format!("PolyNet, order-{} truncated backward Euler", self.order)
    }

    fn report(&self) -> SchemeReport {
        SchemeReport::one_step(1)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        positive("scheme.order", self.order)
    }

    fn init(&self, _blocks: usize, _channels: usize, _device: &Device) -> Scheme {
        Scheme::Implicit(Implicit::poly(self.order))
    }
}

/// `{"rule": "backward-euler", "iterations": m, "relaxation": ω}`: u_{n+1} = u_n + F(u_{n+1}) by
/// m fixed-point iterations from u_n, z_{j+1} = (1 − ω) z_j + ω (u_n + F(z_j)) (ω defaults to 1:
/// plain Picard; ω < 2/(1 + L) converges for stiff F with eigenvalues in [−L, 0], see
/// [`damped_step`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackwardEuler {
    pub iterations: usize,
    #[serde(default = "undamped")]
    pub relaxation: f64,
}

impl RuleConfig for BackwardEuler {
    fn describe(&self) -> String {
        let w = self.relaxation;
        let damped = if w == 1.0 { String::new() } else { format!(" damped by {w}") };
        format!("backward Euler, {} fixed-point iterations{damped}", self.iterations)
    }

    fn report(&self) -> SchemeReport {
        SchemeReport::one_step(1)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        positive("scheme.iterations", self.iterations)?;
        let w = self.relaxation;
        check(w.is_finite() && w > 0.0, "scheme.relaxation", w, "must be a finite number > 0")
    }

    fn init(&self, _blocks: usize, _channels: usize, _device: &Device) -> Scheme {
        Scheme::Implicit(Implicit::fixed_point(self.iterations, self.relaxation))
    }
}

/// Which approximation of the backward-Euler step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ImplicitRule {
    /// PolyNet's truncated Neumann series of this order ([`poly_step`]).
    Poly(usize),
    /// This many fixed-point iterations with relaxation ω ([`damped_step`]).
    FixedPoint(usize, f64),
}

/// A stage stepped by an approximate backward-Euler rule; no parameters (F is the block's branch,
/// evaluated several times with shared weights).
#[derive(Module, Debug)]
pub struct Implicit {
    #[module(skip)]
    pub rule: ImplicitRule,
}

impl Implicit {
    /// PolyNet's block of this order (at least one evaluation of F: order 0 would drop it).
    pub fn poly(order: usize) -> Self {
        Self { rule: ImplicitRule::Poly(order.max(1)) }
    }

    /// Backward Euler by `iterations` (at least 1) fixed-point iterations with relaxation ω.
    pub fn fixed_point(iterations: usize, relaxation: f64) -> Self {
        Self { rule: ImplicitRule::FixedPoint(iterations.max(1), relaxation) }
    }
}

impl Step for Implicit {
    fn step<F: Field>(&self, _n: usize, history: &mut History, f: &F) {
        let f = |u| f.eval(u);
        let (f_n, next) = match self.rule {
            ImplicitRule::Poly(order) => poly_step(history.current(), order, f),
            ImplicitRule::FixedPoint(m, w) => damped_step(history.current(), m, w, f),
        };
        history.push(f_n, next);
    }
}

impl SchemeConfig {
    /// PolyNet's poly block u + F(u) + F(F(u)).
    pub fn polynet() -> Self {
        Self::poly(2)
    }

    /// PolyNet's block of this order, u + F(u) + … + F^order(u).
    pub fn poly(order: usize) -> Self {
        Self::Poly(Poly { order })
    }

    /// Backward Euler by undamped fixed-point iterations (2 = the poly block for linear F).
    pub fn backward_euler(iterations: usize) -> Self {
        Self::BackwardEuler(BackwardEuler { iterations, relaxation: 1.0 })
    }

    /// Backward Euler by damped fixed-point iterations with relaxation ω (see [`damped_step`]).
    pub fn damped_backward_euler(iterations: usize, relaxation: f64) -> Self {
        Self::BackwardEuler(BackwardEuler { iterations, relaxation })
    }
}

/// `u + F(u) + F(F(u)) + … + F^order(u)`; returns (F(u), u_{n+1}).
pub fn poly_step(
    u: &Tensor<4>,
    order: usize,
    f: impl Fn(Tensor<4>) -> Tensor<4>,
) -> (Tensor<4>, Tensor<4>) {
    let first = f(u.clone());
    let mut term = first.clone();
    let mut sum = u.clone() + first.clone();
    for _ in 1..order {
        term = f(term);
        sum = sum + term.clone();
    }
    (first, sum)
}

/// `iterations` fixed-point iterations of `z = u + F(z)` from `z_0 = u`; returns (F(u), z_m).
pub fn fixed_point_step(
    u: &Tensor<4>,
    iterations: usize,
    f: impl Fn(Tensor<4>) -> Tensor<4>,
) -> (Tensor<4>, Tensor<4>) {
    let first = f(u.clone());
    let mut z = u.clone() + first.clone();
    for _ in 1..iterations {
        z = u.clone() + f(z);
    }
    (first, z)
}

/// The default relaxation ω = 1 (plain fixed-point iteration).
pub fn undamped() -> f64 {
    1.0
}

/// `iterations` damped fixed-point iterations `z_{j+1} = (1 − ω) z_j + ω (u + F(z_j))` from
/// `z_0 = u` (ω = `relaxation`); returns (F(u), z_m). ω = 1 is [`fixed_point_step`] (taken).
pub fn damped_step(
    u: &Tensor<4>,
    iterations: usize,
    relaxation: f64,
    f: impl Fn(Tensor<4>) -> Tensor<4>,
) -> (Tensor<4>, Tensor<4>) {
    if relaxation == 1.0 {
        return fixed_point_step(u, iterations, f);
    }
    let first = f(u.clone());
    let mut z = u.clone() + first.clone().mul_scalar(relaxation);
    for _ in 1..iterations {
        let target = u.clone() + f(z.clone());
        z = z.clone() + (target - z).mul_scalar(relaxation);
    }
    (first, z)
}
