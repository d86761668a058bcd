//! Every family of the zoo learns: one short CPU epoch of a narrow member on Fashion-MNIST
//! (3,000 training images), test accuracy well above chance (10 %): > 35 %; observed 57–73 %.

mod common;

use common::*;
use odenet::net::StemKind;
use odenet::nn::BranchKind;
use odenet::train::{FitOptions, fit};
use odenet::{NetConfig, SchemeConfig};

/// A narrow 3-stage network of `branch` blocks under `scheme`.
fn narrow(name: &str, branch: BranchKind, scheme: SchemeConfig, stem: StemKind) -> NetConfig {
    NetConfig {
        name: name.into(),
        in_channels: 1,
        num_classes: 10,
        stem_width: 8,
        stem,
        widths: vec![8, 16, 32],
        depths: vec![2, 2, 2],
        branch,
        scheme,
        noise: Default::default(),
    }
}

fn learns(model: NetConfig, min_acc: f64) {
    learns_in(model, min_acc, 1);
}

fn learns_in(model: NetConfig, min_acc: f64, epochs: usize) {
    let name = model.name.clone();
    let config = config(model, fashion(Some(300), Some(100)), epochs, 32);
    let summary = fit(&config, &run_dir(&format!("family-{name}")), &FitOptions::default())
        .expect("training runs");
    eprintln!("{name}: test accuracy {:.4}", summary.final_test_acc);
    assert!(summary.final_test_acc > min_acc, "{name}: {:.4} <= {min_acc}", summary.final_test_acc);
}

#[test]
fn lm_resnext_learns() {
    let model = narrow("lm-resnext", BranchKind::resnext(4, 16), SchemeConfig::lm_paper(), StemKind::Cifar);
    learns(model, 0.35);
}

#[test]
fn imagenet_stem_lm_resnet_learns() {
    // 7×7/2 stem + max-pool, bottlenecks: the ImageNet family on 28×28 images.
    let model = narrow("lm-resnet-imagenet-stem", BranchKind::BOTTLENECK, SchemeConfig::lm_paper(), StemKind::ImageNet);
    learns(model, 0.35);
}

#[test]
fn adams_bashforth_and_runge_kutta_nets_learn() {
    learns(narrow("ab2", BranchKind::Basic, SchemeConfig::ab2(), StemKind::Cifar), 0.35);
    learns(narrow("rk2", BranchKind::Basic, SchemeConfig::heun2(), StemKind::Cifar), 0.35);
}

#[test]
fn polynet_and_backward_euler_nets_learn() {
    // The poly block feeds F's output back into F (shared weights and BN statistics): it learns
    // more slowly than the others, so it gets two epochs.
    learns_in(narrow("poly", BranchKind::Basic, SchemeConfig::polynet(), StemKind::Cifar), 0.35, 2);
    let implicit = SchemeConfig::backward_euler(2);
    learns(narrow("implicit", BranchKind::Basic, implicit, StemKind::Cifar), 0.35);
}

#[test]
fn fractal_net_learns() {
    let fractal = SchemeConfig::fractal_rk2([0.5, 0.5, 1.0], true);
    learns(narrow("fractal", BranchKind::Pair, fractal, StemKind::Cifar), 0.35);
}

#[test]
fn revnet_learns_with_stored_and_with_recomputed_activations() {
    learns(narrow("revnet", BranchKind::Coupled, SchemeConfig::coupled_euler(), StemKind::Cifar), 0.35);
    let model = narrow("revnet-reversible", BranchKind::Coupled, SchemeConfig::coupled_euler(), StemKind::Cifar);
    let mut config = config(model, fashion(Some(300), Some(100)), 1, 32);
    config.reversible = true;
    let summary = fit(&config, &run_dir("family-revnet-reversible"), &FitOptions::default())
        .expect("reversible training runs");
    assert!(summary.final_test_acc > 0.35, "reversible: {:.4}", summary.final_test_acc);
    // Not a RevNet: a clear error.
    let mut wrong = config.clone();
    wrong.model = narrow("plain", BranchKind::Basic, SchemeConfig::forward_euler(), StemKind::Cifar);
    let err = fit(&wrong, &run_dir("family-not-reversible"), &FitOptions::default()).expect_err("no");
    assert!(format!("{err:#}").contains("needs a RevNet model"), "{err:#}");
}

#[test]
fn shake_shake_net_learns() {
    learns(narrow("shake", BranchKind::ShakeShake, SchemeConfig::lm_paper(), StemKind::Cifar), 0.35);
}
