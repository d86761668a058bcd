//! Training and evaluation: config, schedule, checkpoints, the loop.

pub mod checkpoint;
pub mod durable;
mod config;
mod device;
mod fit;
mod metrics;
mod optim;
mod predict;

pub use config::{DataConfig, Preset, Schedule, TrainConfig};
pub use crate::data::Normalization;
pub use device::{parse_device, wgpu_device};
pub use fit::{FitOptions, RunSummary, evaluate, fit, load_data, loss, make_loaders, make_test_loader};
pub use metrics::{EpochMetrics, step_log_every};
pub use optim::{KDecayTarget, OptimConfig};
pub use predict::{Predictions, predict};
