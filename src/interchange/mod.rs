//! PyTorch state dicts in and out: `.pt`/`.pth` files written by `torch.save(model.state_dict())`
//! and safetensors files, in any float dtype, under three namings ([`Naming`]): odenet's own
//! parameter paths, its PyTorch twin's (`scripts/odenet_torch.py`) and the official LM-ResNet
//! code's (2prime/LM-ResNet `MResNet.py`: `MResNet` for lm-resnet20/56/110/164, and the same
//! class with `pretrain=True`, a plain ResNet). [`import`] reads them into a model, [`export`]
//! writes a model's weights back under any naming, as safetensors or as a `.pt` that
//! `torch.load(weights_only=True)` reads.

pub mod naming;
mod pickle;
mod zip;

pub use naming::{Exported, Filled, Naming, OfficialLayout, Unused, official_layout};

use crate::net::{Net, NetConfig};
use crate::train::checkpoint;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One tensor of a state dict, converted to float32 (odenet's dtype).
#[derive(Clone, Debug, PartialEq)]
pub struct StateTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A state dict read from a file: names in file order; integer counters
/// (`num_batches_tracked`) left out.
#[derive(Clone, Debug)]
pub struct StateDict {
    pub file: PathBuf,
    pub tensors: Vec<(String, StateTensor)>,
}

/// Reads a `.pt`/`.pth` (torch zip) or `.safetensors` state dict, recognised by its contents.
/// A malformed file is an error naming it.
pub fn read_state_dict(path: &Path) -> Result<StateDict> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_state_dict(path, &bytes)
}

/// [`read_state_dict`] of the contents `bytes` of the file `path`.
pub fn parse_state_dict(path: &Path, bytes: &[u8]) -> Result<StateDict> {
    let tensors = if zip::is_zip(bytes) {
        from_torch(bytes).map_err(|e| anyhow::anyhow!("{} is not a readable torch.save state dict: {e}", path.display()))?
    } else {
        from_safetensors(bytes).map_err(|e| anyhow::anyhow!("{} is not a valid safetensors state dict: {e}", path.display()))?
    };
    Ok(StateDict { file: path.to_path_buf(), tensors })
}

/// Whether an integer tensor is one PyTorch keeps beside the weights and odenet has no use for.
fn is_counter(name: &str) -> bool {
    name.ends_with("num_batches_tracked")
}

/// Little-endian `data` of `dtype` as float32; None for a non-float dtype.
fn floats(dtype: pickle::Dtype, data: &[u8]) -> Option<Vec<f32>> {
    use pickle::Dtype::*;
    Some(match dtype {
        F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        BF16 => data.chunks_exact(2).map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)).collect(),
        F16 => data.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
        I64 | I32 | Other => return None,
    })
}

fn element_size(dtype: pickle::Dtype) -> usize {
    use pickle::Dtype::*;
    match dtype {
        F64 | I64 => 8,
        F32 | I32 => 4,
        F16 | BF16 | Other => 2,
    }
}

/// IEEE half precision to single (exact: every f16 is an f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let mantissa = (h & 0x3ff) as f32;
    match exp {
        0 => sign * mantissa * 2f32.powi(-24),
        31 if mantissa == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + mantissa / 1024.0) * 2f32.powi(exp - 15),
    }
}

fn from_safetensors(bytes: &[u8]) -> Result<Vec<(String, StateTensor)>, String> {
    use safetensors::Dtype as S;
    let file = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let mut names = file.names();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let view = file.tensor(name).map_err(|e| e.to_string())?;
        let dtype = match view.dtype() {
            S::F64 => pickle::Dtype::F64,
            S::F32 => pickle::Dtype::F32,
            S::F16 => pickle::Dtype::F16,
            S::BF16 => pickle::Dtype::BF16,
            _ if is_counter(name) => continue,
            other => return Err(format!("tensor '{name}' is {other:?}; model weights must be floating point")),
        };
        let values = floats(dtype, view.data()).unwrap_or_default();
        out.push((name.to_string(), StateTensor { shape: view.shape().to_vec(), values }));
    }
    Ok(out)
}

