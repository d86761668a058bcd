use anyhow::Context;
use clap::Args;
use odenet::data::{self, Augment, DatasetKind};
use odenet::scheme::{LinearTwoStepConfig, SchemeConfig};
use odenet::scheme::noise::{DropScaling, NoiseConfig, SurvivalIndexing};
use odenet::train::{
    self, DataConfig, FitOptions, KDecayTarget, Normalization, Preset, Schedule, TrainConfig,
};

/// Initial range of per-channel k_n.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum KInit {
    /// U[−0.1, 0] in the paper's convention (as the scalar k_n).
    Paper,
    /// Official MResNetC: U(−0.1, 0) for its stored 1 − k, i.e. k in [1, 1.1].
    Official,
}
use odenet::precision::Precision;
use odenet::zoo;
use std::path::PathBuf;

/// `--schedule`: the kind of [`Schedule`] (a step schedule's milestones come from `--milestones`
/// or the preset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ScheduleKind {
    Step,
    Cosine,
    Constant,
}

/// `--noise`: the distribution of the noise injected after every block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum NoiseKind {
    /// N(0, σ²).
    Gaussian,
    /// U(0, σ), as in the official code.
    Uniform,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Architecture from the registry (see `odenet models`).
    #[arg(long, default_value = "lm-resnet20")]
    model: String,
    /// Dataset: cifar10, cifar100, fashion-mnist, mnist, folder (train/ and test/ of
    /// class folders, or a .tar.gz of them, decoded once into memory) or imagenet (the
    /// same layout with val/, read lazily with ImageNet crops; see --crop-size).
    #[arg(long, default_value = "cifar10")]
    data: DatasetKind,
    /// Crop size for --data imagenet: random-resized crops of this size for training,
    /// resize to round(size·256/224) + centre crop for evaluation (default 224).
    #[arg(long)]
    crop_size: Option<usize>,
    /// Where the dataset is (default: data/cifar-10-batches-bin, data/cifar-100-binary,
    /// /usr/share/datasets/fashion-mnist, …).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Recipe of the paper: sets epochs, learning-rate steps, momentum and weight decay.
    #[arg(long, value_enum, default_value = "paper-cifar10")]
    preset: Preset,
    /// Number of epochs (overrides the preset).
    #[arg(long)]
    epochs: Option<usize>,
    /// Learning-rate schedule (overrides the preset): step, cosine or constant.
    #[arg(long, value_enum)]
    schedule: Option<ScheduleKind>,
    /// Epochs at which a step schedule divides the learning rate by 10, e.g. 80,120.
    #[arg(long, value_delimiter = ',')]
    milestones: Option<Vec<usize>>,
    /// Base learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// L2 weight decay.
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Do not apply weight decay to the LM coefficients k_n.
    #[arg(long)]
    no_decay_k: bool,
    /// Where weight decay pulls k_n: paper (toward 0, like any weight) or official (toward 1:
    /// the official code decays its stored 1 − k). Default: official with --preset official.
    #[arg(long, value_enum)]
    k_decay_target: Option<KDecayTarget>,
    /// Learn one k_n per channel instead of one scalar per block (LM models only).
    #[arg(long)]
    per_channel_k: bool,
    /// Initial per-channel k_n: paper (U[−0.1, 0]) or official (MResNetC draws U(−0.1, 0) for its
    /// 1 − k, i.e. k in [1, 1.1]). Default: official with --preset official.
    #[arg(long, value_enum, requires = "per_channel_k")]
    per_channel_k_init: Option<KInit>,
    /// Stochastic depth: survival probability p_L of the last block (linear decay
    /// p_l = 1 − (l/L)(1 − p_L)); `--preset paper-sd` sets the paper's value.
    #[arg(long, value_name = "P_L")]
    stochastic_depth: Option<f64>,
    /// How stochastic depth keeps E[update] deterministic: at-test (paper, Huang et al.: scale
    /// f by p at test time) or inverted (official code: divide f by p in training). Default:
    /// inverted with --preset official, else at-test.
    #[arg(long, value_enum)]
    drop_scaling: Option<DropScaling>,
    /// Stochastic-depth survival indexing: huang (p_l = 1 − (l/L)(1 − p_L), l = 1 … L) or
    /// official (i/(L − 1), i = 0 … L − 1). Default: official with --preset official.
    #[arg(long, value_enum)]
    sd_indexing: Option<SurvivalIndexing>,
    /// Inject noise after every block in training: gaussian or uniform (official code: U(0, σ)).
    #[arg(long, value_enum)]
    noise: Option<NoiseKind>,
    /// RevNet models: recompute coupled stages in the backward pass instead of storing their
    /// activations (memory that does not grow with depth, at the cost of extra compute).
    #[arg(long)]
    reversible: bool,
    /// Float precision: f32, or bf16 mixed precision (bf16 activations; parameters, optimiser,
    /// batch-norm statistics, loss and checkpoints in f32). bf16 pays off on CUDA; on the CPU
    /// it runs Burn's own convolutions, not the oneDNN ones.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
    /// Scale σ of the injected noise.
    #[arg(long, default_value_t = 0.001)]
    noise_sigma: f64,
    /// Mini-batch size (default: the preset's, 128; 256 for paper-imagenet).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Keep only the first N training images of each class (quick runs).
    #[arg(long)]
    train_per_class: Option<usize>,
    /// Keep only the first N test images of each class.
    #[arg(long)]
    test_per_class: Option<usize>,
    /// Per-channel normalisation: dataset (train-split statistics) or official-cifar (the
    /// official code's constants). Default: official-cifar with --preset official on CIFAR.
    #[arg(long, value_enum)]
    normalization: Option<Normalization>,
    /// Turn off the pad-4 / random-crop / flip augmentation (imagenet: train with the
    /// evaluation resize + centre crop).
    #[arg(long)]
    no_augment: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu, cuda, cuda:N or wgpu (Vulkan/Metal/DX12); GPUs need `--features cuda` or `wgpu`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Run folder (config, metrics, checkpoints). Default: runs/<model>-<data>-s<seed>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint (its saved config is used).
    #[arg(long)]
    resume: bool,
    /// Start over in --out even if it holds a run (its metrics and checkpoints are deleted).
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    kernels: super::KernelArgs,
}

