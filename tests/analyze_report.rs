//! `odenet analyze` (modified-equation reading of learned k_n) and `odenet report` (figures and
//! a table over run folders), end to end through the binary.

mod common;

use burn::module::Param;
use burn::prelude::*;
use common::run_dir;
use odenet::analysis::{self, coefficients};
use odenet::report::plot;
use odenet::train::checkpoint::{self, TrainState};
use odenet::train::{EpochMetrics, TrainConfig};
use odenet::scheme::Scheme;
use odenet::{NetConfig, SchemeConfig};
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn odenet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_odenet")).args(args).output().expect("odenet runs")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// 2 stages of 3 basic blocks: LM steps at blocks 2, 3 (stage 0) and 5, 6 (stage 1).
fn tiny(name: &str, scheme: SchemeConfig) -> NetConfig {
    common::tiny_config(name, scheme)
}

fn train_config(model: NetConfig, epochs: usize) -> TrainConfig {
    let data = odenet::train::DataConfig {
        kind: odenet::data::DatasetKind::FashionMnist,
        path: "/nonexistent/fashion-mnist".into(),
        train_per_class: Some(10),
        test_per_class: Some(5),
        augment: odenet::data::Augment::none(),
        normalization: Default::default(),
    };
    common::config(model, data, epochs, 16)
}

fn write_config(dir: &Path, config: &TrainConfig) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("config.json"), serde_json::to_string_pretty(config).unwrap()).unwrap();
}

/// A checkpoint `<dir>/best` of `model` whose k_n are `k[stage]` (rows: steps, columns: channels).
fn checkpoint_with_k(dir: &Path, model: &NetConfig, k: &[Vec<Vec<f32>>]) {
    let device = Device::flex();
    let mut net = model.init(&device);
    for (stage, rows) in net.stages.iter_mut().zip(k) {
        let (steps, width) = (rows.len(), rows[0].len());
        let flat: Vec<f32> = rows.concat();
        let t = Tensor::<2>::from_data(TensorData::new(flat, [steps, width]), &device);
        stage.scheme = Scheme::from_lm_k(Param::from_tensor(t));
    }
    let state = TrainState { epochs_done: 1, best_test_acc: 0.5, best_epoch: 1 };
    checkpoint::save(dir, "best", &net, None, &state).expect("checkpoint written");
}

fn png_size(path: &Path) -> (u32, u32) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    (img.width(), img.height())
}

/// Share of non-white pixels in a horizontal band of a PNG (text and lines leave some).
fn ink(path: &Path, rows: std::ops::Range<u32>) -> f64 {
    let img = image::open(path).unwrap().to_rgb8();
    let (mut dark, mut all) = (0usize, 0usize);
    for y in rows {
        for x in 0..img.width() {
            all += 1;
            if img.get_pixel(x, y).0.iter().any(|&c| c < 200) {
                dark += 1;
            }
        }
    }
    dark as f64 / all as f64
}

#[test]
fn coefficients_of_hand_computed_k() {
    // k = −0.5: 0.5 u̇ + 0.75 ü; ratio (0.75/0.5)/(1/2) = 3; roots 1, 0.5.
    let c = coefficients(-0.5);
    assert_eq!((c.udot, c.uddot, c.momentum_ratio, c.zero_stable), (0.5, 0.75, 3.0, true));
    // k = 0: ResNet, u̇ + ½ ü.
    let c = coefficients(0.0);
    assert_eq!((c.udot, c.uddot, c.momentum_ratio, c.zero_stable), (1.0, 0.5, 1.0, true));
    // k = 1.2: root −1.2 outside the unit disc.
    let c = coefficients(1.2);
    assert!(!c.zero_stable);
    assert!((c.udot - 2.2).abs() < 1e-12 && (c.uddot + 0.1).abs() < 1e-12);
    // k = −1: double root 1, u̇ vanishes.
    let c = coefficients(-1.0);
    assert!(!c.zero_stable);
    assert_eq!((c.udot, c.uddot, c.momentum_ratio), (0.0, 1.0, f64::INFINITY));
    assert_eq!(analysis::format_ratio(c.momentum_ratio), "inf");
    // Boundary: k = 1 is zero-stable (roots 1 and −1, both simple).
    assert!(coefficients(1.0).zero_stable);
    assert_eq!(analysis::characteristic_roots(-0.5), [1.0, 0.5]);
}

