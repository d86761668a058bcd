use anyhow::Context;
use clap::Args;
use odenet::train::{checkpoint, durable};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run folder written by `odenet train` or `odenet import`.
    run: PathBuf,
    /// Output .safetensors file: float32 weights and BN statistics under the parameter names of
    /// odenet's PyTorch twin (scripts/odenet_torch.py).
    #[arg(long)]
    out: PathBuf,
    /// Which checkpoint of the run: best or last.
    #[arg(long, default_value = "best")]
    checkpoint: String,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.out.extension().is_some_and(|e| e == "safetensors"),
        "{}: the output must end in .safetensors",
        args.out.display()
    );
    let config = odenet::report::read_config(&args.run.join("config.json"))?;
    let dir = checkpoint::locate(&args.run, &args.checkpoint)
        .with_context(|| format!("no checkpoint '{}' in {}", args.checkpoint, args.run.display()))?;
    // Loading first checks that the checkpoint fits the config.
    let model = checkpoint::load_model(config.model.init(&burn::tensor::Device::flex()), &dir)?;
    durable::write(&args.out, &checkpoint::weights_bytes(&model)?)?;
    println!("{} ({}) → {}", dir.display(), config.model.name, args.out.display());
    Ok(())
}
