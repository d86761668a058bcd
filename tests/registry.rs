//! Tests generated from the registry: every model builds, runs forward and backward.

use burn::prelude::*;
use odenet::{SchemeConfig, params, zoo};

#[test]
fn names_are_unique_and_kebab_case() {
    let names: Vec<&str> = zoo::models().iter().map(|m| m.name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "duplicate model names: {names:?}");
    for n in &names {
        assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{n}");
    }
    for depth in [20, 32, 44, 56, 110, 164] {
        assert!(names.contains(&format!("resnet{depth}").as_str()));
        assert!(names.contains(&format!("lm-resnet{depth}").as_str()));
    }
}

#[test]
fn unknown_model_is_an_error_listing_the_known_ones() {
    let err = zoo::create("resnet21", 3, 10).expect_err("not registered").to_string();
    assert!(err.contains("resnet21") && err.contains("lm-resnet56"), "{err}");
}

#[test]
fn every_model_maps_a_cifar_batch_to_finite_logits() {
    let device = Device::flex();
    for entry in zoo::models() {
        let config = zoo::create(entry.name, 3, 10).expect("registered");
        let net = config.init(&device).valid();
        let logits = net.forward(Tensor::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device));
        assert_eq!(logits.dims(), [2, 10], "{}", entry.name);
        let v: Vec<f32> = logits.into_data().try_to_vec::<f32>().expect("f32");
        assert!(v.iter().all(|x| x.is_finite()), "{} gave non-finite logits", entry.name);
    }
}

#[test]
fn every_parameter_of_lm_resnet20_gets_a_gradient() {
    let device = Device::flex().autodiff();
    let net = zoo::create("lm-resnet20", 1, 7).expect("registered").init(&device);
    let logits = net.forward(Tensor::random([2, 1, 28, 28], burn::tensor::Distribution::Default, &device));
    assert_eq!(logits.dims(), [2, 7], "any class count and input channels");
    let grads = logits.sum().backward();
    let grads = burn::optim::GradientsParams::from_grads(grads, &net);
    let trainable = params::inventory(&net).iter().filter(|t| t.trainable).count();
    assert_eq!(grads.len(), trainable, "every trainable tensor has a gradient");
}

#[test]
fn lm_models_differ_from_resnets_only_by_their_k() {
    let device = Device::flex();
    for depth in [20, 56, 164] {
        let plain = zoo::create(&format!("resnet{depth}"), 3, 10).expect("registered");
        let lm = zoo::create(&format!("lm-resnet{depth}"), 3, 10).expect("registered");
        assert_eq!(plain.scheme, SchemeConfig::forward_euler());
        assert_eq!(lm.scheme, SchemeConfig::lm_paper());
        let diff = params::count_trainable(&lm.init(&device)) - params::count_trainable(&plain.init(&device));
        // One k per block except the first block of each of the 3 stages.
        assert_eq!(diff, lm.num_blocks() - 3, "depth {depth}");
    }
}
