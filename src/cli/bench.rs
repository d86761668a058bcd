use clap::Args;
use odenet::bench::{self, BenchMode, BenchOptions, BenchReport};
use odenet::precision::Precision;
use odenet::zoo;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Architecture from the registry (see `odenet models`).
    #[arg(long, default_value = "lm-resnet20")]
    model: String,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// cpu, cuda, cuda:N or wgpu (Vulkan/Metal/DX12); GPUs need `--features cuda` or `wgpu`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Untimed steps after the first (separately timed) one.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// train (forward, loss, backward, SGD step), infer (forward, eval mode) or both.
    #[arg(long, value_enum, default_value = "train")]
    mode: BenchMode,
    /// Height and width of the synthetic images.
    #[arg(long, default_value_t = 32)]
    image_size: usize,
    #[arg(long, default_value_t = 3)]
    in_channels: usize,
    #[arg(long, default_value_t = 10)]
    classes: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also report milliseconds per phase (forward / backward / optimizer) and, within each, per
    /// fast-kernel operation (conv, BN + ReLU, LM step; "other" is the rest).
    #[arg(long)]
    breakdown: bool,
    /// Train mode, RevNet models: recompute coupled stages in the backward pass instead of
    /// storing their activations (compare peak memory with and without).
    #[arg(long)]
    reversible: bool,
    /// Float precision: f32, or bf16 mixed precision (bf16 activations, f32 parameters).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
    /// Inference: capture the forward pass once as a device graph and replay it every step
    /// (CUDA graphs; other devices re-run it). Not for training (see `BenchOptions::graph`).
    #[arg(long)]
    graph: bool,
    /// One JSON object per mode (one a line) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    kernels: super::KernelArgs,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    args.kernels.apply();
    let config = zoo::create(&args.model, args.in_channels, args.classes)?;
    let opts = BenchOptions {
        device: args.device,
        batch_size: args.batch_size,
        image_size: args.image_size,
        warmup: args.warmup,
        steps: args.steps,
        mode: args.mode,
        seed: args.seed,
        breakdown: args.breakdown,
        reversible: args.reversible,
        precision: args.precision,
        graph: args.graph,
    };
    let reports = bench::run(&config, &opts)?;
    if args.json {
        for r in &reports {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        println!("{}", BenchReport::header());
        for r in &reports {
            println!("{}", r.line());
            if let Some(p) = r.phases_ms {
                let k = &p.kernels;
                println!(
                    "  forward  {:8.2} ms: conv {:.2}, bn+relu {:.2}, lm step {:.2}, other {:.2}",
                    p.forward, k.conv_forward, k.bn_relu_forward, k.lm_step_forward, p.forward_other()
                );
                if r.mode == "train" {
                    println!(
                        "  backward {:8.2} ms: conv {:.2}, bn+relu {:.2}, lm step {:.2}, other {:.2}",
                        p.backward, k.conv_backward, k.bn_relu_backward, k.lm_step_backward, p.backward_other()
                    );
                    println!("  optimizer {:7.2} ms", p.optimizer);
                }
            }
        }
    }
    Ok(())
}
