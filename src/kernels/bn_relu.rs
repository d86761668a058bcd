//! Batch norm followed by ReLU as one operation on flex f32 tensors, forward and backward.
//!
//! Burn 0.22.1's flex backend runs batch norm through generic tensor operations (burn-backend
//! `ModuleOps::batch_norm_train` and `_backward`): about ten passes over the activation and two
//! layout copies forward, more backward, then ReLU's own two. Here (Ioffe & Szegedy 2015, per
//! channel c over the M = N·H·W values):
//!   forward:  μ = Σx / M, σ² = Σ(x − μ)² / M (biased, as Burn), x̂ = (x − μ) / √(σ² + ε),
//!             y = max(0, γ x̂ + β): two reading passes and one writing pass;
//!   backward: g = dy · [γ x̂ + β > 0] (the ReLU mask recomputed from x exactly as the forward
//!             pass computed y, so y is not read), dβ = Σg, dγ = Σ g x̂, dx = γ / √(σ² + ε) · (g − dβ / M − x̂ dγ / M):
//!             one pass reading x and dy, one reading them and writing dx.
//! Sums are accumulated in f64; channels (statistics) and (n, c) planes (element-wise passes) are
//! spread over rayon's threads.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

use super::storage::{self, Order, contiguous, dense, dims, par_planes, slice, tensor, tensor_in};

type Ad = Autodiff<Flex, NoCheckpointing>;

const ON_FLEX: &str = "kernels::bn_relu is only called for f32 tensors on the flex device";

/// `relu(bn.forward(x))` in training mode (batch statistics, running statistics updated exactly
/// as Burn's `BatchNorm::forward` does), on the flex autodiff device, f32.
pub(super) fn train(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let x = x.try_into_primitive::<Ad>().expect(ON_FLEX);
    let gamma = bn.gamma.val().try_into_primitive::<Ad>().expect(ON_FLEX);
    let beta = bn.beta.val().try_into_primitive::<Ad>().expect(ON_FLEX);
    let (y, mean, var) = train_tracked(x, gamma, beta, bn.epsilon);
    let channels = mean.len();
    let stat = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [channels]), &device);
    // The same update as burn-nn's `BatchNorm::forward_train`.
    let m = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    let running_mean = running_mean.mul_scalar(1.0 - m).add(stat(mean).mul_scalar(m));
    let running_var = running_var.mul_scalar(1.0 - m).add(stat(var).mul_scalar(m));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    Tensor::from_primitive::<Ad>(y)
}

/// `relu(bn.forward(x))` in inference mode (running statistics), on the plain flex device, f32.
pub(super) fn infer(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let x = x.try_into_primitive::<Flex>().expect(ON_FLEX);
    let values = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().expect(ON_FLEX);
    let gamma = values(bn.gamma.val());
    let beta = values(bn.beta.val());
    let mean = values(bn.running_mean.value());
    let var = values(bn.running_var.value());
    let invstd: Vec<f32> = var.iter().map(|v| inv_std(*v as f64, bn.epsilon)).collect();
    let scale: Vec<f32> = (0..gamma.len()).map(|ch| gamma[ch] * invstd[ch]).collect();
    let shift: Vec<f32> = (0..gamma.len()).map(|ch| beta[ch] - mean[ch] * scale[ch]).collect();
    // The input's own layout (channels-last from an inference convolution, see `conv.rs`).
    let (x, order) = dense(&x);
    let [n, c, h, w] = dims(&x);
    let data = storage::values(&x, order);
    let y = match order {
        Order::Nchw => par_planes(n * c, h * w, |p, y| {
            let ch = p % c;
            for (y, x) in y.iter_mut().zip(plane(data, p * h * w, h * w)) {
                y.write((x * scale[ch] + shift[ch]).max(0.0));
            }
        }),
        // A row of W pixels × C channels at a time; channel = position within the pixel.
        Order::Nhwc => par_planes(n * h, w * c, |row, y| {
            let x = plane(data, row * w * c, w * c);
            for (y, x) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
                for (((y, x), scale), shift) in y.iter_mut().zip(x).zip(&scale).zip(&shift) {
                    y.write((x * scale + shift).max(0.0));
                }
            }
        }),
    };
    Tensor::from_primitive::<Flex>(tensor_in(y, [n, c, h, w], order))
}

#[derive(Debug)]
struct BnReluBackward;

/// What the backward pass needs: x, γ, β, μ, 1/√(σ² + ε).
type State = (FlexTensor, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

impl Backward<Flex, 3> for BnReluBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        super::timed(super::Timed::BnReluBackward, || backward(ops, grads))
    }
}

