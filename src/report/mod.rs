//! Reading run folders (written by `odenet train`) and drawing what a researcher would plot from
//! them: learning curves, learned k_n by block, test error against model size, and a table.
//!
//! A run folder holds `config.json` ([`TrainConfig`]), `metrics.jsonl` (one [`EpochMetrics`] per
//! line), `k.json` (the final k_n as `[(stage, step, values)]`, read as [`Learned`] rows) and
//! the checkpoints.

pub mod plot;
pub mod table;

use crate::analysis::{self, Analysis};
use crate::scheme::{KRow, Learned, LinearTwoStepConfig, SchemeConfig};
use crate::train::{EpochMetrics, TrainConfig};
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Everything the report needs from one run folder.
#[derive(Clone, Debug)]
pub struct Run {
    /// Short unique name: the folder name (with its parent when two folders share a name).
    pub name: String,
    pub dir: PathBuf,
    pub config: TrainConfig,
    /// One entry per epoch, in epoch order (a repeated epoch keeps its last line).
    pub metrics: Vec<EpochMetrics>,
    /// Final learned k_n; empty for Euler networks.
    pub k: Vec<Learned>,
    /// Trainable parameters of the model.
    pub params: usize,
}

impl Run {
    pub fn is_lm(&self) -> bool {
        matches!(self.config.model.scheme, SchemeConfig::LinearTwoStep(_))
    }

    /// "Euler", "LM" or "LM (per-channel k)".
    pub fn scheme_label(&self) -> String {
        scheme_label(&self.config.model.scheme)
    }

    /// Highest test accuracy and the (first) epoch that reached it.
    pub fn best(&self) -> (f64, usize) {
        self.metrics.iter().fold((f64::NEG_INFINITY, 0), |(acc, e), m| {
            if m.test_acc > acc { (m.test_acc, m.epoch) } else { (acc, e) }
        })
    }

    /// Test accuracy after the last recorded epoch.
    pub fn final_acc(&self) -> f64 {
        self.metrics.last().map_or(f64::NAN, |m| m.test_acc)
    }

    /// Mean training throughput over the recorded epochs.
    pub fn mean_images_per_sec(&self) -> f64 {
        let v: Vec<f64> = self.metrics.iter().map(|m| m.images_per_sec).filter(|x| x.is_finite()).collect();
        if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 }
    }

    /// Legend text: the run name, with the model when the name does not already say it.
    pub fn label(&self) -> String {
        if self.name.contains(&self.config.model.name) {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.config.model.name)
        }
    }

    /// Modified-equation analysis of the final k_n; `None` for Euler networks.
    pub fn analysis(&self) -> Result<Option<Analysis>> {
        if !self.is_lm() || self.k.is_empty() {
            return Ok(None);
        }
        analysis::analyse(&self.config.model, &self.k)
            .map(Some)
            .with_context(|| format!("k values of {}", self.dir.display()))
    }
}

pub fn scheme_label(scheme: &SchemeConfig) -> String {
    match scheme {
        SchemeConfig::ForwardEuler(_) => "Euler".into(),
        SchemeConfig::LinearTwoStep(LinearTwoStepConfig { per_channel: false, .. }) => "LM".into(),
        SchemeConfig::LinearTwoStep(LinearTwoStepConfig { per_channel: true, .. }) => "LM (per-channel k)".into(),
        other => other.describe(),
    }
}

/// Reads and parses a run's `config.json`.
pub fn read_config(path: &Path) -> Result<TrainConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (is this a run folder?)", path.display()))?;
    let config: TrainConfig = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid run config", path.display()))?;
    config.validate().with_context(|| format!("{} is not a valid run config", path.display()))?;
    Ok(config)
}

/// Reads `metrics.jsonl`: blank lines are ignored, a line that does not parse is an error naming
/// the file and line. Sorted by epoch; when an epoch appears twice (a resumed run that repeated
/// it) the later line wins.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut by_epoch = std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let m: EpochMetrics = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not a metrics record", path.display(), i + 1))?;
        by_epoch.insert(m.epoch, m);
    }
    Ok(by_epoch.into_values().collect())
}

/// Reads `k.json` (`[(stage, step, values)]`) of a model with these stage `depths`.
pub fn read_k(path: &Path, depths: &[usize]) -> Result<Vec<Learned>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let rows: Vec<KRow> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a list of (stage, step, k values)", path.display()))?;
    Ok(Learned::from_k_json(rows, depths))
}

/// Trainable parameters of a model configuration (builds it once on the CPU).
pub fn count_params(config: &crate::NetConfig) -> usize {
    crate::params::count_trainable(&config.init(&burn::tensor::Device::flex()))
}

/// Result of reading one folder.
#[derive(Debug)]
pub enum Loaded {
    Run(Box<Run>),
    /// A folder with a valid config but no metrics yet; the reason, for a warning.
    Skipped(String),
}

