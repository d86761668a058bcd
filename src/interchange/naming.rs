//! How a state dict's tensor names map to odenet's parameter paths.
//!
//! * **odenet**: odenet's own paths (`stages.1.branches.0.a.bn.gamma`, Linear weight [in, out]),
//!   as in a run's `model.safetensors` and `odenet export`.
//! * **twin**: the PyTorch twin's `state_dict()` (`scripts/odenet_torch.py`): the same paths with
//!   BN `weight`/`bias` for gamma/beta and Linear weights [out, in].
//! * **official**: 2prime/LM-ResNet `MResNet` (lm-resnet20/56/110/164; `pretrain=True` is the
//!   plain ResNet): `conv1` → stem, `blocks.{i}.{bn,conv}{1,2,3}` → block i's units a, b, c
//!   (blocks numbered across stages), `downsample1`/`downsample21`/`downsample31` → the
//!   projections of stages 0/1/2, `bn` → head BN, `fc` → head Linear (transposed), and
//!   `ks.{i}`, the official k_code = 1 − k of block i, → row j − 1 of stage s's `lm_k` as
//!   k = 1 − ks, block i being block j of stage s. The official forward never uses `bn1`, the
//!   ks of a stage's first block (a plain Euler step there), `downsample22`/`downsample32` (only
//!   in its `ResNet` class), `downsample1` with basic blocks, nor any ks with `pretrain=True`: those
//!   are reported as unused when the model has no place for them.
//!
//! [`from_odenet`] is the inverse of [`to_odenet`] for every naming. Through the official naming k
//! passes as ks = 1 − k in float32: exact for weights that came from the official code (ks in
//! [0.5, 2], Sterbenz), one rounding (≤ 6e-8 for |k| ≤ 0.5) for k learned in odenet.

use super::{StateDict, StateTensor};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The naming of a state dict's tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Naming {
    /// odenet's parameter paths (a run's model.safetensors, `odenet export`).
    Odenet,
    /// The PyTorch twin's state_dict (scripts/odenet_torch.py).
    Twin,
    /// The official LM-ResNet code (2prime/LM-ResNet MResNet.py).
    Official,
}

impl fmt::Display for Naming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Naming::Odenet => "odenet",
            Naming::Twin => "twin",
            Naming::Official => "official",
        })
    }
}

impl Naming {
    /// The naming of `state`, from names only one naming uses.
    pub fn detect(state: &StateDict) -> anyhow::Result<Naming> {
        let names: Vec<&str> = state.tensors.iter().map(|(n, _)| strip_module(n)).collect();
        let has = |f: &dyn Fn(&str) -> bool| names.iter().any(|&n| f(n));
        if has(&|n: &str| n == "conv1.weight" || n.starts_with("blocks.") || n.starts_with("ks.")) {
            Ok(Naming::Official)
        } else if has(&|n: &str| n.starts_with("head_bn.weight") || n.ends_with(".bn.weight")) {
            Ok(Naming::Twin)
        } else if has(&|n: &str| n == "stem.weight" || n.ends_with(".gamma")) {
            Ok(Naming::Odenet)
        } else {
            anyhow::bail!("no tensor name of odenet's, its PyTorch twin's or the official code's (e.g. {:?})", names.first())
        }
    }
}

/// `nn.DataParallel` saves every name under `module.`.
fn strip_module(name: &str) -> &str {
    name.strip_prefix("module.").unwrap_or(name)
}

/// A tensor of the file the model has no use for, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Unused {
    pub name: String,
    pub reason: &'static str,
}

/// The result of mapping: tensors under odenet's paths, unused ones, and problems (any fails
/// the import): tensors of the model missing from the file, and tensors of the file that do not
/// fit (unknown names, other shapes).
pub struct Mapped {
    pub tensors: BTreeMap<String, StateTensor>,
    pub unused: Vec<Unused>,
    pub missing: Vec<String>,
    pub problems: Vec<String>,
}

impl Mapped {
    /// One message listing every problem (missing tensors first), or None.
    pub fn problems(&self) -> Option<String> {
        if self.missing.is_empty() && self.problems.is_empty() {
            return None;
        }
        let all: Vec<String> = self.missing.iter().chain(&self.problems).cloned().collect();
        Some(format!(
            "{} tensors of the model missing from the file, {} tensors of the file that do not fit:\n{}",
            self.missing.len(),
            self.problems.len(),
            list(&all, 40)
        ))
    }
}

