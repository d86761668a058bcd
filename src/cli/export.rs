use anyhow::Context;
use clap::Args;
use odenet::interchange::{self, Format, Naming};
use odenet::train::{checkpoint, durable};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run folder written by `odenet train` or `odenet import`.
    run: PathBuf,
    /// Output file (or give it with --out): .safetensors, or .pt/.pth as torch.save writes it.
    out: Option<PathBuf>,
    /// Output file, as the positional OUT.
    #[arg(long = "out", value_name = "OUT")]
    out_flag: Option<PathBuf>,
    /// Naming of the tensors: odenet (its parameter paths, as in model.safetensors), twin
    /// (scripts/odenet_torch.py's state_dict: BN weight/bias, Linear [out, in]) or official
    /// (2prime/LM-ResNet MResNet, loadable with strict=True: gamma/beta → weight/bias, fc
    /// transposed, lm_k → ks = 1 − k).
    #[arg(long, value_enum, default_value_t = Naming::Odenet)]
    to: Naming,
    /// File format; default: from OUT's extension.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Which checkpoint of the run: best or last.
    #[arg(long, default_value = "best")]
    checkpoint: String,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let out = match (args.out, args.out_flag) {
        (Some(out), None) | (None, Some(out)) => out,
        (Some(_), Some(_)) => anyhow::bail!("give the output file once: as OUT or with --out, not both"),
        (None, None) => anyhow::bail!("no output file: odenet export RUN OUT (.safetensors, .pt or .pth)"),
    };
    let format = match (args.format, Format::of_path(&out)) {
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) => anyhow::bail!(
            "{}: cannot tell the format from the extension; name it .safetensors, .pt or .pth, or pass --format",
            out.display()
        ),
    };
    let config = odenet::report::read_config(&args.run.join("config.json"))?;
    if args.to == Naming::Official {
        // Before loading anything: a model the official code cannot build is an error.
        interchange::official_layout(&config.model)?;
    }
    let dir = checkpoint::locate(&args.run, &args.checkpoint)
        .with_context(|| format!("no checkpoint '{}' in {}", args.checkpoint, args.run.display()))?;
    // Loading first checks that the checkpoint fits the config.
    let model = checkpoint::load_model(config.model.init(&burn::tensor::Device::flex()), &dir)?;
    let exported = interchange::export(&model, &config.model, args.to)?;
    durable::write(&out, &interchange::encode(&exported.tensors, format)?)?;
    println!("{} ({}) → {} ({} naming, {format:?})", dir.display(), config.model.name, out.display(), args.to);
    if args.to == Naming::Official {
        let layout = interchange::official_layout(&config.model)?;
        println!("load with {}.load_state_dict(torch.load(OUT, weights_only=True))", layout.constructor(config.model.num_classes));
    }
    if !exported.filled.is_empty() {
        println!("{} tensors the model does not hold, written for strict loading:", exported.filled.len());
        for f in &exported.filled {
            println!("  {}: {}", f.name, f.note);
        }
    }
    Ok(())
}
