//! Reversible training: gradients from recomputed (not stored) coupled stages equal ordinary
//! autodiff. f64, own binary (the dtype setting is process-wide).

mod common;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::FloatDType;
use odenet::nn::BranchKind;
use odenet::{NetConfig, SchemeConfig, reversible};

struct Compare<'a> {
    a: &'a GradientsParams,
    b: &'a GradientsParams,
    checked: usize,
    worst: f64,
}

impl ModuleVisitor for Compare<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let (Some(a), Some(b)) = (self.a.get::<D>(param.id), self.b.get::<D>(param.id)) else {
            return;
        };
        let a: Vec<f64> = a.into_data().try_to_vec().expect("f64");
        let b: Vec<f64> = b.into_data().try_to_vec().expect("f64");
        let scale = b.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
        let err = a.iter().zip(&b).fold(0f64, |m, (x, y)| m.max((x - y).abs())) / scale;
        self.worst = self.worst.max(err);
        self.checked += 1;
    }
}

/// Every float of a module (parameters and running states), in visiting order.
#[derive(Default)]
struct Floats(Vec<Vec<f64>>);

impl ModuleVisitor for Floats {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().into_data().try_to_vec().expect("f64"));
    }
}

/// The floats after committing pending running-state updates (`valid` synchronises them).
fn floats(net: &odenet::Net) -> Vec<Vec<f64>> {
    let mut all = Floats::default();
    net.valid().visit(&mut all);
    all.0
}

/// Ids of the float parameters of a module, in visiting order.
#[derive(Default)]
struct Ids(Vec<ParamId>);

impl ModuleVisitor for Ids {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.id);
    }
}

/// Gradients of `from`'s parameters registered under the ids of the same parameters of `to`.
fn remap(grads: &GradientsParams, from: &odenet::Net, to: &odenet::Net) -> GradientsParams {
    struct Move<'a> {
        grads: &'a GradientsParams,
        to: std::vec::IntoIter<ParamId>,
        out: GradientsParams,
    }
    impl ModuleVisitor for Move<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let target = self.to.next().expect("same architecture");
            if let Some(g) = self.grads.get::<D>(param.id) {
                self.out.register::<D>(target, g);
            }
        }
    }
    let mut ids = Ids::default();
    to.visit(&mut ids);
    let mut mv = Move { grads, to: ids.0.into_iter(), out: GradientsParams::new() };
    from.visit(&mut mv);
    mv.out
}

/// The f64 CPU device (configured once per process, before the first tensor).
fn f64_device() -> Device {
    static CONFIGURE: std::sync::Once = std::sync::Once::new();
    CONFIGURE.call_once(|| {
        Device::flex().configure(FloatDType::F64).expect("flex computes in f64");
    });
    Device::flex()
}

fn tiny_revnet() -> NetConfig {
    NetConfig { branch: BranchKind::Coupled, ..common::tiny_config("tiny-revnet", SchemeConfig::coupled_euler()) }
}

/// Parameters are initialised lazily; the reversible path must not initialise them through its
/// gradient-free copy (a bug once: no gradients at all, training stood still).
fn assert_fresh_network_gets_every_gradient(d: &Device) {
    let net = tiny_revnet().init(d);
    let x = Tensor::<4>::random([4, 1, 8, 8], burn::tensor::Distribution::Default, d);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 0], [4]), d);
    let (_, _, grads) = reversible::loss_and_grads(&net, x, y);
    let trainable = odenet::params::inventory(&net).iter().filter(|t| t.trainable).count();
    assert_eq!(grads.len(), trainable);
}

#[test]
fn recomputed_gradients_equal_stored_ones() {
    let d = f64_device().autodiff();
    // One test function: the seeded twin below needs the process-wide RNG to itself.
    assert_fresh_network_gets_every_gradient(&d);
    d.seed(4);
    let config = tiny_revnet();
    let net = config.init(&d);
    let before = floats(&net); // materialises the lazily initialised parameters
    d.seed(4);
    let twin = config.init(&d);
    assert_eq!(floats(&twin), before, "same seed, same network");
    assert!(reversible::is_reversible(&net));
    let x = Tensor::<4>::random([6, 1, 8, 8], burn::tensor::Distribution::Default, &d);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 0, 1, 2], [6]), &d);

    // The reversible path first, on a freshly built (lazily initialised) network.
    let (_, loss_value, recomputed) = reversible::loss_and_grads(&net, x.clone(), y.clone());

    // Batch-norm running statistics are updated once, as by the stored forward pass of the twin.
    let after_reversible = floats(&net);
    assert_ne!(after_reversible, before, "running statistics updated");
    let logits = twin.forward(x);
    let loss = CrossEntropyLossConfig::new().init(&d).forward(logits, y);
    let stored = GradientsParams::from_grads(loss.backward(), &twin);
    let after_stored = floats(&twin);
    for (a, b) in after_reversible.iter().flatten().zip(after_stored.iter().flatten()) {
        assert!((a - b).abs() <= 1e-10 * b.abs().max(1.0), "running state {a} vs {b}");
    }
    assert!(loss_value.is_finite());
    let trainable = odenet::params::inventory(&net).iter().filter(|t| t.trainable).count();
    assert_eq!(recomputed.len(), trainable, "a gradient for every parameter");
    // The twin's parameters have other ids: compare by position (same architecture, same order).
    let mut cmp = Compare { a: &recomputed, b: &remap(&stored, &twin, &net), checked: 0, worst: 0.0 };
    net.visit(&mut cmp);
    assert_eq!(cmp.checked, trainable);
    assert!(cmp.worst < 1e-8, "worst relative gradient difference {:e}", cmp.worst);
}
