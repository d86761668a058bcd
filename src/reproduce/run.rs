//! Carrying out planned runs so that an interrupted reproduction continues where it stopped:
//! a finished run is never trained again, an interrupted one resumes from its last checkpoint
//! (bit-identical to an uninterrupted run, see `train::fit`), a folder without a checkpoint
//! starts over. `--jobs` workers take runs from one queue; worker `w` trains on device
//! `devices[w % devices.len()]`.

use super::plan::PlannedRun;
use crate::train::{self, FitOptions, TrainConfig, checkpoint};
use anyhow::{Context, Result, bail};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where a run folder stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Nothing usable: train from epoch 1.
    Fresh,
    /// A checkpoint after this many epochs: resume.
    Resume(usize),
    /// All epochs done.
    Finished,
}

/// Reads the folder of `run`. A folder written for another configuration is an error (device
/// and data path do not count: a run may resume on another device, with the data moved).
pub fn status(run: &PlannedRun) -> Result<RunStatus> {
    let config_path = run.dir.join("config.json");
    if !config_path.exists() {
        return Ok(RunStatus::Fresh);
    }
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    // A config.json cut short by a kill is rewritten by `fit`; the checkpoint decides.
    if let Ok(saved) = serde_json::from_str::<TrainConfig>(&text) {
        let differing = differing_fields(&saved, &run.config)?;
        if !differing.is_empty() {
            bail!(
                "{} was written for another configuration (differs in: {}); use another --out, or \
                 delete {} to train this run again",
                config_path.display(),
                differing.join(", "),
                run.dir.display()
            );
        }
    }
    let Some(last) = checkpoint::locate(&run.dir, "last") else { return Ok(RunStatus::Fresh) };
    let state = checkpoint::load_state(&last)?;
    Ok(if state.epochs_done >= run.config.epochs { RunStatus::Finished } else { RunStatus::Resume(state.epochs_done) })
}

