//! Burn's wgpu backend, the GPU code path CI executes without a GPU: the same CubeCL kernel
//! generation, fusion and autotune as CUDA, compiled to SPIR-V/WGSL and run by Mesa's software
//! Vulkan driver (lavapipe; `.ci/run` installs `mesa-vulkan-drivers libvulkan1`).
//!
//! - one training step of a small LM-ResNet: logits, loss and every parameter gradient on wgpu
//!   equal flex's to 1e-4 relative (the model copied with `Module::fork`, which keeps the
//!   parameters trainable on the new device);
//! - odenet's fused LM-step kernel (CubeCL, `src/kernels/cube_lm.rs`) equals the literal formula in
//!   Burn's operations, forward and backward, and computes every LM step of the parity step;
//! - a short Fashion-MNIST run on wgpu learns (the CPU training tests' assertions, scaled down);
//! - `odenet bench --device wgpu` in a fresh process: first-step time (shader compilation and
//!   autotuning) and step time, printed with the test output;
//! - a wgpu adapter that does not exist: a clean error that says what to install.
//!
//! Without a Vulkan adapter the device tests are skipped with one line saying so, unless
//! `ODENET_REQUIRE_VULKAN` is set (`.ci/run` sets it): then the missing adapter fails them. Times are
//! printed, never asserted. One test binary, tests one at a time (one shared device, 2 cores).
#![cfg(feature = "wgpu")]

mod common;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use odenet::bench::BenchReport;
use odenet::kernels::{self, Kernels};
use odenet::train::{EpochMetrics, FitOptions, fit};
use std::io::Write;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// A line on the real stderr: libtest captures `eprintln!` of passing tests, not this, so the
/// skip notice and the recorded times show in CI logs.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "[wgpu test] {line}");
}

/// One test at a time: they share one device, and their recorded times mean something only on
/// an otherwise idle device.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The wgpu device if it runs on Vulkan. `None` (announced once) only where wgpu finds no Vulkan
/// adapter; any other failure to bring the device up fails the test.
fn vulkan() -> Option<Device> {
    static DEVICE: OnceLock<Option<Device>> = OnceLock::new();
    DEVICE
        .get_or_init(|| match odenet::train::wgpu_device() {
            Ok((device, adapter)) if adapter.contains(" on Vulkan,") => {
                report(&format!("adapter: {adapter}"));
                Some(device)
            }
            Ok((_, adapter)) => {
                require_vulkan(&adapter);
                report(&format!("SKIPPED: no Vulkan adapter (wgpu chose {adapter}); apt-get install mesa-vulkan-drivers libvulkan1"));
                None
            }
            Err(e) if format!("{e:#}").contains("No adapter available") => {
                let first = format!("{e:#}").lines().next().unwrap_or_default().to_string();
                require_vulkan(&first);
                report(&format!("SKIPPED: no Vulkan adapter ({first}); apt-get install mesa-vulkan-drivers libvulkan1"));
                None
            }
            Err(e) => panic!("the wgpu device does not come up: {e:#}"),
        })
        .clone()
}

/// Where the environment asks for the Vulkan tests (CI), a missing adapter is a failure, not a skip.
fn require_vulkan(found: &str) {
    if std::env::var_os("ODENET_REQUIRE_VULKAN").is_some() {
        panic!("ODENET_REQUIRE_VULKAN is set but wgpu finds no Vulkan adapter ({found}): apt-get install mesa-vulkan-drivers libvulkan1");
    }
}

/// Train-mode logits, loss, every parameter gradient, then eval-mode logits of one step.
fn step(net: &odenet::Net, x: &TensorData, device: &Device) -> (Vec<f32>, f32, Vec<Vec<f32>>, Vec<f32>) {
    let x = Tensor::<4>::from_data(x.clone(), device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 7, 4, 0], [4]), device);
    let logits = net.forward(x.clone());
    let loss = CrossEntropyLossConfig::new().init(device).forward(logits.clone(), y);
    let loss_value = loss.clone().into_scalar::<f32>();
    let grads = loss.backward();
    let eval = net.valid().forward(x.inner());
    let to_vec = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().expect("f32");
    (to_vec(logits), loss_value, common::param_grads(net, &grads), to_vec(eval))
}

