//! Zero-copy access to flex tensor storage, shared by the kernels.

use burn::backend::flex::{FlexTensor, Layout};
use burn::prelude::*;
use burn::tensor::{Bytes, DType};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// `t` itself when its storage is already one plain block, else a contiguous copy.
pub fn contiguous(t: &FlexTensor) -> FlexTensor {
    match t.layout().contiguous_offsets() {
        Some(_) => t.clone(),
        None => t.to_contiguous(),
    }
}

/// The values of a contiguous f32 tensor (see [`contiguous`]).
pub fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("the kernels only see contiguous f32 tensors")
}

/// A tensor adopting `values` (no copy).
pub fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(Shape::new(shape)), DType::F32)
}

/// The order in which a 4-D activation `[N, C, H, W]` lies in its storage, as one dense block
/// from offset 0. The convolutions hand channels-last (NHWC) outputs on between inference layers,
/// which is the layout oneDNN computes in: no reorder runs around each convolution (see
/// [`super::conv`]); Burn's own operations read either through the strides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Nchw,
    Nhwc,
}

impl Order {
    /// The strides of a `[n, c, h, w]` tensor stored in this order.
    fn strides(self, [_, c, h, w]: [usize; 4]) -> [usize; 4] {
        match self {
            Self::Nchw => [c * h * w, h * w, w, 1],
            Self::Nhwc => [h * w * c, 1, w * c, c],
        }
    }

    /// The order `t` is stored in, if it is one dense block from offset 0 in NCHW or NHWC order
    /// (strides of size-1 dimensions do not matter); `None` for any other view.
    pub fn of(t: &FlexTensor) -> Option<Self> {
        let layout = t.layout();
        if layout.num_dims() != 4 || layout.start_offset() != 0 {
            return None;
        }
        let shape = dims(t);
        let fits = |order: Self| {
            let strides = order.strides(shape);
            (0..4).all(|d| shape[d] == 1 || layout.strides()[d] == strides[d] as isize)
        };
        let len = shape.iter().product::<usize>();
        let whole = t.bytes().len() == len * size_of::<f32>();
        [Self::Nchw, Self::Nhwc].into_iter().find(|&o| whole && fits(o))
    }
}

/// `t` (f32) as one dense block: itself when stored NHWC, else [`contiguous`] (NCHW).
pub fn dense(t: &FlexTensor) -> (FlexTensor, Order) {
    match Order::of(t) {
        Some(Order::Nhwc) => (t.clone(), Order::Nhwc),
        _ => (contiguous(t), Order::Nchw),
    }
}

/// The values of a tensor returned by [`dense`], in its storage `order`.
pub fn values(t: &FlexTensor, order: Order) -> &[f32] {
    match order {
        Order::Nchw => slice(t),
        Order::Nhwc => t.storage::<f32>(),
    }
}

/// A `[n, c, h, w]` tensor adopting `values` stored in `order` (no copy).
pub fn tensor_in(values: Vec<f32>, shape: [usize; 4], order: Order) -> FlexTensor {
    let strides = order.strides(shape).map(|s| s as isize).to_vec();
    FlexTensor::new(Bytes::from_elems(values), Layout::new(Shape::new(shape), strides, 0), DType::F32)
}

/// The shape of a 4-D tensor.
pub fn dims(t: &FlexTensor) -> [usize; 4] {
    let s = t.layout().shape();
    [s[0], s[1], s[2], s[3]]
}

/// A `Vec` of `planes × plane_len` values, plane `p` written by `fill(p, plane)` in parallel. The
/// memory is not zeroed first (that was a whole extra pass): `fill` must write every element.
pub fn par_planes(
    planes: usize,
    plane_len: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync + Send,
) -> Vec<f32> {
    let len = planes * plane_len;
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(plane_len.max(1))
        .enumerate()
        .for_each(|(p, plane)| fill(p, plane));
    // SAFETY: the capacity is `len`, and `fill` initialised every element (its contract).
    unsafe { v.set_len(len) };
    v
}
