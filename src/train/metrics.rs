//! Per-epoch metrics (one JSON line each) and the terminal progress bar.

use crate::scheme::Learned;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Learning rate at the last step of the epoch.
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub train_seconds: f64,
    pub images_per_sec: f64,
    /// Share of the training time spent waiting for the next batch.
    pub data_wait_fraction: f64,
    /// Learned k_n per LM step (empty for Euler networks), in the order of `learned`.
    pub k: Vec<Vec<f32>>,
    /// Every learned coefficient with its position (absent in lines written before it existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub learned: Vec<Learned>,
}

/// A progress bar with loss, accuracy, images/s and ETA; silent when disabled.
pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    batch_size: usize,
    done: usize,
    /// Plain step lines on stderr (see [`step_log_every`]).
    log_every: Option<usize>,
    last: Instant,
    epoch: usize,
    epochs: usize,
    steps: usize,
}

/// `ODENET_STEP_LOG=N` (N ≥ 1): print a plain line on stderr for the first step of each epoch (its
/// own time, which includes run-time kernel compilation and autotuning on a GPU), every N-th step
/// and the last one, with or without `--quiet`. For logs without a terminal (GPU checks).
pub fn step_log_every() -> Option<usize> {
    std::env::var("ODENET_STEP_LOG").ok()?.trim().parse().ok().filter(|&n: &usize| n > 0)
}

impl Progress {
    pub fn new(enabled: bool, epoch: usize, epochs: usize, steps: usize, batch_size: usize) -> Self {
        let bar = enabled.then(|| {
            let bar = ProgressBar::new(steps as u64);
            let style = ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} {msg} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
            bar
        });
        let log_every = step_log_every();
        if log_every.is_some() {
            eprintln!("[odenet] epoch {}/{epochs}: {steps} steps of {batch_size}", epoch + 1);
        }
        let now = Instant::now();
        Self { bar, start: now, batch_size, done: 0, log_every, last: now, epoch, epochs, steps }
    }

    pub fn step(&mut self, loss: f64, acc: f64) {
        self.done += 1;
        if let Some(n) = self.log_every {
            let d = self.done;
            if d == 1 || d % n == 0 || d == self.steps {
                let total = self.start.elapsed().as_secs_f64();
                let rate = (d * self.batch_size) as f64 / total;
                eprintln!(
                    "[odenet] epoch {}/{} step {d}/{} {}{:.3} s, loss {loss:.4} acc {:.2}%, {total:.1} s in epoch, {rate:.0} img/s",
                    self.epoch + 1,
                    self.epochs,
                    self.steps,
                    if d == 1 { "first step " } else { "step " },
                    self.last.elapsed().as_secs_f64(),
                    acc * 100.0
                );
            }
            self.last = Instant::now();
        }
        if let Some(bar) = &self.bar {
            let rate = (self.done * self.batch_size) as f64 / self.start.elapsed().as_secs_f64();
            bar.set_message(format!("loss {loss:.4} acc {:.2}% {rate:.0} img/s", acc * 100.0));
            bar.inc(1);
        }
    }

    pub fn finish(&self, test_acc: f64) {
        if self.log_every.is_some() {
            eprintln!(
                "[odenet] epoch {}/{} done in {:.1} s, test acc {:.2}%",
                self.epoch + 1,
                self.epochs,
                self.start.elapsed().as_secs_f64(),
                test_acc * 100.0
            );
        }
        if let Some(bar) = &self.bar {
            let msg = bar.message();
            bar.finish_with_message(format!("{msg} | test acc {:.2}%", test_acc * 100.0));
        }
    }
}
