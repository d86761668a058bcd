//! The tables of a reproduction: per row the mean ± std of the test error over seeds next to the
//! paper's number, and whether the paper's ordering claims hold given the seed spread.
//!
//! A claim "A is better than B" holds when mean(B) − mean(A) > 2·SE, with
//! SE = √(s_A²/n_A + s_B²/n_B) (sample standard deviations over seeds); it is reversed when
//! the difference is below −2·SE, and not resolved in between. "A is not worse than B" (the
//! compression claims) fails only when A is resolvably worse. With one seed there is no spread,
//! and no claim is decided.

use super::budget::Budget;
use super::experiment::{ClaimKind, Experiment};
use super::plan::RowPlan;
use crate::report;
use crate::train::checkpoint;
use anyhow::Result;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One finished seed of a row.
#[derive(Clone, Debug, Serialize)]
pub struct SeedResult {
    pub seed: u64,
    pub dir: PathBuf,
    /// Test error (%) after the last epoch.
    pub final_error: f64,
    /// Lowest test error (%) of any epoch (the official code's model selection).
    pub best_error: f64,
}

/// Mean and sample standard deviation (0 for one value).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Spread {
    pub n: usize,
    pub mean: f64,
    pub std: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Spread> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
        Some(Spread { n, mean, std: var.sqrt() })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RowResult {
    pub id: String,
    pub model: String,
    pub params: Option<usize>,
    pub lm: bool,
    pub seeds_planned: usize,
    pub seeds: Vec<SeedResult>,
    pub final_error: Option<Spread>,
    pub best_error: Option<Spread>,
    pub paper: Option<f64>,
    pub paper_source: Option<String>,
    pub replication: Option<f64>,
    pub unconfirmed: bool,
    /// Why the row has no (or not all) results: dataset missing, failed, unfinished.
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClaimResult {
    pub better: String,
    pub worse: String,
    pub kind: ClaimKind,
    /// mean error of `worse` − mean error of `better` (positive supports the claim), final epoch.
    pub difference: Option<f64>,
    pub two_se: Option<f64>,
    pub verdict: String,
    /// The paper's own numbers for the two rows: difference, when both are published.
    pub paper_difference: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub title: String,
    pub dataset: String,
    pub budget: String,
    /// What the budget means for this experiment's recipe, printed above every table.
    pub budget_note: String,
    pub command: String,
    /// The experiment's notes (what it shows, what the paper's figure shows).
    pub notes: Vec<String>,
    pub rows: Vec<RowResult>,
    pub claims: Vec<ClaimResult>,
}

/// Reads the finished runs of every row.
pub fn collect(
    exp: &Experiment,
    plans: &[(String, RowPlan)],
    budget: Budget,
    failures: &[(String, u64, String)],
    command: String,
) -> Result<Results> {
    let mut rows = Vec::new();
    for (row, (id, plan)) in exp.rows.iter().zip(plans) {
        let mut result = RowResult {
            id: id.clone(),
            model: row.model.clone(),
            params: None,
            lm: false,
            seeds_planned: 0,
            seeds: Vec::new(),
            final_error: None,
            best_error: None,
            paper: row.paper,
            paper_source: row.paper_source.clone(),
            replication: row.replication,
            unconfirmed: row.unconfirmed,
            note: None,
        };
        match plan {
            RowPlan::NotRun(why) => result.note = Some(format!("not run: {why}")),
            RowPlan::Runs(runs) => {
                result.seeds_planned = runs.len();
                if let Some(first) = runs.first() {
                    result.params = Some(report::count_params(&first.config.model));
                    result.lm = matches!(first.config.model.scheme, crate::SchemeConfig::LinearTwoStep(_));
                }
                for run in runs {
                    if let Some(seed) = finished(&run.dir, run.config.epochs, run.seed)? {
                        result.seeds.push(seed);
                    }
                }
                let failed: Vec<String> = failures
                    .iter()
                    .filter(|(r, _, _)| r == id)
                    .map(|(_, seed, why)| format!("seed {seed} failed: {why}"))
                    .collect();
                let missing = result.seeds_planned - result.seeds.len();
                result.note = if !failed.is_empty() {
                    Some(failed.join("; "))
                } else if missing > 0 {
                    Some(format!("{missing} of {} seeds unfinished", result.seeds_planned))
                } else {
                    None
                };
                let finals: Vec<f64> = result.seeds.iter().map(|s| s.final_error).collect();
                let bests: Vec<f64> = result.seeds.iter().map(|s| s.best_error).collect();
                result.final_error = Spread::of(&finals);
                result.best_error = Spread::of(&bests);
            }
        }
        rows.push(result);
    }
    let claims = exp
        .claims
        .iter()
        .map(|c| {
            let find = |id: &str| rows.iter().find(|r| r.id == id);
            let (b, w) = (find(&c.better), find(&c.worse));
            let (fb, fw) = (b.and_then(|r| r.final_error), w.and_then(|r| r.final_error));
            let paper_difference = match (b.and_then(|r| r.paper), w.and_then(|r| r.paper)) {
                (Some(pb), Some(pw)) => Some(pw - pb),
                _ => None,
            };
            let (difference, two_se, verdict) = judge(c.kind, fb, fw);
            ClaimResult {
                better: c.better.clone(),
                worse: c.worse.clone(),
                kind: c.kind,
                difference,
                two_se,
                verdict,
                paper_difference,
            }
        })
        .collect();
    let (epochs, schedule) = exp.row_preset(&exp.rows[0]).schedule();
    let scaled = budget.apply(epochs, &schedule);
    let budget_note = budget_note(budget, &exp.preset, epochs, &scaled);
    Ok(Results {
        title: exp.title.clone(),
        dataset: exp.dataset.clone(),
        budget: budget.to_string(),
        budget_note,
        command,
        notes: exp.note.iter().chain(exp.k_figure.as_ref().and_then(|f| f.note.as_ref())).cloned().collect(),
        rows,
        claims,
    })
}

/// The errors of a finished run in `dir` (state says all `epochs` are done), else `None`.
fn finished(dir: &Path, epochs: usize, seed: u64) -> Result<Option<SeedResult>> {
    let Some(last) = checkpoint::locate(dir, "last") else { return Ok(None) };
    if checkpoint::load_state(&last)?.epochs_done < epochs {
        return Ok(None);
    }
    let metrics = report::read_metrics(&dir.join("metrics.jsonl"))?;
    let metrics: Vec<_> = metrics.into_iter().filter(|m| m.epoch <= epochs).collect();
    let Some(last) = metrics.last() else {
        anyhow::bail!("{} has no metrics although its checkpoint says the run is finished", dir.display())
    };
    let best_acc = metrics.iter().map(|m| m.test_acc).fold(f64::NEG_INFINITY, f64::max);
    Ok(Some(SeedResult {
        seed,
        dir: dir.to_path_buf(),
        final_error: 100.0 * (1.0 - last.test_acc),
        best_error: 100.0 * (1.0 - best_acc),
    }))
}

/// (difference, 2·SE, verdict) of a claim from the two rows' final-error spreads.
pub fn judge(kind: ClaimKind, better: Option<Spread>, worse: Option<Spread>) -> (Option<f64>, Option<f64>, String) {
    let (Some(b), Some(w)) = (better, worse) else {
        return (None, None, "not run".into());
    };
    let diff = w.mean - b.mean;
    if b.n < 2 || w.n < 2 {
        return (Some(diff), None, "not decided: one seed, no spread".into());
    }
    let two_se = 2.0 * (b.std.powi(2) / b.n as f64 + w.std.powi(2) / w.n as f64).sqrt();
    let verdict = match kind {
        ClaimKind::Lower if diff > two_se => "holds",
        ClaimKind::Lower if diff < -two_se => "reversed",
        ClaimKind::Lower => "not resolved by the seed spread",
        ClaimKind::NotWorse if diff < -two_se => "fails",
        ClaimKind::NotWorse if diff > two_se => "holds (lower)",
        ClaimKind::NotWorse => "holds (within the seed spread)",
    };
    (Some(diff), Some(two_se), verdict.into())
}

fn budget_note(budget: Budget, preset: &str, epochs: usize, scaled: &super::budget::Scaled) -> String {
    let lr = match &scaled.schedule {
        crate::train::Schedule::Step { milestones, .. } => format!(
            "lr ÷10 at epochs {}",
            milestones.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")
        ),
        other => format!("{other:?} schedule"),
    };
    let subset = match (scaled.train_per_class, scaled.test_per_class) {
        (Some(tr), Some(te)) => format!("; {tr} training and {te} test images per class"),
        _ => String::new(),
    };
    if budget.is_full() {
        format!("Budget: full — the paper's protocol ({preset}: {epochs} epochs, {lr}).")
    } else {
        format!(
            "Budget: {budget} — {} of the recipe's {epochs} epochs ({preset}, {lr}{subset}). NOT the paper's \
             protocol: the errors are not comparable with the paper's numbers; compare orderings only.",
            scaled.epochs
        )
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2}"))
}

fn spread(s: Option<Spread>) -> String {
    s.map_or("–".into(), |s| if s.n > 1 { format!("{:.2} ± {:.2}", s.mean, s.std) } else { format!("{:.2}", s.mean) })
}

impl Results {
    /// `results.md`.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# {}\n", self.title);
        let _ = writeln!(md, "> **{}**\n", self.budget_note);
        let _ = writeln!(md, "Dataset `{}`. Made by `{}`.\n", self.dataset, self.command);
        for note in &self.notes {
            let _ = writeln!(md, "{note}\n");
        }
        let _ = writeln!(
            md,
            "Test error in %: mean ± sample std over the finished seeds; *final* = after the last epoch, *best* = \
             lowest of any epoch (the official code's model selection). Δ = final − paper.\n"
        );
        let b = &self.budget;
        let _ = writeln!(
            md,
            "| row | params | seeds | final error ({b} budget) | best error ({b} budget) | paper | Δ | replication | \
             per seed (final) | note |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
        for r in &self.rows {
            let delta = match (r.final_error, r.paper) {
                (Some(f), Some(p)) => format!("{:+.2}", f.mean - p),
                _ => "–".into(),
            };
            let paper = match (r.paper, r.unconfirmed) {
                (Some(p), true) => format!("{p:.2} (unconfirmed)"),
                (p, _) => pct(p),
            };
            let per_seed: Vec<String> = r.seeds.iter().map(|s| format!("s{}: {:.2}", s.seed, s.final_error)).collect();
            let _ = writeln!(
                md,
                "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} |",
                r.id,
                r.params.map_or("–".into(), report::table::thousands),
                r.seeds.len(),
                r.seeds_planned,
                spread(r.final_error),
                spread(r.best_error),
                paper,
                delta,
                pct(r.replication),
                per_seed.join(", "),
                r.note.as_deref().unwrap_or("")
            );
        }
        if !self.claims.is_empty() {
            let _ = writeln!(md, "\n## The paper's claims\n");
            let _ = writeln!(md, "> **{}**\n", self.budget_note);
            let _ = writeln!(
                md,
                "Difference = mean final error of the second row − of the first (positive: the claim's direction). \
                 A claim holds when the difference exceeds 2·SE of the seed spread.\n"
            );
            let _ = writeln!(md, "| claim | difference ({} budget) | 2·SE | paper's difference | verdict |", self.budget);
            let _ = writeln!(md, "|---|---:|---:|---:|---|");
            for c in &self.claims {
                let rel = match c.kind {
                    ClaimKind::Lower => "<",
                    ClaimKind::NotWorse => "≤",
                };
                let _ = writeln!(
                    md,
                    "| {} {rel} {} | {} | {} | {} | {} |",
                    c.better,
                    c.worse,
                    c.difference.map_or("–".into(), |d| format!("{d:+.2}")),
                    pct(c.two_se),
                    c.paper_difference.map_or("–".into(), |d| format!("{d:+.2}")),
                    c.verdict
                );
            }
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_mean_and_sample_std() {
        let s = Spread::of(&[8.0, 9.0, 10.0]).unwrap();
        assert_eq!((s.n, s.mean), (3, 9.0));
        assert!((s.std - 1.0).abs() < 1e-12);
        assert_eq!(Spread::of(&[7.5]).unwrap().std, 0.0);
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn claims_are_decided_by_twice_the_standard_error() {
        let s = |mean, std| Some(Spread { n: 3, mean, std });
        // SE = √(0.3²/3 + 0.3²/3) ≈ 0.245, 2·SE ≈ 0.49.
        assert_eq!(judge(ClaimKind::Lower, s(8.0, 0.3), s(8.6, 0.3)).2, "holds");
        assert_eq!(judge(ClaimKind::Lower, s(8.0, 0.3), s(8.3, 0.3)).2, "not resolved by the seed spread");
        assert_eq!(judge(ClaimKind::Lower, s(8.6, 0.3), s(8.0, 0.3)).2, "reversed");
        assert_eq!(judge(ClaimKind::NotWorse, s(8.3, 0.3), s(8.0, 0.3)).2, "holds (within the seed spread)");
        assert_eq!(judge(ClaimKind::NotWorse, s(8.6, 0.3), s(8.0, 0.3)).2, "fails");
        let (d, se, v) = judge(ClaimKind::Lower, s(8.0, 0.3), s(8.6, 0.3));
        assert!((d.unwrap() - 0.6).abs() < 1e-12);
        assert!((se.unwrap() - 2.0 * (0.18f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(v, "holds");
        let one = Some(Spread { n: 1, mean: 8.0, std: 0.0 });
        assert_eq!(judge(ClaimKind::Lower, one, s(9.0, 0.1)).2, "not decided: one seed, no spread");
        assert_eq!(judge(ClaimKind::Lower, None, s(9.0, 0.1)).2, "not run");
    }
}
