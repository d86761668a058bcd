//! The registry of named architectures. A model is a name plus a [`NetConfig`]; nothing else.

use crate::net::{NetConfig, StemKind};
use crate::nn::BranchKind;
use crate::scheme::{Multistep, SchemeConfig};

/// One registered architecture.
pub struct ModelEntry {
    /// Command-line name, kebab-case `family{depth}[-variant]`.
    pub name: &'static str,
    /// One line: what it is and which numerical scheme it is.
    pub doc: &'static str,
    pub build: fn() -> NetConfig,
}

/// Unknown model name; lists what exists.
#[derive(Debug, thiserror::Error)]
#[error("unknown model '{name}'; known models: {known}")]
pub struct UnknownModel {
    pub name: String,
    pub known: String,
}

/// "resnet" or "lm-resnet" (or "…resnext") depending on the scheme.
fn family(base: &str, scheme: &SchemeConfig) -> String {
    match scheme {
        SchemeConfig::ForwardEuler(_) => base.to_string(),
        _ => format!("lm-{base}"),
    }
}

/// Pre-activation CIFAR ResNet of He et al. (2016): 3 stages of widths 16/32/64.
/// Depth 6n+2 uses n basic blocks per stage; depth 9n+2 (164) uses n bottlenecks.
fn cifar(depth: usize, scheme: SchemeConfig) -> NetConfig {
    let (branch, n) = if depth == 164 {
        (BranchKind::BOTTLENECK, (depth - 2) / 9)
    } else {
        (BranchKind::Basic, (depth - 2) / 6)
    };
    NetConfig {
        name: format!("{}{depth}", family("resnet", &scheme)),
        in_channels: 3,
        num_classes: 10,
        stem_width: 16,
        stem: StemKind::Cifar,
        widths: vec![16, 32, 64],
        depths: vec![n; 3],
        branch,
        scheme,
        noise: Default::default(),
    }
}

/// Pre-activation CIFAR ResNeXt-29 (Xie et al. 2017): 3 stages of 3 bottlenecks of cardinality
/// `groups` and width `d`, outputs 256/512/1024, 3×3 stem of 64 channels.
fn cifar_resnext(groups: usize, d: usize, scheme: SchemeConfig) -> NetConfig {
    NetConfig {
        name: format!("{}29-{groups}x{d}d", family("resnext", &scheme)),
        in_channels: 3,
        num_classes: 10,
        stem_width: 64,
        stem: StemKind::Cifar,
        widths: vec![64, 128, 256],
        depths: vec![3, 3, 3],
        branch: BranchKind::resnext(groups, d),
        scheme,
        noise: Default::default(),
    }
}

/// Pre-activation ImageNet ResNet (He et al. 2016) / ResNeXt: 7×7 stem + max-pool, 4 stages of
/// bottlenecks of widths 64/128/256/512 (outputs ×4), 1000 classes.
fn imagenet(name: String, depths: [usize; 4], branch: BranchKind, scheme: SchemeConfig) -> NetConfig {
    NetConfig {
        name,
        in_channels: 3,
        num_classes: 1000,
        stem_width: 64,
        stem: StemKind::ImageNet,
        widths: vec![64, 128, 256, 512],
        depths: depths.to_vec(),
        branch,
        scheme,
        noise: Default::default(),
    }
}

fn imagenet_resnet(depth: usize, scheme: SchemeConfig) -> NetConfig {
    let depths = match depth {
        50 => [3, 4, 6, 3],
        101 => [3, 4, 23, 3],
        _ => [3, 8, 36, 3],
    };
    imagenet(format!("{}{depth}", family("resnet", &scheme)), depths, BranchKind::BOTTLENECK, scheme)
}

fn imagenet_resnext50(scheme: SchemeConfig) -> NetConfig {
    let name = format!("{}50-32x4d", family("resnext", &scheme));
    imagenet(name, [3, 4, 6, 3], BranchKind::resnext(32, 4), scheme)
}

