//! Reversible training: gradients from recomputed (not stored) coupled stages equal ordinary
//! autodiff. f64, own binary (the dtype setting is process-wide).

mod common;

use burn::module::{Module, ModuleVisitor, Param};
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

#[test]
fn recomputed_gradients_equal_stored_ones() {
    let mut plain = Device::flex();
    plain.configure(FloatDType::F64).expect("f64");
    let d = plain.autodiff();
    d.seed(4);
    let net = NetConfig {
        branch: BranchKind::Coupled,
        ..common::tiny_config("tiny-revnet", SchemeConfig::CoupledEuler)
    }
    .init(&d);
    assert!(reversible::is_reversible(&net));
    let x = Tensor::<4>::random([6, 1, 8, 8], burn::tensor::Distribution::Default, &d);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 0, 1, 2], [6]), &d);

    // The reversible path first, on a freshly built (lazily initialised) network.
    let (_, loss_value, recomputed) = reversible::loss_and_grads(&net, x.clone(), y.clone());

    let logits = net.forward(x);
    let loss = CrossEntropyLossConfig::new().init(&d).forward(logits, y);
    let stored = GradientsParams::from_grads(loss.backward(), &net);
    assert!(loss_value.is_finite());
    let trainable = odenet::params::inventory(&net).iter().filter(|t| t.trainable).count();
    assert_eq!(recomputed.len(), trainable, "a gradient for every parameter");
    let mut cmp = Compare { a: &recomputed, b: &stored, checked: 0, worst: 0.0 };
    net.visit(&mut cmp);
    assert_eq!(cmp.checked, trainable);
    assert!(cmp.worst < 1e-8, "worst relative gradient difference {:e}", cmp.worst);
}
