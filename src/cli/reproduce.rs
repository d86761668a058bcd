use anyhow::Context;
use clap::Args;
use odenet::reproduce::{self, Budget, Experiment};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// Experiment file, e.g. experiments/cifar10-lm-resnet.toml.
    experiment: PathBuf,
    /// Seeds per row (default: the experiment's).
    #[arg(long)]
    seeds: Option<usize>,
    /// Only these rows, by id (e.g. resnet20,lm-resnet20); claims between them are kept.
    #[arg(long, value_delimiter = ',')]
    rows: Option<Vec<String>>,
    /// full (the paper's protocol), short (a tenth of the epochs, milestones scaled), smoke (2
    /// epochs on 20 images per class) or epochs=N. Printed in every table.
    #[arg(long, default_value = "full")]
    budget: Budget,
    /// Devices to train on, e.g. cpu, cuda:0,cuda:1 or wgpu (one run per device at a time).
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    device: Vec<String>,
    /// Runs trained at the same time (default: one per device).
    #[arg(long)]
    jobs: Option<usize>,
    /// Where the dataset is (default: its usual place; CIFAR-10 may also be an image folder or
    /// a .tar.gz of one, e.g. cifar10-jpeg.tar.gz).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Output folder: one run folder per row and seed, results.md, results.json, figures.
    #[arg(long)]
    out: PathBuf,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    kernels: super::KernelArgs,
}

pub fn run(args: ReproduceArgs) -> anyhow::Result<()> {
    let exp = Experiment::load(&args.experiment)?;
    args.kernels.apply();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let opts = reproduce::Options {
        seeds: args.seeds,
        rows: args.rows,
        budget: args.budget,
        devices: args.device,
        jobs: args.jobs,
        data_dir: args.data_dir,
        out: args.out.clone(),
        progress: !args.quiet,
        command,
    };
    let report = reproduce::reproduce(&exp, &opts).with_context(|| format!("reproducing {}", args.experiment.display()))?;
    println!("{}", report.results.markdown());
    println!(
        "{} runs trained, {} found finished; written: {}",
        report.trained,
        report.skipped,
        report.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    if !report.failures.is_empty() {
        anyhow::bail!(
            "{} run(s) failed (the others are in the results): {}",
            report.failures.len(),
            report.failures.iter().map(|(r, s, e)| format!("{r} seed {s}: {e}")).collect::<Vec<_>>().join("; ")
        );
    }
    Ok(())
}
