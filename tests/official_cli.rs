//! The official LM-ResNet code through the CLI, on a synthetic CIFAR-10 in the binary format
//! (100 training and 20 test images): `odenet train --preset official` writes every convention
//! of the official code into config.json and trains; `odenet import` takes the official code's
//! own weights (tests/fixtures/official_lm-resnet20.pt) into a run that `eval` accepts.

use odenet::SchemeConfig;
use odenet::scheme::noise::{DropScaling, NoiseConfig, SurvivalIndexing};
use odenet::train::{KDecayTarget, Normalization, Schedule};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// Runs the binary: its output and stdout + stderr as text.
fn odenet(args: &[&str]) -> (Output, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_odenet")).args(args).output().expect("odenet runs");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o, text)
}

#[test]
fn preset_official_trains_with_every_official_convention_and_imports_official_weights() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("preset-official");
    let _ = std::fs::remove_dir_all(&tmp);
    let (data, out) = (tmp.join("cifar-10-batches-bin"), tmp.join("run"));
    synthetic_cifar10(&data);
    let args = [
        "train", "--model", "lm-resnet20", "--preset", "official", "--data", "cifar10", "--data-dir",
        data.to_str().expect("utf-8"), "--per-channel-k", "--stochastic-depth", "0.5", "--epochs", "1",
        "--batch-size", "50", "--out", out.to_str().expect("utf-8"), "--quiet",
    ];
    let (o, text) = odenet(&args);
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
    assert_eq!(config.model.scheme, SchemeConfig::lm([1.0, 1.1], true));
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

    // The official MResNet20's weights (scalar ks) into the same recipe with scalar k.
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).expect("config")).expect("json");
    json["model"]["scheme"]["per_channel"] = serde_json::json!(false);
    let scalar_k = tmp.join("scalar-k.json");
    std::fs::write(&scalar_k, json.to_string()).expect("write");
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/official_lm-resnet20.pt");
    let imported = tmp.join("imported");
    let (o, text) = odenet(&[
        "import", weights.to_str().expect("utf-8"), "--config", scalar_k.to_str().expect("utf-8"), "--out",
        imported.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("(official naming)") && text.contains("12 tensors of the file not used by the model"), "{text}");
    assert!(text.contains("ks.3: ks of a stage's first block") && text.contains("bn1.weight: the official forward skips bn1"), "{text}");
    let (o, text) = odenet(&["eval", imported.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{text}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("eval prints JSON");
    assert!(report["test_loss"].as_f64().is_some_and(f64::is_finite), "{text}");
    // The per-channel recipe has no place for scalar ks: a clear error, nothing written.
    let refused = tmp.join("refused");
    let (o, text) = odenet(&[
        "import", weights.to_str().expect("utf-8"), "--config", out.to_str().expect("utf-8"), "--out",
        refused.to_str().expect("utf-8"),
    ]);
    assert!(!o.status.success() && !text.contains("panicked") && !refused.exists(), "{text}");
    assert!(text.contains("ks.1: shape [1], the model's stages.0.scheme.lm_k has rows of 16"), "{text}");
    let _ = std::fs::remove_dir_all(&tmp);
}
