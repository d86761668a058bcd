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
