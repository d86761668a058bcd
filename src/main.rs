//! `odenet`: train, evaluate, list and download — a thin layer over the `odenet` library.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`odenet models | head`) like other Unix tools, instead of
    // panicking inside println!.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    tune_allocator();
    // Loads oneDNN (if installed) now, while no other thread exists: loading sets OpenMP's
    // environment. Whether it is used is decided by `--kernels`.
    let _ = odenet::kernels::fast_available();
    // Test-only fault injection (see odenet::train::durable): abort at the N-th file write.
    if let Some(n) = std::env::var("ODENET_FAULT_AT").ok().and_then(|v| v.parse().ok()) {
        odenet::train::durable::arm_fault(n, true);
    }
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Keeps large activation buffers in the heap instead of mapping and unmapping them from the OS on
/// every training step: measured 12× fewer page faults and 1.5× the CPU training throughput of
/// ResNet-20 (BENCHMARKS.md). glibc only; other allocators manage this themselves.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator thresholds; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
