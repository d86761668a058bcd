//! From an experiment to run folders: one training run per (row, seed), each with the full
//! [`TrainConfig`] it will write as `config.json`, in `OUT/<row id>/s<seed>/`.

use super::budget::Budget;
use super::experiment::{Experiment, Row};
use crate::data::{self, DatasetKind};
use crate::scheme::noise::NoiseConfig;
use crate::train::{DataConfig, TrainConfig};
use crate::zoo;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// One training run of a row.
#[derive(Clone, Debug)]
pub struct PlannedRun {
    pub row: String,
    pub seed: u64,
    pub dir: PathBuf,
    pub config: TrainConfig,
}

/// What a row becomes: its runs, or why it cannot run here.
#[derive(Clone, Debug)]
pub enum RowPlan {
    Runs(Vec<PlannedRun>),
    NotRun(String),
}

/// Where the data of an experiment is, resolved once for all rows.
#[derive(Clone, Debug)]
pub enum DataSource {
    Found { kind: DatasetKind, path: PathBuf },
    /// The dataset is not there: its rows are not run, with this reason.
    Missing(String),
}

/// The dataset `kind` at `dir` (default: [`data::default_path`]). CIFAR-10 is read in either
/// of its forms: the official binary batches, or an image folder (`train/<class>/…` and
/// `test/<class>/…`, or a `.tar.gz` of them, such as `cifar10-jpeg.tar.gz`).
pub fn locate_data(kind: &DatasetKind, dir: Option<&Path>) -> DataSource {
    let path = dir.map(Path::to_path_buf).unwrap_or_else(|| data::default_path(kind));
    if !path.exists() {
        return DataSource::Missing(format!(
            "dataset missing: no {kind} at {} ({}; or point --data-dir at it)",
            path.display(),
            kind.download_hint()
        ));
    }
    let is_folder_form = path.is_file() || path.join("train").is_dir();
    let kind = match kind {
        DatasetKind::Cifar10 if is_folder_form => DatasetKind::Folder,
        other => other.clone(),
    };
    DataSource::Found { kind, path }
}

/// Expands `exp` into runs under `out`, `seeds` per row, cut to `budget`.
pub fn plan(exp: &Experiment, data: &DataSource, seeds: usize, budget: Budget, out: &Path) -> Result<Vec<(String, RowPlan)>> {
    let (kind, path) = match data {
        DataSource::Missing(why) => {
            return Ok(exp.rows.iter().map(|r| (r.id().to_string(), RowPlan::NotRun(why.clone()))).collect());
        }
        DataSource::Found { kind, path } => (kind, path),
    };
    // Listing an image folder (ImageNet: 1.28M files) is done once, not per row and seed.
    let classes = kind.num_classes(path).with_context(|| format!("listing {kind} in {}", path.display()))?;
    let mut rows = Vec::new();
    for row in &exp.rows {
        let runs = (0..seeds as u64)
            .map(|seed| {
                let config = row_config(exp, row, kind, path, classes, seed, budget)
                    .with_context(|| format!("row '{}'", row.id()))?;
                let dir = out.join(row.id()).join(format!("s{seed}"));
                Ok(PlannedRun { row: row.id().to_string(), seed, dir, config })
            })
            .collect::<Result<Vec<_>>>()?;
        rows.push((row.id().to_string(), RowPlan::Runs(runs)));
    }
    Ok(rows)
}

/// The training configuration of one seed of `row` on `classes` classes: the row's recipe cut to
/// `budget`.
pub fn row_config(
    exp: &Experiment,
    row: &Row,
    kind: &DatasetKind,
    path: &Path,
    classes: usize,
    seed: u64,
    budget: Budget,
) -> Result<TrainConfig> {
    let mut model = zoo::create(&row.model, kind.facts().in_channels, classes)?;
    let preset = exp.row_preset(row);
    let p_last = row.stochastic_depth.or(preset.p_last(model.num_blocks()));
    if let Some(p_last) = p_last {
        model.noise =
            NoiseConfig::StochasticDepth { p_last, scaling: preset.drop_scaling(), indexing: preset.sd_indexing() };
    }
    let (epochs, schedule) = preset.schedule();
    let scaled = budget.apply(epochs, &schedule);
    Ok(TrainConfig {
        model,
        data: DataConfig {
            kind: kind.clone(),
            path: path.to_path_buf(),
            train_per_class: scaled.train_per_class,
            test_per_class: scaled.test_per_class,
            augment: kind.facts().augment,
            normalization: preset.normalization(kind),
        },
        optim: preset.optim(),
        schedule: scaled.schedule,
        epochs: scaled.epochs,
        batch_size: scaled.batch_size.unwrap_or(preset.batch_size()),
        seed,
        device: "cpu".into(),
        reversible: false,
        precision: Default::default(),
    })
}