/// The stochastic term asked for by `--stochastic-depth`, `--noise` or the preset.
fn noise_config(args: &TrainArgs, blocks: usize) -> anyhow::Result<NoiseConfig> {
    let scaling = args.drop_scaling.unwrap_or(args.preset.drop_scaling());
    let indexing = args.sd_indexing.unwrap_or(args.preset.sd_indexing());
    let sigma = args.noise_sigma;
    match (args.stochastic_depth.or(args.preset.p_last(blocks)), args.noise) {
        (Some(_), Some(_)) => anyhow::bail!("choose either --stochastic-depth or --noise"),
        (Some(p), None) if !(p > 0.0 && p <= 1.0) => {
            anyhow::bail!("--stochastic-depth must be a survival probability in (0, 1], got {p}")
        }
        (Some(p_last), None) => Ok(NoiseConfig::StochasticDepth { p_last, scaling, indexing }),
        (None, Some(_)) if !(sigma.is_finite() && sigma > 0.0) => {
            anyhow::bail!("--noise-sigma must be positive, got {sigma}")
        }
        (None, Some(NoiseKind::Gaussian)) => Ok(NoiseConfig::Gaussian { sigma }),
        (None, Some(NoiseKind::Uniform)) => Ok(NoiseConfig::Uniform { sigma }),
        (None, None) => Ok(NoiseConfig::None),
    }
}

