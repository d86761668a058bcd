//! Throughput benchmark: how fast one training step (forward + cross-entropy + backward + SGD) and
//! one inference forward run, on synthetic data already on the device.
//!
//! Protocol (the same as `bench/torch_reference.py`): one batch of random N(0, 1) images and fixed
//! labels is put on the device once; the first step is timed on its own (on a GPU it pays for
//! run-time kernel compilation and autotuning), then `warmup` untimed steps, then `steps` timed
//! ones. Every step ends with a read of a scalar and a device sync, so the clock only stops once
//! the device is done. The optimizer is the trainer's own ([`crate::train::OptimConfig::init`]) with the
//! paper's settings: SGD, momentum 0.9, dampening 0, weight decay 1e-4, lr 0.1.

use crate::kernels::KernelMillis;
use crate::precision::Precision;
use crate::net::{Net, NetConfig};
use crate::train::{Preset, parse_device};
use anyhow::{Result, bail, ensure};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum BenchMode {
    /// Forward + loss + backward + optimizer step.
    Train,
    /// Forward only, evaluation mode (running BN statistics, no autodiff).
    Infer,
    /// Both, one report each.
    Both,
}

impl BenchMode {
    /// The single modes this one stands for, in run order.
    pub fn expand(self) -> Vec<BenchMode> {
        match self {
            Self::Both => vec![Self::Train, Self::Infer],
            m => vec![m],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Infer => "infer",
            Self::Both => "both",
        }
    }
}

/// How to run a benchmark (the model comes separately, as a [`NetConfig`]).
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// `cpu`, `cuda[:N]` or `wgpu`.
    pub device: String,
    pub batch_size: usize,
    /// Height = width of the synthetic images.
    pub image_size: usize,
    /// Untimed steps after the first one.
    pub warmup: usize,
    /// Timed steps.
    pub steps: usize,
    pub mode: BenchMode,
    /// Seed of the model initialisation and the synthetic batch.
    pub seed: u64,
    /// Train mode: also time forward, backward and optimizer step apart (a device sync between
    /// them; costs a little on a GPU, nothing measurable on the CPU).
    pub breakdown: bool,
    /// Train mode: RevNet reversible backward (coupled stages recomputed, not stored).
    pub reversible: bool,
    /// Float precision of the activations ([`crate::precision`]).
    pub precision: Precision,
    /// Inference: capture the forward pass once as a device graph and replay it each step (one
    /// launch on CUDA instead of hundreds; elsewhere Burn re-runs the closure). Training cannot
    /// be captured: Burn's optimiser returns new parameter tensors, so their buffers move every
    /// step and a replay would read the old ones.
    pub graph: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            device: "cpu".into(),
            batch_size: 128,
            image_size: 32,
            warmup: 3,
            steps: 10,
            mode: BenchMode::Train,
            seed: 0,
            breakdown: false,
            reversible: false,
            precision: Precision::F32,
            graph: false,
        }
    }
}

/// One benchmark result; `odenet bench --json` prints it as one JSON line, with the same field
/// names as `bench/torch_reference.py`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BenchReport {
    pub framework: String,
    pub model: String,
    /// `train` or `infer`.
    pub mode: String,
    pub device: String,
    pub batch_size: usize,
    pub image_size: usize,
    pub in_channels: usize,
    pub num_classes: usize,
    pub warmup: usize,
    /// Number of timed steps.
    pub steps: usize,
    /// Worker threads of the CPU backend (rayon pool).
    pub threads: usize,
    /// Kernels: on the CPU `fast` (oneDNN) or `flex` (Burn's); elsewhere `burn+fused-lm` (Burn's
    /// with odenet's fused LM step, `--kernels fast`) or `burn` (`--kernels flex`).
    #[serde(default)]
    pub kernels: String,
    /// `f32` or `bf16` (mixed precision); reports from before it existed were f32.
    #[serde(default)]
    pub precision: Precision,
    /// Whether each step replayed a captured device graph (`--graph`); `graph_hardware` whether
    /// the backend captured one (CUDA) or re-ran the forward pass (every other device).
    #[serde(default)]
    pub graph: bool,
    #[serde(default)]
    pub graph_hardware: bool,
    /// batch_size × steps / (sum of the timed steps).
    pub images_per_sec: f64,
    /// Mean over the timed steps, milliseconds.
    pub ms_per_step: f64,
    /// Fastest timed step, milliseconds.
    pub ms_per_step_min: f64,
    /// The first step alone (includes run-time compilation and autotuning on a GPU), seconds.
    pub first_step_s: f64,
    /// Peak bytes the device allocator reserved (its pools' page peaks, or the largest reading
    /// after a step); `None` where the backend reports no pools (Burn's CPU backend, flex).
    pub peak_device_memory_bytes: Option<u64>,
    /// Peak resident memory of the whole process (Linux `VmHWM`), bytes; `None` elsewhere.
    pub peak_rss_bytes: Option<u64>,
    /// Mean milliseconds of each phase over the timed steps (with `breakdown`; in inference only
    /// the forward phase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases_ms: Option<PhaseTimes>,
}

