use clap::Args;
use odenet::train;

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    checkpoint: super::CheckpointArgs,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let args = args.checkpoint;
    let (config, model, device) = args.load(None)?;
    // The same test pipeline as training used (CIFAR/IDX/folders in memory, ImageNet lazily).
    let loader = train::make_test_loader(&config, args.batch_size)?;
    let (loss, acc) = train::evaluate(&model, loader.as_ref(), &device, config.precision)?;
    let report = serde_json::json!({
        "run": args.run, "checkpoint": args.checkpoint, "model": config.model.name,
        "test_images": loader.len(), "test_loss": loss, "test_acc": acc,
        "precision": config.precision,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
