//! Which kernels run the models' convolutions on the CPU (issue 8: CPU training speed).
//!
//! Every convolution of the models goes through [`conv2d`] / [`forward`], every batch norm (always
//! followed by a ReLU in these networks) through [`bn_relu`]; the models and schemes never know
//! which path runs. Two paths:
//! - [`Kernels::Fast`]: oneDNN 2.x (Debian's `libdnnl-dev`, the CPU library PyTorch uses) through a
//!   small C shim (`dnnl_shim.c`), for f32 tensors on the flex device, with its own autodiff
//!   backward. Chosen by measurement (BENCHMARKS.md): one 128×16×32×32 3×3 convolution forward +
//!   backward took 33 ms against flex's ~250 ms on the 2-core benchmark machine. Batch norm + ReLU
//!   is one fused Rust pass forward and one backward (`bn_relu.rs`).
//! - [`Kernels::Flex`]: Burn's own convolution, the reference. Always used for f64 tensors, for
//!   dilated convolutions, for Burn's gradient checkpointing, and on other devices (CUDA, wgpu).
//!
//! On the GPU devices (CubeCL: wgpu, CUDA) convolutions and batch norm are always Burn's; `Fast`
//! there means odenet's fused LM-step kernel (`cube_lm.rs`, a lever of issue 12), `Flex` Burn's
//! three operations.
//!
//! The choice is process-wide ([`set_kernels`]); the default is `Fast` where oneDNN is available
//! (odenet built with the header and `libdnnl.so.2` loadable at run time), else `Flex` on the CPU.

#[cfg(odenet_dnnl)]
mod bn_relu;
#[cfg(odenet_dnnl)]
mod conv;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod cube_lm;
#[cfg(odenet_dnnl)]
mod dnnl;
#[cfg(odenet_dnnl)]
mod lm_step;
#[cfg(odenet_dnnl)]
mod storage;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::relu;
use burn::tensor::GradientCheckpointingStrategy;
use burn::tensor::module;
use burn::tensor::ops::ConvOptions;

use crate::precision;

/// Which convolution kernels run on the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// oneDNN's convolutions on the CPU (falls back to flex, with a warning, where oneDNN is
    /// missing); the fused LM-step kernel on GPU devices.
    Fast,
    /// Burn's own operations only: the reference.
    Flex,
}

/// Whether `Fast` was asked for (the CPU also needs oneDNN to load: [`kernels`]).
static FAST: AtomicBool = AtomicBool::new(true);

/// The fast kernels' operations, timed for `odenet bench --breakdown`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timed {
    ConvForward,
    ConvInputGrad,
    ConvWeightGrad,
    BnReluForward,
    BnReluBackward,
    LmStepForward,
    LmStepBackward,
}

/// Nanoseconds spent in each [`Timed`] operation since the start of the process.
static NANOS: [AtomicU64; 7] = [const { AtomicU64::new(0) }; 7];

/// Runs `op` and adds its wall time to the operation's total.
pub(crate) fn timed<R>(which: Timed, op: impl FnOnce() -> R) -> R {
    let start = std::time::Instant::now();
    let result = op();
    NANOS[which as usize].fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    result
}

/// Milliseconds spent so far in the fast kernels, by operation (all zero on the flex path, which
/// is not instrumented).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KernelMillis {
    pub conv_forward: f64,
    /// Input- and weight-gradient passes.
    pub conv_backward: f64,
    pub bn_relu_forward: f64,
    pub bn_relu_backward: f64,
    pub lm_step_forward: f64,
    pub lm_step_backward: f64,
}

impl KernelMillis {
    /// The totals now.
    pub fn now() -> Self {
        let ms = |t: Timed| NANOS[t as usize].load(Ordering::Relaxed) as f64 * 1e-6;
        Self {
            conv_forward: ms(Timed::ConvForward),
            conv_backward: ms(Timed::ConvInputGrad) + ms(Timed::ConvWeightGrad),
            bn_relu_forward: ms(Timed::BnReluForward),
            bn_relu_backward: ms(Timed::BnReluBackward),
            lm_step_forward: ms(Timed::LmStepForward),
            lm_step_backward: ms(Timed::LmStepBackward),
        }
    }

    /// What was spent between `earlier` and `self`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            conv_forward: self.conv_forward - earlier.conv_forward,
            conv_backward: self.conv_backward - earlier.conv_backward,
            bn_relu_forward: self.bn_relu_forward - earlier.bn_relu_forward,
            bn_relu_backward: self.bn_relu_backward - earlier.bn_relu_backward,
            lm_step_forward: self.lm_step_forward - earlier.lm_step_forward,
            lm_step_backward: self.lm_step_backward - earlier.lm_step_backward,
        }
    }
}

