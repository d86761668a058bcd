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

use burn::prelude::*;

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