fn from_torch(bytes: &[u8]) -> Result<Vec<(String, StateTensor)>, String> {
    let entries = zip::read(bytes)?;
    // Entries live under one folder named after the file: `<archive>/data.pkl`, `<archive>/data/0` …
    let pkl = entries
        .keys()
        .find(|k| k.ends_with("data.pkl") && k.matches('/').count() == 1)
        .ok_or("no data.pkl in the archive (not written by torch.save?)")?;
    let prefix = pkl.trim_end_matches("data.pkl");
    if entries.get(&format!("{prefix}byteorder")).is_some_and(|b| b.as_slice() != b"little") {
        return Err("big-endian archives are not supported".into());
    }
    let mut out = Vec::new();
    for (name, t) in pickle::state_dict(&entries[pkl])? {
        if matches!(t.dtype, pickle::Dtype::I64 | pickle::Dtype::I32) && is_counter(&name) {
            continue;
        }
        let storage = entries
            .get(&format!("{prefix}data/{}", t.key))
            .ok_or_else(|| format!("tensor '{name}': storage data/{} missing from the archive", t.key))?;
        let values = gather(&name, &t, storage)?;
        let shape = t.shape.iter().map(|&d| d as usize).collect();
        out.push((name, StateTensor { shape, values }));
    }
    Ok(out)
}

/// The elements of tensor `t` (a strided view into `storage`), checked against the storage size.
fn gather(name: &str, t: &pickle::TensorRef, storage: &[u8]) -> Result<Vec<f32>, String> {
    let all = floats(t.dtype, storage)
        .ok_or_else(|| format!("tensor '{name}' is a {}; model weights must be floating point", t.storage_class))?;
    if storage.len() % element_size(t.dtype) != 0 {
        return Err(format!("tensor '{name}': storage size is not a multiple of its element size"));
    }
    let numel = t.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let numel = numel.filter(|&n| n <= all.len() as u64).ok_or_else(|| {
        format!("tensor '{name}' of shape {:?} is larger than its storage ({} elements)", t.shape, all.len())
    })?;
    if numel == 0 {
        return Ok(Vec::new());
    }
    // Last element's position: offset + sum (d - 1) * stride; every other is smaller.
    let last = t.shape.iter().zip(&t.stride).try_fold(t.offset, |acc, (&d, &s)| acc.checked_add((d - 1).checked_mul(s)?));
    if last.is_none_or(|l| l >= all.len() as u64) {
        return Err(format!("tensor '{name}' reaches past the end of its storage"));
    }
    let mut out = Vec::with_capacity(numel as usize);
    let mut index = vec![0u64; t.shape.len()];
    for _ in 0..numel {
        let at = t.offset + index.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<u64>();
        out.push(all[at as usize]);
        for (i, &d) in index.iter_mut().zip(&t.shape).rev() {
            *i += 1;
            if *i < d {
                break;
            }
            *i = 0;
        }
    }
    Ok(out)
}

impl StateDict {
    /// The tensors as float32 safetensors bytes.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        to_safetensors(self.tensors.iter().map(|(n, t)| (n.as_str(), t)))
    }
}

fn to_safetensors<'a>(tensors: impl Iterator<Item = (&'a str, &'a StateTensor)>) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .map(|(n, t)| (n.to_string(), t.shape.clone(), t.values.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, shape, b)| Ok((n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    Ok(safetensors::serialize(views, None)?)
}

/// The tensor names and shapes `model` saves and loads (odenet's parameter paths).
pub fn expected_shapes(model: &Net) -> Result<BTreeMap<String, Vec<usize>>> {
    let bytes = checkpoint::weights_bytes(model)?;
    let file = safetensors::SafeTensors::deserialize(&bytes)?;
    Ok(file.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec())).collect())
}

/// A model with imported weights, and what the import did.
pub struct Imported {
    pub model: Net,
    /// The naming the file was read with (given or detected).
    pub naming: Naming,
    /// Tensors of the file the model has no use for, each with the reason.
    pub unused: Vec<Unused>,
}

/// Loads the state dict at `path` (`.pt`/`.pth` or safetensors, any float dtype) into `model`,
/// reading it with `naming` or, when None, the naming detected from its tensor names. Missing,
/// misshapen or unknown tensors are one error listing them all; tensors that the official code
/// keeps but never uses (and that the model therefore lacks) are returned in `unused`.
pub fn import(model: Net, path: &Path, naming: Option<Naming>) -> Result<Imported> {
    let state = read_state_dict(path)?;
    let naming = match naming {
        Some(n) => n,
        None => Naming::detect(&state).with_context(|| format!("{}: cannot tell its naming; pass --from", path.display()))?,
    };
    let expected = expected_shapes(&model)?;
    let mapped = naming::to_odenet(&state, naming, &expected);
    if let Some(problems) = mapped.problems() {
        bail!("{} ({naming} naming) does not fit the model of the config: {problems}", path.display());
    }
    let bytes = to_safetensors(mapped.tensors.iter().map(|(n, t)| (n.as_str(), t)))?;
    let model = checkpoint::load_model_bytes(model, bytes, path)?;
    Ok(Imported { model, naming, unused: mapped.unused })
}