#[test]
fn analyze_prints_and_writes_the_coefficients_of_the_k_in_a_checkpoint() {
    let run = run_dir("analyze-scalar");
    let model = tiny("tiny-lm", SchemeConfig::lm_paper());
    write_config(&run, &train_config(model.clone(), 1));
    checkpoint_with_k(&run, &model, &[vec![vec![-0.5], vec![0.0]], vec![vec![1.2], vec![-1.0]]]);

    let o = odenet(&["analyze", run.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "analyze failed: {err}");
    // block stage step k coef-u' coef-u'' ratio zero-stable
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 8 && w[0].parse::<usize>().is_ok())
        .collect();
    let expected = [
        ["2", "0", "1", "-0.5000", "0.5000", "0.7500", "3.0000", "yes"],
        ["3", "0", "2", "0.0000", "1.0000", "0.5000", "1.0000", "yes"],
        ["5", "1", "1", "1.2000", "2.2000", "-0.1000", "-0.0909", "no"],
        ["6", "1", "2", "-1.0000", "0.0000", "1.0000", "inf", "no"],
    ];
    assert_eq!(rows, expected.iter().map(|r| r.to_vec()).collect::<Vec<_>>(), "stdout:\n{out}");
    assert!(out.contains("not zero-stable at block(s) [5, 6]"), "{out}");

    let json: Value = serde_json::from_str(&fs::read_to_string(run.join("analysis.json")).unwrap()).unwrap();
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    let want = [
        (2, -0.5, 0.5, 0.75, Some(3.0), true),
        (3, 0.0, 1.0, 0.5, Some(1.0), true),
        (5, 1.2, 2.2, -0.1, Some(-1.0 / 11.0), false),
        (6, -1.0, 0.0, 1.0, None, false),
    ];
    for (s, (block, k, udot, uddot, ratio, stable)) in steps.iter().zip(want) {
        let close = |v: &Value, x: f64| (v.as_f64().unwrap() - x).abs() < 1e-6;
        assert_eq!(s["block"], block);
        assert!(close(&s["k_mean"], k) && close(&s["k_min"], k) && close(&s["k_max"], k), "{s}");
        assert!(close(&s["at_mean"]["udot"], udot) && close(&s["at_mean"]["uddot"], uddot), "{s}");
        match ratio {
            Some(r) => assert!(close(&s["at_mean"]["momentum_ratio"], r), "{s}"),
            None => assert_eq!(s["at_mean"]["momentum_ratio"], "inf"),
        }
        assert_eq!(s["zero_stable"], stable);
        assert_eq!(s["at_mean"]["zero_stable"], stable);
    }
    assert_eq!(json["summary"]["all_zero_stable"], false);
    assert_eq!(json["summary"]["unstable_blocks"], serde_json::json!([5, 6]));
    assert_eq!(png_size(&run.join("k_by_block.png")), plot::K_SIZE);
    assert!(ink(&run.join("k_by_block.png"), 0..40) > 0.005, "the title is drawn");

    // The checkpoint folder and the weights file give the same numbers; --out is honoured.
    for (i, path) in [run.join("best"), run.join("best/model.safetensors")].iter().enumerate() {
        let out_dir = run.join(format!("out{i}"));
        let o = odenet(&["analyze", path.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o).1);
        let again: Value =
            serde_json::from_str(&fs::read_to_string(out_dir.join("analysis.json")).unwrap()).unwrap();
        assert_eq!(again["steps"], json["steps"]);
        assert!(out_dir.join("k_by_block.png").is_file());
    }
}

