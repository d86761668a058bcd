//! Kill-anywhere: a short run is stopped at every file write and rename it makes (the fault hook
//! of `odenet::train::durable`), sometimes a second time during the resume, then resumed; the
//! result must be bit-identical to an uninterrupted run (weights, optimizer state, progress,
//! metrics) with no leftover temporary files. One test function: the fault counter and the
//! device RNG are process-wide.

mod common;

use common::*;
use image::{Rgb, RgbImage};
use odenet::data::{Augment, DatasetKind};
use odenet::train::durable::{arm_fault, fault_points_seen};
use odenet::train::{DataConfig, FitOptions, Schedule, TrainConfig, checkpoint, fit};
use odenet::{NetConfig, SchemeConfig};
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// `<root>/{train,test}/c{0,1,2}/` of 8×8 PNGs whose colour depends on the class, plus a
/// deterministic per-image pattern.
fn make_folder(root: &Path) {
    for (split, n) in [("train", 8u32), ("test", 4)] {
        for class in 0..3u32 {
            let dir = root.join(split).join(format!("c{class}"));
            fs::create_dir_all(&dir).expect("folder");
            for i in 0..n {
                let img = RgbImage::from_fn(8, 8, |x, y| {
                    let v = ((x * 31 + y * 17 + i * 53 + class * 7) % 64) as u8;
                    let mut p = [v, v, v];
                    p[class as usize] = 160 + v;
                    Rgb(p)
                });
                img.save(dir.join(format!("{i}.png"))).expect("png");
            }
        }
    }
}

fn tiny_run(data: &Path) -> TrainConfig {
    let model = NetConfig { in_channels: 3, ..tiny_config("tiny-lm", SchemeConfig::lm_paper()) };
    let data = DataConfig {
        kind: DatasetKind::Folder,
        path: data.to_path_buf(),
        train_per_class: None,
        test_per_class: None,
        augment: Augment::paper_cifar(),
        normalization: Default::default(),
    };
    let mut c = config(model, data, 2, 8);
    c.schedule = Schedule::Constant;
    c.optim.lr = 0.05;
    c
}

/// The tensors of a safetensors file by name, as (dtype, shape, bytes): the file's own bytes also
/// hold Burn's metadata map, whose order varies between processes.
fn tensors(path: &Path) -> Vec<u8> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut names = st.names();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let t = st.tensor(name).expect("tensor");
        out.extend(format!("{name} {:?} {:?}", t.dtype(), t.shape()).into_bytes());
        out.extend(t.data());
    }
    out
}

/// Everything that must match an uninterrupted run, byte for byte (metrics without timings; the
/// burnpack files hold per-process parameter ids, and their content shows in the weights).
fn outcome(run: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = ["last/model.safetensors", "best/model.safetensors"]
        .iter()
        .map(|f| (f.to_string(), tensors(&run.join(f))))
        .collect();
    for f in ["last/state.json", "best/state.json", "k.json", "config.json"] {
        files.push((f.to_string(), fs::read(run.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))));
    }
    for f in ["last/model.bpk", "last/optim.bpk"] {
        assert!(run.join(f).is_file(), "{f} exists");
    }
    let metrics = odenet::report::read_metrics(&run.join("metrics.jsonl")).expect("metrics");
    let text = fs::read_to_string(run.join("metrics.jsonl")).expect("metrics");
    assert_eq!(text.lines().count(), metrics.len(), "no duplicate or torn lines:\n{text}");
    for m in metrics {
        let line = (m.epoch, m.lr, m.train_loss, m.train_acc, m.test_loss, m.test_acc, m.k);
        files.push((format!("metrics epoch {}", m.epoch), format!("{line:?}").into_bytes()));
    }
    let mut leftovers: Vec<String> = fs::read_dir(run)
        .expect("run folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".old"))
        .collect();
    leftovers.sort();
    files.push(("leftovers".into(), leftovers.join(",").into_bytes()));
    files
}

/// Runs `f` with a fault armed at write point `at`; whether it stopped there.
fn crash_at(at: usize, f: impl FnOnce()) -> bool {
    arm_fault(at, false);
    let stopped = catch_unwind(AssertUnwindSafe(f)).is_err();
    arm_fault(0, false);
    stopped
}

#[test]
fn a_run_killed_at_any_write_resumes_to_the_uninterrupted_result() {
    let data = run_dir("crash-data");
    make_folder(&data);
    let config = tiny_run(&data);
    // The crash logic is under test, not the disk: without fsync a run takes 0.1 s, not 1 s.
    odenet::train::durable::set_sync(false);
    let fresh = FitOptions::default();
    let resume = FitOptions { resume: true, ..FitOptions::default() };

    let reference = run_dir("crash-reference");
    arm_fault(0, false);
    fit(&config, &reference, &fresh).expect("uninterrupted run");
    let points = fault_points_seen();
    assert!(points >= 30, "a 2-epoch run makes {points} writes and renames");
    let expected = outcome(&reference);
    eprintln!("{points} write points in a 2-epoch run");

    // Resuming a finished run trains nothing and reports the run's own numbers.
    let summary = fit(&config, &reference, &resume).expect("resume a finished run");
    assert!(summary.already_finished);
    let last = odenet::report::read_metrics(&reference.join("metrics.jsonl")).expect("metrics");
    assert_eq!(summary.final_test_acc, last[1].test_acc);
    assert_eq!(outcome(&reference), expected, "a finished run is left as it was");

    // Injected faults are expected panics: keep them quiet, but report any other.
    let default_hook = std::sync::Arc::new(std::panic::take_hook());
    let hook = default_hook.clone();
    std::panic::set_hook(Box::new(move |info| {
        if !format!("{info}").contains("injected fault") {
            hook(info)
        }
    }));
    let run = run_dir("crash-run");
    for at in 1..=points {
        let _ = fs::remove_dir_all(&run);
        assert!(crash_at(at, || drop(fit(&config, &run, &fresh))), "write point {at} not reached");
        // Every third time, a second crash early in the resume (while it repairs the folder).
        if at % 3 == 0 {
            let _ = crash_at(1 + at % 4, || drop(fit(&config, &run, &resume)));
        }
        // Saved work: the most epochs any complete copy of `last` holds (state.json is written
        // last into a checkpoint folder).
        let saved = [".last.tmp", "last", ".last.old"]
            .iter()
            .filter_map(|d| checkpoint::load_state(&run.join(d)).ok())
            .map(|s| s.epochs_done)
            .max()
            .unwrap_or(0);
        match fit(&config, &run, &resume) {
            Ok(summary) => assert_eq!(summary.resumed_from, saved, "crash at write point {at}: work lost"),
            // Killed before config.json existed: nothing to resume, start over.
            Err(e) if format!("{e:#}").contains("no run to resume") => {
                let opts = FitOptions { overwrite: true, ..FitOptions::default() };
                fit(&config, &run, &opts).expect("start over");
            }
            Err(e) => panic!("resume after a crash at write point {at}: {e:#}"),
        }
        let got = outcome(&run);
        for ((name, want), (_, have)) in expected.iter().zip(&got) {
            assert!(want == have, "crash at write point {at}: {name} differs");
        }
    }
    let _ = std::panic::take_hook();
}