/// "a\nb\n… and N more", at most `max` lines.
fn list(items: &[String], max: usize) -> String {
    let mut lines: Vec<String> = items.iter().take(max).map(|s| format!("  {s}")).collect();
    if items.len() > max {
        lines.push(format!("  … and {} more", items.len() - max));
    }
    lines.join("\n")
}

/// Where an official tensor goes.
enum Target {
    /// An odenet path (transposed for the Linear weight).
    Path(String, bool),
    /// Row `row` of stage `stage`'s lm_k, as 1 − value.
    K { stage: usize, row: usize },
    /// An odenet path the model may lack (then unused with this reason).
    Optional(String, &'static str),
    Unused(&'static str),
    Unknown,
}

/// Maps `state` (read with `naming`) onto the model whose tensors are `expected`.
pub fn to_odenet(state: &StateDict, naming: Naming, expected: &BTreeMap<String, Vec<usize>>) -> Mapped {
    let mut out = Mapped { tensors: BTreeMap::new(), unused: Vec::new(), missing: Vec::new(), problems: Vec::new() };
    let blocks = blocks_per_stage(expected);
    let mut k_rows: BTreeMap<usize, BTreeMap<usize, (String, &StateTensor)>> = BTreeMap::new();
    // Model paths some tensor of the file was meant for (missing only if none was).
    let mut claimed = BTreeSet::new();
    for (raw, tensor) in &state.tensors {
        let name = strip_module(raw);
        let target = match naming {
            Naming::Odenet => Target::Path(name.to_string(), false),
            Naming::Twin => twin_target(name, expected),
            Naming::Official => official_target(name, &blocks),
        };
        let (path, transpose) = match target {
            Target::Path(p, t) => (p, t),
            Target::Optional(p, reason) if !expected.contains_key(&p) => {
                out.unused.push(Unused { name: raw.clone(), reason });
                continue;
            }
            Target::Optional(p, _) => (p, false),
            Target::K { stage, row } => {
                if expected.contains_key(&lm_k(stage)) {
                    claimed.insert(lm_k(stage));
                    k_rows.entry(stage).or_default().insert(row, (raw.clone(), tensor));
                } else {
                    out.unused.push(Unused { name: raw.clone(), reason: "the model has no LM coefficients (a plain ResNet, as official pretrain=True)" });
                }
                continue;
            }
            Target::Unused(reason) => {
                out.unused.push(Unused { name: raw.clone(), reason });
                continue;
            }
            Target::Unknown => {
                out.problems.push(format!("{raw}: not a tensor of the {naming} naming"));
                continue;
            }
        };
        let Some(shape) = expected.get(&path) else {
            out.problems.push(format!("{raw}: the model has no tensor {path}"));
            continue;
        };
        claimed.insert(path.clone());
        let tensor = if transpose { transposed(tensor) } else { Some(tensor.clone()) };
        match tensor {
            Some(t) if &t.shape == shape => {
                out.tensors.insert(path, t);
            }
            _ => out.problems.push(format!("{raw}: shape {:?}, the model's {path} is {shape:?}", tensor_shape(state, raw))),
        }
    }
    for (stage, rows) in k_rows {
        assemble_k(stage, &rows, expected, &mut out);
    }
    for (path, shape) in expected {
        if !claimed.contains(path) {
            out.missing.push(format!("{path} {shape:?}: missing from the file"));
        }
    }
    out
}

fn tensor_shape<'a>(state: &'a StateDict, name: &str) -> &'a [usize] {
    state.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t.shape.as_slice()).unwrap_or(&[])
}

fn lm_k(stage: usize) -> String {
    format!("stages.{stage}.scheme.lm_k")
}

/// Blocks of each stage, from the model's tensor paths (`stages.{s}.branches.{j}.…`).
fn blocks_per_stage(expected: &BTreeMap<String, Vec<usize>>) -> Vec<usize> {
    let mut blocks: Vec<usize> = Vec::new();
    for path in expected.keys() {
        let mut parts = path.split('.');
        if let (Some("stages"), Some(s), Some("branches"), Some(j)) = (parts.next(), parts.next(), parts.next(), parts.next())
            && let (Ok(s), Ok(j)) = (s.parse::<usize>(), j.parse::<usize>())
            && s < 1024
        {
            if blocks.len() <= s {
                blocks.resize(s + 1, 0);
            }
            blocks[s] = blocks[s].max(j + 1);
        }
    }
    blocks
}

