use clap::Args;
use odenet::data::{self, DatasetKind};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// Dataset: cifar10, cifar100 or fashion-mnist.
    dataset: DatasetKind,
    /// Folder to download and extract into.
    #[arg(long, default_value = "data")]
    dir: PathBuf,
    /// Base URL of a mirror holding the same files (default: the official locations).
    #[arg(long)]
    mirror: Option<String>,
}

pub fn run(args: DownloadArgs) -> anyhow::Result<()> {
    let path = data::download_from(args.dataset.clone(), &args.dir, args.mirror.as_deref())?;
    println!("{} ready in {} (checksums verified)", args.dataset, path.display());
    Ok(())
}
