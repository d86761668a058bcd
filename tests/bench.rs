//! The benchmark library on a tiny model: reports are complete and sane (no timing assertions).

use odenet::bench::{self, BenchMode, BenchOptions, BenchReport};
use odenet::nn::BranchKind;
use odenet::{NetConfig, SchemeConfig};

/// The kernels' timers are process-wide: tests that run networks take turns, so that the
/// breakdown sees only its own operations.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn tiny() -> NetConfig {
    NetConfig {
        name: "tiny-lm".into(),
        in_channels: 3,
        num_classes: 4,
        stem_width: 4,
        stem: Default::default(),
        widths: vec![4, 8],
        depths: vec![2, 2],
        branch: BranchKind::Basic,
        scheme: SchemeConfig::lm_paper(),
        noise: Default::default(),
    }
}

fn opts(mode: BenchMode) -> BenchOptions {
    BenchOptions { batch_size: 2, image_size: 8, warmup: 1, steps: 1, mode, ..BenchOptions::default() }
}

fn check(r: &BenchReport, mode: &str) {
    assert_eq!(r.mode, mode);
    assert_eq!(r.model, "tiny-lm");
    assert_eq!((r.batch_size, r.image_size, r.warmup, r.steps), (2, 8, 1, 1));
    assert_eq!((r.in_channels, r.num_classes), (3, 4));
    assert!(r.threads >= 1);
    for (name, v) in [
        ("images_per_sec", r.images_per_sec),
        ("ms_per_step", r.ms_per_step),
        ("ms_per_step_min", r.ms_per_step_min),
        ("first_step_s", r.first_step_s),
    ] {
        assert!(v.is_finite() && v > 0.0, "{name} = {v}");
    }
    // One timed step: mean = min, and images/s = batch / step time.
    assert!((r.ms_per_step - r.ms_per_step_min).abs() < 1e-9);
    let expected = 2.0 / (r.ms_per_step / 1e3);
    assert!((r.images_per_sec - expected).abs() <= 1e-6 * expected);
    // The CPU backend (flex) reports no allocator pools.
    assert_eq!(r.peak_device_memory_bytes, None);
    if cfg!(target_os = "linux") {
        assert!(r.peak_rss_bytes.is_some_and(|b| b > 0));
    }
}

#[test]
fn both_modes_report_train_then_infer() {
    let _serial = serial();
    let reports = bench::run(&tiny(), &opts(BenchMode::Both)).unwrap();
    assert_eq!(reports.len(), 2);
    check(&reports[0], "train");
    check(&reports[1], "infer");
    let json = serde_json::to_value(&reports[0]).unwrap();
    for field in ["model", "mode", "device", "batch_size", "images_per_sec", "ms_per_step", "first_step_s"] {
        assert!(json.get(field).is_some(), "JSON lacks {field}");
    }
}

#[test]
fn steps_are_counted() {
    let _serial = serial();
    let o = BenchOptions { steps: 3, warmup: 0, ..opts(BenchMode::Infer) };
    let r = &bench::run(&tiny(), &o).unwrap()[0];
    assert_eq!((r.steps, r.warmup), (3, 0));
    assert!(r.ms_per_step_min <= r.ms_per_step + 1e-9);
    assert!((r.images_per_sec - 2.0 * 1e3 / r.ms_per_step).abs() <= 1e-6 * r.images_per_sec);
}

#[test]
fn bad_options_are_errors_not_panics() {
    let _serial = serial();
    let err = bench::run(&tiny(), &BenchOptions { steps: 0, ..opts(BenchMode::Train) }).unwrap_err();
    assert!(err.to_string().contains("--steps"), "{err}");
    let err =
        bench::run(&tiny(), &BenchOptions { device: "tpu".into(), ..opts(BenchMode::Train) }).unwrap_err();
    assert!(err.to_string().contains("unknown device"), "{err}");
}

#[test]
fn breakdown_phases_fit_inside_the_step() {
    let _serial = serial();
    let o = BenchOptions { breakdown: true, steps: 2, ..opts(BenchMode::Train) };
    let r = &bench::run(&tiny(), &o).unwrap()[0];
    let p = r.phases_ms.expect("train mode with breakdown reports phases");
    for v in [p.forward, p.backward, p.optimizer] {
        assert!(v.is_finite() && v >= 0.0, "{p:?}");
    }
    // Each phase lies inside its step's timed interval.
    assert!(p.forward + p.backward + p.optimizer <= r.ms_per_step + 1e-6, "{p:?} vs {}", r.ms_per_step);
    // The fast kernels' share of each phase: every operation of this LM net ran and was timed
    // (oneDNN is installed where the tests run), and lies inside its phase.
    let k = p.kernels;
    if odenet::kernels::kernels() == odenet::kernels::Kernels::Fast {
        for (name, v) in [
            ("conv forward", k.conv_forward),
            ("conv backward", k.conv_backward),
            ("bn+relu forward", k.bn_relu_forward),
            ("bn+relu backward", k.bn_relu_backward),
            ("lm step forward", k.lm_step_forward),
            ("lm step backward", k.lm_step_backward),
        ] {
            assert!(v > 0.0, "{name} not timed: {p:?}");
        }
    }
    assert!(p.forward_other() >= -1e-6 && p.backward_other() >= -1e-6, "{p:?}");
    let plain = &bench::run(&tiny(), &opts(BenchMode::Train)).unwrap()[0];
    assert!(plain.phases_ms.is_none());
    // Inference: one forward phase, no backward kernels.
    let o = BenchOptions { breakdown: true, steps: 2, ..opts(BenchMode::Infer) };
    let r = &bench::run(&tiny(), &o).unwrap()[0];
    let p = r.phases_ms.expect("inference with breakdown reports its forward phase");
    assert!(p.forward <= r.ms_per_step + 1e-6 && p.backward == 0.0, "{p:?}");
    assert_eq!((p.kernels.conv_backward, p.kernels.bn_relu_backward), (0.0, 0.0), "{p:?}");
    if odenet::kernels::kernels() == odenet::kernels::Kernels::Fast {
        assert!(p.kernels.conv_forward > 0.0 && p.kernels.lm_step_forward > 0.0, "{p:?}");
    }
    assert!(p.forward_other() >= -1e-6, "{p:?}");
}

#[test]
fn graph_replay_and_bf16_are_reported_and_graph_training_is_refused() {
    let _serial = serial();
    let o = BenchOptions { graph: true, ..opts(BenchMode::Infer) };
    let r = &bench::run(&tiny(), &o).unwrap()[0];
    assert!(r.graph && !r.graph_hardware, "the CPU re-runs the forward pass: {r:?}");
    check(r, "infer");
    let err = bench::run(&tiny(), &BenchOptions { graph: true, ..opts(BenchMode::Train) }).unwrap_err();
    assert!(err.to_string().contains("--mode infer"), "{err}");

    let precision = odenet::precision::Precision::Bf16;
    for mode in [BenchMode::Train, BenchMode::Infer] {
        let r = &bench::run(&tiny(), &BenchOptions { precision, ..opts(mode) }).unwrap()[0];
        assert_eq!(r.precision, precision);
        let line = serde_json::to_string(r).unwrap();
        assert!(line.contains("\"precision\":\"bf16\""), "{line}");
    }
}