/// Stage and block within it of the official block `i` (numbered across stages).
fn stage_block(i: usize, blocks: &[usize]) -> Option<(usize, usize)> {
    let mut first = 0;
    for (s, &n) in blocks.iter().enumerate() {
        if i < first + n {
            return Some((s, i - first));
        }
        first += n;
    }
    None
}

fn bn_leaf(leaf: &str) -> Option<&'static str> {
    Some(match leaf {
        "weight" => "gamma",
        "bias" => "beta",
        "running_mean" => "running_mean",
        "running_var" => "running_var",
        _ => return None,
    })
}

fn official_target(name: &str, blocks: &[usize]) -> Target {
    let parts: Vec<&str> = name.split('.').collect();
    let index = |s: &str| s.parse::<usize>().ok();
    match parts.as_slice() {
        ["conv1", "weight"] => Target::Path("stem.weight".into(), false),
        ["bn1", _] => Target::Unused("the official forward skips bn1 (commented out)"),
        ["bn", leaf] => bn_leaf(leaf).map_or(Target::Unknown, |l| Target::Path(format!("head_bn.{l}"), false)),
        ["fc", "weight"] => Target::Path("head_fc.weight".into(), true),
        ["fc", "bias"] => Target::Path("head_fc.bias".into(), false),
        ["ks", i] => match index(*i).and_then(|i| stage_block(i, blocks)) {
            Some((_, 0)) => Target::Unused("ks of a stage's first block: the official forward takes an Euler step there"),
            Some((stage, j)) => Target::K { stage, row: j - 1 },
            None => Target::Unknown,
        },
        ["blocks", i, unit, leaf] => {
            let Some((stage, j)) = index(*i).and_then(|i| stage_block(i, blocks)) else {
                return Target::Unknown;
            };
            let (letter, kind) = match *unit {
                "bn1" => ("a", "bn"),
                "conv1" => ("a", "conv"),
                "bn2" => ("b", "bn"),
                "conv2" => ("b", "conv"),
                "bn3" => ("c", "bn"),
                "conv3" => ("c", "conv"),
                _ => return Target::Unknown,
            };
            let leaf = if kind == "bn" { bn_leaf(leaf) } else { (*leaf == "weight").then_some("weight") };
            leaf.map_or(Target::Unknown, |l| Target::Path(format!("stages.{stage}.branches.{j}.{letter}.{kind}.{l}"), false))
        }
        [down, "downsample", unit, leaf] => {
            let stage = match *down {
                "downsample1" => 0,
                "downsample21" => 1,
                "downsample31" => 2,
                "downsample22" | "downsample32" => return Target::Unused("not used by the official forward"),
                _ => return Target::Unknown,
            };
            let path = match (*unit, bn_leaf(leaf)) {
                ("0", Some(l)) => format!("stages.{stage}.projection.bn.{l}"),
                ("2", _) if *leaf == "weight" => format!("stages.{stage}.projection.conv.weight"),
                _ => return Target::Unknown,
            };
            if stage == 0 {
                Target::Optional(path, "downsample1: the official forward uses it only with bottleneck blocks")
            } else {
                Target::Path(path, false)
            }
        }
        _ => Target::Unknown,
    }
}

/// The twin's names are odenet's paths with PyTorch's leaf names (BN weight/bias, Linear [out, in]).
fn twin_target(name: &str, expected: &BTreeMap<String, Vec<usize>>) -> Target {
    let (prefix, leaf) = name.rsplit_once('.').unwrap_or(("", name));
    let renamed = |l: &str| format!("{prefix}.{l}");
    match leaf {
        "weight" if expected.contains_key(&renamed("gamma")) => Target::Path(renamed("gamma"), false),
        "bias" if expected.contains_key(&renamed("beta")) => Target::Path(renamed("beta"), false),
        // The only 2-D weights are Linear layers'.
        "weight" if expected.get(name).is_some_and(|s| s.len() == 2) => Target::Path(name.into(), true),
        _ => Target::Path(name.into(), false),
    }
}

