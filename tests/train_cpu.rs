//! Real training runs on the CPU that must reach an accuracy.

mod common;

use common::*;
use odenet::data::{Augment, DatasetKind};
use odenet::train::{DataConfig, FitOptions, fit};

#[test]
fn small_lm_resnet_reaches_88_percent_on_fashion_mnist() {
    // Full 60k training set, 2 epochs, cosine lr from 0.1; evaluated on all 10k test images.
    let config = config(small_lm(1, 8), fashion(None, None), 2, 64);
    let summary = fit(&config, &run_dir("fmnist-lm"), &FitOptions::default()).expect("training runs");
    eprintln!("Fashion-MNIST test accuracy {:.4}", summary.final_test_acc);
    assert!(summary.final_test_acc >= 0.88, "test accuracy {:.4} < 0.88", summary.final_test_acc);
    assert_eq!(summary.k.len(), 3, "one learned k per stage");
}

#[test]
fn tiny_cifar10_run_beats_35_percent_after_one_epoch() {
    // 1,000 images per class from the JPEG copy of CIFAR-10, one epoch, 3,000 test images.
    let data = DataConfig {
        kind: DatasetKind::Folder,
        path: cifar_jpeg(),
        train_per_class: Some(1000),
        test_per_class: Some(300),
        augment: Augment::none(),
        normalization: Default::default(),
    };
    let config = config(small_lm(3, 16), data, 1, 64);
    let summary = fit(&config, &run_dir("cifar-lm"), &FitOptions::default()).expect("training runs");
    eprintln!("CIFAR-10 tiny-run test accuracy {:.4}", summary.final_test_acc);
    assert!(summary.final_test_acc > 0.35, "test accuracy {:.4} <= 0.35", summary.final_test_acc);
}

#[test]
fn stochastic_depth_lm_resnet_learns_on_fashion_mnist() {
    use odenet::scheme::noise::{DropScaling, NoiseConfig};
    // The paper's stochastic LM-ResNet (dropped blocks still combine u_n and u_{n-1}), p_L = 0.5:
    // heavy regularisation for 6 blocks, so one short epoch reaches ~45 % (~67 % without it);
    // the assertion is that it learns (chance: 10 %).
    let mut model = small_lm(1, 8);
    model.noise = NoiseConfig::StochasticDepth { p_last: 0.5, scaling: DropScaling::AtTest, indexing: Default::default() };
    let config = config(model, fashion(Some(500), Some(200)), 1, 64);
    let summary = fit(&config, &run_dir("fmnist-sd"), &FitOptions::default()).expect("training runs");
    eprintln!("stochastic-depth Fashion-MNIST test accuracy {:.4}", summary.final_test_acc);
    assert!(summary.final_test_acc > 0.3, "test accuracy {:.4} <= 0.3", summary.final_test_acc);
}
