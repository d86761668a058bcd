//! The fast (oneDNN) convolution against Burn's flex reference on random data: output, input
//! gradient and weight gradient, for every shape class of the zoo (3×3 and 1×1, stride 1 and 2,
//! ResNeXt groups, the 7×7 stride-2 ImageNet stem), odd sizes and batch 1, to 1e-4 relative.
//! Needs oneDNN (`apt-get install libdnnl-dev`), as the CI installs it. (f64 tensors always take
//! the flex path: `tests/parity_pytorch.rs` runs the models in f64 through the same dispatch.)

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::module::conv2d as flex_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Distribution;
use odenet::kernels::{self, Kernels};

mod common;

use common::{LmCase, lm_literal};

/// One case: batch, in/out channels, input height/width, kernel, stride, padding, groups.
struct Case {
    n: usize,
    c: usize,
    k: usize,
    h: usize,
    w: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    groups: usize,
}

const fn case(n: usize, c: usize, k: usize, hw: [usize; 2], kernel: usize, stride: usize, pad: usize, groups: usize) -> Case {
    Case { n, c, k, h: hw[0], w: hw[1], kernel, stride, pad, groups }
}

const CASES: &[Case] = &[
    case(4, 16, 16, [9, 9], 3, 1, 1, 1),   // 3×3 stride 1, odd size
    case(2, 16, 32, [8, 8], 3, 2, 1, 1),   // 3×3 stride 2 (stage transition), even size
    case(2, 16, 32, [7, 9], 3, 2, 1, 1),   // 3×3 stride 2, odd and non-square
    case(3, 16, 64, [6, 6], 1, 1, 0, 1),   // 1×1 (bottleneck)
    case(2, 16, 32, [8, 8], 1, 2, 0, 1),   // 1×1 stride 2 (projection shortcut)
    case(2, 16, 32, [7, 7], 1, 2, 0, 1),   // 1×1 stride 2, odd size
    case(2, 32, 32, [8, 8], 3, 1, 1, 8),   // ResNeXt grouped 3×3
    case(2, 32, 32, [9, 9], 3, 2, 1, 8),   // ResNeXt grouped 3×3 stride 2, odd size
    case(1, 3, 16, [17, 17], 7, 2, 3, 1),  // ImageNet stem 7×7 stride 2, batch 1
    case(1, 3, 5, [5, 6], 3, 1, 1, 1),     // batch 1, odd channel counts
];

fn fast_device() -> Device {
    let device = Device::flex();
    if let Err(why) = kernels::fast_available() {
        panic!("the fast kernels must be available for this test: {why}");
    }
    assert_eq!(kernels::kernels(), Kernels::Fast);
    device
}

fn options(c: &Case) -> ConvOptions<2> {
    ConvOptions::new([c.stride; 2], [c.pad; 2], [1, 1], c.groups)
}

/// max |a − b| / max |b|.
fn rel_err(a: Tensor<4>, b: Tensor<4>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let scale = b.clone().abs().max().into_scalar::<f32>().max(f32::MIN_POSITIVE);
    (a - b).abs().max().into_scalar::<f32>() / scale
}

/// Output, dL/dx and dL/dw of `conv(x, w)` with L = Σ g ⊙ y, through `conv`.
fn run(
    conv: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
    x: &Tensor<4>,
    w: &Tensor<4>,
    g: &Tensor<4>,
) -> [Tensor<4>; 3] {
    let x = x.clone().require_grad();
    let w = w.clone().require_grad();
    let y = conv(x.clone(), w.clone());
    let grads = (y.clone() * g.clone()).sum().backward();
    [y.inner(), x.grad(&grads).expect("dx"), w.grad(&grads).expect("dw")]
}

