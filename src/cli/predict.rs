use anyhow::Context;
use clap::Args;
use odenet::train::{self, checkpoint};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Run folder written by `odenet train` (reads its config.json).
    run: PathBuf,
    /// Output: FILE.safetensors (logits, probabilities, labels) or FILE.npy (writes
    /// FILE.logits.npy, FILE.probabilities.npy and FILE.labels.npy).
    #[arg(long)]
    out: PathBuf,
    /// Folder of the dataset (same kind as the run's; default: the run's own). Its test split
    /// is predicted, in file order.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Which checkpoint of the run: best or last.
    #[arg(long, default_value = "best")]
    checkpoint: String,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch_size >= 1, "--batch-size must be at least 1");
    let mut config = odenet::report::read_config(&args.run.join("config.json"))?;
    if let Some(device) = args.device {
        config.device = device;
    }
    if let Some(dir) = args.data_dir {
        config.data.path = dir;
    }
    let dir = checkpoint::locate(&args.run, &args.checkpoint)
        .with_context(|| format!("no checkpoint '{}' in {}", args.checkpoint, args.run.display()))?;
    let device = train::parse_device(&config.device)?;
    let model = checkpoint::load_model(config.model.init(&device), &dir)?;
    let loader = train::make_test_loader(&config, args.batch_size)?;
    let predictions = train::predict(&model, loader.as_ref(), &device)?;
    let files = predictions.save(&args.out)?;
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    println!(
        "{} images, {} classes, accuracy {:.2}%: wrote {}",
        predictions.len(),
        predictions.classes,
        predictions.accuracy() * 100.0,
        names.join(", ")
    );
    Ok(())
}