/// A 2-D tensor transposed; None for another rank.
fn transposed(t: &StateTensor) -> Option<StateTensor> {
    let &[rows, cols] = t.shape.as_slice() else { return None };
    let values = (0..cols).flat_map(|c| (0..rows).map(move |r| t.values[r * cols + c])).collect();
    Some(StateTensor { shape: vec![cols, rows], values })
}

/// Stage `stage`'s lm_k [steps, width] from the official ks rows, k = 1 − ks.
fn assemble_k(
    stage: usize,
    rows: &BTreeMap<usize, (String, &StateTensor)>,
    expected: &BTreeMap<String, Vec<usize>>,
    out: &mut Mapped,
) {
    let path = lm_k(stage);
    let Some(shape) = expected.get(&path) else { return };
    let &[steps, width] = shape.as_slice() else {
        out.problems.push(format!("{path}: the model's coefficients are {shape:?}, not [steps, width]"));
        return;
    };
    let mut values = Vec::with_capacity(steps * width);
    for row in 0..steps {
        match rows.get(&row) {
            Some((_, t)) if t.values.len() == width => values.extend(t.values.iter().map(|ks| 1.0 - ks)),
            Some((name, t)) => {
                out.problems.push(format!("{name}: shape {:?}, the model's {path} has rows of {width}", t.shape))
            }
            None => out.missing.push(format!("{path} row {row}: its ks missing from the file")),
        }
    }
    if values.len() == steps * width {
        out.tensors.insert(path, StateTensor { shape: shape.clone(), values });
    }
}

/// A tensor written by [`from_odenet`] that the model does not hold, and what was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Filled {
    pub name: String,
    pub note: &'static str,
}

/// A model's tensors under another naming, in the order that naming's `state_dict()` lists them.
pub struct Exported {
    pub tensors: Vec<(String, StateTensor)>,
    /// Tensors of the naming the model has no counterpart for (official only).
    pub filled: Vec<Filled>,
}

/// The model's `tensors` (odenet paths, as in `model.safetensors`) under `naming`: the exact
/// inverse of [`to_odenet`]. For the official naming `config` must be one the official
/// `MResNet` can build ([`official_layout`]); the official tensors its forward never reads are
/// written with the values the official model holds after training ([`Filled`] says which).
pub fn from_odenet(
    tensors: &BTreeMap<String, StateTensor>,
    naming: Naming,
    config: &crate::NetConfig,
) -> anyhow::Result<Exported> {
    let renamed = |f: fn(&str, &StateTensor) -> (String, StateTensor)| tensors.iter().map(|(n, t)| f(n, t)).collect();
    Ok(match naming {
        Naming::Odenet => Exported { tensors: renamed(|n, t| (n.to_string(), t.clone())), filled: Vec::new() },
        Naming::Twin => Exported { tensors: renamed(twin_name), filled: Vec::new() },
        Naming::Official => official_tensors(tensors, &official_layout(config)?)?,
    })
}

/// odenet's path to the twin's name (inverse of [`twin_target`]).
fn twin_name(path: &str, t: &StateTensor) -> (String, StateTensor) {
    let (prefix, leaf) = path.rsplit_once('.').unwrap_or(("", path));
    match leaf {
        "gamma" => (format!("{prefix}.weight"), t.clone()),
        "beta" => (format!("{prefix}.bias"), t.clone()),
        "weight" if t.shape.len() == 2 => (path.to_string(), transposed(t).unwrap_or_else(|| t.clone())),
        _ => (path.to_string(), t.clone()),
    }
}

/// What the official `MResNet(block, layers, pretrain, num_classes)` needs to build a model.
#[derive(Clone, Debug, PartialEq)]
pub struct OfficialLayout {
    /// Blocks per stage (`layers`).
    pub layers: [usize; 3],
    /// `Bottleneck` (expansion 4) rather than `BasicBlock`.
    pub bottleneck: bool,
    /// `pretrain=True`: a plain ResNet (forward Euler), the ks unused.
    pub pretrain: bool,
    /// `MResNetC`: one k per channel, each ks [channels, 1, 1]; else `MResNet`, ks [1].
    pub per_channel: bool,
}

impl OfficialLayout {
    /// The official call that builds this model, e.g. `MResNet(BasicBlock, [3, 3, 3], pretrain=False, num_classes=10)`.
    pub fn constructor(&self, num_classes: usize) -> String {
        let class = if self.per_channel { "MResNetC" } else { "MResNet" };
        let block = if self.bottleneck { "Bottleneck" } else { "BasicBlock" };
        let pretrain = if self.pretrain { "True" } else { "False" };
        format!("{class}({block}, {:?}, pretrain={pretrain}, num_classes={num_classes})", self.layers)
    }
}

