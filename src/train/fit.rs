//! The training loop: explicit (Burn's `custom-training-loop` idiom), one place for every step.

use super::checkpoint::{self, TrainState};
use super::config::TrainConfig;
use super::device::parse_device;
use super::metrics::{EpochMetrics, Progress};
use crate::data::{self, Batch, BatchLoader, BatchSource, DataSplit, DatasetKind, ImageFolderLoader};
use crate::net::Net;
use anyhow::{Context, Result, bail};
use burn::module::{Module, ParamGroup};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use std::io::Write;
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
    pub k: Vec<(usize, usize, Vec<f32>)>,
}

/// Options that steer a run but are not part of its recipe.
#[derive(Clone, Debug, Default)]
pub struct FitOptions {
    /// Continue from `<run_dir>/last` instead of starting over.
    pub resume: bool,
    /// Show a progress bar (off in tests).
    pub progress: bool,
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
    let split = load_data(config)?;
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

/// SGD with PyTorch semantics (dampening 0; Burn's default is 0.1), optionally sparing k_n
/// from weight decay.
pub fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    let o = &config.optim;
    let momentum = (o.momentum > 0.0).then(|| {
        MomentumConfig::new().with_momentum(o.momentum).with_dampening(0.0).with_nesterov(o.nesterov)
    });
    let sgd = |wd: f64| {
        SgdConfig::new()
            .with_momentum(momentum.clone())
            .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd as f32)))
    };
    let optim = sgd(o.weight_decay).init();
    if o.decay_k {
        optim
    } else {
        optim.with_group(ParamGroup::from_predicate("lm_k"), sgd(0.0).build(), None)
    }
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

/// Test loss and accuracy of `model` (evaluation mode: running BN statistics, no autodiff).
pub fn evaluate(model: &Net, loader: &dyn BatchSource, device: &Device) -> Result<(f64, f64)> {
    let model = model.valid();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0i64, 0usize);
    for batch in loader.epoch(0, 0) {
        let batch = batch.context("reading the test set")?;
        let (x, y) = to_tensors(&batch, device);
        let logits = model.forward(x);
        let n = batch.labels.len();
        let loss: f32 = loss_fn.forward(logits.clone(), y.clone()).into_scalar::<f32>();
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
pub fn fit(config: &TrainConfig, run_dir: &Path, opts: &FitOptions) -> Result<RunSummary> {
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("cannot create run folder {}", run_dir.display()))?;
    std::fs::write(run_dir.join("config.json"), serde_json::to_string_pretty(config)?)
        .context("writing config.json")?;

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

    let mut model = config.model.init(&train_device);
    if config.reversible && !crate::reversible::is_reversible(&model) {
        bail!("--reversible needs a RevNet model (coupled stages), and {} is not one", config.model.name);
    }
    let mut optim = optimizer(config);
    let mut state = TrainState { epochs_done: 0, best_test_acc: 0.0, best_epoch: 0 };
    if opts.resume {
        let dir = checkpoint::locate(run_dir, "last")
            .with_context(|| format!("--resume: no checkpoint 'last' in {}", run_dir.display()))?;
        model = checkpoint::load_resumable(model, &dir)?;
        optim = checkpoint::load_optim(optim, &dir)?;
        state = checkpoint::load_state(&dir)?;
        tracing::info!(epochs_done = state.epochs_done, "resuming from {}", dir.display());
    }

    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
    let mut metrics_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_dir.join("metrics.jsonl"))
        .context("opening metrics.jsonl")?;
    let steps = train.num_batches();
    let mut last_test_acc = 0.0;
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
                let logits = model.forward(x);
                let loss = loss_fn.forward(logits.clone(), y.clone());
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
            model = optim.step(lr, model, grads);
            let n = batch.labels.len();
            loss_sum += loss_value as f64 * n as f64;
            correct += hits;
            seen += n;
            progress.step(loss_sum / seen as f64, correct as f64 / seen as f64);
        }
        drop(batches);
        let train_seconds = start.elapsed().as_secs_f64();
        let (test_loss, test_acc) = evaluate(&model, test.as_ref(), &device)?;
        progress.finish(test_acc);
        last_test_acc = test_acc;
        state.epochs_done = epoch + 1;
        let is_best = test_acc > state.best_test_acc || state.best_epoch == 0;
        if is_best {
            state.best_test_acc = test_acc;
            state.best_epoch = epoch + 1;
        }
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
            k: model.k_values().into_iter().map(|(_, _, k)| k).collect(),
        };
        writeln!(metrics_file, "{}", serde_json::to_string(&line)?).context("writing metrics.jsonl")?;
        checkpoint::save(run_dir, "last", &model, Some(&optim), &state)?;
        if is_best {
            checkpoint::save(run_dir, "best", &model, None, &state)?;
        }
    }

    let k = model.k_values();
    std::fs::write(run_dir.join("k.json"), serde_json::to_string_pretty(&k)?).context("writing k.json")?;
    Ok(RunSummary {
        run_dir: run_dir.to_path_buf(),
        epochs: state.epochs_done,
        final_test_acc: last_test_acc,
        best_test_acc: state.best_test_acc,
        best_epoch: state.best_epoch,
        k,
    })
}
