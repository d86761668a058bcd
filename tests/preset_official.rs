//! `odenet train --preset official` end to end on a synthetic CIFAR-10 in the binary format
//! (100 training and 20 test images): the run's config.json holds every convention of the
//! official LM-ResNet code, and the run trains.

use odenet::SchemeConfig;
use odenet::scheme::noise::{DropScaling, NoiseConfig, SurvivalIndexing};
use odenet::train::{KDecayTarget, Normalization, Schedule};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `data_batch_1..5.bin` with 2 images per class each and `test_batch.bin` with 2 per class.
fn synthetic_cifar10(dir: &Path) {
    std::fs::create_dir_all(dir).expect("dir");
    let file = |seed: usize| -> Vec<u8> {
        (0..20)
            .flat_map(|i| {
                let label = (i % 10) as u8;
                std::iter::once(label).chain((0..3072).map(move |p| ((p * 7 + i * 31 + seed * 13) % 251) as u8 ^ label))
            })
            .collect()
    };
    for b in 1..=5 {
        std::fs::write(dir.join(format!("data_batch_{b}.bin")), file(b)).expect("write");
    }
    std::fs::write(dir.join("test_batch.bin"), file(0)).expect("write");
}

#[test]
fn preset_official_writes_every_official_convention_and_trains() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("preset-official");
    let _ = std::fs::remove_dir_all(&tmp);
    let (data, out) = (tmp.join("cifar-10-batches-bin"), tmp.join("run"));
    synthetic_cifar10(&data);
    let args = [
        "train", "--model", "lm-resnet20", "--preset", "official", "--data", "cifar10", "--data-dir",
        data.to_str().expect("utf-8"), "--per-channel-k", "--stochastic-depth", "0.5", "--epochs", "1",
        "--batch-size", "50", "--out", out.to_str().expect("utf-8"), "--quiet",
    ];
    let o = Command::new(env!("CARGO_BIN_EXE_odenet")).args(args).output().expect("odenet runs");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success() && !text.contains("panicked"), "{text}");

    let config = odenet::report::read_config(&out.join("config.json")).expect("config.json");
    // The paper's CIFAR-10 protocol …
    assert_eq!((config.optim.lr, config.optim.momentum, config.optim.weight_decay), (0.1, 0.9, 1e-4));
    assert_eq!(config.schedule, Schedule::Step { milestones: vec![80, 120], gamma: 0.1 });
    // … with the official code's conventions: k_code = 1 − k decayed (k pulled toward 1),
    // MResNetC's per-channel init U(−0.1, 0) for k_code (k in [1, 1.1]), stochastic depth
    // indexed i/(L − 1) and divided by p in training, CIFAR normalised by its constants.
    assert!(config.optim.decay_k);
    assert_eq!(config.optim.k_decay_target, KDecayTarget::Official);
    assert_eq!(config.model.scheme, SchemeConfig::LinearTwoStep { k_init: [1.0, 1.1], per_channel: true });
    assert_eq!(
        config.model.noise,
        NoiseConfig::StochasticDepth { p_last: 0.5, scaling: DropScaling::Inverted, indexing: SurvivalIndexing::Official }
    );
    assert_eq!(config.data.normalization, Normalization::OfficialCifar);
    assert_eq!((config.epochs, config.batch_size), (1, 50), "explicit flags override the preset");

    // It trained: one epoch of finite metrics, and the checkpoint says so.
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).expect("metrics.jsonl");
    let lines: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 1, "{metrics}");
    let loss = lines[0]["train_loss"].as_f64().expect("train_loss");
    assert!(loss.is_finite() && loss > 0.0, "{metrics}");
    let state = odenet::train::checkpoint::load_state(&out.join("last")).expect("state.json");
    assert_eq!(state.epochs_done, 1);
    let _ = std::fs::remove_dir_all(&tmp);
}
