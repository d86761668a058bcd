//! Checkpoints that survive a crash or a full disk: each one is a folder written under a
//! temporary name and renamed into place, so a finished checkpoint is never half-overwritten,
//! and every file in it is flushed to disk before the rename ([`super::durable`]).
//!
//! Layout of `<run>/<name>/`: `model.safetensors` (weights and BN statistics, PyTorch-style
//! names, for interchange and `odenet eval`), `model.bpk` (the same in Burn's burnpack, which also
//! keeps parameter ids, so `optim.bpk` — the SGD momentum buffers keyed by those ids — applies
//! again on `--resume`) and `state.json`, written last.

use super::durable;
use crate::net::Net;
use anyhow::{Context, Result};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// Progress recorded with a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// Number of finished epochs.
    pub epochs_done: usize,
    pub best_test_acc: f64,
    pub best_epoch: usize,
}

/// Writes `model`, `optim` and `state` to `<run_dir>/<name>/` atomically.
///
/// The new folder is written as `.<name>.tmp` (every file flushed, `state.json` last), then
/// swapped in: `<name>` → `.<name>.old`, `.<name>.tmp` → `<name>`, remove `.<name>.old`. A crash
/// at any point leaves a complete checkpoint that [`recover`] puts back in place.
pub fn save(
    run_dir: &Path,
    name: &str,
    model: &Net,
    optim: Option<&ModuleOptimizer>,
    state: &TrainState,
) -> Result<PathBuf> {
    recover(run_dir, name)?;
    // `valid()` syncs the BN running statistics; the training copy may lag one step behind.
    let model = &model.valid();
    let [final_dir, tmp, old] = paths(run_dir, name);
    let written = fs::create_dir_all(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))
        .and_then(|()| write_all(&tmp, model, optim, state));
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e.context(format!("checkpoint '{name}' not written; the previous one is kept")));
    }
    // Swap: the old folder survives until the new one is in place.
    if final_dir.exists() {
        durable::rename(&final_dir, &old).context("cannot move the previous checkpoint aside")?;
    }
    durable::rename(&tmp, &final_dir).context("cannot move the new checkpoint into place")?;
    durable::fault_point("remove the previous checkpoint");
    remove_dir(&old)?;
    Ok(final_dir)
}

/// `<run>/<name>`, `<run>/.<name>.tmp` (being written) and `<run>/.<name>.old` (being replaced).
fn paths(run_dir: &Path, name: &str) -> [PathBuf; 3] {
    [run_dir.join(name), run_dir.join(format!(".{name}.tmp")), run_dir.join(format!(".{name}.old"))]
}

/// Removes a folder if it exists and flushes its parent.
fn remove_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        // state.json first: a half-removed folder never looks complete.
        let _ = fs::remove_file(dir.join("state.json"));
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        if let Some(parent) = dir.parent() {
            durable::sync_dir(parent)?;
        }
    }
    Ok(())
}

/// The weights and BN statistics of `model` as safetensors, under odenet's parameter paths (the
/// names of its PyTorch twin, `scripts/odenet_torch.py`).
pub fn weights_bytes(model: &Net) -> Result<Vec<u8>> {
    let mut store = SafetensorsStore::from_bytes(None).skip_enum_variants(true);
    model.save_into(&mut store).map_err(|e| anyhow::anyhow!("encoding model weights: {e}"))?;
    store.get_bytes().map_err(|e| anyhow::anyhow!("encoding model weights: {e}"))
}

fn write_all(dir: &Path, model: &Net, optim: Option<&ModuleOptimizer>, state: &TrainState) -> Result<()> {
    durable::write(&dir.join("model.safetensors"), &weights_bytes(model)?)?;
    let record = model.clone().into_record().into_bytes().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    durable::write(&dir.join("model.bpk"), &record)?;
    if let Some(optim) = optim {
        let bytes = optim.into_bytes().map_err(|e| anyhow::anyhow!("encoding optimizer state: {e:?}"))?;
        durable::write(&dir.join("optim.bpk"), &bytes)?;
    }
    // Last: a folder holding state.json is complete (see `is_complete`).
    durable::write_json(&dir.join("state.json"), state)
}

/// A checkpoint folder whose writing finished (`state.json` is written last).
fn is_complete(dir: &Path) -> bool {
    dir.join("state.json").is_file() && dir.join("model.safetensors").is_file()
}

