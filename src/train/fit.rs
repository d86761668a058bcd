//! The training loop: explicit (Burn's `custom-training-loop` idiom). [`crate::bench`] times the
//! same training step (forward, cross-entropy, backward, SGD) in a loop of its own.

use super::checkpoint::{self, TrainState};
use super::durable;
use super::config::TrainConfig;
use super::device::parse_device;
use super::metrics::{EpochMetrics, Progress};
use crate::data::{self, Batch, BatchLoader, BatchSource, DataSplit, DatasetKind, ImageFolderLoader};
use crate::net::Net;
use crate::precision::Precision;
use crate::scheme::Learned;
use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What a finished run reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    pub run_dir: PathBuf,
    pub epochs: usize,
    pub final_test_acc: f64,
    pub best_test_acc: f64,
    pub best_epoch: usize,
    /// Every learned coefficient of the final model (LM k_n, multistep, FractalNet).
    pub k: Vec<Learned>,
    /// Epochs already done when this call started (the resumed checkpoint's; 0 for a new run).
    pub resumed_from: usize,
    /// `--resume` found every epoch already done: nothing was trained, the numbers are the run's.
    pub already_finished: bool,
}

/// Options that steer a run but are not part of its recipe.
#[derive(Clone, Debug, Default)]
pub struct FitOptions {
    /// Continue from `<run_dir>/last` instead of starting over.
    pub resume: bool,
    /// Show a progress bar (off in tests).
    pub progress: bool,
    /// Start over in a folder that already holds a run, deleting its metrics and checkpoints
    /// (without it, [`fit`] refuses to touch an existing run unless resuming).
    pub overwrite: bool,
}

/// The files and folders of a run that [`fit`] writes (checkpoint temporaries included).
const RUN_ENTRIES: [&str; 12] = [
    "config.json", "metrics.jsonl", "k.json", "last", ".last.tmp", ".last.old", "best", ".best.tmp",
    ".best.old", "config.json.tmp", "metrics.jsonl.tmp", "k.json.tmp",
];

/// Checks what is already in `run_dir` against the options: a new run needs a folder without a
/// run in it (or `overwrite`), a resumed one needs a run to resume. Returns the run's entries.
fn check_run_dir(run_dir: &Path, opts: &FitOptions) -> Result<Vec<&'static str>> {
    if opts.resume && opts.overwrite {
        bail!("choose either resume or overwrite for {}", run_dir.display());
    }
    let present: Vec<&str> = RUN_ENTRIES.into_iter().filter(|e| run_dir.join(e).exists()).collect();
    if opts.resume {
        if !present.contains(&"config.json") && checkpoint::locate(run_dir, "last").is_none() {
            bail!(
                "--resume: no checkpoint 'last' and no config.json in {}: there is no run to resume",
                run_dir.display()
            );
        }
    } else if !present.is_empty() && !opts.overwrite {
        bail!(
            "{} already holds a run ({}): pass --resume to continue it or --overwrite to start over",
            run_dir.display(),
            present.join(", ")
        );
    }
    Ok(present)
}

/// Creates `run_dir`, first removing the old run's entries for `overwrite`.
fn start_run_dir(run_dir: &Path, opts: &FitOptions, present: &[&str]) -> Result<()> {
    if opts.overwrite {
        for entry in present {
            let path = run_dir.join(entry);
            let removed =
                if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            removed.with_context(|| format!("--overwrite: cannot remove {}", path.display()))?;
        }
    }
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("cannot create run folder {}", run_dir.display()))
}

/// The metrics of epochs 1..=`epochs_done` from `metrics.jsonl` (lines of later epochs, written
/// before a crash stopped their checkpoint, are dropped).
fn read_metrics(run_dir: &Path, epochs_done: usize) -> Result<Vec<EpochMetrics>> {
    let path = run_dir.join("metrics.jsonl");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut metrics = crate::report::read_metrics(&path)?;
    metrics.retain(|m| (1..=epochs_done).contains(&m.epoch));
    if metrics.len() != epochs_done {
        tracing::warn!("{} holds {} of the {epochs_done} finished epochs", path.display(), metrics.len());
    }
    Ok(metrics)
}

