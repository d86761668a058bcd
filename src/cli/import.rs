use clap::Args;
use odenet::train::{self, checkpoint, checkpoint::TrainState, durable};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A .safetensors state dict under odenet's / its PyTorch twin's parameter names, any float
    /// dtype (F64, F32, F16, BF16; PyTorch's num_batches_tracked counters are ignored).
    weights: PathBuf,
    /// The model and recipe: a run folder or its config.json (e.g. from a short `odenet train`).
    #[arg(long)]
    config: PathBuf,
    /// New run folder: config.json, best/ and last/ (epoch 0), ready for `eval`, `predict`,
    /// `analyze` and `train --resume` (fine-tuning with the config's recipe).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let config_path =
        if args.config.is_dir() { args.config.join("config.json") } else { args.config.clone() };
    let config = odenet::report::read_config(&config_path)?;
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        anyhow::bail!("{} is not empty: import into a new folder", args.out.display());
    }
    let device = burn::tensor::Device::flex();
    let model = checkpoint::load_model(config.model.init(&device), &args.weights)?;
    std::fs::create_dir_all(&args.out)?;
    durable::write_json(&args.out.join("config.json"), &config)?;
    let state = TrainState { epochs_done: 0, best_test_acc: 0.0, best_epoch: 0 };
    checkpoint::save(&args.out, "best", &model, None, &state)?;
    checkpoint::save(&args.out, "last", &model, Some(&train::optimizer(&config)), &state)?;
    println!("{} → {} ({})", args.weights.display(), args.out.display(), config.model.name);
    Ok(())
}