#[test]
fn lm_resnet_step_on_wgpu_matches_flex() {
    let Some(wgpu) = vulkan() else { return };
    let _serial = serial();
    let flex = Device::flex().autodiff();
    flex.seed(5);
    // Stride-2 stage transitions with 1×1 projections, two LM steps per stage, odd input size.
    let net = common::small_lm(3, 8).init(&flex);
    // The copy for wgpu goes through a record: clones of a module share Burn's batch-norm running
    // statistics, so a forked clone would also see the reference step's update of them.
    let on_gpu = common::small_lm(3, 8)
        .init(&flex)
        .load_record(net.clone().into_record())
        .fork(&wgpu.clone().autodiff());
    let x = Tensor::<4>::random([4, 3, 15, 15], Distribution::Normal(0.0, 1.0), &flex).into_data();
    // On wgpu odenet's fused LM kernel; the reference is Burn's own operations on flex.
    kernels::set_kernels(Kernels::Fast);
    let (start, fused_before) = (std::time::Instant::now(), kernels::gpu_lm_steps());
    let (logits_g, loss_g, grads_g, eval_g) = step(&on_gpu, &x, &wgpu.clone().autodiff());
    report(&format!("parity step on wgpu (first on this device: shader compilation) {:.1} s", start.elapsed().as_secs_f64()));
    // 3 stages × 1 LM step (the stage's start is Euler), train and eval forward.
    assert_eq!(kernels::gpu_lm_steps() - fused_before, 6, "the fused LM kernel computed every LM step on wgpu");
    kernels::set_kernels(Kernels::Flex);
    let (logits_r, loss_r, grads_r, eval_r) = step(&net, &x, &flex);
    let e = common::rel_err(&logits_g, &logits_r);
    assert!(e < 1e-4, "train-mode logits: relative error {e:e}");
    assert!((loss_g - loss_r).abs() <= 1e-4 * loss_r.abs(), "loss {loss_g} on wgpu vs {loss_r} on flex");
    let e_eval = common::rel_err(&eval_g, &eval_r);
    assert!(e_eval < 1e-4, "eval-mode logits: relative error {e_eval:e}");
    assert_eq!(grads_g.len(), grads_r.len(), "every parameter keeps its gradient on wgpu");
    assert!(grads_r.len() > 20, "every conv, BN and k_n has a gradient: {}", grads_r.len());
    let mut worst = 0.0f32;
    for (i, (a, b)) in grads_g.iter().zip(&grads_r).enumerate() {
        let e = common::rel_err(a, b);
        assert!(e < 1e-4, "gradient of parameter {i} ({} values): relative error {e:e}", b.len());
        worst = worst.max(e);
    }
    report(&format!(
        "wgpu vs flex, relative error: train logits {e:.1e}, eval logits {e_eval:.1e}, worst of {} gradients {worst:.1e}",
        grads_r.len()
    ));
}

/// odenet's fused LM-step kernel (`--kernels fast` on a GPU device) against the literal formula in
/// Burn's operations on the same device: the combination, the gradients of u_n, u_{n−1}, f and k
/// (one k, or one per channel), and inference on the plain device. Planes smaller and larger than
/// the backward kernel's 256 units, a batch of one, a non-contiguous input.
#[test]
fn fused_lm_step_on_wgpu_matches_the_literal_formula() {
    let Some(wgpu) = vulkan() else { return };
    let _serial = serial();
    kernels::set_kernels(Kernels::Fast);
    let device = wgpu.clone().autodiff();
    let cases = [(3, 16, 9, 7, false), (2, 8, 8, 8, true), (1, 5, 17, 19, true), (2, 4, 1, 1, false)];
    let values = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().expect("f32");
    for (n, c, h, w, per_channel) in cases {
        let case = common::LmCase::new(&device, [n, c, h, w], per_channel);
        let width = case.width;
        let before = kernels::gpu_lm_steps();
        let (fused, dk_fused) = case.run(true);
        assert_eq!(kernels::gpu_lm_steps() - before, 1, "the fused kernel ran");
        let (reference, dk_ref) = case.run(false);
        for (name, (a, b)) in ["y", "du", "dprev", "df"].iter().zip(fused.into_iter().zip(reference)) {
            let err = common::rel_err(&values(a), &values(b));
            assert!(err < 1e-5, "{name} of [{n}, {c}, {h}, {w}], per channel {per_channel}: {err:e}");
        }
        let [dk_fused, dk_ref] = [dk_fused, dk_ref].map(|t| t.into_data().try_to_vec::<f32>().expect("f32"));
        assert!(common::rel_err(&dk_fused, &dk_ref) < 1e-4, "dk: {dk_fused:?} vs {dk_ref:?}");
        assert!(dk_fused[..width].iter().all(|&v| v == 0.0), "only the sliced row of k gets a gradient");
        assert!(dk_fused[width..2 * width].iter().any(|&v| v != 0.0), "the sliced row gets one");
        // Inference: the plain device.
        let plain = |t: &Tensor<4>| t.clone().inner();
        let [u, prev, f] = [&case.u, &case.prev, &case.f].map(plain);
        let k = case.k().inner();
        let want = values(common::lm_literal(u.clone(), prev.clone(), f.clone(), k.clone()));
        let before = kernels::gpu_lm_steps();
        let y = kernels::lm_step(u.clone(), prev.clone(), f.clone(), k.clone());
        assert_eq!(kernels::gpu_lm_steps() - before, 1, "inference runs the fused kernel");
        let err = common::rel_err(&values(y), &want);
        assert!(err < 1e-6, "inference of [{n}, {c}, {h}, {w}]: {err:e}");
        // `--kernels flex`: Burn's own operations, the same values.
        kernels::set_kernels(Kernels::Flex);
        let before = kernels::gpu_lm_steps();
        let y = kernels::lm_step(u, prev, f, k);
        assert_eq!(kernels::gpu_lm_steps(), before, "--kernels flex turns the fused kernel off");
        assert!(common::rel_err(&values(y), &want) < 1e-6, "Burn's LM step");
        kernels::set_kernels(Kernels::Fast);
    }
    report("fused LM step on wgpu equals the literal formula (forward, 4 gradients, inference)");
}