/// Reads one run folder. Errors name the offending file; a folder without `metrics.jsonl` (or
/// with an empty one) is [`Loaded::Skipped`].
pub fn load_run(dir: &Path) -> Result<Loaded> {
    if !dir.is_dir() {
        bail!("{} is not a folder (expected a run folder written by `odenet train`)", dir.display());
    }
    let config = read_config(&dir.join("config.json"))?;
    let metrics_path = dir.join("metrics.jsonl");
    if !metrics_path.exists() {
        return Ok(Loaded::Skipped(format!("{} has no metrics.jsonl", dir.display())));
    }
    let metrics = read_metrics(&metrics_path)?;
    if metrics.is_empty() {
        return Ok(Loaded::Skipped(format!("{} is empty", metrics_path.display())));
    }
    let k_path = dir.join("k.json");
    let steps = analysis::lm_steps(&config.model);
    let k = if k_path.exists() {
        read_k(&k_path, &config.model.depths)?
    } else {
        // An unfinished run: the k of its last epoch (positions recorded since `learned` was
        // added to metrics.jsonl, else those of the model's LM steps).
        let last = &metrics[metrics.len() - 1];
        if !last.learned.is_empty() {
            last.learned.clone()
        } else if last.k.len() == steps.len() {
            let rows = steps.iter().zip(&last.k).map(|(p, k)| (p.stage, p.step, k.clone())).collect();
            Learned::from_k_json(rows, &config.model.depths)
        } else {
            Vec::new()
        }
    };
    let k = if steps.is_empty() { Vec::new() } else { k };
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    Ok(Loaded::Run(Box::new(Run { name, dir: dir.to_path_buf(), config, metrics, k, params: 0 })))
}

/// What [`write_report`] produced.
#[derive(Debug)]
pub struct ReportOutput {
    /// Files written, in order.
    pub files: Vec<PathBuf>,
    pub runs: Vec<Run>,
    /// Folders left out, with the reason.
    pub skipped: Vec<String>,
    /// The Markdown table (also in `runs.md`).
    pub table: String,
}

/// Reads `dirs` and writes `curves.png`, `k_by_block.png` (when there is an LM run),
/// `error_vs_params.png` and `runs.md` into `out`.
pub fn write_report(dirs: &[PathBuf], out: &Path) -> Result<ReportOutput> {
    if dirs.is_empty() {
        bail!("no run folder given");
    }
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for dir in dirs {
        match load_run(dir)? {
            Loaded::Run(run) => runs.push(*run),
            Loaded::Skipped(why) => skipped.push(why),
        }
    }
    if runs.is_empty() {
        bail!("none of the {} run folder(s) has metrics: {}", dirs.len(), skipped.join("; "));
    }
    disambiguate(&mut runs);
    let mut cache: HashMap<String, usize> = HashMap::new();
    for run in &mut runs {
        let key = serde_json::to_string(&run.config.model)?;
        run.params = *cache.entry(key).or_insert_with(|| count_params(&run.config.model));
    }

    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut files = Vec::new();

    let curves_path = out.join("curves.png");
    let series: Vec<plot::CurveSeries> =
        runs.iter().map(|r| plot::CurveSeries { label: r.label(), metrics: &r.metrics }).collect();
    plot::curves(&curves_path, &series)?;
    files.push(curves_path);

    let analyses: Vec<(String, Analysis)> = runs
        .iter()
        .map(|r| Ok(r.analysis()?.map(|a| (r.label(), a))))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    if !analyses.is_empty() {
        let k_path = out.join("k_by_block.png");
        let series: Vec<plot::KSeries> =
            analyses.iter().map(|(label, a)| plot::KSeries { label: label.clone(), analysis: a }).collect();
        plot::k_by_block(&k_path, "Learned LM coefficients k_n by block", &series)?;
        files.push(k_path);
    }

    let points: Vec<plot::ParamPoint> = runs
        .iter()
        .map(|r| plot::ParamPoint {
            label: r.label(),
            params: r.params,
            lm: r.is_lm(),
            final_error: 100.0 * (1.0 - r.final_acc()),
            best_error: 100.0 * (1.0 - r.best().0),
        })
        .collect();
    let datasets: std::collections::BTreeSet<String> =
        runs.iter().map(|r| r.config.data.kind.to_string()).collect();
    let title = match datasets.len() {
        1 => format!("Test error vs model size ({})", datasets.iter().next().unwrap_or(&String::new())),
        _ => "Test error vs model size".to_string(),
    };
    let ep_path = out.join("error_vs_params.png");
    plot::error_vs_params(&ep_path, &title, &points)?;
    files.push(ep_path);

    let table = table::runs_markdown(&runs);
    let md_path = out.join("runs.md");
    std::fs::write(&md_path, &table).with_context(|| format!("writing {}", md_path.display()))?;
    files.push(md_path);
    Ok(ReportOutput { files, runs, skipped, table })
}

/// Gives runs that share a folder name the name of their parent too (`a/run`, `b/run`), and
/// numbers what is still equal.
fn disambiguate(runs: &mut [Run]) {
    let mut count: HashMap<String, usize> = HashMap::new();
    for r in runs.iter() {
        *count.entry(r.name.clone()).or_default() += 1;
    }
    for r in runs.iter_mut() {
        if count[&r.name] > 1 {
            let parent = r.dir.canonicalize().ok().and_then(|p| {
                p.parent().and_then(|q| q.file_name()).map(|n| n.to_string_lossy().into_owned())
            });
            if let Some(parent) = parent {
                r.name = format!("{parent}/{}", r.name);
            }
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in runs.iter_mut() {
        let n = seen.entry(r.name.clone()).or_default();
        *n += 1;
        if *n > 1 {
            r.name = format!("{} #{n}", r.name);
        }
    }
}
