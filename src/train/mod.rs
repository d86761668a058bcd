//! Training and evaluation: config, schedule, checkpoints, the loop.

pub mod checkpoint;
pub mod durable;
mod config;
mod device;
mod fit;
mod metrics;
mod predict;

pub use config::{DataConfig, KDecayTarget, Normalization, OptimConfig, Preset, Schedule, TrainConfig};
pub use device::{parse_device, wgpu_device};
pub use fit::{FitOptions, RunSummary, decay_k_toward_one, evaluate, fit, load_data, make_loaders, make_test_loader, optimizer};
pub use metrics::{EpochMetrics, step_log_every};
pub use predict::{Predictions, predict};
