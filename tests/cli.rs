//! The `odenet` binary end to end: help, listing, errors that exit non-zero without a panic,
//! and a tiny train → eval round trip.

use std::path::PathBuf;
use std::process::{Command, Output};

fn odenet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_odenet")).args(args).output().expect("odenet runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Fails with a clear message: non-zero exit, no panic, the message contains `needle`.
fn assert_clean_failure(args: &[&str], needle: &str) {
    let o = odenet(args);
    let t = text(&o);
    assert!(!o.status.success(), "{args:?} should fail:\n{t}");
    assert!(!t.contains("panicked"), "{args:?} panicked:\n{t}");
    assert!(t.contains(needle), "{args:?}: expected '{needle}' in:\n{t}");
}

#[test]
fn help_explains_the_commands() {
    let t = text(&odenet(&["--help"]));
    for cmd in ["train", "eval", "models", "download", "analyze", "report"] {
        assert!(t.contains(cmd), "{t}");
    }
    let t = text(&odenet(&["train", "--help"]));
    assert!(t.contains("--resume") && t.contains("--preset") && t.contains("paper-cifar10"), "{t}");
    assert!(t.contains("--stochastic-depth") && t.contains("paper-sd") && t.contains("--noise"), "{t}");
}

#[test]
fn models_lists_exact_parameter_counts_and_schemes() {
    let o = odenet(&["models"]);
    assert!(o.status.success());
    let t = text(&o);
    let row = |name: &str| t.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_default().to_string();
    assert!(row("resnet20").contains("272378") && row("resnet20").contains("forward Euler"), "{t}");
    assert!(row("lm-resnet20").contains("272384") && row("lm-resnet20").contains("two-step"), "{t}");
    assert!(row("lm-resnet164").contains("1703725"), "{t}");
    assert!(row("resnext29-8x64d").contains("34424778"), "{t}");
    assert!(row("lm-resnet50").contains("23524694"), "{t}");
    let rows = odenet::zoo::models().iter().filter(|m| !row(m.name).is_empty()).count();
    assert_eq!(rows, odenet::zoo::models().len(), "every model listed:\n{t}");
    // Grouped by scheme: every Euler model is listed before the first LM model.
    let first_lm = t.find("lm-resnet20").expect("LM listed");
    assert!(t.find("resnext50-32x4d").expect("Euler listed") < first_lm, "{t}");
    assert!(row("rk2-resnet20").contains("272378") && row("rk2-resnet20").contains("Heun"), "{t}");
}

#[test]
fn bad_input_fails_cleanly() {
    assert_clean_failure(&["train", "--model", "resnet21"], "unknown model 'resnet21'");
    assert_clean_failure(&["train", "--data", "imagenet42"], "imagenet42");
    assert_clean_failure(&["train", "--data", "cifar10", "--data-dir", "/nonexistent/cifar"], "/nonexistent/cifar");
    assert_clean_failure(&["eval", "/nonexistent/run"], "run folder");
    assert_clean_failure(&["train", "--stochastic-depth", "1.5"], "survival probability");
    assert_clean_failure(&["train", "--noise", "pink"], "unknown --noise 'pink'");
    if !cfg!(feature = "cuda") {
        assert_clean_failure(&["train", "--data", "fashion-mnist", "--device", "cuda"], "without CUDA");
    }
}

#[test]
fn train_then_eval_round_trip_and_corrupt_checkpoint() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-run");
    let _ = std::fs::remove_dir_all(&out);
    let out_s = out.to_str().expect("utf-8 path");
    let o = odenet(&[
        "train", "--model", "lm-resnet20", "--data", "fashion-mnist", "--train-per-class", "10",
        "--test-per-class", "5", "--epochs", "1", "--batch-size", "25", "--out", out_s, "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("learned k_n"), "{}", text(&o));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).expect("config")).expect("json");
    assert_eq!(config["model"]["name"], "lm-resnet20");
    assert_eq!(config["model"]["in_channels"], 1);

    let o = odenet(&["eval", out_s]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("eval prints JSON");
    assert_eq!(report["test_images"], 50);
    let acc = report["test_acc"].as_f64().expect("accuracy");
    assert!((0.0..=1.0).contains(&acc));

    // Truncated weights: a clear error, not a panic.
    let weights = out.join("best/model.safetensors");
    let bytes = std::fs::read(&weights).expect("weights");
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).expect("truncate");
    assert_clean_failure(&["eval", out_s], "model.safetensors");
}

/// `odenet bench --json` on a tiny batch with extra flags and environment; (kernels, stderr).
fn bench_kernels(flags: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let mut args = vec!["bench", "--model", "resnet20", "--batch-size", "2", "--image-size", "8"];
    args.extend(["--warmup", "0", "--steps", "1", "--mode", "train", "--json"]);
    args.extend(flags);
    let o = Command::new(env!("CARGO_BIN_EXE_odenet"))
        .args(&args)
        .envs(env.iter().copied())
        .output()
        .expect("odenet runs");
    assert!(o.status.success(), "{args:?}:\n{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("one JSON report on stdout");
    let kernels = report["kernels"].as_str().expect("the report names its kernels").to_string();
    (kernels, String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn kernels_default_to_fast_and_fall_back_to_flex_with_one_warning() {
    // oneDNN installed (as in CI): fast by default, flex on request, silently.
    assert_eq!(bench_kernels(&[], &[]), ("fast".into(), String::new()));
    assert_eq!(bench_kernels(&["--kernels", "flex"], &[]), ("flex".into(), String::new()));
    // oneDNN missing at run time: flex, one warning line saying what to install, exit 0.
    let missing = [("ODENET_DNNL_LIB", "/nonexistent/libdnnl.so.2")];
    let (kernels, stderr) = bench_kernels(&[], &missing);
    assert_eq!(kernels, "flex");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("warning: ") && stderr.contains("apt-get install libdnnl-dev"), "{stderr}");
    // Asking for flex needs no oneDNN: no warning.
    assert_eq!(bench_kernels(&["--kernels", "flex"], &missing), ("flex".into(), String::new()));
}
