use anyhow::{Context, bail};
use clap::Args;
use odenet::analysis;
use odenet::report::{plot, read_config};
use odenet::train::checkpoint;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Run folder, checkpoint folder (<run>/best, <run>/last) or model.safetensors file.
    path: PathBuf,
    /// Which checkpoint of a run folder to read: best or last.
    #[arg(long, default_value = "best")]
    checkpoint: String,
    /// The run's config.json (default: found next to or above PATH).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder for analysis.json and k_by_block.png (default: the run folder).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// (config.json, run folder) for PATH: `--config`, or the first config.json in PATH's folder or
/// the one above it.
fn find_config(args: &AnalyzeArgs) -> anyhow::Result<(PathBuf, PathBuf)> {
    let path = &args.path;
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    if let Some(config) = &args.config {
        let run = config.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        return Ok((config.clone(), run));
    }
    let start = if path.is_file() { path.parent().map(Path::to_path_buf) } else { Some(path.clone()) };
    let run = start
        .iter()
        .flat_map(|d| d.ancestors().take(2))
        .find(|d| d.join("config.json").is_file())
        .map(Path::to_path_buf)
        .with_context(|| format!("no config.json in or above {}: pass --config", path.display()))?;
    Ok((run.join("config.json"), run))
}

/// The weights PATH names: a file, a checkpoint folder, or a run folder's `--checkpoint`.
fn find_weights(args: &AnalyzeArgs) -> anyhow::Result<PathBuf> {
    let path = &args.path;
    if path.is_file() {
        Ok(path.clone())
    } else if path.join("model.safetensors").is_file() {
        Ok(path.join("model.safetensors"))
    } else if path.join("config.json").is_file() {
        let dir = checkpoint::locate(path, &args.checkpoint)
            .with_context(|| format!("no checkpoint '{}' in {}", args.checkpoint, path.display()))?;
        Ok(dir.join("model.safetensors"))
    } else {
        bail!(
            "{} is neither a run folder (config.json) nor a checkpoint folder (model.safetensors)",
            path.display()
        )
    }
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let (config_path, run_dir) = find_config(&args)?;
    let config = read_config(&config_path)?;
    let model = &config.model;
    if analysis::lm_steps(model).is_empty() {
        println!(
            "{} steps with {}: it has no learned k_n to analyse (ResNet's modified equation is {}).",
            model.name,
            model.scheme.describe(),
            analysis::RESNET_EQUATION
        );
        return Ok(());
    }
    let weights = find_weights(&args)?;
    let device = burn::tensor::Device::flex();
    let net = checkpoint::load_model(model.init(&device), &weights).with_context(|| {
        format!("loading {} with the model of {}", weights.display(), config_path.display())
    })?;
    let result = analysis::analyse(model, &net.learned())?;
    println!("weights: {}", weights.display());
    print!("{}", analysis::render_table(&result));

    let out = args.out.clone().unwrap_or(run_dir);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut json = serde_json::to_value(&result)?;
    json["weights"] = serde_json::json!(weights);
    json["config"] = serde_json::json!(config_path);
    let json_path = out.join("analysis.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    let png = out.join("k_by_block.png");
    let title = format!("Learned k_n by block: {}", model.name);
    plot::k_by_block(&png, &title, &[plot::KSeries { label: model.name.clone(), analysis: &result }])?;
    println!("wrote {} and {}", json_path.display(), png.display());
    Ok(())
}
