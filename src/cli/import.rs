use clap::Args;
use odenet::interchange::{self, Naming};
use odenet::train::{checkpoint, checkpoint::TrainState, durable};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A PyTorch state dict: `.pt`/`.pth` (torch.save of a state_dict) or `.safetensors`, any
    /// float dtype (F64, F32, F16, BF16; num_batches_tracked counters are ignored).
    weights: PathBuf,
    /// The model and recipe: a run folder or its config.json (e.g. from a short `odenet train`).
    #[arg(long)]
    config: PathBuf,
    /// New run folder: config.json, best/ and last/ (epoch 0), ready for `eval`, `predict`,
    /// `analyze` and `train --resume` (fine-tuning with the config's recipe).
    #[arg(long)]
    out: PathBuf,
    /// Naming of the tensors: odenet (a run's model.safetensors, `odenet export`), twin
    /// (scripts/odenet_torch.py's state_dict) or official (2prime/LM-ResNet MResNet: BN
    /// weight/bias → gamma/beta, fc transposed, ks → lm_k = 1 − ks). Default: detected.
    #[arg(long, value_enum)]
    from: Option<Naming>,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let config_path =
        if args.config.is_dir() { args.config.join("config.json") } else { args.config.clone() };
    let config = odenet::report::read_config(&config_path)?;
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        anyhow::bail!("{} is not empty: import into a new folder", args.out.display());
    }
    let device = burn::tensor::Device::flex();
    let imported = interchange::import(config.model.init(&device), &args.weights, args.from)?;
    std::fs::create_dir_all(&args.out)?;
    durable::write_json(&args.out.join("config.json"), &config)?;
    let state = TrainState { epochs_done: 0, best_test_acc: 0.0, best_epoch: 0 };
    let model = &imported.model;
    checkpoint::save(&args.out, "best", model, None, &state)?;
    checkpoint::save(&args.out, "last", model, Some(&config.optim.init(model)), &state)?;
    println!(
        "{} ({} naming) → {} ({})",
        args.weights.display(),
        imported.naming,
        args.out.display(),
        config.model.name
    );
    if !imported.unused.is_empty() {
        println!("{} tensors of the file not used by the model:", imported.unused.len());
        for u in &imported.unused {
            println!("  {}: {}", u.name, u.reason);
        }
    }
    Ok(())
}