#[test]
fn forward_and_gradients_match_flex_for_every_shape_class() {
    let device = fast_device().autodiff();
    device.seed(1);
    for c in CASES {
        let x = Tensor::<4>::random([c.n, c.c, c.h, c.w], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<4>::random(
            [c.k, c.c / c.groups, c.kernel, c.kernel],
            Distribution::Normal(0.0, 0.3),
            &device,
        );
        let fast = run(|x, w| kernels::conv2d(x, w, None, options(c)), &x, &w, &upstream_grad(c, &device));
        let reference = run(|x, w| flex_conv2d(x, w, None, options(c)), &x, &w, &upstream_grad(c, &device));
        for (name, (a, b)) in ["y", "dx", "dw"].iter().zip(fast.into_iter().zip(reference)) {
            let e = rel_err(a, b);
            assert!(e < 1e-4, "{name}: relative error {e:e} for n{} c{} k{} {}x{} {}x{} s{} p{} g{}",
                c.n, c.c, c.k, c.h, c.w, c.kernel, c.kernel, c.stride, c.pad, c.groups);
        }
        // oneDNN computed every pass itself (a refused pass would fall back to flex unnoticed).
        assert_eq!(kernels::fallbacks(), 0, "n{} c{} k{} {}x{} s{} g{}", c.n, c.c, c.k, c.h, c.w, c.stride, c.groups);
    }
}

/// The upstream gradient g for case `c`: the same random tensor for both paths (fixed seed).
fn upstream_grad(c: &Case, device: &Device) -> Tensor<4> {
    let o = |s: usize| (s + 2 * c.pad - c.kernel) / c.stride + 1;
    let [oh, ow] = [o(c.h), o(c.w)];
    let n = c.n * c.k * oh * ow;
    let data: Vec<f32> = (0..n).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
    Tensor::<1>::from_floats(data.as_slice(), device).reshape([c.n, c.k, oh, ow])
}

#[test]
fn inference_forward_and_non_contiguous_input_match_flex() {
    let device = fast_device();
    device.seed(2);
    let c = &CASES[2];
    // An NHWC tensor viewed as NCHW: strided storage, copied to a plain block before oneDNN.
    let x = Tensor::<4>::random([c.n, c.h, c.w, c.c], Distribution::Normal(0.0, 1.0), &device)
        .permute([0, 3, 1, 2]);
    let w = Tensor::<4>::random([c.k, c.c, 3, 3], Distribution::Normal(0.0, 0.3), &device);
    let fast = kernels::conv2d(x.clone(), w.clone(), None, options(c));
    let reference = flex_conv2d(x, w, None, options(c));
    assert!(rel_err(fast, reference) < 1e-4);
}

#[test]
fn a_conv_layer_with_bias_matches_burns_own_forward_and_gradients() {
    let device = fast_device().autodiff();
    device.seed(3);
    let conv = Conv2dConfig::new([8, 12], [3, 3])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(true)
        .init(&device);
    let x = Tensor::<4>::random([2, 8, 11, 11], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let loss = |y: Tensor<4>| (y.clone() * y).sum();
    let fast = kernels::forward(&conv, x.clone());
    let reference = conv.forward(x.clone());
    assert!(rel_err(fast.clone(), reference.clone()) < 1e-4);
    let gf = loss(fast).backward();
    let gr = loss(reference).backward();
    let bias = conv.bias.as_ref().expect("bias").val();
    let (bf, br) = (bias.grad(&gf).expect("db"), bias.grad(&gr).expect("db"));
    let err = (bf - br.clone()).abs().max().into_scalar::<f32>() / br.abs().max().into_scalar::<f32>();
    assert!(err < 1e-4, "bias gradient: {err:e}");
    let (wf, wr) = (conv.weight.val().grad(&gf).expect("dw"), conv.weight.val().grad(&gr).expect("dw"));
    assert!(rel_err(wf, wr) < 1e-4);
}

/// Two batch norms with the same random γ and β (one for each path: each updates its own running
/// statistics).
fn twin_batch_norms(channels: usize, device: &Device) -> [burn::nn::BatchNorm; 2] {
    let gamma = Tensor::<1>::random([channels], Distribution::Uniform(0.5, 1.5), device);
    let beta = Tensor::<1>::random([channels], Distribution::Normal(0.0, 0.5), device);
    [0, 1].map(|_| {
        let mut bn = odenet::nn::batch_norm(channels, device);
        bn.gamma = burn::module::Param::from_tensor(gamma.clone().detach());
        bn.beta = burn::module::Param::from_tensor(beta.clone().detach());
        bn
    })
}

#[test]
fn batch_norm_relu_matches_burn_in_training_and_inference() {
    let device = fast_device().autodiff();
    device.seed(6);
    let [n, c, h, w] = [3, 5, 7, 6];
    let [fast_bn, flex_bn] = twin_batch_norms(c, &device);
    let x = (Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 2.0), &device) + 0.7)
        .require_grad();
    let g = upstream_grad(&case(n, c, c, [h, w], 1, 1, 0, 1), &device);
    let outputs = [
        kernels::bn_relu(&fast_bn, x.clone()),
        burn::tensor::activation::relu(flex_bn.forward(x.clone())),
    ];
    let mut results = Vec::new();
    for (y, bn) in outputs.into_iter().zip([&fast_bn, &flex_bn]) {
        let grads = (y.clone() * g.clone()).sum().backward();
        let dgamma = bn.gamma.val().grad(&grads).expect("dγ").reshape([1, c, 1, 1]);
        let dbeta = bn.beta.val().grad(&grads).expect("dβ").reshape([1, c, 1, 1]);
        results.push([y.inner(), x.grad(&grads).expect("dx"), dgamma, dbeta]);
    }
    let reference = results.pop().expect("two paths");
    for (name, (a, b)) in ["y", "dx", "dγ", "dβ"].iter().zip(results.pop().expect("fast").into_iter().zip(reference)) {
        let e = rel_err(a, b);
        assert!(e < 1e-4, "{name}: relative error {e:e}");
    }
    // Running statistics after one training step (biased batch variance, momentum 0.1, as Burn).
    let stats = |bn: &burn::nn::BatchNorm| {
        [bn.running_mean.value(), bn.running_var.value()].map(|t| t.inner().reshape([1, c, 1, 1]))
    };
    for (a, b) in stats(&fast_bn).into_iter().zip(stats(&flex_bn)) {
        assert!(rel_err(a, b) < 1e-5);
    }
    // Inference (plain device, running statistics) with the updated statistics.
    let plain = Device::flex();
    let (fast_bn, flex_bn) = (fast_bn.valid(), flex_bn.valid());
    let x = x.inner();
    assert_eq!(x.device(), plain);
    let want = burn::tensor::activation::relu(flex_bn.forward(x.clone()));
    let e = rel_err(kernels::bn_relu(&fast_bn, x.clone()), want.clone());
    assert!(e < 1e-5, "inference: relative error {e:e}");
    let e = rel_err(kernels::bn_relu(&fast_bn, channels_last(x)), want);
    assert!(e < 1e-5, "inference, channels-last input: relative error {e:e}");
}