#[test]
fn short_fashion_mnist_run_on_wgpu_learns() {
    if vulkan().is_none() {
        return;
    }
    let _serial = serial();
    // 200 images per class (2,000), 2 epochs, cosine lr from 0.1; 100 test images per class. On an
    // AVX2 host lavapipe runs a step of 64 in ~7 s after ~400 s of shader compilation: every epoch
    // here costs CI about 4 minutes there.
    let mut config = common::config(common::small_lm(1, 8), common::fashion(Some(200), Some(100)), 2, 64);
    config.device = "wgpu".into();
    let dir = common::run_dir("wgpu-fmnist");
    let summary = fit(&config, &dir, &FitOptions::default()).expect("training on wgpu runs");
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).expect("metrics.jsonl");
    for line in metrics.lines() {
        let m: EpochMetrics = serde_json::from_str(line).expect("one metrics line");
        let steps = 2000usize.div_ceil(config.batch_size);
        report(&format!(
            "train on wgpu, epoch {}: {:.1} s for {steps} steps of {} ({:.0} ms/step, {:.0} img/s{}), test acc {:.1}%",
            m.epoch,
            m.train_seconds,
            config.batch_size,
            1e3 * m.train_seconds / steps as f64,
            m.images_per_sec,
            if m.epoch == 1 { ", includes shader compilation" } else { "" },
            100.0 * m.test_acc
        ));
    }
    // Chance is 10 %; this run reached 62.5 % on lavapipe (AVX2 host, 2026-12-07) after 2 epochs.
    assert!(summary.final_test_acc > 0.5, "test accuracy {:.4} <= 0.5", summary.final_test_acc);
    assert_eq!(summary.k.len(), 3, "one learned k per stage");
}

#[test]
fn bench_on_wgpu_records_first_step_and_step_times() {
    if vulkan().is_none() {
        return;
    }
    let _serial = serial();
    // A fresh process: its first step compiles every kernel of a training step.
    let out = Command::new(env!("CARGO_BIN_EXE_odenet"))
        .args(["bench", "--model", "lm-resnet20", "--device", "wgpu", "--batch-size", "16"])
        .args(["--warmup", "1", "--steps", "3", "--mode", "train", "--json"])
        .env("ODENET_STEP_LOG", "1")
        .output()
        .expect("odenet runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "odenet bench --device wgpu failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: BenchReport = serde_json::from_str(stdout.lines().next().unwrap_or_default()).expect("one JSON report");
    assert_eq!((r.device.as_str(), r.mode.as_str(), r.steps), ("wgpu", "train", 3));
    assert!(r.first_step_s > 0.0 && r.ms_per_step > 0.0, "{r:?}");
    assert!(stderr.contains("first step") && stderr.contains("step 3/3"), "step log:\n{stderr}");
    report(&format!(
        "odenet bench lm-resnet20 train batch 16 on wgpu: first step {:.1} s, then {:.0} ms/step (min {:.0}), {:.1} img/s",
        r.first_step_s, r.ms_per_step, r.ms_per_step_min, r.images_per_sec
    ));
}

#[test]
fn a_missing_wgpu_adapter_is_a_clean_error() {
    // No machine has ten virtual GPUs: the device cannot come up, and says what to install.
    let out = Command::new(env!("CARGO_BIN_EXE_odenet"))
        .args(["bench", "--model", "resnet20", "--device", "wgpu", "--batch-size", "2", "--steps", "1"])
        .env("CUBECL_WGPU_DEFAULT_DEVICE", "VirtualGpu(9)")
        .output()
        .expect("odenet runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "should fail:\n{text}");
    assert!(!text.contains("panicked"), "panicked:\n{text}");
    assert!(text.contains("cannot use the wgpu device") && text.contains("mesa-vulkan-drivers"), "{text}");
}
