//! Reproducibility, resume, checkpoint safety and NaN handling of the trainer.
//! One test function: the device RNG is process-wide, so these runs must not interleave.

mod common;

use common::*;
use odenet::train::{FitOptions, checkpoint, fit};
use std::fs;

fn metrics(dir: &std::path::Path) -> Vec<serde_json::Value> {
    fs::read_to_string(dir.join("metrics.jsonl"))
        .expect("metrics.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// The fields that must not depend on wall-clock time.
fn outcome(m: &serde_json::Value) -> (String, String, String, String) {
    let f = |k: &str| m[k].to_string();
    (f("train_loss"), f("test_acc"), f("test_loss"), f("k"))
}

#[test]
fn same_seed_same_run_resume_matches_and_failures_are_clean() {
    let mut config = config(small_lm(1, 4), fashion(Some(40), Some(20)), 2, 32);
    // A constant rate, so a 1-epoch run is exactly the first half of the 2-epoch one.
    config.schedule = odenet::train::Schedule::Constant;
    let opts = FitOptions::default();

    // Fixed seed: the same run twice.
    let a = run_dir("repro-a");
    let b = run_dir("repro-b");
    fit(&config, &a, &opts).expect("run a");
    fit(&config, &b, &opts).expect("run b");
    let (ma, mb) = (metrics(&a), metrics(&b));
    // A fresh run into a folder holding a run is refused; the run is left alone.
    let err = fit(&config, &a, &opts).expect_err("existing run folder");
    assert!(format!("{err:#}").contains("pass --resume to continue it or --overwrite"), "{err:#}");
    assert_eq!(metrics(&a).len(), 2);
    assert_eq!(ma.len(), 2);
    assert_eq!(ma.iter().map(outcome).collect::<Vec<_>>(), mb.iter().map(outcome).collect::<Vec<_>>());

    // Kill after epoch 1 (simulated: a 1-epoch run), then --resume to epoch 2.
    let c = run_dir("resume");
    let mut first = config.clone();
    first.epochs = 1;
    fit(&first, &c, &opts).expect("first epoch");
    let state = checkpoint::load_state(&checkpoint::locate(&c, "last").expect("last")).expect("state");
    assert_eq!(state.epochs_done, 1);
    fit(&config, &c, &FitOptions { resume: true, ..FitOptions::default() }).expect("resumed run");
    let mc = metrics(&c);
    assert_eq!(mc.len(), 2, "resume appends epoch 2 only");
    assert_eq!(outcome(&mc[1]), outcome(&ma[1]), "resumed epoch 2 equals the uninterrupted one");
    for f in ["config.json", "k.json", "best/model.safetensors", "last/optim.bpk"] {
        assert!(c.join(f).is_file(), "{f} written");
    }

    // A checkpoint that cannot be written (its temp folder is blocked by a file) is an error,
    // and the finished checkpoint before it stays intact.
    let before = fs::read(c.join("last/model.safetensors")).expect("last checkpoint");
    fs::write(c.join(".last.tmp"), b"in the way").expect("blocker");
    let model = checkpoint::load_model(config.model.init(&burn::tensor::Device::flex()), &c.join("last"))
        .expect("last loads");
    let err = checkpoint::save(&c, "last", &model, None, &state).expect_err("save must fail");
    assert!(format!("{err:#}").contains("previous one is kept"), "{err:#}");
    assert_eq!(fs::read(c.join("last/model.safetensors")).expect("still there"), before);
    fs::remove_file(c.join(".last.tmp")).expect("cleanup");

    // A diverging run stops with a clear error instead of writing NaN checkpoints.
    let mut wild = config.clone();
    wild.optim.lr = 1e12;
    let err = fit(&wild, &run_dir("nan"), &opts).expect_err("NaN loss must stop training");
    assert!(format!("{err:#}").contains("the loss became"), "{err:#}");

    // --resume without a checkpoint is an error, not a fresh start.
    let err = fit(&config, &run_dir("nothing"), &FitOptions { resume: true, ..FitOptions::default() })
        .expect_err("nothing to resume");
    assert!(format!("{err:#}").contains("no checkpoint"), "{err:#}");
}
