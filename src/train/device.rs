//! Parsing `--device`: `cpu` (Burn's flex backend), `cuda[:N]` (CubeCL CUDA, cargo feature `cuda`)
//! or `wgpu` (CubeCL on Vulkan, Metal or DX12 through wgpu, cargo feature `wgpu`).
//!
//! A GPU device is brought up here, once, with errors instead of panics: Burn/CubeCL panic deep
//! inside the first tensor operation when a driver is missing, so each GPU constructor is probed
//! at this boundary and a failure becomes a message that says what to install.

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
        "wgpu" => wgpu_device().map(|(device, _)| device),
        other => anyhow::bail!("unknown device '{other}': use cpu, cuda, cuda:N or wgpu"),
    }
}

/// Runs `probe` with panics caught (and the default panic message silenced while it runs): a
/// panic becomes `Err` with its message.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn without_panics<T>(probe: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = catch_unwind(AssertUnwindSafe(probe));
    std::panic::set_hook(hook);
    match outcome {
        Ok(result) => result,
        Err(payload) => Err(payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".to_string())),
    }
}

/// `Device::cuda(index)`, checked: the CUDA runtime (driver library, device, context) is brought up
/// here with one tiny tensor and a sync, so a machine without a GPU or driver gets an error message
/// instead of a panic deep inside the first training step.
#[cfg(feature = "cuda")]
fn cuda(index: usize) -> anyhow::Result<Device> {
    without_panics(|| {
        let device = Device::cuda(index);
        let _ = Tensor::<1>::zeros([1], &device).into_data();
        device.sync().map_err(|e| format!("{e}"))?;
        Ok(device)
    })
    .map_err(|reason| {
        anyhow::anyhow!(
            "cannot use CUDA device {index}: {reason}\n(needs an NVIDIA GPU, the driver's libcuda.so \
             on the library path, e.g. LD_LIBRARY_PATH=/usr/local/nvidia/lib64, NVRTC \
             (libnvrtc.so.13) and the CUDA headers through CUDA_PATH; see scripts/gpu-check.sh)"
        )
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda(_index: usize) -> anyhow::Result<Device> {
    anyhow::bail!("this odenet was built without CUDA; rebuild with `cargo build --release --features cuda`")
}

/// The wgpu device (the first graphics API in CubeCL's order, Vulkan then GL on Linux, with an
/// adapter; Metal on macOS; `CUBECL_WGPU_DEFAULT_DEVICE` picks another adapter) and a description
/// of its adapter, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) on Vulkan, Cpu, llvmpipe: Mesa 22.3.6`.
/// Initialised once per process: later calls return the same device (or the same error).
#[cfg(feature = "wgpu")]
pub fn wgpu_device() -> anyhow::Result<(Device, String)> {
    use std::sync::OnceLock;
    static WGPU: OnceLock<Result<(Device, String), String>> = OnceLock::new();
    let init = || {
        without_panics(|| {
            let (device, setup) = Device::wgpu_options().init_with_setup().map_err(|e| e.to_string())?;
            let info = setup.adapter.get_info();
            let adapter = format!(
                "{} on {:?}, {:?}, {}: {}",
                info.name, info.backend, info.device_type, info.driver, info.driver_info
            );
            let _ = Tensor::<1>::zeros([1], &device).into_data();
            device.sync().map_err(|e| format!("{e}"))?;
            Ok((device, adapter))
        })
    };
    WGPU.get_or_init(init).clone().map_err(|reason| {
        anyhow::anyhow!(
            "cannot use the wgpu device: {reason}\n(needs a Vulkan, Metal or DX12 driver; on Debian/Ubuntu \
             without a GPU `apt-get install mesa-vulkan-drivers libvulkan1` provides Mesa's software \
             Vulkan driver, lavapipe)"
        )
    })
}

/// Without the `wgpu` feature: an error that says how to build it.
#[cfg(not(feature = "wgpu"))]
pub fn wgpu_device() -> anyhow::Result<(Device, String)> {
    anyhow::bail!("this odenet was built without wgpu; rebuild with `cargo build --release --features wgpu`")
}
