use anyhow::Context;
use clap::Args;
use odenet::train::{self, checkpoint};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Run folder written by `odenet train` (reads its config.json).
    run: PathBuf,
    /// Which checkpoint of the run: best or last.
    #[arg(long, default_value = "best")]
    checkpoint: String,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// Batch size for evaluation.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    #[command(flatten)]
    kernels: super::KernelArgs,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    args.kernels.apply();
    let config_path = args.run.join("config.json");
    let mut config = odenet::report::read_config(&config_path)?;
    if let Some(device) = args.device {
        config.device = device;
    }
    let dir = checkpoint::locate(&args.run, &args.checkpoint)
        .with_context(|| format!("no checkpoint '{}' in {}", args.checkpoint, args.run.display()))?;
    let device = train::parse_device(&config.device)?;
    let model = checkpoint::load_model(config.model.init(&device), &dir)?;
    // The same test pipeline as training used (CIFAR/IDX/folders in memory, ImageNet lazily).
    let loader = train::make_test_loader(&config, args.batch_size)?;
    let (loss, acc) = train::evaluate(&model, loader.as_ref(), &device)?;
    let report = serde_json::json!({
        "run": args.run, "checkpoint": args.checkpoint, "model": config.model.name,
        "test_images": loader.len(), "test_loss": loss, "test_acc": acc,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
