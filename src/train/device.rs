//! Parsing `--device`: `cpu` (Burn's flex backend) or `cuda[:N]` (CubeCL CUDA, cargo feature `cuda`).

use burn::prelude::*;

/// A device name the user can type.
pub fn parse_device(name: &str) -> anyhow::Result<Device> {
    match name {
        "cpu" | "flex" => Ok(Device::flex()),
        s if s == "cuda" || s.starts_with("cuda:") => {
            let index: usize = match s.strip_prefix("cuda:") {
                Some(i) => i.parse().map_err(|_| anyhow::anyhow!("bad CUDA index in '{s}'"))?,
                None => 0,
            };
            cuda(index)
        }
        other => anyhow::bail!("unknown device '{other}': use cpu, cuda or cuda:N"),
    }
}

#[cfg(feature = "cuda")]
fn cuda(index: usize) -> anyhow::Result<Device> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_index: usize) -> anyhow::Result<Device> {
    anyhow::bail!("this odenet was built without CUDA; rebuild with `cargo build --release --features cuda`")
}
