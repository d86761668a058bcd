//! 2-D convolution on flex tensors through oneDNN, with its own autodiff backward.
//!
//! The tensors' flex storage is handed to oneDNN without copies (`FlexTensor::as_slice`,
//! `FlexTensor::new` adopting the output `Vec`); the backward step is the template of Burn's own
//! conv2d backward (burn-autodiff `ops/module.rs`) with oneDNN's gradient passes. A pass oneDNN
//! refuses falls back to flex's own kernel for that call, with one warning.
//!
//! Inference (no autodiff) keeps activations channels-last between layers: the forward pass
//! takes its input as it lies (NCHW or NHWC) and returns NHWC, the layout oneDNN's AVX-512
//! kernels compute in, so no reorder runs on either side of the convolution (one
//! 128×16×32×32 3×3 convolution: 4.9 ms with NCHW buffers and reorders, 3.2 ms channels-last, 2
//! threads; BENCHMARKS.md). The tensor's strides say its layout, so every other operation reads
//! it correctly. Training keeps NCHW.

use std::sync::Once;
use std::sync::atomic::Ordering::Relaxed;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

use super::dnnl::{self, ConvShape, Pass};
use super::storage::{Order, contiguous, dense, dims, tensor_in, values};

type Ad = Autodiff<Flex, NoCheckpointing>;

/// `conv2d(x, w)` without bias on a flex device (with or without autodiff), f32. The caller
/// ([`super::conv2d`]) has checked the device, the dtype and the options.
pub(super) fn conv2d(x: Tensor<4>, w: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    const ON_FLEX: &str = "kernels::conv2d is only called for f32 tensors on the flex device";
    if x.device().is_autodiff() {
        let x = x.try_into_primitive::<Ad>().expect(ON_FLEX);
        let w = w.try_into_primitive::<Ad>().expect(ON_FLEX);
        Tensor::from_primitive::<Ad>(conv2d_tracked(x, w, options))
    } else {
        let x = x.try_into_primitive::<Flex>().expect(ON_FLEX);
        let w = w.try_into_primitive::<Flex>().expect(ON_FLEX);
        Tensor::from_primitive::<Flex>(forward_channels_last(&x, &w, &options))
    }
}

#[derive(Debug)]
struct Conv2dBackward;

impl Backward<Flex, 2> for Conv2dBackward {
    type State = (FlexTensor, FlexTensor, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, w, options) = ops.state;
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, grad_input(&x, &w, &dy, &options));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, grad_weight(&x, &w, &dy, &options));
        }
    }
}