/// Writes every epoch record to `metrics.jsonl`, replacing the file atomically.
fn write_metrics(run_dir: &Path, metrics: &[EpochMetrics]) -> Result<()> {
    let mut text = String::new();
    for m in metrics {
        text.push_str(&serde_json::to_string(m)?);
        text.push('\n');
    }
    durable::write(&run_dir.join("metrics.jsonl"), text.as_bytes())
}

/// Loads the dataset a config names, with its per-class limits applied (in-memory
/// kinds only; [`DatasetKind::ImageNet`] is read lazily through [`make_loaders`]).
pub fn load_data(config: &TrainConfig) -> Result<DataSplit> {
    let d = &config.data;
    let mut split = data::load(d.kind.clone(), &d.path)
        .with_context(|| format!("loading {} from {}", d.kind, d.path.display()))?;
    if let Some(n) = d.train_per_class {
        split.train = split.train.first_per_class(n);
    }
    if let Some(n) = d.test_per_class {
        split.test = split.test.first_per_class(n);
    }
    Ok(split)
}

/// The training and test batch sources of `config`. In-memory kinds (CIFAR, IDX,
/// `folder`) give [`BatchLoader`]s normalised with the train split's statistics and
/// `config.data.augment`; [`DatasetKind::ImageNet`] lists the folder and gives
/// [`ImageFolderLoader`]s with its train/eval transforms (`config.data.augment` is not
/// used). The test batch size is `max(batch_size, 256)`.
pub fn make_loaders(config: &TrainConfig) -> Result<(Box<dyn BatchSource>, Box<dyn BatchSource>)> {
    build_loaders(config, config.batch_size.max(256))
}

/// The test batch source of `config` with batches of `batch_size` (for `odenet eval`;
/// in-memory kinds still read the train split, for the normalisation statistics).
pub fn make_test_loader(config: &TrainConfig, batch_size: usize) -> Result<Box<dyn BatchSource>> {
    Ok(build_loaders(config, batch_size)?.1)
}

fn build_loaders(
    config: &TrainConfig,
    test_batch: usize,
) -> Result<(Box<dyn BatchSource>, Box<dyn BatchSource>)> {
    if let DatasetKind::ImageNet { transforms } = &config.data.kind {
        let d = &config.data;
        transforms.validate()?;
        let mut split = data::open_folder(&d.path)
            .with_context(|| format!("listing {} in {}", d.kind, d.path.display()))?;
        if let Some(n) = d.train_per_class {
            split.train = split.train.first_per_class(n);
        }
        if let Some(n) = d.test_per_class {
            split.test = split.test.first_per_class(n);
        }
        let loader = |files, pipeline: &Vec<data::Transform>, batch, shuffle| {
            ImageFolderLoader::try_new(
                Arc::new(files),
                pipeline.clone(),
                transforms.mean,
                transforms.std,
                batch,
                shuffle,
                false,
            )
        };
        let train = loader(split.train, &transforms.train, config.batch_size, true)?;
        let test = loader(split.test, &transforms.eval, test_batch, false)?;
        return Ok((Box::new(train), Box::new(test)));
    }
    let mut split = load_data(config)?;
    if let Some((mean, std)) = config.data.normalization.constants() {
        (split.mean, split.std) = (mean, std);
    }
    let train = BatchLoader::try_new(
        Arc::new(split.train),
        split.mean.clone(),
        split.std.clone(),
        config.batch_size,
        config.data.augment,
        true,
        false,
    )?;
    let test = BatchLoader::try_new(
        Arc::new(split.test),
        split.mean,
        split.std,
        test_batch,
        data::Augment::none(),
        false,
        false,
    )?;
    Ok((Box::new(train), Box::new(test)))
}

fn to_tensors(batch: &Batch, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let images = Tensor::from_data(TensorData::new(batch.images.clone(), batch.dims), device);
    let labels = Tensor::from_data(TensorData::new(batch.labels.clone(), [batch.labels.len()]), device);
    (images, labels)
}

/// Number of rows whose arg-max equals the label.
fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> i64 {
    let predicted = logits.argmax(1).flatten::<1>(0, 1);
    predicted.equal(labels).int().sum().into_scalar::<i64>()
}

