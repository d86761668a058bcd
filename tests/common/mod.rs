//! Shared helpers for the training tests.
#![allow(dead_code)]

use odenet::data::{Augment, DatasetKind, default_path};
use odenet::nn::BranchKind;
use odenet::train::{DataConfig, OptimConfig, Schedule, TrainConfig};
use odenet::{NetConfig, SchemeConfig};
use std::path::PathBuf;

/// A narrow LM-ResNet: 3 stages of 2 basic blocks (one two-step update per stage).
pub fn small_lm(in_channels: usize, width: usize) -> NetConfig {
    NetConfig {
        name: format!("lm-resnet14-w{width}"),
        in_channels,
        num_classes: 10,
        stem_width: width,
        stem: Default::default(),
        widths: vec![width, 2 * width, 4 * width],
        depths: vec![2, 2, 2],
        branch: BranchKind::Basic,
        scheme: SchemeConfig::lm_paper(),
        noise: Default::default(),
    }
}

/// The CIFAR-10 JPEG copy, extracted once into target/test-data (shared with the data tests).
pub fn cifar_jpeg() -> PathBuf {
    let archive = std::env::var_os("ODENET_CIFAR_JPEG").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10-jpeg.tar.gz")
    });
    let dest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-data/cifar10-jpeg");
    odenet::data::extract_tar_gz(&archive, &dest).expect("CIFAR-10 JPEG tarball extracts")
}

pub fn fashion(train_per_class: Option<usize>, test_per_class: Option<usize>) -> DataConfig {
    let kind = DatasetKind::FashionMnist;
    let path = default_path(&kind);
    assert!(path.is_dir(), "{} missing: apt-get install -y dataset-fashion-mnist", path.display());
    DataConfig { kind, path, train_per_class, test_per_class, augment: Augment::none(), normalization: Default::default() }
}

pub fn config(model: NetConfig, data: DataConfig, epochs: usize, batch_size: usize) -> TrainConfig {
    TrainConfig {
        model,
        data,
        optim: OptimConfig { lr: 0.1, momentum: 0.9, nesterov: false, weight_decay: 1e-4, decay_k: true, k_decay_target: Default::default() },
        schedule: Schedule::Cosine,
        epochs,
        batch_size,
        seed: 0,
        device: "cpu".into(),
        reversible: false,
        precision: Default::default(),
    }
}

/// A fresh, empty folder under target/ for one test.
pub fn run_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A temporary folder removed when dropped; unique per process and call.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("odenet-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tiny network (1 input channel, 3 classes, 2 stages of 3 basic blocks): with the LM rule its
/// two-step updates are blocks 2, 3 (stage 0) and 5, 6 (stage 1).
pub fn tiny_config(name: &str, scheme: SchemeConfig) -> NetConfig {
    NetConfig {
        name: name.into(),
        in_channels: 1,
        num_classes: 3,
        stem_width: 4,
        stem: Default::default(),
        widths: vec![4, 8],
        depths: vec![3, 3],
        branch: BranchKind::Basic,
        scheme,
        noise: Default::default(),
    }
}

/// [`tiny_config`] with the paper's LM rule, built on `device`, for exact checks.
pub fn tiny_lm(device: &burn::tensor::Device) -> odenet::Net {
    tiny_config("tiny-lm", SchemeConfig::lm_paper()).init(device)
}

/// Every parameter gradient of `module`, flattened, in visiting order (f32 tensors).
pub fn param_grads<M: burn::module::Module>(module: &M, grads: &burn::tensor::Gradients) -> Vec<Vec<f32>> {
    use burn::module::{ModuleVisitor, Param};
    use burn::prelude::Tensor;
    struct Grads<'a> {
        grads: &'a burn::tensor::Gradients,
        found: Vec<Vec<f32>>,
    }
    impl ModuleVisitor for Grads<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = param.val().grad(self.grads) {
                self.found.push(g.into_data().try_to_vec::<f32>().expect("f32"));
            }
        }
    }
    let mut visitor = Grads { grads, found: Vec::new() };
    module.visit(&mut visitor);
    visitor.found
}

/// Largest absolute difference over the largest magnitude of the reference `b`.
pub fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// One LM step's inputs, for the tests of the fused LM kernels (oneDNN's CPU path, the CubeCL GPU
/// path) against the literal formula: u_n, a non-contiguous u_{n−1} (stored transposed), f, an
/// upstream gradient g, and k as row 1 of a 3-row parameter (rows 0 and 2 must get no gradient).
pub struct LmCase {
    pub u: burn::prelude::Tensor<4>,
    pub prev: burn::prelude::Tensor<4>,
    pub f: burn::prelude::Tensor<4>,
    pub g: burn::prelude::Tensor<4>,
    pub k_param: burn::prelude::Tensor<2>,
    /// Values of k: 1, or C (one per channel).
    pub width: usize,
}

impl LmCase {
    /// Random inputs of shape `[n, c, h, w]` on the autodiff `device`.
    pub fn new(device: &burn::tensor::Device, [n, c, h, w]: [usize; 4], per_channel: bool) -> Self {
        use burn::prelude::Tensor;
        use burn::tensor::Distribution;
        let width = if per_channel { c } else { 1 };
        let random = |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), device);
        Self {
            u: random([n, c, h, w]),
            prev: random([n, c, w, h]).swap_dims(2, 3),
            f: random([n, c, h, w]),
            g: random([n, c, h, w]),
            k_param: Tensor::<2>::random([3, width], Distribution::Uniform(-0.3, 0.3), device).require_grad(),
            width,
        }
    }

    /// k as the step sees it: `[1, width, 1, 1]`, on the parameter's (autodiff) device.
    pub fn k(&self) -> burn::prelude::Tensor<4> {
        self.k_param.clone().slice([1..2]).reshape([1, self.width, 1, 1])
    }

    /// `y`, then the gradients of `Σ g·y` with respect to u, u_{n−1}, f, and to k's parameter; y
    /// from `odenet::kernels::lm_step` (`fused`) or from the literal formula in Burn's operations.
    pub fn run(&self, fused: bool) -> ([burn::prelude::Tensor<4>; 4], burn::prelude::Tensor<2>) {
        let [u, prev, f] = [&self.u, &self.prev, &self.f].map(|t| t.clone().require_grad());
        let k = self.k();
        let y = match fused {
            true => odenet::kernels::lm_step(u.clone(), prev.clone(), f.clone(), k),
            false => lm_literal(u.clone(), prev.clone(), f.clone(), k),
        };
        let grads = (y.clone() * self.g.clone()).sum().backward();
        let dk = self.k_param.grad(&grads).expect("dk");
        let grad = |t: &burn::prelude::Tensor<4>| t.grad(&grads).expect("gradient");
        ([y.inner(), grad(&u), grad(&prev), grad(&f)], dk)
    }
}

/// The LM update as the paper writes it: `(1 − k) u_n + k u_{n−1} + f`.
pub fn lm_literal(
    u: burn::prelude::Tensor<4>,
    prev: burn::prelude::Tensor<4>,
    f: burn::prelude::Tensor<4>,
    k: burn::prelude::Tensor<4>,
) -> burn::prelude::Tensor<4> {
    (k.clone().neg() + 1.0) * u + k * prev + f
}
