//! The LM update `u_{n+1} = u_n + f_n + k_n (u_{n−1} − u_n)` as one pass over flex f32 tensors,
//! forward and backward.
//!
//! Written with Burn's tensor operations it is three element-wise passes forward (difference,
//! scaling, two sums) with two temporaries, and their backward passes on top. Here, per channel c
//! (k has one value, or one per channel):
//!   forward:  y = (1 − k_c) u + k_c p + f                            (one writing pass);
//!   backward: du = (1 − k_c) g, dp = k_c g, df = g, dk_c = Σ_{n,h,w} g (p − u)
//!             (one pass reading g, u, p and writing du, dp; df is g itself).
//! Sums are accumulated in f64; (n, c) planes are spread over rayon's threads.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use rayon::prelude::*;
use std::mem::MaybeUninit;

use super::storage::{Order, contiguous, dims, par_planes, slice, tensor, tensor_in};

type Ad = Autodiff<Flex, NoCheckpointing>;

const ON_FLEX: &str = "kernels::lm_step is only called for f32 tensors on the flex device";

/// The combination on the flex autodiff device (`k`: `[1, C or 1, 1, 1]`).
pub(super) fn train(u: Tensor<4>, prev: Tensor<4>, f: Tensor<4>, k: Tensor<4>) -> Tensor<4> {
    let [u, prev, f, k] = [u, prev, f, k].map(|t| t.try_into_primitive::<Ad>().expect(ON_FLEX));
    let (up, pp, fp) = (contiguous(u.primitive()), contiguous(prev.primitive()), contiguous(f.primitive()));
    let kv = slice(&contiguous(k.primitive())).to_vec();
    let y = tensor(combine(&up, &pp, &fp, &kv), dims(&up));
    let out = match LmStepBackward
        .prepare::<NoCheckpointing>([u.node(), prev.node(), f.node(), k.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((up, pp, kv), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive::<Ad>(out)
}

/// The combination on the plain flex device.
pub(super) fn infer(u: Tensor<4>, prev: Tensor<4>, f: Tensor<4>, k: Tensor<4>) -> Tensor<4> {
    let [u, prev, f, k] = [u, prev, f, k].map(|t| t.try_into_primitive::<Flex>().expect(ON_FLEX));
    let k = slice(&contiguous(&k)).to_vec();
    // Channels-last states (from inference convolutions, see `conv.rs`) stay channels-last.
    if [&u, &prev, &f].iter().all(|t| Order::of(t) == Some(Order::Nhwc)) {
        let y = combine_channels_last(u.storage(), prev.storage(), f.storage(), &k, dims(&u));
        return Tensor::from_primitive::<Flex>(tensor_in(y, dims(&u), Order::Nhwc));
    }
    let [u, prev, f] = [u, prev, f].map(|t| contiguous(&t));
    let y = tensor(combine(&u, &prev, &f, &k), dims(&u));
    Tensor::from_primitive::<Flex>(y)
}

/// `u + f` on the plain flex device, channels-last when both are (the Euler step and a stage's
/// start, see [`super::residual_add`]); `None` for other layouts.
pub(super) fn add_infer(u: &Tensor<4>, f: &Tensor<4>) -> Option<Tensor<4>> {
    let [u, f] = [u, f].map(|t| t.clone().try_into_primitive::<Flex>().expect(ON_FLEX));
    if [&u, &f].iter().any(|t| Order::of(t) != Some(Order::Nhwc)) {
        return None;
    }
    let [n, c, h, w] = dims(&u);
    let row = w * c;
    let (us, fs) = (u.storage::<f32>(), f.storage::<f32>());
    let y = par_planes(n * h, row, |r, y| {
        let at = r * row..(r + 1) * row;
        for ((y, &u), &f) in y.iter_mut().zip(&us[at.clone()]).zip(&fs[at]) {
            y.write(u + f);
        }
    });
    Some(Tensor::from_primitive::<Flex>(tensor_in(y, [n, c, h, w], Order::Nhwc)))
}

/// [`combine`] on channels-last `[N, H, W, C]` storage, a row of W pixels at a time.
fn combine_channels_last(u: &[f32], p: &[f32], f: &[f32], k: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
    let row = w * c;
    par_planes(n * h, row, |r, y| {
        let at = r * row..(r + 1) * row;
        let (u, p, f) = (&u[at.clone()], &p[at.clone()], &f[at]);
        if k.len() == 1 {
            let k = k[0];
            for (((y, &u), &p), &f) in y.iter_mut().zip(u).zip(p).zip(f) {
                y.write(u + f + k * (p - u));
            }
            return;
        }
        // One pixel's C channels at a time, one k per channel.
        let k = &k[..c];
        for (px, y) in y.chunks_exact_mut(c).enumerate() {
            let at = px * c..(px + 1) * c;
            let (u, p, f) = (&u[at.clone()], &p[at.clone()], &f[at]);
            for ((((y, &u), &p), &f), &k) in y.iter_mut().zip(u).zip(p).zip(f).zip(k) {
                y.write(u + f + k * (p - u));
            }
        }
    })
}

/// `(1 − k_c) u + k_c p + f`, plane by plane.
fn combine(u: &FlexTensor, p: &FlexTensor, f: &FlexTensor, k: &[f32]) -> Vec<f32> {
    let [n, c, h, w] = dims(u);
    let hw = h * w;
    let (u, p, f) = (slice(u), slice(p), slice(f));
    par_planes(n * c, hw, |plane, y| {
        let k = k[channel(plane, c, k.len())];
        let at = plane * hw..(plane + 1) * hw;
        let (u, p, f) = (&u[at.clone()], &p[at.clone()], &f[at]);
        for (((y, &u), &p), &f) in y.iter_mut().zip(u).zip(p).zip(f) {
            y.write(u + f + k * (p - u));
        }
    })
}

/// Which entry of `k` (of length `k_len`: 1 or C) scales plane `plane` of a `[N, C, H, W]` tensor.
fn channel(plane: usize, c: usize, k_len: usize) -> usize {
    if k_len == 1 { 0 } else { plane % c }
}

#[derive(Debug)]
struct LmStepBackward;

/// What the backward pass needs: u_n, u_{n−1} and the k values.
type State = (FlexTensor, FlexTensor, Vec<f32>);

impl Backward<Flex, 4> for LmStepBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        super::timed(super::Timed::LmStepBackward, || backward(ops, grads))
    }
}

fn backward(ops: Ops<State, 4>, grads: &mut Gradients) {
    let [node_u, node_p, node_f, node_k] = ops.parents;
    let g = contiguous(&grads.consume::<Flex>(&ops.node));
    let (u, p, k) = ops.state;
    let shape = dims(&g);
    let [n, c, h, w] = shape;
    let (hw, len) = (h * w, n * c * h * w);
    let (gs, us, ps) = (slice(&g), slice(&u), slice(&p));
    // One pass over (g, u, p) writes du and dp and sums dk's share of each plane.
    let (mut du, mut dp) = (Vec::with_capacity(len), Vec::with_capacity(len));
    let per_plane: Vec<f64> = du.spare_capacity_mut()[..len]
        .par_chunks_mut(hw.max(1))
        .zip(dp.spare_capacity_mut()[..len].par_chunks_mut(hw.max(1)))
        .enumerate()
        .map(|(plane, (du, dp)): (usize, (&mut [MaybeUninit<f32>], &mut [MaybeUninit<f32>]))| {
            let kc = k[channel(plane, c, k.len())];
            let at = plane * hw..(plane + 1) * hw;
            let (g, u, p) = (&gs[at.clone()], &us[at.clone()], &ps[at]);
            for ((du, dp), &g) in du.iter_mut().zip(dp.iter_mut()).zip(g) {
                du.write((1.0 - kc) * g);
                dp.write(kc * g);
            }
            dot_diff(g, p, u)
        })
        .collect();
    // SAFETY: the capacities are `len`, and every plane of both was written above.
    unsafe {
        du.set_len(len);
        dp.set_len(len);
    }
    if let Some(node) = node_k {
        let mut dk = vec![0.0f64; k.len()];
        for (plane, s) in per_plane.iter().enumerate() {
            dk[channel(plane, c, k.len())] += s;
        }
        let dk = dk.into_iter().map(|v| v as f32).collect();
        grads.register::<Flex>(node.id, tensor(dk, [1, k.len(), 1, 1]));
    }
    if let Some(node) = node_u {
        grads.register::<Flex>(node.id, tensor(du, shape));
    }
    if let Some(node) = node_p {
        grads.register::<Flex>(node.id, tensor(dp, shape));
    }
    if let Some(node) = node_f {
        grads.register::<Flex>(node.id, g);
    }
}

/// Σ_j g_j (p_j − u_j), in 16 f32 lanes then f64 (one running sum would not vectorise).
fn dot_diff(g: &[f32], p: &[f32], u: &[f32]) -> f64 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let full = g.len() / LANES * LANES;
    let chunks = g[..full].chunks_exact(LANES).zip(p.chunks_exact(LANES)).zip(u.chunks_exact(LANES));
    for ((g, p), u) in chunks {
        for l in 0..LANES {
            acc[l] += g[l] * (p[l] - u[l]);
        }
    }
    let tail: f64 = (full..g.len()).map(|j| (g[j] * (p[j] - u[j])) as f64).sum();
    acc.iter().map(|&v| v as f64).sum::<f64>() + tail
}