/// The official `MResNet` layout of `config`, or an error naming each field the official code
/// cannot express (it has one CIFAR stem 3 → 16, stages of widths 16/32/64, basic or plain
/// bottleneck blocks, and LM coefficients, scalar (`MResNet`) or per channel (`MResNetC`), or none).
pub fn official_layout(config: &crate::NetConfig) -> anyhow::Result<OfficialLayout> {
    use crate::scheme::{LinearTwoStepConfig, SchemeConfig};
    use crate::nn::BranchKind;
    let mut rules = Vec::new();
    if config.stem != crate::net::StemKind::Cifar {
        rules.push(format!("stem is {:?}; the official code has the CIFAR stem", config.stem));
    }
    if config.in_channels != 3 {
        rules.push(format!("in_channels is {}; the official stem takes 3", config.in_channels));
    }
    if config.stem_width != 16 {
        rules.push(format!("stem_width is {}; the official stem has 16", config.stem_width));
    }
    if config.widths != [16, 32, 64] {
        rules.push(format!("widths are {:?}; the official code has [16, 32, 64]", config.widths));
    }
    let layers: Option<[usize; 3]> = config.depths.as_slice().try_into().ok();
    if layers.is_none() {
        rules.push(format!("depths are {:?}; the official code has three stages", config.depths));
    }
    let bottleneck = match config.branch {
        BranchKind::Basic => false,
        BranchKind::Bottleneck { expansion: 4, groups: 1, base_width: 64 } => true,
        ref other => {
            rules.push(format!("branch is {other:?}; the official code has Basic or Bottleneck {{ expansion: 4, groups: 1, base_width: 64 }}"));
            false
        }
    };
    let (pretrain, per_channel) = match config.scheme {
        SchemeConfig::ForwardEuler(_) => (true, false),
        SchemeConfig::LinearTwoStep(LinearTwoStepConfig { per_channel, .. }) => (false, per_channel),
        ref other => {
            rules.push(format!(
                "scheme is {other:?}; the official MResNet/MResNetC have the LM scheme (linear-two-step) \
                 or, with pretrain=True, forward Euler"
            ));
            (false, false)
        }
    };
    match layers {
        Some(layers) if rules.is_empty() => Ok(OfficialLayout { layers, bottleneck, pretrain, per_channel }),
        _ => anyhow::bail!("model '{}' cannot be written under official names:\n{}", config.name, list(&rules, 40)),
    }
}

