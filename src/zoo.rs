//! The registry of named architectures. A model is a name plus a [`NetConfig`]; nothing else.

use crate::nn::BranchKind;
use crate::scheme::SchemeConfig;
use crate::net::NetConfig;

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

/// Pre-activation CIFAR ResNet of He et al. (2016): 3 stages of widths 16/32/64, named
/// `{family}{depth}`. Depth 6n+2 uses n basic blocks per stage; depth 9n+2 (164) uses n
/// bottlenecks.
fn cifar(family: &str, depth: usize, scheme: SchemeConfig) -> NetConfig {
    let (branch, n) = if depth == 164 {
        (BranchKind::BOTTLENECK, (depth - 2) / 9)
    } else {
        (BranchKind::Basic, (depth - 2) / 6)
    };
    NetConfig {
        name: format!("{family}{depth}"),
        in_channels: 3,
        num_classes: 10,
        stem_width: 16,
        widths: vec![16, 32, 64],
        depths: vec![n; 3],
        branch,
        scheme,
    }
}

macro_rules! cifar_pair {
    ($depth:literal, $what:literal) => {
        [
            ModelEntry {
                name: concat!("resnet", $depth),
                doc: concat!("pre-act ResNet-", $depth, " (", $what, "), forward Euler"),
                build: || cifar("resnet", $depth, SchemeConfig::ForwardEuler),
            },
            ModelEntry {
                name: concat!("lm-resnet", $depth),
                doc: concat!("LM-ResNet-", $depth, " (", $what, "), linear two-step, k_n learned"),
                build: || cifar("lm-resnet", $depth, SchemeConfig::lm_paper()),
            },
        ]
    };
}

/// The ResNet-20 body under other schemes (a scheme is data: one line each). Same parameters
/// as resnet20; a Runge–Kutta block evaluates its one branch once per tableau stage.
fn scheme_variants() -> [ModelEntry; 4] {
    [
        ModelEntry {
            name: "ab2-resnet20",
            doc: "ResNet-20 body, Adams-Bashforth 2: u_n + 3/2 f_n - 1/2 f_{n-1}",
            build: || cifar("ab2-resnet", 20, SchemeConfig::ab2()),
        },
        ModelEntry {
            name: "leapfrog-resnet20",
            doc: "ResNet-20 body, leapfrog/midpoint of Chang et al.: u_{n-1} + 2 f_n",
            build: || cifar("leapfrog-resnet", 20, SchemeConfig::leapfrog()),
        },
        ModelEntry {
            name: "rk2-resnet20",
            doc: "ResNet-20 body, Heun RK2: each block's branch evaluated twice (shared weights)",
            build: || cifar("rk2-resnet", 20, SchemeConfig::heun2()),
        },
        ModelEntry {
            name: "rk4-resnet20",
            doc: "ResNet-20 body, classical RK4: each block's branch evaluated 4 times",
            build: || cifar("rk4-resnet", 20, SchemeConfig::rk4()),
        },
    ]
}

/// Every registered model, in display order.
pub fn models() -> Vec<ModelEntry> {
    [
        cifar_pair!(20, "basic, 3x3"),
        cifar_pair!(32, "basic, 3x5"),
        cifar_pair!(44, "basic, 3x7"),
        cifar_pair!(56, "basic, 3x9"),
        cifar_pair!(110, "basic, 3x18"),
        cifar_pair!(164, "bottleneck, 3x18"),
    ]
    .into_iter()
    .flatten()
    .chain(scheme_variants())
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