/// File format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Format {
    /// What `torch.save(state_dict)` writes: a zip of a pickled OrderedDict and float32 storages.
    Pt,
    Safetensors,
}

impl Format {
    /// The format a file name asks for: `.pt`/`.pth` or `.safetensors`.
    pub fn of_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "pt" | "pth" => Some(Format::Pt),
            "safetensors" => Some(Format::Safetensors),
            _ => None,
        }
    }
}

/// `model`'s float32 tensors under odenet's paths, as in its `model.safetensors`.
pub fn model_tensors(model: &Net) -> Result<BTreeMap<String, StateTensor>> {
    let bytes = checkpoint::weights_bytes(model)?;
    let file = safetensors::SafeTensors::deserialize(&bytes)?;
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            anyhow::ensure!(view.dtype() == safetensors::Dtype::F32, "model tensor {name} is {:?}, not F32", view.dtype());
            let values = floats(pickle::Dtype::F32, view.data()).unwrap_or_default();
            Ok((name, StateTensor { shape: view.shape().to_vec(), values }))
        })
        .collect()
}

/// `model`'s weights (built from `config`) under `naming`: the inverse of [`import`]. The result
/// is checked to read back onto the same tensors of the model (every one, nothing else but the
/// official tensors the model has no counterpart for, which are listed in `filled`).
pub fn export(model: &Net, config: &NetConfig, naming: Naming) -> Result<Exported> {
    let tensors = model_tensors(model)?;
    let exported = naming::from_odenet(&tensors, naming, config)?;
    let expected = tensors.iter().map(|(n, t)| (n.clone(), t.shape.clone())).collect();
    let state = StateDict { file: PathBuf::new(), tensors: exported.tensors.clone() };
    let back = naming::to_odenet(&state, naming, &expected);
    let filled: Vec<&str> = exported.filled.iter().map(|f| f.name.as_str()).collect();
    let unused: Vec<&str> = back.unused.iter().map(|u| u.name.as_str()).collect();
    if let Some(problems) = back.problems() {
        bail!("internal error: the {naming} export of '{}' does not read back: {problems}", config.name);
    }
    if back.tensors.len() != tensors.len() || unused != filled {
        bail!("internal error: the {naming} export of '{}' does not read back onto the same tensors", config.name);
    }
    Ok(exported)
}

/// `tensors` as the bytes of a `format` file (float32).
pub fn encode(tensors: &[(String, StateTensor)], format: Format) -> Result<Vec<u8>> {
    match format {
        Format::Safetensors => to_safetensors(tensors.iter().map(|(n, t)| (n.as_str(), t))),
        Format::Pt => to_torch(tensors).map_err(|e| anyhow::anyhow!("writing a torch.save archive: {e}")),
    }
}

/// A `torch.save(OrderedDict)` archive of `tensors`: `archive/data.pkl`, `archive/byteorder`,
/// one float32 storage `archive/data/<i>` per tensor and `archive/version`.
fn to_torch(tensors: &[(String, StateTensor)]) -> Result<Vec<u8>, String> {
    let entries: Vec<pickle::FloatEntry> = tensors
        .iter()
        .enumerate()
        .map(|(i, (name, t))| pickle::FloatEntry { name, shape: &t.shape, key: i.to_string() })
        .collect();
    let pkl = pickle::write_state_dict(&entries)?;
    let storages: Vec<Vec<u8>> = tensors.iter().map(|(_, t)| t.values.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let mut files: Vec<(String, &[u8])> = vec![("archive/data.pkl".into(), &pkl), ("archive/byteorder".into(), b"little")];
    files.extend(storages.iter().enumerate().map(|(i, s)| (format!("archive/data/{i}"), s.as_slice())));
    files.push(("archive/version".into(), b"3\n"));
    zip::write(&files)
}