/// Convolution passes that oneDNN refused and flex computed instead (each warned about once).
static FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// How many convolution passes fell back from oneDNN to flex since the start of the process.
pub fn fallbacks() -> u64 {
    FALLBACKS.load(Ordering::Relaxed)
}

/// Selects the kernels for the rest of the process and returns the ones that will run: asking for
/// `Fast` where oneDNN is unavailable prints one warning line saying why and what to install,
/// and selects `Flex`.
pub fn set_kernels(kernels: Kernels) -> Kernels {
    let effective = match (kernels, fast_available()) {
        (Kernels::Fast, Err(why)) => {
            eprintln!("warning: fast CPU kernels unavailable ({why}); using Burn's flex kernels");
            Kernels::Flex
        }
        (k, _) => k,
    };
    // The request, not the CPU's outcome: a GPU device's fused kernel needs no oneDNN.
    FAST.store(kernels == Kernels::Fast, Ordering::Relaxed);
    effective
}

/// LM steps computed by odenet's fused GPU kernel since the start of the process.
static GPU_LM_STEPS: AtomicU64 = AtomicU64::new(0);

/// How many LM steps (forward passes) odenet's fused GPU kernel has computed in this process: how
/// tests and `bench` tell that it ran.
pub fn gpu_lm_steps() -> u64 {
    GPU_LM_STEPS.load(Ordering::Relaxed)
}

/// Whether odenet's fused LM-step kernel runs on GPU (CubeCL) devices: `Fast` selected and odenet
/// built with the `wgpu` or `cuda` feature.
pub fn fused_gpu_lm_step() -> bool {
    cfg!(any(feature = "wgpu", feature = "cuda")) && FAST.load(Ordering::Relaxed)
}

/// The kernels that run now on the CPU.
pub fn kernels() -> Kernels {
    if FAST.load(Ordering::Relaxed) && fast_available().is_ok() {
        Kernels::Fast
    } else {
        Kernels::Flex
    }
}

/// Whether oneDNN was built in and loads; the error says what to install. Loads it on the first
/// call (the binary calls this first thing in `main`, before other threads exist, because loading
/// sets OpenMP's environment).
pub fn fast_available() -> Result<(), &'static str> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED.get_or_init(load).as_ref().map(|_| ()).map_err(String::as_str)
}

#[cfg(odenet_dnnl)]
fn load() -> Result<(), String> {
    dnnl::init().map_err(|e| format!("{e}; install oneDNN with `apt-get install libdnnl-dev`"))
}

#[cfg(not(odenet_dnnl))]
fn load() -> Result<(), String> {
    Err("odenet was built without the oneDNN header; `apt-get install libdnnl-dev` and rebuild"
        .to_string())
}

/// `Conv2d::forward` through the selected kernels.
///
/// # Shapes
/// - `x`: `[batch, C_in, H, W]` → `[batch, C_out, H_out, W_out]`
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let (top, left, bottom, right) = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => (top, left, bottom, right),
        PaddingConfig2d::Valid => (0, 0, 0, 0),
        // Burn computes "same" padding privately; the models do not use it.
        PaddingConfig2d::Same => return conv.forward(x),
    };
    let options = ConvOptions::new_with_padding(
        conv.stride,
        [(top, bottom), (left, right)],
        conv.dilation,
        conv.groups,
    );
    conv2d(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()), options)
}

/// `burn::tensor::module::conv2d` through the selected kernels.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    // Mixed precision: the f32 weights meet bf16 activations in bf16 (a no-op in f32 runs).
    let weight = precision::like(weight, &x);
    let bias = bias.map(|b| precision::like(b, &x));
    if !runs_fast(&x, &weight) || options.dilation != [1, 1] {
        return module::conv2d(x, weight, bias, options);
    }
    #[cfg(odenet_dnnl)]
    {
        let y = conv::conv2d(x, weight, options);
        match bias {
            Some(b) => {
                let channels = b.dims()[0];
                y + b.reshape([1, channels, 1, 1])
            }
            None => y,
        }
    }
    #[cfg(not(odenet_dnnl))]
    unreachable!("runs_fast is false without oneDNN")
}

