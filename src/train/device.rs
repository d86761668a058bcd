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

/// `Device::cuda(index)`, checked: the CUDA runtime (driver library, device, context) is brought up
/// here with one tiny tensor and a sync, so a machine without a GPU or driver gets an error message
/// instead of a panic deep inside the first training step. Burn/CubeCL panic on such failures; the
/// panic is caught at this boundary (with the default panic message and backtrace silenced while
/// probing) and returned as an error.
#[cfg(feature = "cuda")]
fn cuda(index: usize) -> anyhow::Result<Device> {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let probe = || -> Result<Device, String> {
        let device = Device::cuda(index);
        let t = Tensor::<1>::zeros([1], &device);
        let _ = t.into_data();
        device.sync().map_err(|e| format!("{e}"))?;
        Ok(device)
    };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = catch_unwind(AssertUnwindSafe(probe));
    std::panic::set_hook(hook);
    let reason = match outcome {
        Ok(Ok(device)) => return Ok(device),
        Ok(Err(e)) => e,
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".to_string()),
    };
    anyhow::bail!(
        "cannot use CUDA device {index}: {reason}\n(needs an NVIDIA GPU, the driver's libcuda.so on \
         the library path, e.g. LD_LIBRARY_PATH=/usr/local/nvidia/lib64, NVRTC (libnvrtc.so.13) and \
         the CUDA headers through CUDA_PATH; see scripts/gpu-check.sh)"
    )
}

#[cfg(not(feature = "cuda"))]
fn cuda(_index: usize) -> anyhow::Result<Device> {
    anyhow::bail!("this odenet was built without CUDA; rebuild with `cargo build --release --features cuda`")
}