fn resolve(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let data_path = args.data_dir.clone().unwrap_or_else(|| data::default_path(&args.data));
    let mut kind = args.data.clone();
    if let DatasetKind::ImageNet { transforms } = &mut kind {
        if let Some(size) = args.crop_size {
            anyhow::ensure!(size > 0, "--crop-size must be at least 1");
            *transforms = data::FolderTransforms::imagenet(size);
        }
        if args.no_augment {
            transforms.train = transforms.eval.clone();
        }
    }
    let facts = kind.facts();
    let classes =
        kind.num_classes(&data_path).with_context(|| format!("listing {kind} in {}", data_path.display()))?;
    if args.crop_size.is_some() && !matches!(kind, DatasetKind::ImageNet { .. }) {
        anyhow::bail!("--crop-size applies to --data imagenet only");
    }
    let mut model = zoo::create(&args.model, facts.in_channels, classes)?;
    if let SchemeConfig::LinearTwoStep(LinearTwoStepConfig { per_channel, k_init }) = &mut model.scheme {
        *per_channel = args.per_channel_k;
        let official = args.preset == Preset::Official;
        if args.per_channel_k && args.per_channel_k_init.unwrap_or(if official { KInit::Official } else { KInit::Paper }) == KInit::Official {
            *k_init = [1.0, 1.1];
        }
    } else if args.per_channel_k {
        anyhow::bail!("--per-channel-k needs an LM model, and {} is not one", args.model);
    }
    model.noise = noise_config(args, model.num_blocks())?;
    let (mut epochs, mut schedule) = args.preset.schedule();
    let mut optim = args.preset.optim();
    if let Some(e) = args.epochs {
        epochs = e;
    }
    if let Some(m) = &args.milestones {
        schedule = Schedule::Step { milestones: m.clone(), gamma: 0.1 };
    }
    match args.schedule {
        None | Some(ScheduleKind::Step) => {}
        Some(ScheduleKind::Cosine) => schedule = Schedule::Cosine,
        Some(ScheduleKind::Constant) => schedule = Schedule::Constant,
    }
    optim.lr = args.lr.unwrap_or(optim.lr);
    optim.weight_decay = args.weight_decay.unwrap_or(optim.weight_decay);
    optim.decay_k = !args.no_decay_k;
    if let Some(target) = args.k_decay_target {
        optim.k_decay_target = target;
    }
    let normalization = args.normalization.unwrap_or(args.preset.normalization(&args.data));
    let augment = if args.no_augment { Augment::none() } else { facts.augment };
    Ok(TrainConfig {
        model,
        data: DataConfig {
            kind,
            path: data_path,
            train_per_class: args.train_per_class,
            test_per_class: args.test_per_class,
            augment,
            normalization,
        },
        optim,
        schedule,
        epochs,
        batch_size: args.batch_size.unwrap_or(args.preset.batch_size()),
        seed: args.seed,
        device: args.device.clone(),
        reversible: args.reversible,
        precision: args.precision,
    })
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    args.kernels.apply();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}-{}-s{}", args.model, args.data, args.seed)));
    let config = if args.resume {
        odenet::report::read_config(&out.join("config.json")).context("--resume")?
    } else {
        resolve(&args)?
    };
    let opts = FitOptions { resume: args.resume, progress: !args.quiet, overwrite: args.overwrite };
    let summary = train::fit(&config, &out, &opts)?;
    if summary.already_finished {
        println!("{} had already finished all {} epochs: nothing to resume.", out.display(), summary.epochs);
    }
    println!(
        "{}: {} epochs, final test accuracy {:.2}%, best {:.2}% (epoch {}) — run folder {}",
        config.model.name,
        summary.epochs,
        summary.final_test_acc * 100.0,
        summary.best_test_acc * 100.0,
        summary.best_epoch,
        summary.run_dir.display()
    );
    if !summary.k.is_empty() {
        println!("learned k_n (paper convention) and other learned coefficients, by stage and step:");
        for l in &summary.k {
            let shown: Vec<String> = l.values.iter().take(4).map(|v| format!("{v:+.4}")).collect();
            let n = l.values.len();
            let more = if n > 4 { format!(" … ({n} values)") } else { String::new() };
            let (stage, step, what) = (l.stage, l.step, l.coefficient.field());
            println!("  stage {stage} step {step} {what}: {}{more}", shown.join(" "));
        }
    }
    Ok(())
}