/// `relu(bn.forward(x))` through the selected kernels: batch statistics (and the running ones
/// updated) on an autodiff device with the layer in training, running statistics otherwise.
///
/// # Shapes
/// - `x`: `[batch, C, H, W]` → `[batch, C, H, W]`
pub fn bn_relu(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let gamma = bn.gamma.val();
    if x.dtype() != gamma.dtype() {
        // Mixed precision: statistics in the parameters' f32, the result back in x's bf16.
        let dtype = x.dtype();
        return precision::to(bn_relu(bn, precision::like(x, &gamma)), dtype);
    }
    if runs_fast(&x, &gamma) {
        #[cfg(odenet_dnnl)]
        match (x.device().is_autodiff(), bn.training.is_enabled()) {
            (true, true) => return timed(Timed::BnReluForward, || bn_relu::train(bn, x)),
            (false, _) => return timed(Timed::BnReluForward, || bn_relu::infer(bn, x)),
            // A frozen layer on the training device: Burn's own path below.
            (true, false) => {}
        }
    }
    relu(bn.forward(x))
}

/// The LM update `u_{n+1} = u_n + f_n + k_n (u_{n−1} − u_n)` through the selected kernels: one
/// fused pass forward and backward on the fast path (`lm_step.rs`), three Burn operations
/// otherwise.
///
/// # Shapes
/// - `u`, `prev`, `f`: `[batch, C, H, W]` → `[batch, C, H, W]`
/// - `k`: `[1, C, 1, 1]` or `[1, 1, 1, 1]`
pub fn lm_step(u: Tensor<4>, prev: Tensor<4>, f: Tensor<4>, k: Tensor<4>) -> Tensor<4> {
    let k = precision::like(k, &u);
    let fits = fits_lm_kernel(&u, &prev, &f, &k);
    if fits && runs_fast(&u, &k) {
        #[cfg(odenet_dnnl)]
        return timed(Timed::LmStepForward, || match u.device().is_autodiff() {
            true => lm_step::train(u, prev, f, k),
            false => lm_step::infer(u, prev, f, k),
        });
    }
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if fits && fused_gpu_lm_step() && on_cube(&u) {
        GPU_LM_STEPS.fetch_add(1, Ordering::Relaxed);
        return match u.device().is_autodiff() {
            true => cube_lm::train(u, prev, f, k),
            false => cube_lm::infer(u, prev, f, k),
        };
    }
    let delta = (prev - u.clone()) * k;
    u + f + delta
}

/// The residual sum `u + f` of a forward-Euler step or a stage's start, through the selected
/// kernels: on the fast inference path it keeps channels-last states channels-last (Burn's own
/// sum would write NCHW, and every following kernel would copy it back); elsewhere Burn's `+`.
///
/// # Shapes
/// - `u`, `f`: `[batch, C, H, W]` → `[batch, C, H, W]`
pub fn residual_add(u: Tensor<4>, f: Tensor<4>) -> Tensor<4> {
    #[cfg(odenet_dnnl)]
    if runs_fast(&u, &f) && !u.device().is_autodiff() && u.dims() == f.dims() && f.dtype() == DType::F32 {
        if let Some(y) = timed(Timed::LmStepForward, || lm_step::add_infer(&u, &f)) {
            return y;
        }
    }
    u + f
}

/// Whether `x` lives on a CubeCL device (wgpu, CUDA), plain or autodiff without Burn's gradient
/// checkpointing (the fused kernels record their own backward).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn on_cube(x: &Tensor<4>) -> bool {
    let device = x.device();
    device.gradient_checkpointing_strategy().is_none_or(|s| s == GradientCheckpointingStrategy::Disabled)
        && matches!(device.inner().as_dispatch(), burn::backend::DispatchDevice::Cube(_))
}

/// The shapes and dtypes the fused LM kernels (CPU and GPU) take: `u`, `prev`, `f` alike and not
/// empty, `k` `[1, C or 1, 1, 1]` in their dtype, on the same kind of device (all autodiff or none).
fn fits_lm_kernel(u: &Tensor<4>, prev: &Tensor<4>, f: &Tensor<4>, k: &Tensor<4>) -> bool {
    let shape = u.dims();
    let kd = k.dims();
    [prev, f, k].iter().all(|t| t.dtype() == u.dtype() && t.device().is_autodiff() == u.device().is_autodiff())
        && [prev, f].iter().all(|t| t.dims() == shape)
        && kd[0] == 1
        && (kd[1] == 1 || kd[1] == shape[1])
        && kd[2..] == [1, 1]
        && shape.iter().all(|&d| d > 0)
}

/// Whether the fast kernels take an operation on `x` with parameter `weight`: f32 tensors on the
/// flex device (autodiff without Burn's gradient checkpointing, or plain), fast kernels selected.
fn runs_fast<const D: usize>(x: &Tensor<4>, weight: &Tensor<D>) -> bool {
    let device = x.device();
    kernels() == Kernels::Fast
        && x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && device
            .gradient_checkpointing_strategy()
            .is_none_or(|s| s == GradientCheckpointingStrategy::Disabled)
        && weight.device().is_autodiff() == device.is_autodiff()
        && device.inner() == Device::flex()
}
