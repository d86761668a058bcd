//! Zero-copy access to flex tensor storage, shared by the kernels.

use burn::backend::flex::{FlexTensor, Layout};
use burn::prelude::*;
use burn::tensor::{Bytes, DType};

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