/// Shake-shake 26 2×32d (Gastaldi 2017), pre-activation: 3 stages of 4 two-branch blocks of
/// widths 32/64/128; the SDE view of §4 (drift (f_1 + f_2)/2, diffusion (f_1 − f_2)/√12).
fn shake26(scheme: SchemeConfig) -> NetConfig {
    NetConfig {
        name: format!("{}26-2x32d", family("shake-resnet", &scheme)),
        in_channels: 3,
        num_classes: 10,
        stem_width: 16,
        stem: StemKind::Cifar,
        widths: vec![32, 64, 128],
        depths: vec![4, 4, 4],
        branch: BranchKind::ShakeShake,
        scheme,
        noise: Default::default(),
    }
}

/// RevNet-{6n+2} (Gomez et al. 2017) as coupled forward Euler: 3 stages of n blocks of widths
/// 32/64/128, each block two half-width basic branches F, G; the first block of a stage is the
/// non-reversible transition.
fn revnet(depth: usize) -> NetConfig {
    NetConfig {
        name: format!("revnet{depth}"),
        in_channels: 3,
        num_classes: 10,
        stem_width: 32,
        stem: StemKind::Cifar,
        widths: vec![32, 64, 128],
        depths: vec![(depth - 2) / 6; 3],
        branch: BranchKind::Coupled,
        scheme: SchemeConfig::coupled_euler(),
        noise: Default::default(),
    }
}

/// A forward-Euler entry and its LM twin, built by `$build(args…, scheme)`.
macro_rules! pair {
    ($name:literal, $what:literal, $build:ident($($arg:expr),*)) => {
        [
            ModelEntry {
                name: $name,
                doc: concat!($what, "; forward Euler"),
                build: || $build($($arg,)* SchemeConfig::forward_euler()),
            },
            ModelEntry {
                name: concat!("lm-", $name),
                doc: concat!("LM-", $what, "; linear two-step, k_n learned"),
                build: || $build($($arg,)* SchemeConfig::lm_paper()),
            },
        ]
    };
}

/// The ResNet-20 body under another scheme (a scheme is data: one line per model). Same
/// parameters as resnet20; a Runge–Kutta block evaluates its one branch once per tableau stage.
fn resnet20_with(name: &str, scheme: SchemeConfig) -> NetConfig {
    NetConfig { name: name.to_string(), scheme, ..cifar(20, SchemeConfig::forward_euler()) }
}

fn scheme_variants() -> [ModelEntry; 7] {
    [
        ModelEntry {
            name: "ab2-resnet20",
            doc: "ResNet-20 body, Adams-Bashforth 2: u_n + 3/2 f_n - 1/2 f_{n-1}",
            build: || resnet20_with("ab2-resnet20", SchemeConfig::ab2()),
        },
        ModelEntry {
            name: "leapfrog-resnet20",
            doc: "ResNet-20 body, leapfrog/midpoint of Chang et al.: u_{n-1} + 2 f_n",
            build: || resnet20_with("leapfrog-resnet20", SchemeConfig::leapfrog()),
        },
        ModelEntry {
            name: "nystrom3-resnet20",
            doc: "ResNet-20 body, explicit Nystrom 3: u_{n-1} + (7 f_n - 2 f_{n-1} + f_{n-2})/3",
            build: || resnet20_with("nystrom3-resnet20", SchemeConfig::Multistep(Multistep::nystrom3())),
        },
        ModelEntry {
            name: "rk2-resnet20",
            doc: "ResNet-20 body, Heun RK2: each block's branch evaluated twice (shared weights)",
            build: || resnet20_with("rk2-resnet20", SchemeConfig::heun2()),
        },
        ModelEntry {
            name: "rk4-resnet20",
            doc: "ResNet-20 body, classical RK4: each block's branch evaluated 4 times",
            build: || resnet20_with("rk4-resnet20", SchemeConfig::rk4()),
        },
        ModelEntry {
            name: "poly-resnet20",
            doc: "ResNet-20 body, PolyNet poly block u + F(u) + F(F(u)) (truncated backward Euler)",
            build: || resnet20_with("poly-resnet20", SchemeConfig::polynet()),
        },
        ModelEntry {
            name: "implicit-resnet20",
            doc: "ResNet-20 body, backward Euler by 2 fixed-point iterations of z = u + F(z)",
            build: || resnet20_with("implicit-resnet20", SchemeConfig::backward_euler(2)),
        },
    ]
}

