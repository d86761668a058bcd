//! Conventions of the official LM-ResNet code as options: where weight decay pulls k_n, and old
//! config.json files (written before the options existed) loading with the old behaviour.

mod common;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use common::{config, fashion, tiny_config};
use odenet::SchemeConfig;
use odenet::train::{KDecayTarget, Normalization, TrainConfig, decay_k_toward_one, optimizer};

/// One SGD step (no momentum) of a tiny LM net under `config`; returns (k before, k after).
fn one_step(config: &TrainConfig) -> (Vec<f32>, Vec<f32>) {
    let device = Device::flex().autodiff();
    device.seed(3);
    let model = config.model.init(&device);
    let x = Tensor::<4>::random([4, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 0], [4]), &device);
    let loss = CrossEntropyLossConfig::new().init(&device).forward(model.forward(x), y);
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    let k = |m: &odenet::Net| m.learned().into_iter().flat_map(|l| l.values).collect::<Vec<f32>>();
    let before = k(&model);
    decay_k_toward_one(config, &model, &mut grads);
    let model = optimizer(config).step(config.optim.lr, model, grads);
    (before, k(&model))
}

#[test]
fn weight_decay_pulls_k_toward_zero_or_one_as_configured() {
    let mut c = config(tiny_config("tiny-lm", SchemeConfig::lm_paper()), fashion(Some(1), Some(1)), 1, 4);
    c.model.num_classes = 3;
    c.optim.momentum = 0.0;
    c.optim.lr = 0.5;
    c.optim.weight_decay = 0.1;
    c.optim.decay_k = false;
    let (k0, none) = one_step(&c);
    c.optim.decay_k = true;
    c.optim.k_decay_target = KDecayTarget::Paper;
    let (k0p, paper) = one_step(&c);
    c.optim.k_decay_target = KDecayTarget::Official;
    let (k0o, official) = one_step(&c);
    assert_eq!((k0.len(), &k0), (4, &k0p), "same initial k_n (4 LM steps)");
    assert_eq!(k0, k0o);
    let (lr, wd) = (0.5f32, 0.1f32);
    for i in 0..k0.len() {
        // k ← k − lr (g + wd k) against k ← k − lr (g + wd (k − 1)).
        assert!((paper[i] - none[i] - (-lr * wd * k0[i])).abs() < 1e-6, "{i}: {paper:?} {none:?}");
        assert!((official[i] - none[i] - (-lr * wd * (k0[i] - 1.0))).abs() < 1e-6, "{i}: {official:?}");
        assert!(official[i] > none[i], "pulled toward 1 from k0 = {}", k0[i]);
    }
}

#[test]
fn configs_written_before_the_options_load_with_the_old_behaviour() {
    let mut c = config(tiny_config("tiny-lm", SchemeConfig::lm_paper()), fashion(None, None), 1, 4);
    c.model.noise = odenet::scheme::noise::NoiseConfig::StochasticDepth {
        p_last: 0.5,
        scaling: Default::default(),
        indexing: Default::default(),
    };
    let mut json = serde_json::to_value(&c).expect("serialise");
    json["optim"].as_object_mut().expect("optim").remove("k_decay_target");
    json["data"].as_object_mut().expect("data").remove("normalization");
    json["model"]["noise"].as_object_mut().expect("noise").remove("indexing");
    let old: TrainConfig = serde_json::from_value(json).expect("old config loads");
    assert_eq!(old, c);
    assert_eq!(old.optim.k_decay_target, KDecayTarget::Paper);
    assert_eq!(old.data.normalization, Normalization::Dataset);
    assert_eq!(Normalization::OfficialCifar.constants().expect("constants").1, vec![0.2023, 0.1994, 0.2010]);
}
