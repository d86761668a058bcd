//! Checkpoints that survive a crash or a full disk: each one is a folder written under a
//! temporary name and renamed into place, so a finished checkpoint is never half-overwritten.
//!
//! Layout of `<run>/<name>/`: `model.safetensors` (weights and BN statistics, PyTorch-style
//! names, for interchange and `odenet eval`), `model.bpk` (the same in Burn's burnpack, which also
//! keeps parameter ids, so `optim.bpk` — the SGD momentum buffers keyed by those ids — applies
//! again on `--resume`) and `state.json`.

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
pub fn save(
    run_dir: &Path,
    name: &str,
    model: &Net,
    optim: Option<&ModuleOptimizer>,
    state: &TrainState,
) -> Result<PathBuf> {
    // `valid()` syncs the BN running statistics; the training copy may lag one step behind.
    let model = &model.valid();
    let final_dir = run_dir.join(name);
    let tmp = run_dir.join(format!(".{name}.tmp"));
    let old = run_dir.join(format!(".{name}.old"));
    let _ = fs::remove_dir_all(&tmp);
    let written = fs::create_dir_all(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))
        .and_then(|()| write_all(&tmp, model, optim, state));
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e.context(format!("checkpoint '{name}' not written; the previous one is kept")));
    }
    // Swap: the old folder survives until the new one is in place.
    let _ = fs::remove_dir_all(&old);
    if final_dir.exists() {
        fs::rename(&final_dir, &old).context("cannot move the previous checkpoint aside")?;
    }
    fs::rename(&tmp, &final_dir).context("cannot move the new checkpoint into place")?;
    let _ = fs::remove_dir_all(&old);
    Ok(final_dir)
}

fn write_all(dir: &Path, model: &Net, optim: Option<&ModuleOptimizer>, state: &TrainState) -> Result<()> {
    let mut store = SafetensorsStore::from_file(dir.join("model.safetensors")).skip_enum_variants(true);
    model
        .save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("writing model weights: {e}"))?;
    let record = model.clone().into_record().into_bytes().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    fs::write(dir.join("model.bpk"), &*record).context("writing model.bpk")?;
    if let Some(optim) = optim {
        let bytes = optim.into_bytes().map_err(|e| anyhow::anyhow!("encoding optimizer state: {e:?}"))?;
        fs::write(dir.join("optim.bpk"), &*bytes).context("writing optimizer state")?;
    }
    let json = serde_json::to_string_pretty(state)?;
    fs::write(dir.join("state.json"), json).context("writing state.json")?;
    // Flush file contents so a power cut after rename does not leave empty files.
    for f in ["model.safetensors", "state.json"] {
        fs::File::open(dir.join(f)).and_then(|f| f.sync_all()).ok();
    }
    Ok(())
}

/// The checkpoint folder to read: `<run>/<name>`, or the moved-aside copy if a crash hit
/// between the two renames of [`save`].
pub fn locate(run_dir: &Path, name: &str) -> Option<PathBuf> {
    [run_dir.join(name), run_dir.join(format!(".{name}.old"))]
        .into_iter()
        .find(|d| d.join("state.json").is_file() && d.join("model.safetensors").is_file())
}

/// Loads weights (and BN statistics) from a checkpoint folder or a `.safetensors` file into `model`.
pub fn load_model(model: Net, path: &Path) -> Result<Net> {
    let file = if path.is_dir() { path.join("model.safetensors") } else { path.to_path_buf() };
    if !file.is_file() {
        anyhow::bail!("no model weights at {}", file.display());
    }
    let mut model = model;
    let mut store = SafetensorsStore::from_file(&file).skip_enum_variants(true).validate(true);
    let result = model
        .load_from(&mut store)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        let missing: Vec<_> = result.missing.iter().map(|(p, _)| p.as_str()).take(5).collect();
        anyhow::bail!(
            "{} does not fit this model: {} missing tensors (e.g. {:?}), {} errors (e.g. {:?})",
            file.display(),
            result.missing.len(),
            missing,
            result.errors.len(),
            result.errors.first()
        );
    }
    Ok(model)
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
