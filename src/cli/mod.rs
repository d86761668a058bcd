//! Command-line interface: one file per subcommand, each mapping flags to a library call.

mod analyze;
mod bench;
mod download;
mod eval;
mod export;
mod import;
mod models;
mod predict;
mod report;
mod reproduce;
mod train;

use clap::{Parser, Subcommand};
use odenet::kernels::{self, Kernels};

/// Deep networks as numerical schemes for ODEs: ResNet = forward Euler, LM-ResNet = a linear
/// two-step method (Lu, Zhong, Li, Dong, ICML 2018).
#[derive(Parser, Debug)]
#[command(name = "odenet", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model, evaluating on the test set after every epoch.
    Train(train::TrainArgs),
    /// Evaluate a trained checkpoint on a test set.
    Eval(eval::EvalArgs),
    /// Logits, probabilities and labels of a checkpoint on a test set (.safetensors or .npy).
    Predict(predict::PredictArgs),
    /// Write a checkpoint's weights as safetensors under the PyTorch twin's parameter names.
    Export(export::ExportArgs),
    /// Make a run folder from a PyTorch state dict (.pt/.pth or safetensors; odenet, twin or
    /// official LM-ResNet naming) and a config.
    Import(import::ImportArgs),
    /// List the registered architectures with their parameter counts and schemes.
    Models(models::ModelsArgs),
    /// Download a dataset's official archive and verify its checksum.
    Download(download::DownloadArgs),
    /// Learned k_n of an LM checkpoint read as a modified equation, with zero-stability.
    Analyze(analyze::AnalyzeArgs),
    /// Figures (curves, k_n by block, error vs parameters) and a table over run folders.
    Report(report::ReportArgs),
    /// Time training and inference steps on synthetic data (images/s, ms/step).
    Bench(bench::BenchArgs),
    /// Train an experiment of the paper (experiments/*.toml) over seeds, resumably, and
    /// compare it with the published numbers (results.md, figures).
    Reproduce(reproduce::ReproduceArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Export(a) => export::run(a),
        Command::Import(a) => import::run(a),
        Command::Models(a) => models::run(a),
        Command::Download(a) => download::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Report(a) => report::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Reproduce(a) => reproduce::run(a),
    }
}

/// `--kernels`, shared by the commands that compute (train, eval, bench).
#[derive(clap::Args, Debug)]
pub struct KernelArgs {
    /// Kernels: fast (on the CPU oneDNN's convolutions, falling back to flex with a warning where
    /// it is not installed; on GPU devices odenet's fused LM-step kernel) or flex (Burn's own
    /// operations everywhere, the reference).
    #[arg(long, value_enum, default_value = "fast")]
    kernels: Kernels,
}

impl KernelArgs {
    /// Selects the kernels for this process; returns the ones that will run.
    pub fn apply(&self) -> Kernels {
        kernels::set_kernels(self.kernels)
    }
}

/// A run's checkpoint, loaded for evaluation: the flags `eval` and `predict` share.
#[derive(clap::Args, Debug)]
pub struct CheckpointArgs {
    /// Run folder written by `odenet train` (reads its config.json).
    pub run: std::path::PathBuf,
    /// Which checkpoint of the run: best or last.
    #[arg(long, default_value = "best")]
    pub checkpoint: String,
    /// Device: cpu, cuda, cuda:N or wgpu.
    #[arg(long)]
    pub device: Option<String>,
    /// Batch size for evaluation.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    #[command(flatten)]
    pub kernels: KernelArgs,
}

impl CheckpointArgs {
    /// The run's config (device overridden), the model with the checkpoint's weights and its device.
    pub fn load(
        &self,
        data_dir: Option<std::path::PathBuf>,
    ) -> anyhow::Result<(odenet::train::TrainConfig, odenet::Net, burn::tensor::Device)> {
        use anyhow::Context;
        use odenet::train::{self, checkpoint};
        anyhow::ensure!(self.batch_size >= 1, "--batch-size must be at least 1");
        self.kernels.apply();
        let mut config = odenet::report::read_config(&self.run.join("config.json"))?;
        if let Some(device) = &self.device {
            config.device = device.clone();
        }
        if let Some(dir) = data_dir {
            config.data.path = dir;
        }
        let dir = checkpoint::locate(&self.run, &self.checkpoint)
            .with_context(|| format!("no checkpoint '{}' in {}", self.checkpoint, self.run.display()))?;
        let device = train::parse_device(&config.device)?;
        let model = checkpoint::load_model(config.model.init(&device), &dir)?;
        Ok((config, model, device))
    }
}
