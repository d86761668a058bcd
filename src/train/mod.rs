//! Training and evaluation: config, schedule, checkpoints, the loop.

pub mod checkpoint;
mod config;
mod device;
mod fit;
mod metrics;

pub use config::{DataConfig, OptimConfig, Preset, Schedule, TrainConfig};
pub use device::parse_device;
pub use fit::{FitOptions, RunSummary, evaluate, fit, load_data, make_loaders, make_test_loader, optimizer};
pub use metrics::EpochMetrics;
