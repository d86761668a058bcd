//! FractalNet's order-2 block as a Runge–Kutta-2 scheme (Lu et al. 2018, §1):
//! `x_{n+1} = k1·x_n + k2·(k3·x_n + f1(x_n)) + f2(k3·x_n + f1(x_n))`, with two different
//! branches f1, f2 per block. With `(k1, k2, k3) = (½, ½, 1)` and `f2 = ½ f1 = ½ f` it is Heun's
//! method `x + ½ f(x) + ½ f(x + f(x))`; learned k's let each block pick its own two-stage rule.

use burn::prelude::*;

/// One FractalNet step with coefficients `k = [k1, k2, k3]` (scalars or `[1, 1, 1, 1]` tensors);
/// returns (f1(x_n), x_{n+1}).
pub fn fractal_step(
    x: &Tensor<4>,
    k: [Tensor<4>; 3],
    f1: impl Fn(Tensor<4>) -> Tensor<4>,
    f2: impl Fn(Tensor<4>) -> Tensor<4>,
) -> (Tensor<4>, Tensor<4>) {
    let [k1, k2, k3] = k;
    let first = f1(x.clone());
    let z = x.clone() * k3 + first.clone();
    let next = x.clone() * k1 + z.clone() * k2 + f2(z);
    (first, next)
}