/// Where a training step's time goes, milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PhaseTimes {
    /// Forward and loss.
    pub forward: f64,
    /// `loss.backward()` and collecting the gradients.
    pub backward: f64,
    /// The SGD update.
    pub optimizer: f64,
    /// Of `forward` and `backward`: the fast kernels' convolutions, batch norm + ReLU and LM
    /// steps (zero with `--kernels flex`, which is not instrumented); the rest is Burn's own
    /// element-wise, reduction and autodiff bookkeeping.
    #[serde(default, flatten)]
    pub kernels: KernelPhases,
}

/// Milliseconds per step in the fast kernels, by operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelPhases {
    #[serde(default)]
    pub conv_forward: f64,
    /// Input- and weight-gradient passes.
    #[serde(default)]
    pub conv_backward: f64,
    #[serde(default)]
    pub bn_relu_forward: f64,
    #[serde(default)]
    pub bn_relu_backward: f64,
    #[serde(default)]
    pub lm_step_forward: f64,
    #[serde(default)]
    pub lm_step_backward: f64,
}

impl PhaseTimes {
    /// Forward time outside the timed kernels.
    pub fn forward_other(&self) -> f64 {
        let k = &self.kernels;
        self.forward - k.conv_forward - k.bn_relu_forward - k.lm_step_forward
    }

    /// Backward time outside the timed kernels.
    pub fn backward_other(&self) -> f64 {
        let k = &self.kernels;
        self.backward - k.conv_backward - k.bn_relu_backward - k.lm_step_backward
    }
}

impl BenchReport {
    /// One human-readable line (see [`BenchReport::header`]).
    pub fn line(&self) -> String {
        let mem = match self.peak_device_memory_bytes {
            Some(b) => format!("{:.1}", b as f64 / (1u64 << 20) as f64),
            None => "n/a".into(),
        };
        format!(
            "{:<14} {:<5} {:<7} {:>5} {:>10.1} {:>10.2} {:>10.2} {:>9.3} {:>9}",
            self.model,
            self.mode,
            self.device,
            self.batch_size,
            self.images_per_sec,
            self.ms_per_step,
            self.ms_per_step_min,
            self.first_step_s,
            mem
        )
    }

    pub fn header() -> String {
        format!(
            "{:<14} {:<5} {:<7} {:>5} {:>10} {:>10} {:>10} {:>9} {:>9}",
            "model", "mode", "device", "batch", "img/s", "ms/step", "ms min", "first s", "peak MiB"
        )
    }
}

/// Times `config` as `opts` says: one report per single mode.
pub fn run(config: &NetConfig, opts: &BenchOptions) -> Result<Vec<BenchReport>> {
    ensure!(opts.batch_size > 0, "--batch-size must be at least 1");
    ensure!(opts.steps > 0, "--steps must be at least 1");
    ensure!(opts.image_size >= 4, "--image-size must be at least 4");
    ensure!(
        opts.precision == Precision::F32 || !opts.reversible,
        "--precision bf16 cannot be combined with --reversible (bf16 rounding makes the inverse steps inexact)"
    );
    ensure!(
        !opts.graph || opts.mode == BenchMode::Infer,
        "--graph applies to --mode infer: Burn's optimiser returns new parameter tensors every step, \
         so a captured training step would replay against the old ones"
    );
    let device = parse_device(&opts.device)?;
    opts.mode.expand().into_iter().map(|m| run_one(config, opts, &device, m)).collect()
}