/// The fused LM update against the literal formula `(1 − k) u + k u_{n−1} + f` in Burn's own
/// operations: output and the gradients of u, u_{n−1}, f and of the k parameter row it is sliced
/// from (as the scheme does), for one k per stage and one per channel, odd sizes, batch 1, and a
/// transposed (non-contiguous) input; in training and in inference.
#[test]
fn lm_step_matches_the_literal_formula_forward_and_backward() {
    let device = fast_device().autodiff();
    for (n, c, h, w, per_channel) in [(3, 16, 9, 7, false), (2, 8, 8, 8, true), (1, 5, 3, 5, true)] {
        let case = LmCase::new(&device, [n, c, h, w], per_channel);
        let width = case.width;
        let ((fast, dk_fast), (reference, dk_ref)) = (case.run(true), case.run(false));
        for (name, (a, b)) in ["y", "du", "dprev", "df"].iter().zip(fast.into_iter().zip(reference)) {
            let err = rel_err(a, b);
            assert!(err < 1e-5, "{name} of [{n}, {c}, {h}, {w}], per channel {per_channel}: {err}");
        }
        let dk_err = rel_err(dk_fast.clone().reshape([1, 3, width, 1]), dk_ref.clone().reshape([1, 3, width, 1]));
        assert!(dk_err < 1e-4, "dk: {dk_err}");
        let zero_rows = dk_fast.slice([0..1]).abs().sum().into_scalar::<f32>();
        assert_eq!(zero_rows, 0.0, "only the sliced row of k gets a gradient");
        // Inference: the plain device.
        let plain = |t: &Tensor<4>| t.clone().inner();
        let k = case.k().inner();
        let y = kernels::lm_step(plain(&case.u), plain(&case.prev), plain(&case.f), k.clone());
        let want = lm_literal(plain(&case.u), plain(&case.prev), plain(&case.f), k.clone());
        assert!(rel_err(y, want.clone()) < 1e-6, "inference");
        // Inference on channels-last states (what inference convolutions hand on).
        let [u, prev, f] = [&case.u, &case.prev, &case.f].map(|t| channels_last(plain(t)));
        let y = kernels::lm_step(u, prev, f, k);
        assert!(rel_err(y, want) < 1e-6, "inference, channels-last");
    }
}

/// The same values stored channels-last: an `[N, H, W, C]` block viewed as `[N, C, H, W]`.
fn channels_last(t: Tensor<4>) -> Tensor<4> {
    let device = t.device();
    Tensor::<4>::from_data(t.permute([0, 2, 3, 1]).into_data(), &device).permute([0, 3, 1, 2])
}