fn conv2d_tracked(
    x: FloatTensor<Ad>,
    w: FloatTensor<Ad>,
    options: ConvOptions<2>,
) -> FloatTensor<Ad> {
    let y = forward(x.primitive(), w.primitive(), &options);
    match Conv2dBackward
        .prepare::<NoCheckpointing>([x.node(), w.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            prep.finish((x.primitive().clone(), w.primitive().clone(), options), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// The oneDNN shape of `conv2d(x [n, c, h, w], w [k, c/g, r, s])`, Burn's output-size rule.
fn shape(x: &FlexTensor, w: &FlexTensor, o: &ConvOptions<2>) -> ConvShape {
    let [n, c, h, wd] = dims(x);
    let [k, _, r, s] = dims(w);
    let out = |size: usize, pad: (usize, usize), kernel: usize, stride: usize| {
        (size + pad.0 + pad.1 - kernel) / stride + 1
    };
    let l = |v: usize| v as std::ffi::c_long;
    ConvShape {
        n: l(n),
        c: l(c),
        h: l(h),
        w: l(wd),
        k: l(k),
        r: l(r),
        s: l(s),
        oh: l(out(h, o.padding[0], r, o.stride[0])),
        ow: l(out(wd, o.padding[1], s, o.stride[1])),
        stride_h: l(o.stride[0]),
        stride_w: l(o.stride[1]),
        pad_h: l(o.padding[0].0),
        pad_w: l(o.padding[1].0),
        groups: l(o.groups),
        src_nhwc: 0,
        dst_nhwc: 0,
    }
}

fn forward(x: &FlexTensor, w: &FlexTensor, options: &ConvOptions<2>) -> FlexTensor {
    let s = shape(x, w, options);
    let out = [s.n, s.k, s.oh, s.ow];
    run(Pass::Forward, &s, x, w, out).unwrap_or_else(|| {
        Flex::conv2d(x.clone(), w.clone(), None, options.clone())
    })
}

/// The inference forward pass: `x` as it lies (NCHW or NHWC), the output NHWC.
fn forward_channels_last(x: &FlexTensor, w: &FlexTensor, options: &ConvOptions<2>) -> FlexTensor {
    let (x, order) = dense(x);
    let mut s = shape(&x, w, options);
    s.src_nhwc = (order == Order::Nhwc).into();
    s.dst_nhwc = 1;
    let out = [s.n, s.k, s.oh, s.ow];
    run(Pass::Forward, &s, &x, w, out).unwrap_or_else(|| {
        Flex::conv2d(x.clone(), w.clone(), None, options.clone())
    })
}

fn grad_input(x: &FlexTensor, w: &FlexTensor, dy: &FlexTensor, o: &ConvOptions<2>) -> FlexTensor {
    let s = shape(x, w, o);
    let out = [s.n, s.c, s.h, s.w];
    run(Pass::GradInput, &s, dy, w, out).unwrap_or_else(|| {
        Flex::conv2d_x_backward(x.clone(), w.clone(), dy.clone(), o.clone())
    })
}

fn grad_weight(x: &FlexTensor, w: &FlexTensor, dy: &FlexTensor, o: &ConvOptions<2>) -> FlexTensor {
    let s = shape(x, w, o);
    let [k, cg, r, ks] = dims(w);
    let out = [k, cg, r, ks].map(|v| v as std::ffi::c_long);
    run(Pass::GradWeight, &s, x, dy, out).unwrap_or_else(|| {
        Flex::conv2d_weight_backward(x.clone(), w.clone(), dy.clone(), o.clone())
    })
}

/// Runs one oneDNN pass into a fresh tensor of shape `out`; `None` (after one warning) if oneDNN
/// failed, so that the caller computes it with flex instead. Activations marked channels-last in
/// `s` must be dense NHWC ([`dense`]); the others are made contiguous NCHW here.
fn run(
    pass: Pass,
    s: &ConvShape,
    a: &FlexTensor,
    b: &FlexTensor,
    out: [std::ffi::c_long; 4],
) -> Option<FlexTensor> {
    let timer = match pass {
        Pass::Forward => super::Timed::ConvForward,
        Pass::GradInput => super::Timed::ConvInputGrad,
        Pass::GradWeight => super::Timed::ConvWeightGrad,
    };
    let order = |nhwc: std::ffi::c_long| if nhwc == 1 { Order::Nhwc } else { Order::Nchw };
    let (src, dst) = (order(s.src_nhwc), order(s.dst_nhwc));
    let [a_order, b_order, out_order] = match pass {
        Pass::Forward => [src, Order::Nchw, dst],
        Pass::GradInput => [dst, Order::Nchw, src],
        Pass::GradWeight => [src, dst, Order::Nchw],
    };
    let out: [usize; 4] = out.map(|v| v as usize);
    let len = out.iter().product();
    let mut y = Vec::with_capacity(len);
    let result = super::timed(timer, || {
        if [a, b].iter().any(|t| t.dtype() != burn::tensor::DType::F32) {
            return Err("operands are not f32".to_string());
        }
        let prepare = |t: &FlexTensor, order| match order {
            Order::Nchw => contiguous(t),
            Order::Nhwc => t.clone(),
        };
        let (a, b) = (prepare(a, a_order), prepare(b, b_order));
        let (a, b) = (values(&a, a_order), values(&b, b_order));
        dnnl::run(pass, s, a, b, &mut y.spare_capacity_mut()[..len])
    });
    match result {
        Ok(()) => {
            // SAFETY: the capacity is `len`, and oneDNN wrote all `len` values.
            unsafe { y.set_len(len) };
            Some(tensor_in(y, out, out_order))
        }
        Err(e) => {
            super::FALLBACKS.fetch_add(1, Relaxed);
            static WARN: Once = Once::new();
            WARN.call_once(|| {
                tracing::warn!("oneDNN convolution failed ({e}); using flex's for such calls")
            });
            None
        }
    }
}