/// Per-step timing shared by both modes: `step` runs one step and waits for the device.
fn time_steps(
    config: &NetConfig,
    opts: &BenchOptions,
    device: &Device,
    mode: BenchMode,
    mut step: impl FnMut() -> Result<()>,
) -> Result<BenchReport> {
    let mut peak_reserved: Option<u64> = None;
    let sample = |peak: &mut Option<u64>| {
        if let Some(u) = device.memory_pool_usage() {
            *peak = Some(peak.unwrap_or(0).max(u.bytes_reserved));
        }
    };
    // ODENET_STEP_LOG=N: a line on stderr before the first step, after it, and every N-th step.
    let log_every = crate::train::step_log_every();
    let tag = format!("[odenet bench] {} {} batch {}", config.name, mode.name(), opts.batch_size);
    if log_every.is_some() {
        eprintln!("{tag}: first step (run-time compilation and autotuning on a GPU)…");
    }
    let start = Instant::now();
    step()?;
    let first_step_s = start.elapsed().as_secs_f64();
    if log_every.is_some() {
        eprintln!("{tag}: first step {first_step_s:.3} s");
    }
    sample(&mut peak_reserved);
    let run_start = Instant::now();
    for i in 0..opts.warmup {
        let t = Instant::now();
        step()?;
        if log_every.is_some_and(|n| (i + 1) % n == 0 || i + 1 == opts.warmup) {
            let (s, total) = (t.elapsed().as_secs_f64(), run_start.elapsed().as_secs_f64());
            eprintln!("{tag}: warm-up {}/{} {:.2} ms ({total:.1} s)", i + 1, opts.warmup, 1e3 * s);
        }
    }
    let mut times = Vec::with_capacity(opts.steps);
    for i in 0..opts.steps {
        let t = Instant::now();
        step()?;
        times.push(t.elapsed().as_secs_f64());
        if log_every.is_some_and(|n| (i + 1) % n == 0 || i + 1 == opts.steps) {
            let (s, total) = (times[i], run_start.elapsed().as_secs_f64());
            eprintln!("{tag}: step {}/{} {:.2} ms ({total:.1} s)", i + 1, opts.steps, 1e3 * s);
        }
        sample(&mut peak_reserved);
    }
    let total: f64 = times.iter().sum();
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let pools_peak = device
        .memory_pool_report()
        .map(|pools| pools.iter().map(|p| p.pages_peak * p.page_size).sum::<u64>());
    let peak_device_memory_bytes = match (peak_reserved, pools_peak) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).max(b.unwrap_or(0))),
    };
    Ok(BenchReport {
        framework: "odenet-burn".into(),
        model: config.name.clone(),
        mode: mode.name().into(),
        device: opts.device.clone(),
        batch_size: opts.batch_size,
        image_size: opts.image_size,
        in_channels: config.in_channels,
        num_classes: config.num_classes,
        warmup: opts.warmup,
        steps: opts.steps,
        threads: rayon::current_num_threads(),
        kernels: match (device.clone().inner() == Device::flex(), crate::kernels::fused_gpu_lm_step()) {
            (true, _) => format!("{:?}", crate::kernels::kernels()).to_lowercase(),
            (false, true) => "burn+fused-lm".into(),
            (false, false) => "burn".into(),
        },
        precision: opts.precision,
        graph: false,
        graph_hardware: false,
        images_per_sec: (opts.batch_size * opts.steps) as f64 / total,
        ms_per_step: 1e3 * total / opts.steps as f64,
        ms_per_step_min: 1e3 * min,
        first_step_s,
        peak_device_memory_bytes,
        peak_rss_bytes: peak_rss_bytes(),
        phases_ms: None,
    })
}

fn sync(device: &Device) -> Result<()> {
    device.sync().map_err(|e| anyhow::anyhow!("device sync failed: {e}"))
}