/// Every registered model, in display order.
pub fn models() -> Vec<ModelEntry> {
    [
        pair!("resnet20", "ResNet-20 (CIFAR, pre-act, basic 3x3)", cifar(20)),
        pair!("resnet32", "ResNet-32 (CIFAR, pre-act, basic 3x5)", cifar(32)),
        pair!("resnet44", "ResNet-44 (CIFAR, pre-act, basic 3x7)", cifar(44)),
        pair!("resnet56", "ResNet-56 (CIFAR, pre-act, basic 3x9)", cifar(56)),
        pair!("resnet110", "ResNet-110 (CIFAR, pre-act, basic 3x18)", cifar(110)),
        pair!("resnet164", "ResNet-164 (CIFAR, pre-act, bottleneck 3x18)", cifar(164)),
        pair!("shake-resnet26-2x32d", "Shake-Shake-26 2x32d (CIFAR, pre-act)", shake26()),
        pair!("resnext29-8x64d", "ResNeXt-29 8x64d (CIFAR, pre-act)", cifar_resnext(8, 64)),
        pair!("resnext29-16x64d", "ResNeXt-29 16x64d (CIFAR, pre-act)", cifar_resnext(16, 64)),
        pair!("resnet50", "ResNet-50 (ImageNet, pre-act bottleneck)", imagenet_resnet(50)),
        pair!("resnet101", "ResNet-101 (ImageNet, pre-act bottleneck)", imagenet_resnet(101)),
        pair!("resnet152", "ResNet-152 (ImageNet, pre-act bottleneck)", imagenet_resnet(152)),
        pair!("resnext50-32x4d", "ResNeXt-50 32x4d (ImageNet, pre-act)", imagenet_resnext50()),
    ]
    .into_iter()
    .flatten()
    .chain(scheme_variants())
    .chain([ModelEntry {
        name: "fractal-resnet20",
        doc: "ResNet-20 body with FractalNet RK2 blocks k1 x + k2 z + f2(z), z = k3 x + f1(x), k learned",
        build: || NetConfig {
            name: "fractal-resnet20".into(),
            branch: BranchKind::Pair,
            scheme: SchemeConfig::fractal_rk2([0.5, 0.5, 1.0], true),
            ..cifar(20, SchemeConfig::forward_euler())
        },
    }])
    .chain([
        ModelEntry {
            name: "revnet20",
            doc: "RevNet-20: coupled forward Euler x += F(y), y += G(x), exactly invertible",
            build: || revnet(20),
        },
        ModelEntry {
            name: "revnet56",
            doc: "RevNet-56: coupled forward Euler, 3x9 blocks; train with --reversible",
            build: || revnet(56),
        },
        ModelEntry {
            name: "revnet110",
            doc: "RevNet-110: coupled forward Euler, 3x18 blocks; train with --reversible",
            build: || revnet(110),
        },
    ])
    .collect()
}

/// The config of a registered model, for `in_channels` inputs and `num_classes` outputs.
pub fn create(
    name: &str,
    in_channels: usize,
    num_classes: usize,
) -> Result<NetConfig, UnknownModel> {
    let all = models();
    let entry = all.iter().find(|m| m.name == name).ok_or_else(|| UnknownModel {
        name: name.to_string(),
        known: all.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
    })?;
    Ok(NetConfig { in_channels, num_classes, ..(entry.build)() })
}