#[test]
fn analyze_per_channel_k_reports_mean_min_max() {
    let run = run_dir("analyze-per-channel");
    let model = tiny("tiny-lm-c", SchemeConfig::lm([-0.1, 0.0], true));
    write_config(&run, &train_config(model.clone(), 1));
    let stage0 = vec![vec![-1.5, 0.5, 0.0, -0.2], vec![0.0; 4]];
    let stage1 = vec![vec![-0.5; 8], vec![0.25; 8]];
    checkpoint_with_k(&run, &model, &[stage0, stage1]);
    let o = odenet(&["analyze", run.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("k mean") && out.contains("no (1/4)"), "{out}");
    let json: Value = serde_json::from_str(&fs::read_to_string(run.join("analysis.json")).unwrap()).unwrap();
    let s = &json["steps"][0];
    assert_eq!((s["channels"].as_u64(), s["unstable_channels"].as_u64()), (Some(4), Some(1)));
    let close = |v: &Value, x: f64| (v.as_f64().unwrap() - x).abs() < 1e-6;
    assert!(close(&s["k_mean"], -0.3) && close(&s["k_min"], -1.5) && close(&s["k_max"], 0.5), "{s}");
    assert!(close(&s["at_mean"]["udot"], 0.7) && close(&s["at_mean"]["uddot"], 0.65), "{s}");
    assert_eq!(json["per_channel"], true);
    assert_eq!(png_size(&run.join("k_by_block.png")), plot::K_SIZE);
}

#[test]
fn analyze_euler_has_nothing_to_do_and_bad_paths_are_errors() {
    let run = run_dir("analyze-euler");
    write_config(&run, &train_config(tiny("tiny-resnet", SchemeConfig::forward_euler()), 1));
    let o = odenet(&["analyze", run.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("no learned k_n"), "{out}");
    assert!(!run.join("analysis.json").exists());

    let o = odenet(&["analyze", "/nonexistent/run"]);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("/nonexistent/run") && !err.contains("panicked"), "{err}");

    // An LM run without a checkpoint.
    let lm = run_dir("analyze-no-checkpoint");
    write_config(&lm, &train_config(tiny("tiny-lm", SchemeConfig::lm_paper()), 1));
    let o = odenet(&["analyze", lm.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("no checkpoint 'best'") && !err.contains("panicked"),
        "{err}"
    );
}

fn metrics_line(
    epoch: usize,
    train_acc: f64,
    test_acc: f64,
    loss: f64,
    ips: f64,
    k: Vec<Vec<f32>>,
) -> EpochMetrics {
    EpochMetrics {
        epoch,
        lr: 0.1,
        train_loss: loss,
        train_acc,
        test_loss: loss * 1.2,
        test_acc,
        train_seconds: 10.0,
        images_per_sec: ips,
        data_wait_fraction: 0.01,
        k,
        learned: Vec::new(),
    }
}

fn write_run(
    dir: &Path,
    config: &TrainConfig,
    metrics: &[EpochMetrics],
    k: Option<&[(usize, usize, Vec<f32>)]>,
) {
    write_config(dir, config);
    let lines: Vec<String> = metrics.iter().map(|m| serde_json::to_string(m).unwrap()).collect();
    fs::write(dir.join("metrics.jsonl"), lines.join("\n") + "\n").unwrap();
    if let Some(k) = k {
        fs::write(dir.join("k.json"), serde_json::to_string(k).unwrap()).unwrap();
    }
}

#[test]
fn report_draws_figures_and_tabulates_runs() {
    let root = run_dir("report");
    let lm_model = tiny("tiny-lm", SchemeConfig::lm_paper());
    let euler_model = tiny("tiny-resnet", SchemeConfig::forward_euler());
    let k_final: Vec<(usize, usize, Vec<f32>)> =
        vec![(0, 1, vec![-0.05]), (0, 2, vec![-0.2]), (1, 1, vec![-0.4]), (1, 2, vec![-1.3])];
    let kk = |s: f32| k_final.iter().map(|(_, _, k)| vec![k[0] * s]).collect::<Vec<_>>();
    let lm = root.join("lm-run");
    write_run(
        &lm,
        &train_config(lm_model.clone(), 3),
        &[
            metrics_line(1, 0.40, 0.50, 1.5, 100.0, kk(0.3)),
            metrics_line(2, 0.60, 0.7125, 1.0, 110.0, kk(0.6)),
            metrics_line(3, 0.70, 0.70, 0.8, 120.0, kk(1.0)),
        ],
        Some(&k_final),
    );
    // An unfinished Euler run (2 of 4 epochs).
    let euler = root.join("euler-run");
    write_run(
        &euler,
        &train_config(euler_model.clone(), 4),
        &[metrics_line(1, 0.35, 0.45, 1.6, 200.0, vec![]), metrics_line(2, 0.55, 0.6, 1.1, 300.0, vec![])],
        None,
    );
    // Config but no metrics yet: skipped with a warning.
    let empty = root.join("not-started");
    write_config(&empty, &train_config(euler_model.clone(), 4));

    let out = root.join("out");
    let o = odenet(&[
        "report",
        lm.to_str().unwrap(),
        euler.to_str().unwrap(),
        empty.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, err) = text(&o);
    assert!(o.status.success(), "report failed: {err}");
    assert!(err.contains("warning") && err.contains("not-started"), "{err}");

    assert_eq!(png_size(&out.join("curves.png")), plot::CURVES_SIZE);
    assert_eq!(png_size(&out.join("k_by_block.png")), plot::K_SIZE);
    assert_eq!(png_size(&out.join("error_vs_params.png")), plot::ERROR_PARAMS_SIZE);
    for f in ["curves.png", "k_by_block.png", "error_vs_params.png"] {
        assert!(ink(&out.join(f), 0..40) > 0.005, "{f}: title drawn");
    }

    let md = fs::read_to_string(out.join("runs.md")).unwrap();
    assert!(stdout.starts_with(&md), "stdout shows the table: {stdout}");
    let params = |m: &NetConfig| {
        odenet::report::table::thousands(odenet::params::count_trainable(&m.init(&Device::flex())))
    };
    let lm_params = params(&lm_model);
    let euler_params = params(&euler_model);
    assert_ne!(lm_params, euler_params, "LM adds its k_n");
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines.len(), 4, "{md}");
    assert_eq!(lines[2], format!("| lm-run | tiny-lm | LM | {lm_params} | 3 | 71.25% (2) | 70.00% | 110 |"));
    assert_eq!(
        lines[3],
        format!("| euler-run | tiny-resnet | Euler | {euler_params} | 2/4 | 60.00% (2) | 60.00% | 250 |")
    );
    assert!(!md.contains("not-started"));
}

#[test]
fn report_errors_name_the_broken_file() {
    let root = run_dir("report-errors");
    let model = tiny("tiny-resnet", SchemeConfig::forward_euler());
    let bad = root.join("corrupt");
    write_run(&bad, &train_config(model.clone(), 2), &[metrics_line(1, 0.3, 0.4, 1.0, 50.0, vec![])], None);
    let mut text_metrics = fs::read_to_string(bad.join("metrics.jsonl")).unwrap();
    text_metrics.push_str("{\"epoch\": 2, \"lr\": 0.1, \"train_lo\n");
    fs::write(bad.join("metrics.jsonl"), text_metrics).unwrap();
    let out = root.join("out");
    let o = odenet(&["report", bad.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert!(!o.status.success(), "corrupt metrics must fail");
    assert!(err.contains("metrics.jsonl line 2") && !err.contains("panicked"), "{err}");

    let no_config = root.join("no-config");
    fs::create_dir_all(&no_config).unwrap();
    let o = odenet(&["report", no_config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("config.json") && !err.contains("panicked"), "{err}");

    let bad_config = root.join("bad-config");
    fs::create_dir_all(&bad_config).unwrap();
    fs::write(bad_config.join("config.json"), "{\"model\": 3}").unwrap();
    let o = odenet(&["report", bad_config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("bad-config/config.json is not a valid run config"), "{err}");

    let bad_k = root.join("bad-k");
    write_run(
        &bad_k,
        &train_config(tiny("tiny-lm", SchemeConfig::lm_paper()), 1),
        &[metrics_line(1, 0.3, 0.4, 1.0, 50.0, vec![vec![0.0]; 4])],
        None,
    );
    fs::write(bad_k.join("k.json"), "[[0, 1]]").unwrap();
    let o = odenet(&["report", bad_k.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("k.json") && !err.contains("panicked"), "{err}");

    // Only runs without metrics: nothing to report.
    let fresh = root.join("fresh");
    write_config(&fresh, &train_config(model, 2));
    let o = odenet(&["report", fresh.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("has metrics"), "{err}");
}