/// Top-level (and `model.`/`data.`/`optim.`) fields in which two configs differ, device and
/// data path aside.
fn differing_fields(a: &TrainConfig, b: &TrainConfig) -> Result<Vec<String>> {
    let (mut a, mut b) = (a.clone(), b.clone());
    for c in [&mut a, &mut b] {
        c.device.clear();
        c.data.path.clear();
    }
    let (a, b) = (serde_json::to_value(&a)?, serde_json::to_value(&b)?);
    let mut out = Vec::new();
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        for (key, va) in a {
            let vb = b.get(key).unwrap_or(&serde_json::Value::Null);
            match (va.as_object(), vb.as_object()) {
                (Some(oa), Some(ob)) if va != vb => {
                    for (sub, sa) in oa {
                        if ob.get(sub) != Some(sa) {
                            out.push(format!("{key}.{sub}"));
                        }
                    }
                }
                _ if va != vb => out.push(key.clone()),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// How one run ended in this invocation.
#[derive(Debug)]
pub enum Outcome {
    /// Finished before this invocation: not trained again.
    AlreadyFinished,
    /// Trained (from scratch, or resumed after this many epochs) to the end.
    Trained { resumed_from: usize, seconds: f64 },
    Failed(String),
}

/// Runs every run of `runs` (in order, `jobs` at a time) and says how each ended.
pub fn execute(runs: Vec<PlannedRun>, devices: &[String], jobs: usize, progress: bool) -> Vec<(PlannedRun, Outcome)> {
    let total = runs.len();
    let epochs_left = runs.iter().map(|r| r.config.epochs).sum();
    let queue = Mutex::new(runs.into_iter().collect::<VecDeque<_>>());
    let tally = Mutex::new(Tally { done: 0, total, epochs_left, trained: (0, 0.0), started: Instant::now() });
    let results = Mutex::new(Vec::new());
    let jobs = jobs.max(1);
    std::thread::scope(|scope| {
        for worker in 0..jobs {
            let device = devices[worker % devices.len().max(1)].clone();
            let (queue, tally, results) = (&queue, &tally, &results);
            scope.spawn(move || {
                loop {
                    let Some(mut run) = queue.lock().map(|mut q| q.pop_front()).ok().flatten() else { break };
                    run.config.device = device.clone();
                    let started = Instant::now();
                    let outcome = match one(&run, progress && jobs == 1) {
                        Ok(None) => Outcome::AlreadyFinished,
                        Ok(Some(resumed_from)) => {
                            Outcome::Trained { resumed_from, seconds: started.elapsed().as_secs_f64() }
                        }
                        Err(e) => Outcome::Failed(format!("{e:#}")),
                    };
                    if let Ok(mut t) = tally.lock() {
                        t.report(&run, &outcome, jobs);
                    }
                    if let Ok(mut r) = results.lock() {
                        r.push((run, outcome));
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by(|a, b| (a.0.row.clone(), a.0.seed).cmp(&(b.0.row.clone(), b.0.seed)));
    results
}

/// Trains `run` to its end. `None`: it was already finished; `Some(n)`: trained after `n`
/// epochs found done.
fn one(run: &PlannedRun, progress: bool) -> Result<Option<usize>> {
    let status = status(run)?;
    let resumed_from = match status {
        RunStatus::Finished => return Ok(None),
        RunStatus::Resume(n) => n,
        RunStatus::Fresh => {
            wipe(&run.dir)?;
            0
        }
    };
    let opts = FitOptions { resume: resumed_from > 0, progress, ..Default::default() };
    train::fit(&run.config, &run.dir, &opts).with_context(|| format!("training {}", run.dir.display()))?;
    Ok(Some(resumed_from))
}

/// Removes what a run killed before its first checkpoint left behind.
fn wipe(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    Ok(())
}

/// Runs done so far and the time the trained epochs took, for the progress line and its ETA.
struct Tally {
    done: usize,
    total: usize,
    /// Epochs of the runs not reported yet.
    epochs_left: usize,
    /// Epochs trained in this invocation and the seconds they took.
    trained: (usize, f64),
    started: Instant,
}

impl Tally {
    fn report(&mut self, run: &PlannedRun, outcome: &Outcome, jobs: usize) {
        self.done += 1;
        self.epochs_left = self.epochs_left.saturating_sub(run.config.epochs);
        let what = match outcome {
            Outcome::AlreadyFinished => "finished earlier, not trained again".to_string(),
            Outcome::Trained { resumed_from, seconds } => {
                self.trained.0 += run.config.epochs.saturating_sub(*resumed_from);
                self.trained.1 += seconds;
                let from = if *resumed_from > 0 { format!(", resumed after epoch {resumed_from}") } else { String::new() };
                format!("trained in {}{from}", hms(*seconds))
            }
            Outcome::Failed(e) => format!("FAILED: {e}"),
        };
        let left = self.total - self.done;
        let eta = match (left, self.trained) {
            (0, _) => String::new(),
            (_, (0, _)) => " · ETA after the first trained run".to_string(),
            (_, (epochs, seconds)) => {
                let per_epoch = seconds / epochs as f64;
                format!(" · ETA {}", hms(per_epoch * self.epochs_left as f64 / jobs.min(left) as f64))
            }
        };
        eprintln!(
            "[reproduce {}/{} runs · {} elapsed{eta}] {} seed {}: {what}",
            self.done,
            self.total,
            hms(self.started.elapsed().as_secs_f64()),
            run.row,
            run.seed
        );
    }
}

/// `1h02m`, `4m10s`, `12s`.
pub fn hms(seconds: f64) -> String {
    let s = Duration::from_secs_f64(seconds.max(0.0)).as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::hms;

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(hms(12.4), "12s");
        assert_eq!(hms(250.0), "4m10s");
        assert_eq!(hms(3720.0), "1h02m");
    }
}