/// The training objective: mean cross-entropy of `logits` `[batch, classes]` against `labels`
/// `[batch]`; the one definition used by training, evaluation and the reversible backward pass.
pub fn loss(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new().init(&logits.device()).forward(logits, labels)
}

/// Test loss and accuracy of `model` (evaluation mode: running BN statistics, no autodiff) with
/// activations in `precision`.
pub fn evaluate(
    model: &Net,
    loader: &dyn BatchSource,
    device: &Device,
    precision: Precision,
) -> Result<(f64, f64)> {
    let model = model.valid();
    let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0i64, 0usize);
    for batch in loader.epoch(0, 0) {
        let batch = batch.context("reading the test set")?;
        let (x, y) = to_tensors(&batch, device);
        let logits = model.forward(precision.activations(x));
        let n = batch.labels.len();
        let loss: f32 = loss(logits.clone(), y.clone()).into_scalar::<f32>();
        let hits = count_correct(logits, y);
        loss_sum += loss as f64 * n as f64;
        correct += hits;
        seen += n;
    }
    if seen == 0 {
        bail!("the test set is empty");
    }
    Ok((loss_sum / seen as f64, correct as f64 / seen as f64))
}

/// Trains `config` in `run_dir`: one JSON line per epoch in `metrics.jsonl`, checkpoints `last`
/// and `best`, the learned k_n in `k.json`.
///
/// Every file is replaced atomically, and each epoch writes its metrics, then `best` (if
/// improved), then `last`, whose `state.json` is the run's progress: after a crash at any
/// point, `resume` continues from `last` (recovering a checkpoint whose swap was interrupted),
/// drops metrics of epochs after it, and reproduces an uninterrupted run exactly.
pub fn fit(config: &TrainConfig, run_dir: &Path, opts: &FitOptions) -> Result<RunSummary> {
    config.validate()?;
    let present = check_run_dir(run_dir, opts)?;
    let (train, test) = make_loaders(config)?;
    let device = parse_device(&config.device)?;
    device.seed(config.seed);
    let train_device = device.clone().autodiff();
    if train.input_shape()[0] != config.model.in_channels {
        bail!(
            "the model takes {} input channels but {} images have {}",
            config.model.in_channels,
            config.data.kind,
            train.input_shape()[0]
        );
    }
    if train.classes().len() > config.model.num_classes {
        bail!(
            "the model has {} outputs but the {} data in {} has {} classes",
            config.model.num_classes,
            config.data.kind,
            config.data.path.display(),
            train.classes().len()
        );
    }

    // Only now, with config and data known good, is the run folder touched.
    start_run_dir(run_dir, opts, &present)?;
    durable::write_json(&run_dir.join("config.json"), config)?;

    let mut model = config.model.init(&train_device);
    if config.reversible && !crate::reversible::is_reversible(&model) {
        bail!("--reversible needs a RevNet model (coupled stages), and {} is not one", config.model.name);
    }
    let mut optim = config.optim.init(&model);
    let mut state = TrainState { epochs_done: 0, best_test_acc: 0.0, best_epoch: 0 };
    let mut history = Vec::new();
    if opts.resume {
        checkpoint::recover(run_dir, "best")?;
        if checkpoint::recover(run_dir, "last")? {
            let dir = run_dir.join("last");
            model = checkpoint::load_resumable(model, &dir)?;
            // The k_n group is selected by parameter id: rebuild it from the loaded model.
            optim = checkpoint::load_optim(config.optim.init(&model), &dir)?;
            state = checkpoint::load_state(&dir)?;
            if state.epochs_done > config.epochs || state.best_epoch > state.epochs_done {
                bail!(
                    "{}/state.json: epochs_done = {}, best_epoch = {} do not fit a run of {} \
                     epochs (rule: best_epoch ≤ epochs_done ≤ epochs)",
                    dir.display(),
                    state.epochs_done,
                    state.best_epoch,
                    config.epochs
                );
            }
            tracing::info!(epochs_done = state.epochs_done, "resuming from {}", dir.display());
        } else {
            tracing::info!("no checkpoint in {} yet: starting at epoch 1", run_dir.display());
        }
        history = read_metrics(run_dir, state.epochs_done)?;
        write_metrics(run_dir, &history)?;
    }
    let first_epoch = state.epochs_done;

    let steps = train.num_batches();
    if steps == 0 {
        bail!("the {} training set in {} is empty", config.data.kind, config.data.path.display());
    }
    for epoch in state.epochs_done..config.epochs {
        // Per-epoch seed: a resumed run draws the same random numbers as an uninterrupted one.
        device.seed(config.seed ^ ((epoch as u64 + 1) << 32));
        let mut progress = Progress::new(opts.progress, epoch, config.epochs, steps, config.batch_size);
        let start = Instant::now();
        let mut waiting = 0.0f64;
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0i64, 0usize);
        let mut lr = 0.0;
        let mut batches = train.epoch(epoch, config.seed);
        for step in 0..steps {
            let wait_start = Instant::now();
            let Some(batch) = batches.next() else { break };
            let batch = batch.with_context(|| format!("reading training data (epoch {}, step {step})", epoch + 1))?;
            waiting += wait_start.elapsed().as_secs_f64();
            lr = config.schedule.lr(config.optim.lr, epoch, step as f64 / steps as f64, config.epochs);
            let (x, y) = to_tensors(&batch, &train_device);
            let (logits, loss_value, grads) = if config.reversible {
                crate::reversible::loss_and_grads(&model, x, y.clone())
            } else {
                let logits = model.forward(config.precision.activations(x));
                let loss = loss(logits.clone(), y.clone());
                let loss_value: f32 = loss.clone().into_scalar::<f32>();
                (logits, loss_value, GradientsParams::from_grads(loss.backward(), &model))
            };
            if !loss_value.is_finite() {
                bail!(
                    "the loss became {loss_value} at epoch {} step {step} (lr {lr}); the last good \
                     checkpoint is in {}/last — try a lower --lr",
                    epoch + 1,
                    run_dir.display()
                );
            }
            let hits = count_correct(logits, y);
            let mut grads = grads;
            config.optim.decay_k_toward_one(&model, &mut grads);
            model = optim.step(lr, model, grads);
            let n = batch.labels.len();
            loss_sum += loss_value as f64 * n as f64;
            correct += hits;
            seen += n;
            progress.step(loss_sum / seen as f64, correct as f64 / seen as f64);
        }
        drop(batches);
        let train_seconds = start.elapsed().as_secs_f64();
        let (test_loss, test_acc) = evaluate(&model, test.as_ref(), &device, config.precision)?;
        progress.finish(test_acc);
        state.epochs_done = epoch + 1;
        let is_best = test_acc > state.best_test_acc || state.best_epoch == 0;
        if is_best {
            state.best_test_acc = test_acc;
            state.best_epoch = epoch + 1;
        }
        let learned = model.learned();
        let line = EpochMetrics {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            test_loss,
            test_acc,
            train_seconds,
            images_per_sec: seen as f64 / train_seconds,
            data_wait_fraction: waiting / train_seconds,
            k: Learned::k_json(&learned).into_iter().map(|(_, _, k)| k).collect(),
            learned,
        };
        history.push(line);
        // Metrics first (a resume drops epochs after `last`), then `best`, then `last`: `best`
        // is never older than what `last/state.json` reports.
        write_metrics(run_dir, &history)?;
        if is_best {
            checkpoint::save(run_dir, "best", &model, None, &state)?;
        }
        checkpoint::save(run_dir, "last", &model, Some(&optim), &state)?;
    }

    let k = model.learned();
    durable::write_json(&run_dir.join("k.json"), &Learned::k_json(&k))?;
    Ok(RunSummary {
        run_dir: run_dir.to_path_buf(),
        epochs: state.epochs_done,
        final_test_acc: history.last().map_or(0.0, |m| m.test_acc),
        best_test_acc: state.best_test_acc,
        best_epoch: state.best_epoch,
        k,
        resumed_from: first_epoch,
        already_finished: opts.resume && first_epoch == config.epochs,
    })
}