/// Repairs `<run_dir>/<name>` after a crash inside [`save`] (for the process that writes the
/// run): puts the newest complete copy in place — `.<name>.tmp` if its writing finished (it is
/// always newer than `<name>`: [`save`] starts by cleaning it), else `<name>`, else
/// `.<name>.old` — and removes the leftovers. Returns whether the checkpoint exists.
pub fn recover(run_dir: &Path, name: &str) -> Result<bool> {
    let [final_dir, tmp, old] = paths(run_dir, name);
    let newest = if is_complete(&tmp) {
        Some(&tmp)
    } else {
        (!is_complete(&final_dir) && is_complete(&old)).then_some(&old)
    };
    if let Some(found) = newest {
        remove_dir(&final_dir)?;
        durable::rename(found, &final_dir)?;
        tracing::warn!("recovered checkpoint {} from {}", final_dir.display(), found.display());
    }
    remove_dir(&tmp)?;
    remove_dir(&old)?;
    Ok(is_complete(&final_dir))
}

/// The checkpoint folder to read (for readers such as `eval`, which must not disturb a run being
/// written): `<run>/<name>` if complete, else the complete copy a crash inside [`save`] left
/// behind (the one [`recover`] would choose).
pub fn locate(run_dir: &Path, name: &str) -> Option<PathBuf> {
    let [final_dir, tmp, old] = paths(run_dir, name);
    [final_dir, tmp, old].into_iter().find(|d| is_complete(d))
}

/// Loads weights (and BN statistics) from a checkpoint folder or a `.safetensors` file into `model`.
pub fn load_model(model: Net, path: &Path) -> Result<Net> {
    let file = if path.is_dir() { path.join("model.safetensors") } else { path.to_path_buf() };
    if !file.is_file() {
        anyhow::bail!("no model weights at {}", file.display());
    }
    let bytes = fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    load_model_bytes(model, to_float32(&file, bytes)?, &file)
}

/// Loads float32 safetensors `bytes` under odenet's parameter paths (read from `file`) into
/// `model`; every tensor of the model must be there and nothing else.
pub fn load_model_bytes(model: Net, bytes: Vec<u8>, file: &Path) -> Result<Net> {
    let mut model = model;
    // Partial: missing tensors are listed below by name instead of Burn's bare "not found".
    let mut store = SafetensorsStore::from_bytes(Some(bytes))
        .skip_enum_variants(true)
        .validate(true)
        .allow_partial(true);
    let result = model
        .load_from(&mut store)
        .map_err(|e| anyhow::anyhow!("{} does not fit the model of the config: {e}", file.display()))?;
    if !result.missing.is_empty() || !result.unused.is_empty() || !result.errors.is_empty() {
        let missing: Vec<_> = result.missing.iter().map(|(p, _)| p.as_str()).take(5).collect();
        let unused: Vec<_> = result.unused.iter().take(5).collect();
        anyhow::bail!(
            "{} does not fit the model of the config: {} missing tensors (e.g. {:?}), {} tensors \
             the model does not have (e.g. {:?}), {} errors (e.g. {:?})",
            file.display(),
            result.missing.len(),
            missing,
            result.unused.len(),
            unused,
            result.errors.len(),
            result.errors.first()
        );
    }
    Ok(model)
}

/// The safetensors `bytes` of `file` with every floating-point tensor as float32 (odenet's
/// dtype; F64, F16 and BF16 are converted, as PyTorch exports may hold them) and PyTorch's
/// integer `num_batches_tracked` counters dropped; any other tensor type is an error naming it.
fn to_float32(file: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    let tensors = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("{} is not a valid safetensors file: {e}", file.display()))?;
    if tensors.tensors().iter().all(|(_, t)| t.dtype() == safetensors::Dtype::F32) {
        return Ok(bytes);
    }
    crate::interchange::parse_state_dict(file, &bytes)?.to_safetensors()
}

/// Restores a model with its parameter ids from `<dir>/model.bpk` (for resuming).
pub fn load_resumable(model: Net, dir: &Path) -> Result<Net> {
    let bytes = fs::read(dir.join("model.bpk"))
        .with_context(|| format!("reading {}/model.bpk", dir.display()))?;
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes)).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    model.try_load_record(record).map_err(|e| anyhow::anyhow!("applying model.bpk: {e:?}"))
}

/// Reads the optimizer state written next to a checkpoint.
pub fn load_optim(optim: ModuleOptimizer, dir: &Path) -> Result<ModuleOptimizer> {
    let bytes = fs::read(dir.join("optim.bpk"))
        .with_context(|| format!("reading optimizer state in {}", dir.display()))?;
    optim
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| anyhow::anyhow!("decoding optimizer state: {e:?}"))
}

pub fn load_state(dir: &Path) -> Result<TrainState> {
    let text = fs::read_to_string(dir.join("state.json"))
        .with_context(|| format!("reading {}/state.json", dir.display()))?;
    Ok(serde_json::from_str(&text)?)
}
