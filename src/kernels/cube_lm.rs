//! The LM update `u_{n+1} = u_n + f_n + k_n (u_{n−1} − u_n)` as one CubeCL kernel forward and one
//! backward, for the GPU devices (wgpu, CUDA: every CubeCL runtime is one Burn backend).
//!
//! Per element of `[N, C, H, W]`, with k one value or one per channel c:
//!   forward:  y = u + f + k_c (p − u)                               (reads u, p, f; writes y);
//!   backward: du = (1 − k_c) g, dp = k_c g, df = g,
//!             dk_c = Σ_{n,h,w} g (p − u)                            (reads g, u, p; writes du, dp).
//! The backward kernel runs one cube per (n, c) plane: each unit walks the plane with a stride,
//! writes du and dp, and sums its share of g (p − u) in f32; the cube then reduces those sums in
//! shared memory and writes one f32 per plane, which Burn's own sum folds into dk (over n, and over
//! c when k is one value). So the backward reads g, u and p once, where Burn's autodiff graph of
//! the three operations reads them over several kernels.
//!
//! Written as a backend extension (`#[backend_extension(Cube, Fusion)]`): the macro generates the
//! lazy `Fusion<CubeBackend>` implementation, so the kernels queue in Burn's fusion stream like any
//! operation (fusion does not look inside them). The autodiff step is [`LmStepBackward`], in the
//! same way as the flex kernels' (`lm_step.rs`).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Cube, backend_extension};
use burn::backend::TensorMetadata;
use burn::tensor::{DType, Shape, Tensor};
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::{CubeCount, CubeDim};
use cubecl::calculate_cube_count_elemwise;

use device_code::{lm_step_backward_kernel, lm_step_kernel};

type Ad = Autodiff<Cube, NoCheckpointing>;

const ON_CUBE: &str = "kernels::cube_lm is only called for tensors on a CubeCL device";

/// Units per cube of the backward kernel (a power of two: the shared-memory reduction halves it).
const BACKWARD_UNITS: u32 = 256;

/// The two kernels, as operations of a Burn backend.
#[backend_extension(Cube, Fusion)]
pub trait LmStepOps: Backend {
    /// `u + f + k (p − u)`; `k`: `[1, C or 1, 1, 1]`.
    #[fusion(dtype = u, shape = u)]
    fn lm_step(u: FloatTensor<Self>, p: FloatTensor<Self>, f: FloatTensor<Self>, k: FloatTensor<Self>)
    -> FloatTensor<Self>;

