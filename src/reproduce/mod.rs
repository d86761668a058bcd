//! `odenet reproduce`: the paper's tables as data (`experiments/*.toml`), expanded into training
//! runs, trained (and resumed after any interruption), and compared with the published numbers.
//!
//! `OUT/<row>/s<seed>/` is an ordinary run folder (`odenet eval`, `analyze`, `report` read it);
//! `OUT/results.md`, `OUT/results.json` and the PNG figures are rewritten after every invocation
//! from what the run folders hold, so they always agree with the runs' own metrics.

pub mod budget;
pub mod experiment;
pub mod plan;
pub mod results;
pub mod run;

pub use budget::Budget;
pub use experiment::{Claim, ClaimKind, Experiment, Row};
pub use results::Results;

use crate::report::{self, plot};
use anyhow::{Context, Result, bail};
use plan::RowPlan;
use std::path::{Path, PathBuf};

/// How to carry out an experiment.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seeds per row (default: the experiment's `seeds`).
    pub seeds: Option<usize>,
    /// Only these rows (by id; default: all).
    pub rows: Option<Vec<String>>,
    pub budget: Budget,
    /// Devices to train on; worker `w` uses `devices[w % len]`.
    pub devices: Vec<String>,
    /// Runs trained at the same time (default: one per device).
    pub jobs: Option<usize>,
    /// Where the dataset is (default: the dataset's usual place).
    pub data_dir: Option<PathBuf>,
    pub out: PathBuf,
    /// Progress bars (one run at a time only).
    pub progress: bool,
    /// The command line, recorded in the results.
    pub command: String,
}

/// What an invocation did.
#[derive(Debug)]
pub struct Report {
    pub results: Results,
    /// Files written into `out`.
    pub files: Vec<PathBuf>,
    /// Runs trained (or resumed) by this invocation.
    pub trained: usize,
    /// Runs found finished and not trained again.
    pub skipped: usize,
    /// (row, seed, error) of the runs that failed.
    pub failures: Vec<(String, u64, String)>,
}

/// Trains what is missing of `exp` and writes its results into `opts.out`.
pub fn reproduce(exp: &Experiment, opts: &Options) -> Result<Report> {
    if opts.devices.is_empty() {
        bail!("--device: give at least one device");
    }
    let seeds = opts.seeds.unwrap_or(exp.seeds);
    if seeds == 0 {
        bail!("--seeds 0: give at least one seed");
    }
    let exp = &select_rows(exp, opts.rows.as_deref())?;
    let data = plan::locate_data(&exp.dataset_kind()?, opts.data_dir.as_deref());
    let plans = plan::plan(exp, &data, seeds, opts.budget, &opts.out)?;
    // Seed by seed, so that an interrupted reproduction has every row's first seeds.
    let mut runs: Vec<plan::PlannedRun> = plans
        .iter()
        .flat_map(|(_, p)| match p {
            RowPlan::Runs(runs) => runs.clone(),
            RowPlan::NotRun(_) => Vec::new(),
        })
        .collect();
    runs.sort_by_key(|r| r.seed);
    // Every folder is checked before anything trains: a config clash stops the whole command.
    for r in &runs {
        run::status(r)?;
    }
    std::fs::create_dir_all(&opts.out).with_context(|| format!("cannot create {}", opts.out.display()))?;
    let jobs = opts.jobs.unwrap_or(opts.devices.len()).max(1);
    let outcomes = run::execute(runs, &opts.devices, jobs, opts.progress);
    let mut failures = Vec::new();
    let (mut trained, mut skipped) = (0, 0);
    for (r, outcome) in &outcomes {
        match outcome {
            run::Outcome::AlreadyFinished => skipped += 1,
            run::Outcome::Trained { .. } => trained += 1,
            run::Outcome::Failed(e) => failures.push((r.row.clone(), r.seed, e.clone())),
        }
    }
    let results = results::collect(exp, &plans, opts.budget, &failures, opts.command.clone())?;
    let files = write(exp, &results, &opts.out)?;
    Ok(Report { results, files, trained, skipped, failures })
}

/// `exp` with only the rows `ids` (and the claims and figure rows among them).
fn select_rows(exp: &Experiment, ids: Option<&[String]>) -> Result<Experiment> {
    let Some(ids) = ids else { return Ok(exp.clone()) };
    if let Some(bad) = ids.iter().find(|id| exp.row(id).is_none()) {
        let known: Vec<&str> = exp.rows.iter().map(|r| r.id()).collect();
        bail!("--rows: no row '{bad}' in this experiment; its rows: {}", known.join(", "));
    }
    let keep = |id: &String| ids.contains(id);
    let mut exp = exp.clone();
    exp.rows.retain(|r| keep(&r.id().to_string()));
    exp.claims.retain(|c| keep(&c.better) && keep(&c.worse));
    if let Some(fig) = &mut exp.k_figure {
        fig.rows.retain(keep);
    }
    Ok(exp)
}

