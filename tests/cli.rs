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
    assert_clean_failure(&["train", "--noise", "pink"], "invalid value 'pink' for '--noise");
    // Nonsense values are rejected before anything is made, naming field, value and rule.
    assert_clean_failure(&["train", "--lr", "NaN"], "optim.lr = NaN: must be a finite number > 0");
    assert_clean_failure(&["train", "--lr=-1"], "optim.lr = -1.0");
    assert_clean_failure(&["train", "--weight-decay", "inf"], "optim.weight_decay = inf");
    assert_clean_failure(&["train", "--epochs", "0"], "epochs = 0: must be at least 1");
    assert_clean_failure(&["train", "--train-per-class", "0"], "data.train_per_class = 0");
    assert_clean_failure(&["train", "--milestones", "120,80"], "schedule.milestones = [120, 80]");
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

    // predict: logits, probabilities and labels that reproduce eval's accuracy and loss.
    let preds = out.join("preds.safetensors");
    let o = odenet(&["predict", out_s, "--out", preds.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", text(&o));
    let bytes = std::fs::read(&preds).expect("predictions written");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let f32s = |name: &str| -> Vec<f32> {
        let t = st.tensor(name).expect(name);
        assert_eq!((t.dtype(), t.shape()), (safetensors::Dtype::F32, &[50usize, 10][..]), "{name}");
        t.data().chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    };
    let (logits, probs) = (f32s("logits"), f32s("probabilities"));
    let labels = st.tensor("labels").expect("labels");
    assert_eq!((labels.dtype(), labels.shape()), (safetensors::Dtype::I64, &[50usize][..]));
    let labels: Vec<i64> = labels.data().chunks(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes"))).collect();
    let (mut hits, mut loss) = (0usize, 0.0f64);
    for (i, &label) in labels.iter().enumerate() {
        let (row, p) = (&logits[i * 10..(i + 1) * 10], &probs[i * 10..(i + 1) * 10]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5, "probabilities sum to 1");
        let best = (0..10).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        hits += (best as i64 == label) as usize;
        loss -= (p[label as usize] as f64).ln();
    }
    assert_eq!(hits as f64 / 50.0, acc, "predict's accuracy is eval's");
    let eval_loss = report["test_loss"].as_f64().expect("loss");
    assert!((loss / 50.0 - eval_loss).abs() < 1e-4 * eval_loss.max(1.0), "{} vs {eval_loss}", loss / 50.0);
    let o = odenet(&["predict", out_s, "--out", out.join("preds.npy").to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", text(&o));
    let npy = std::fs::read(out.join("preds.logits.npy")).expect("logits.npy");
    let header = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    assert!(npy.starts_with(b"\x93NUMPY\x01\x00") && (10 + header) % 64 == 0);
    assert!(String::from_utf8_lossy(&npy[10..10 + header]).contains("'shape': (50, 10)"));
    assert_eq!(npy.len(), 10 + header + 50 * 10 * 4);
    assert_clean_failure(&["predict", out_s, "--out", "x.csv"], "must end in .safetensors or .npy");

    // export → float64 → import: the imported run evaluates exactly like the original, and
    // `train --resume` fine-tunes it.
    let exported = out.join("exported.safetensors");
    let o = odenet(&["export", out_s, "--out", exported.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", text(&o));
    let bytes = std::fs::read(&exported).expect("exported");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
            let f64s = t.data().chunks(4).flat_map(|b| (f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).to_le_bytes());
            (name, t.shape().to_vec(), f64s.collect())
        })
        .collect();
    tensors.sort();
    assert!(tensors.iter().any(|(n, _, _)| n.contains("lm_k")), "k_n exported");
    let write64 = |path: &std::path::Path, tensors: &[(String, Vec<usize>, Vec<u8>)]| {
        let views = tensors.iter().map(|(n, shape, b)| {
            (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F64, shape.clone(), b).expect("view"))
        });
        std::fs::write(path, safetensors::serialize(views, None).expect("serialize")).expect("write");
    };
    let w64 = out.join("weights64.safetensors");
    write64(&w64, &tensors);
    let imported = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-imported");
    let _ = std::fs::remove_dir_all(&imported);
    let imported_s = imported.to_str().expect("utf-8");
    let o = odenet(&["import", w64.to_str().expect("utf-8"), "--config", out_s, "--out", imported_s]);
    assert!(o.status.success(), "{}", text(&o));
    let o = odenet(&["eval", imported_s]);
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).expect("eval prints JSON");
    assert_eq!((&again["test_acc"], &again["test_loss"]), (&report["test_acc"], &report["test_loss"]));
    let o = odenet(&["train", "--resume", "--out", imported_s, "--quiet"]);
    assert!(o.status.success() && text(&o).contains("1 epochs"), "{}", text(&o));
    let missing = out.join("missing.safetensors");
    write64(&missing, &tensors[1..]);
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-imported-missing");
    let _ = std::fs::remove_dir_all(&target);
    assert_clean_failure(
        &["import", missing.to_str().expect("utf-8"), "--config", out_s, "--out", target.to_str().expect("utf-8")],
        &format!("{} {:?}: missing from the file", tensors[0].0, tensors[0].1),
    );

    // The run folder is not overwritten by a fresh train; a resume of the finished run says so.
    let again = [
        "train", "--model", "lm-resnet20", "--data", "fashion-mnist", "--train-per-class", "10",
        "--test-per-class", "5", "--epochs", "1", "--batch-size", "25", "--out", out_s, "--quiet",
    ];
    assert_clean_failure(&again, "pass --resume to continue it or --overwrite");
    let o = odenet(&["train", "--resume", "--out", out_s, "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    let final_acc = format!("final test accuracy {:.2}%", acc * 100.0);
    assert!(text(&o).contains("had already finished all 1 epochs") && text(&o).contains(&final_acc), "{}", text(&o));

    // A config.json that does not match the checkpoint, or breaks a rule, is a clear error.
    let config_path = out.join("config.json");
    let original = std::fs::read_to_string(&config_path).expect("config");
    let mut edited = config.clone();
    edited["model"]["depths"] = serde_json::json!([3, 3, 2]);
    std::fs::write(&config_path, edited.to_string()).expect("edit");
    assert_clean_failure(&["eval", out_s], "does not fit the model of the config");
    let mut edited = config.clone();
    edited["model"]["stem_width"] = serde_json::json!(0);
    std::fs::write(&config_path, edited.to_string()).expect("edit");
    assert_clean_failure(&["eval", out_s], "config.json is not a valid run config: model.stem_width = 0");
    std::fs::write(&config_path, original).expect("restore");

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