    /// `(du, dp, per-plane Σ g (p − u))` for the upstream gradient `g`: `[N, C, H, W]` twice and
    /// `[N, C]` in f32.
    #[fusion(meta = backward_specs)]
    fn lm_step_backward(
        g: FloatTensor<Self>,
        u: FloatTensor<Self>,
        p: FloatTensor<Self>,
        k: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The shapes and dtypes of [`LmStepOps::lm_step_backward`]'s outputs, known before it runs.
fn backward_specs(g: &TensorSpec, _u: &TensorSpec, _p: &TensorSpec, _k: &TensorSpec) -> (TensorSpec, TensorSpec, TensorSpec) {
    let planes = Shape::new([g.shape[0], g.shape[1]]);
    (g.clone(), g.clone(), TensorSpec::new(planes, DType::F32))
}

/// The kernels, in CubeCL's Rust dialect (its `Tensor` and `Float` are not Burn's).
mod device_code {
    use cubecl::prelude::*;

    #[cube(launch)]
    pub fn lm_step_kernel<F: Float>(
        u: &Tensor<F>,
        p: &Tensor<F>,
        f: &Tensor<F>,
        k: &Tensor<F>,
        y: &mut Tensor<F>,
        plane: u32,
        k_len: u32,
        #[define(F)] _dtype: ElemType,
    ) {
        let i = ABSOLUTE_POS;
        if i >= y.len() {
            terminate!();
        }
        // One k: (i / plane) % 1 = 0; one per channel: the channel of element i.
        let kc = k[(i / plane as usize) % k_len as usize];
        let ui = u[i];
        y[i] = ui + f[i] + kc * (p[i] - ui);
    }

    #[cube(launch)]
    pub fn lm_step_backward_kernel<F: Float>(
        g: &Tensor<F>,
        u: &Tensor<F>,
        p: &Tensor<F>,
        k: &Tensor<F>,
        du: &mut Tensor<F>,
        dp: &mut Tensor<F>,
        partial: &mut Tensor<f32>,
        plane: u32,
        k_len: u32,
        #[comptime] units: u32,
        #[define(F)] _dtype: ElemType,
    ) {
        let index = CUBE_POS_X as usize;
        let unit = UNIT_POS_X as usize;
        // Runtime values (CUBE_DIM_X = units): a mutable variable must not start from a constant.
        let stride = CUBE_DIM_X as usize;
        let plane_len = plane as usize;
        let kc = k[index % k_len as usize];
        let one = F::new(1.0_f32);
        let start = index * plane_len;
        let mut sum = f32::new(0.0_f32);
        let mut j = unit;
        while j < plane_len {
            let at = start + j;
            let gj = g[at];
            du[at] = (one - kc) * gj;
            dp[at] = kc * gj;
            sum += f32::cast_from(gj) * (f32::cast_from(p[at]) - f32::cast_from(u[at]));
            j += stride;
        }
        let mut sums = Shared::new_slice(units as usize);
        sums[unit] = sum;
        sync_cube();
        let mut half = stride / 2;
        while half > 0 {
            if unit < half {
                sums[unit] = sums[unit] + sums[unit + half];
            }
            sync_cube();
            half /= 2;
        }
        if unit == 0 {
            partial[index] = sums[0];
        }
    }
}

/// `(plane size H·W, number of k values)` for the kernels.
fn plane_and_k(u: &CubeTensor, k: &CubeTensor) -> (u32, u32) {
    let shape = u.meta.shape();
    ((shape[2] * shape[3]) as u32, k.meta.shape()[1] as u32)
}

impl LmStepOps for CubeBackend {
    fn lm_step(u: CubeTensor, p: CubeTensor, f: CubeTensor, k: CubeTensor) -> CubeTensor {
        let [u, p, f, k] = [u, p, f, k].map(into_contiguous);
        let (plane, k_len) = plane_and_k(&u, &k);
        let y = empty_device_contiguous_dtype(u.client.clone(), u.device.clone(), u.meta.shape().clone(), u.dtype);
        let len = y.meta.shape().num_elements();
        let cube_dim = CubeDim::new(&u.client, len);
        let cube_count = calculate_cube_count_elemwise(&u.client, len, cube_dim);
        let dtype = dtype_to_storage_type(u.dtype);
        lm_step_kernel::launch(
            &y.client,
            cube_count,
            cube_dim,
            u.into_tensor_arg(),
            p.into_tensor_arg(),
            f.into_tensor_arg(),
            k.into_tensor_arg(),
            y.clone().into_tensor_arg(),
            plane,
            k_len,
            dtype,
        );
        y
    }

    fn lm_step_backward(g: CubeTensor, u: CubeTensor, p: CubeTensor, k: CubeTensor) -> (CubeTensor, CubeTensor, CubeTensor) {
        let [g, u, p, k] = [g, u, p, k].map(into_contiguous);
        let (plane, k_len) = plane_and_k(&u, &k);
        let shape = g.meta.shape().clone();
        let planes = shape[0] * shape[1];
        let empty = |shape: Shape, dtype| empty_device_contiguous_dtype(g.client.clone(), g.device.clone(), shape, dtype);
        let du = empty(shape.clone(), g.dtype);
        let dp = empty(shape.clone(), g.dtype);
        let partial = empty(Shape::new([shape[0], shape[1]]), DType::F32);
        // A power of two (the reduction halves it): up to BACKWARD_UNITS, what the device allows,
        // and no more than the plane needs (an 8×8 plane gets 64 units, not 256 mostly idle).
        let most = BACKWARD_UNITS
            .min(g.client.properties().hardware.max_units_per_cube)
            .min(plane.next_power_of_two())
            .max(1);
        let units = 1 << (31 - most.leading_zeros());
        let dtype = dtype_to_storage_type(g.dtype);
        lm_step_backward_kernel::launch(
            &g.client.clone(),
            CubeCount::Static(planes as u32, 1, 1),
            CubeDim::new_1d(units),
            g.into_tensor_arg(),
            u.into_tensor_arg(),
            p.into_tensor_arg(),
            k.into_tensor_arg(),
            du.clone().into_tensor_arg(),
            dp.clone().into_tensor_arg(),
            partial.clone().into_tensor_arg(),
            plane,
            k_len,
            units,
            dtype,
        );
        (du, dp, partial)
    }
}

/// The combination on a CubeCL autodiff device (`k`: `[1, C or 1, 1, 1]`).
pub(super) fn train(u: Tensor<4>, prev: Tensor<4>, f: Tensor<4>, k: Tensor<4>) -> Tensor<4> {
    let [u, prev, f, k] = [u, prev, f, k].map(|t| t.try_into_primitive::<Ad>().expect(ON_CUBE));
    let y = Cube::lm_step(
        u.primitive().clone(),
        prev.primitive().clone(),
        f.primitive().clone(),
        k.primitive().clone(),
    );
    let out = match LmStepBackward
        .prepare::<NoCheckpointing>([u.node(), prev.node(), f.node(), k.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((u.into_primitive(), prev.into_primitive(), k.into_primitive()), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive::<Ad>(out)
}

/// The combination on a plain CubeCL device.
pub(super) fn infer(u: Tensor<4>, prev: Tensor<4>, f: Tensor<4>, k: Tensor<4>) -> Tensor<4> {
    let [u, prev, f, k] = [u, prev, f, k].map(|t| t.try_into_primitive::<Cube>().expect(ON_CUBE));
    Tensor::from_primitive::<Cube>(Cube::lm_step(u, prev, f, k))
}

#[derive(Debug)]
struct LmStepBackward;

/// What the backward pass needs: u_n, u_{n−1} and k.
type State = (FloatTensor<Cube>, FloatTensor<Cube>, FloatTensor<Cube>);

impl Backward<Cube, 4> for LmStepBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_u, node_p, node_f, node_k] = ops.parents;
        let g = grads.consume::<Cube>(&ops.node);
        let (u, p, k) = ops.state;
        let k_shape = TensorMetadata::shape(&k);
        let k_dtype = TensorMetadata::dtype(&k);
        let (du, dp, partial) = Cube::lm_step_backward(g.clone(), u, p, k);
        if let Some(node) = node_k {
            // Σ over the batch (and over the channels when k is one value), in f32, then k's dtype.
            let dk = match k_shape[1] {
                1 => Cube::float_sum(partial),
                _ => Cube::float_sum_dim(partial, 0),
            };
            let dk = Cube::float_reshape(dk, k_shape);
            let dk = if k_dtype == DType::F32 { dk } else { Cube::float_cast(dk, k_dtype.into()) };
            grads.register::<Cube>(node.id, dk);
        }
        if let Some(node) = node_u {
            grads.register::<Cube>(node.id, du);
        }
        if let Some(node) = node_p {
            grads.register::<Cube>(node.id, dp);
        }
        if let Some(node) = node_f {
            grads.register::<Cube>(node.id, g);
        }
    }
}