/// `results.md`, `results.json` and the figures.
fn write(exp: &Experiment, results: &Results, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let md = out.join("results.md");
    write_atomic(&md, results.markdown().as_bytes())?;
    files.push(md);
    let json = out.join("results.json");
    write_atomic(&json, serde_json::to_string_pretty(results)?.as_bytes())?;
    files.push(json);
    files.extend(figures(exp, results, out)?);
    Ok(files)
}

/// Writes `bytes` to `path` through a temporary file and a rename: a kill leaves the old file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Depth of a registered model from its name (`lm-resnet56` → 56), and its family (`lm-resnet`).
fn depth_and_family(model: &str) -> Option<(usize, String)> {
    let family = model.trim_end_matches(|c: char| c.is_ascii_digit());
    let depth = model[family.len()..].parse().ok()?;
    Some((depth, family.trim_end_matches('-').to_string()))
}

fn family_label(family: &str, lm: bool) -> String {
    match (family, lm) {
        ("resnet", false) => "ResNet (forward Euler)".into(),
        ("lm-resnet", true) => "LM-ResNet (linear two-step)".into(),
        (f, _) => f.to_string(),
    }
}

/// Test error vs depth and vs parameters per family (measured and published), and the learned
/// k_n of the rows the experiment's `k_figure` names.
fn figures(exp: &Experiment, results: &Results, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let measured_any = results.rows.iter().any(|r| r.final_error.is_some());
    if !measured_any {
        return Ok(files);
    }
    let mut by_depth: Vec<plot::FamilySeries> = Vec::new();
    let mut by_params: Vec<plot::FamilySeries> = Vec::new();
    for r in &results.rows {
        let Some((depth, family)) = depth_and_family(&r.model) else { continue };
        let label = family_label(&family, r.lm);
        let i = match by_depth.iter().position(|s| s.label == label) {
            Some(i) => i,
            None => {
                for v in [&mut by_depth, &mut by_params] {
                    v.push(plot::FamilySeries { label: label.clone(), lm: r.lm, measured: vec![], paper: vec![] });
                }
                by_depth.len() - 1
            }
        };
        let params = r.params.map(|p| p as f64 / 1e6);
        if let Some(e) = r.final_error {
            by_depth[i].measured.push((depth as f64, e.mean, e.std));
            if let Some(p) = params {
                by_params[i].measured.push((p, e.mean, e.std));
            }
        }
        if let Some(paper) = r.paper.filter(|_| !r.unconfirmed) {
            by_depth[i].paper.push((depth as f64, paper));
            if let Some(p) = params {
                by_params[i].paper.push((p, paper));
            }
        }
    }
    let title = |what: &str| format!("{} — test error vs {what} ({} budget)", exp.dataset, results.budget);
    for (name, what, desc, series) in [
        ("error_vs_depth.png", "depth", "depth (layers)", &by_depth),
        ("error_vs_params.png", "parameters", "trainable parameters (M)", &by_params),
    ] {
        if series.iter().any(|s| !s.measured.is_empty()) {
            let path = out.join(name);
            plot::family_errors(&path, &title(what), desc, series)?;
            files.push(path);
        }
    }
    if let Some(fig) = &exp.k_figure {
        let mut analyses = Vec::new();
        for id in &fig.rows {
            let Some(seed) = results.rows.iter().find(|r| &r.id == id).and_then(|r| r.seeds.first()) else {
                continue;
            };
            if let report::Loaded::Run(run) = report::load_run(&seed.dir)? {
                if let Some(a) = run.analysis()? {
                    analyses.push((format!("{id} (seed {})", seed.seed), a));
                }
            }
        }
        if !analyses.is_empty() {
            let series: Vec<plot::KSeries> =
                analyses.iter().map(|(label, a)| plot::KSeries { label: label.clone(), analysis: a }).collect();
            let path = out.join("k_by_block.png");
            let range = fig.paper_range.map(|[lo, hi]| (lo, hi));
            plot::k_by_block_against(&path, &format!("Learned k_n by block ({} budget)", results.budget), &series, range)?;
            files.push(path);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::depth_and_family;

    #[test]
    fn depth_and_family_come_from_the_registry_name() {
        assert_eq!(depth_and_family("lm-resnet56"), Some((56, "lm-resnet".into())));
        assert_eq!(depth_and_family("resnet110"), Some((110, "resnet".into())));
        assert_eq!(depth_and_family("shake-resnet26-2x32d"), None);
    }
}