/// BatchNorm2d as PyTorch initialises it: weight 1, bias 0, running mean 0, running var 1.
fn bn_init(prefix: &str, channels: usize) -> Vec<(String, StateTensor)> {
    [("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)]
        .map(|(leaf, v)| (format!("{prefix}.{leaf}"), StateTensor { shape: vec![channels], values: vec![v; channels] }))
        .to_vec()
}

const BN_LEAVES: [(&str, &str); 4] =
    [("weight", "gamma"), ("bias", "beta"), ("running_mean", "running_mean"), ("running_var", "running_var")];

const NEVER_TRAINED: &str = "never read by the official forward, so never trained: PyTorch's initial value";
const FIRST_KS: &str = "never read by the official forward (a stage's first block takes an Euler step): \
    its random initial value is unknowable, written as ones (k = 0, the Euler step)";
const PRETRAIN_KS: &str = "never read with pretrain=True: its random initial value is unknowable, written 1 (k = 0)";
const DOWNSAMPLE1_CONV: &str = "never read by the official forward with basic blocks: its random initial \
    value is unknowable, written as zeros";

/// The official state dict of the model's `tensors`, in `MResNet.state_dict()` order.
fn official_tensors(tensors: &BTreeMap<String, StateTensor>, layout: &OfficialLayout) -> anyhow::Result<Exported> {
    let mut out = Exported { tensors: Vec::new(), filled: Vec::new() };
    let mut missing = Vec::new();
    let put = |out: &mut Exported, missing: &mut Vec<String>, name: String, path: &str, transpose: bool| match tensors.get(path) {
        Some(t) => out.tensors.push((name, if transpose { transposed(t).unwrap_or_else(|| t.clone()) } else { t.clone() })),
        None => missing.push(path.to_string()),
    };
    let fill = |out: &mut Exported, tensors: Vec<(String, StateTensor)>, note: &'static str| {
        for (name, t) in tensors {
            out.filled.push(Filled { name: name.clone(), note });
            out.tensors.push((name, t));
        }
    };
    put(&mut out, &mut missing, "conv1.weight".into(), "stem.weight", false);
    fill(&mut out, bn_init("bn1", 16), NEVER_TRAINED);
    let mut ks = Vec::new();
    let expansion = if layout.bottleneck { 4 } else { 1 };
    for (stage, &n) in layout.layers.iter().enumerate() {
        let k = tensors.get(&lm_k(stage));
        // MResNetC: ks [channels, 1, 1]; MResNet: ks [1].
        let shape = if layout.per_channel { vec![(16 << stage) * expansion, 1, 1] } else { vec![1] };
        for j in 0..n {
            let name = format!("ks.{}", ks.len());
            let note = match (j, k) {
                (0, _) => FIRST_KS,
                (_, None) if layout.pretrain => PRETRAIN_KS,
                (_, Some(k)) if k.shape.len() == 2 && k.shape[1] == shape[0] && j - 1 < k.shape[0] => {
                    let row = &k.values[(j - 1) * shape[0]..j * shape[0]];
                    ks.push((name, StateTensor { shape: shape.clone(), values: row.iter().map(|k| 1.0 - k).collect() }));
                    continue;
                }
                _ => {
                    missing.push(format!("{} row {} of {} values", lm_k(stage), j - 1, shape[0]));
                    continue;
                }
            };
            out.filled.push(Filled { name: name.clone(), note });
            ks.push((name, StateTensor { values: vec![1.0; shape[0]], shape: shape.clone() }));
        }
    }
    out.tensors.extend(ks);
    let units: &[(&str, &str)] = if layout.bottleneck {
        &[("bn1", "a.bn"), ("conv1", "a.conv"), ("bn2", "b.bn"), ("conv2", "b.conv"), ("bn3", "c.bn"), ("conv3", "c.conv")]
    } else {
        &[("bn1", "a.bn"), ("conv1", "a.conv"), ("bn2", "b.bn"), ("conv2", "b.conv")]
    };
    let mut i = 0;
    for (stage, &n) in layout.layers.iter().enumerate() {
        for j in 0..n {
            for &(unit, path) in units {
                let leaves: &[(&str, &str)] = if unit.starts_with("bn") { &BN_LEAVES } else { &[("weight", "weight")] };
                for &(leaf, odenet_leaf) in leaves {
                    put(&mut out, &mut missing, format!("blocks.{i}.{unit}.{leaf}"), &format!("stages.{stage}.branches.{j}.{path}.{odenet_leaf}"), false);
                }
            }
            i += 1;
        }
    }
    for (stage, module) in [(0, "downsample1"), (1, "downsample21"), (2, "downsample31")] {
        let prefix = format!("stages.{stage}.projection");
        if stage == 0 && !layout.bottleneck {
            fill(&mut out, bn_init("downsample1.downsample.0", 16), NEVER_TRAINED);
            let conv = StateTensor { shape: vec![64, 16, 1, 1], values: vec![0.0; 64 * 16] };
            fill(&mut out, vec![("downsample1.downsample.2.weight".into(), conv)], DOWNSAMPLE1_CONV);
            continue;
        }
        for (leaf, odenet_leaf) in BN_LEAVES {
            put(&mut out, &mut missing, format!("{module}.downsample.0.{leaf}"), &format!("{prefix}.bn.{odenet_leaf}"), false);
        }
        put(&mut out, &mut missing, format!("{module}.downsample.2.weight"), &format!("{prefix}.conv.weight"), false);
    }
    for (leaf, odenet_leaf) in BN_LEAVES {
        put(&mut out, &mut missing, format!("bn.{leaf}"), &format!("head_bn.{odenet_leaf}"), false);
    }
    put(&mut out, &mut missing, "fc.weight".into(), "head_fc.weight", true);
    put(&mut out, &mut missing, "fc.bias".into(), "head_fc.bias", false);
    if !missing.is_empty() {
        anyhow::bail!("the model lacks tensors the official naming needs:\n{}", list(&missing, 40));
    }
    Ok(out)
}