fn run_one(config: &NetConfig, opts: &BenchOptions, device: &Device, mode: BenchMode) -> Result<BenchReport> {
    device.seed(opts.seed);
    let (b, s) = (opts.batch_size, opts.image_size);
    let shape = [b, config.in_channels, s, s];
    let labels: Vec<i64> = (0..b).map(|i| (i % config.num_classes.max(1)) as i64).collect();
    match mode {
        BenchMode::Train => {
            let train_device = device.clone().autodiff();
            let net = config.init(&train_device);
            let optim_config = Preset::PaperCifar10.optim();
            let mut optim = optim_config.init(&net);
            let lr = optim_config.lr;
            let mut model = Some(net);
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &train_device);
            let x = opts.precision.activations(x);
            let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [b]), &train_device);
            sync(&train_device)?;
            let mut phases: Vec<([f64; 3], KernelMillis)> = Vec::new();
            let mut report = time_steps(config, opts, device, mode, || {
                let m = model.take().expect("the model is put back after every step");
                let c0 = KernelMillis::now();
                let t0 = Instant::now();
                let (value, grads, t1) = if opts.reversible {
                    let (_, value, grads) = crate::reversible::loss_and_grads(&m, x.clone(), y.clone());
                    (value, grads, Instant::now())
                } else {
                    let loss = crate::train::loss(m.forward(x.clone()), y.clone());
                    if opts.breakdown {
                        sync(&train_device)?;
                    }
                    let t1 = Instant::now();
                    let grads = GradientsParams::from_grads(loss.backward(), &m);
                    (loss.into_scalar::<f32>(), grads, t1)
                };
                if opts.breakdown {
                    sync(&train_device)?;
                }
                let t2 = Instant::now();
                let c2 = KernelMillis::now();
                let m = optim.step(lr, m, grads);
                model = Some(m);
                sync(&train_device)?;
                if opts.breakdown {
                    let ms = |a: Instant, b: Instant| 1e3 * (b - a).as_secs_f64();
                    phases.push(([ms(t0, t1), ms(t1, t2), ms(t2, Instant::now())], c2.since(c0)));
                }
                if !value.is_finite() {
                    bail!("the loss became {value}");
                }
                Ok(())
            })?;
            if opts.breakdown {
                let timed = &phases[phases.len() - opts.steps..];
                let mean = |f: &dyn Fn(&([f64; 3], KernelMillis)) -> f64| {
                    timed.iter().map(f).sum::<f64>() / timed.len() as f64
                };
                report.phases_ms = Some(PhaseTimes {
                    forward: mean(&|p| p.0[0]),
                    backward: mean(&|p| p.0[1]),
                    optimizer: mean(&|p| p.0[2]),
                    kernels: KernelPhases {
                        conv_forward: mean(&|p| p.1.conv_forward),
                        conv_backward: mean(&|p| p.1.conv_backward),
                        bn_relu_forward: mean(&|p| p.1.bn_relu_forward),
                        bn_relu_backward: mean(&|p| p.1.bn_relu_backward),
                        lm_step_forward: mean(&|p| p.1.lm_step_forward),
                        lm_step_backward: mean(&|p| p.1.lm_step_backward),
                    },
                });
            }
            Ok(report)
        }
        BenchMode::Infer => {
            let model = config.init(device).valid();
            let x = opts.precision.activations(Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), device));
            sync(device)?;
            if opts.graph {
                return infer_graph(config, opts, device, &model, &x);
            }
            let mut phases: Vec<(f64, KernelMillis)> = Vec::new();
            let mut report = time_steps(config, opts, device, mode, || {
                let (t0, k0) = (Instant::now(), KernelMillis::now());
                let logits = model.forward(x.clone());
                let value: f32 = logits.sum().into_scalar::<f32>();
                sync(device)?;
                if opts.breakdown {
                    phases.push((1e3 * t0.elapsed().as_secs_f64(), KernelMillis::now().since(k0)));
                }
                if !value.is_finite() {
                    bail!("the logits became {value}");
                }
                Ok(())
            })?;
            if opts.breakdown {
                let timed = &phases[phases.len() - opts.steps..];
                let mean = |f: &dyn Fn(&(f64, KernelMillis)) -> f64| {
                    timed.iter().map(f).sum::<f64>() / timed.len() as f64
                };
                report.phases_ms = Some(PhaseTimes {
                    forward: mean(&|p| p.0),
                    backward: 0.0,
                    optimizer: 0.0,
                    kernels: KernelPhases {
                        conv_forward: mean(&|p| p.1.conv_forward),
                        bn_relu_forward: mean(&|p| p.1.bn_relu_forward),
                        lm_step_forward: mean(&|p| p.1.lm_step_forward),
                        ..KernelPhases::default()
                    },
                });
            }
            Ok(report)
        }
        BenchMode::Both => unreachable!("expanded by run()"),
    }
}

/// Inference with the forward pass captured once ([`burn::tensor::capture`]: three warm-up runs,
/// then the capture) and replayed every step.
fn infer_graph(
    config: &NetConfig,
    opts: &BenchOptions,
    device: &Device,
    model: &Net,
    x: &Tensor<4>,
) -> Result<BenchReport> {
    let mut graph = burn::tensor::capture(device, || model.forward(x.clone()));
    let hardware = graph.is_hardware();
    let mut report = time_steps(config, opts, device, BenchMode::Infer, || {
        // SAFETY: the captured launches read `model`'s parameters and `x`, borrowed from the
        // caller and so alive until after the last replay, and write the graph's own output;
        // nothing else runs on the device meanwhile (one thread), and the read below is issued on
        // the same stream after the replay.
        let logits = unsafe { graph.replay() }.clone();
        let value: f32 = logits.sum().into_scalar::<f32>();
        sync(device)?;
        if !value.is_finite() {
            bail!("the logits became {value}");
        }
        Ok(())
    })?;
    report.graph = true;
    report.graph_hardware = hardware;
    Ok(report)
}

/// Peak resident set size of this process (Linux), bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
