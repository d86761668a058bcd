use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run folders written by `odenet train`.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Folder for curves.png, k_by_block.png, error_vs_params.png and runs.md.
    #[arg(long, default_value = "report")]
    out: PathBuf,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let report = odenet::report::write_report(&args.runs, &args.out)?;
    for why in &report.skipped {
        eprintln!("warning: skipped a run without metrics: {why}");
    }
    print!("{}", report.table);
    println!();
    for f in &report.files {
        println!("wrote {}", f.display());
    }
    Ok(())
}
