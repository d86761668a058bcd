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
