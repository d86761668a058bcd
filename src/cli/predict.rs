use clap::Args;
use odenet::train;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    checkpoint: super::CheckpointArgs,
    /// Output: FILE.safetensors (logits, probabilities, labels) or FILE.npy (writes
    /// FILE.logits.npy, FILE.probabilities.npy and FILE.labels.npy).
    #[arg(long)]
    out: PathBuf,
    /// Folder of the dataset (same kind as the run's; default: the run's own). Its test split
    /// is predicted, in file order.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let (config, model, device) = args.checkpoint.load(args.data_dir)?;
    let loader = train::make_test_loader(&config, args.checkpoint.batch_size)?;
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