fn backward(ops: Ops<State, 3>, grads: &mut Gradients) {
    let [node_x, node_gamma, node_beta] = ops.parents;
    let dy = contiguous(&grads.consume::<Flex>(&ops.node));
    let (x, gamma, beta, mean, invstd) = ops.state;
    let [n, c, h, w] = dims(&x);
    let (x, dy) = (slice(&x), slice(&dy));
    // y = max(0, x·scale + shift) in the forward pass, with these same f32 operations.
    let affine = |ch: usize| {
        let scale = gamma[ch] * invstd[ch];
        (scale, beta[ch] - mean[ch] * scale)
    };
    let hw = h * w;
    let at = |i: usize, ch: usize| (i * c + ch) * hw;
    // Per channel: dβ = Σ g and dγ = Σ g x̂, with g = dy · [y > 0].
    let sums: Vec<(f64, f64)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let (mut sg, mut sgx) = (0.0f64, 0.0f64);
            let mu = mean[ch];
            let (scale, shift) = affine(ch);
            for i in 0..n {
                let [x, dy] = [x, dy].map(|s| plane(s, at(i, ch), hw));
                let (a, b) = sums2(x, dy, |x, dy| {
                    let g = if x * scale + shift > 0.0 { dy } else { 0.0 };
                    (g, g * (x - mu))
                });
                sg += a;
                sgx += b;
            }
            (sg, sgx * invstd[ch] as f64)
        })
        .collect();
    if let Some(node) = node_x {
        let m = (n * hw) as f64;
        let dx = par_planes(n * c, hw, |p, dx| {
            let ch = p % c;
            let i = p / c;
            let [x, dy] = [x, dy].map(|s| plane(s, at(i, ch), hw));
            let (mu, is) = (mean[ch], invstd[ch]);
            let (scale, shift) = affine(ch);
            let k = gamma[ch] * is;
            let mean_g = (sums[ch].0 / m) as f32;
            let mean_gx = (sums[ch].1 / m) as f32;
            for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                let g = if x * scale + shift > 0.0 { dy } else { 0.0 };
                let xhat = (x - mu) * is;
                dx.write(k * (g - mean_g - xhat * mean_gx));
            }
        });
        grads.register::<Flex>(node.id, tensor(dx, [n, c, h, w]));
    }
    if let Some(node) = node_gamma {
        let dgamma = sums.iter().map(|s| s.1 as f32).collect();
        grads.register::<Flex>(node.id, tensor(dgamma, [c]));
    }
    if let Some(node) = node_beta {
        let dbeta = sums.iter().map(|s| s.0 as f32).collect();
        grads.register::<Flex>(node.id, tensor(dbeta, [c]));
    }
}

/// Output, batch mean and biased batch variance.
fn train_tracked(
    x: FloatTensor<Ad>,
    gamma: FloatTensor<Ad>,
    beta: FloatTensor<Ad>,
    epsilon: f64,
) -> (FloatTensor<Ad>, Vec<f32>, Vec<f32>) {
    let xp = contiguous(x.primitive());
    let [n, c, h, w] = dims(&xp);
    let hw = h * w;
    let data = slice(&xp);
    let plane = |i: usize, ch: usize| plane(data, (i * c + ch) * hw, hw);
    let m = (n * hw) as f64;
    // Σ_i Σ_plane f(x) for one channel; generic (not `dyn`) so that `f` inlines and vectorises.
    fn channel_sum<'a>(planes: impl Iterator<Item = &'a [f32]>, f: impl Fn(f32) -> f32 + Copy) -> f64 {
        planes.map(|p| sums2(p, &[], |x, _| (f(x), 0.0)).0).sum()
    }
    let stats: Vec<(f32, f32)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let mean = (channel_sum((0..n).map(|i| plane(i, ch)), |x| x) / m) as f32;
            let sq = channel_sum((0..n).map(|i| plane(i, ch)), |x| (x - mean) * (x - mean));
            (mean, (sq / m) as f32)
        })
        .collect();
    let mean: Vec<f32> = stats.iter().map(|s| s.0).collect();
    let var: Vec<f32> = stats.iter().map(|s| s.1).collect();
    let invstd: Vec<f32> = var.iter().map(|v| inv_std(*v as f64, epsilon)).collect();
    let g = slice(&contiguous(gamma.primitive())).to_vec();
    let b = slice(&contiguous(beta.primitive())).to_vec();
    let y = par_planes(n * c, hw, |p, y| {
        let ch = p % c;
        let scale = g[ch] * invstd[ch];
        let shift = b[ch] - mean[ch] * scale;
        for (y, &x) in y.iter_mut().zip(plane(p / c, ch)) {
            y.write((x * scale + shift).max(0.0));
        }
    });
    let y = tensor(y, [n, c, h, w]);
    let out = match BnReluBackward
        .prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            prep.finish((xp, g, b, mean.clone(), invstd), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    (out, mean, var)
}

/// Independent partial sums per reduction: one running sum is a serial chain of additions, which
/// the compiler may not reorder; `LANES` of them vectorise.
const LANES: usize = 16;

/// `(Σ_j f(a_j, b_j).0, Σ_j f(a_j, b_j).1)` over `a` and the equally long `b` (or an empty `b`:
/// then `f` gets zeros for it), summed in f32 lanes and then in f64.
#[inline(always)]
fn sums2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    let mut acc = [[0.0f32; LANES]; 2];
    let full = a.len() / LANES * LANES;
    if b.is_empty() {
        for chunk in a[..full].chunks_exact(LANES) {
            for l in 0..LANES {
                let (u, v) = f(chunk[l], 0.0);
                acc[0][l] += u;
                acc[1][l] += v;
            }
        }
    } else {
        for (a, b) in a[..full].chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
            for l in 0..LANES {
                let (u, v) = f(a[l], b[l]);
                acc[0][l] += u;
                acc[1][l] += v;
            }
        }
    }
    let [mut s0, mut s1] = acc.map(|lanes| lanes.iter().map(|&v| v as f64).sum::<f64>());
    for j in full..a.len() {
        let (u, v) = f(a[j], b.get(j).copied().unwrap_or(0.0));
        s0 += u as f64;
        s1 += v as f64;
    }
    (s0, s1)
}

/// The `len` values of one (n, c) plane starting at `start`.
fn plane(s: &[f32], start: usize, len: usize) -> &[f32] {
    &s[start..start + len]
}

fn inv_std(var: f64, epsilon: f64) -> f32 {
    (1.0 / (var + epsilon).sqrt()) as f32
}
