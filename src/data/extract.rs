//! Crash-safe, extract-once unpacking of `.tar.gz` archives.
//!
//! The archive is unpacked into a private temporary folder and its top-level entries
//! are then renamed into place; a marker file records a complete extraction so later
//! runs skip the work, and a "pending" marker lets an interrupted run clean up only
//! what it itself moved. A killed extraction therefore never leaves a half-filled
//! dataset folder that looks complete.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::error::DataError;

/// `cifar10-jpeg.tar.gz` → `cifar10-jpeg` (also `.tgz`, `.tar`).
pub(crate) fn archive_stem(archive: &Path) -> String {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    [".tar.gz", ".tgz", ".tar"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(&name)
        .to_string()
}

fn marker(dest: &Path, archive: &Path, what: &str) -> PathBuf {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.join(format!(".{name}.{what}"))
}

fn read_list(path: &Path) -> Result<Vec<String>, DataError> {
    let text = fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    Ok(text
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// Write via a temporary name + rename so a marker is never half-written.
fn write_list(path: &Path, names: &[String]) -> Result<(), DataError> {
    let tmp = path.with_extension("writing");
    fs::write(&tmp, names.join("\n") + "\n").map_err(|e| DataError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| DataError::io(path, e))
}

fn remove_any(path: &Path) -> Result<(), DataError> {
    let res = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match res {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DataError::io(path, e)),
        _ => Ok(()),
    }
}

/// Unpack `archive` (gzip-compressed or plain tar) into `dest` once; returns the
/// names of the archive's top-level entries now in `dest`.
pub(crate) fn unpack_once(archive: &Path, dest: &Path) -> Result<Vec<String>, DataError> {
    let done = marker(dest, archive, "extracted");
    if done.is_file() {
        return read_list(&done);
    }
    fs::create_dir_all(dest).map_err(|e| DataError::io(dest, e))?;
    // Undo a previous run that died while moving entries into place.
    let pending = marker(dest, archive, "pending");
    if pending.is_file() {
        for name in read_list(&pending)? {
            remove_any(&dest.join(name))?;
        }
        remove_any(&pending)?;
    }
    let tmp = marker(dest, archive, "partial");
    remove_any(&tmp)?;
    fs::create_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;

    let file = fs::File::open(archive).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: archive.to_path_buf(),
            hint: "archive not found".into(),
        },
        _ => DataError::io(archive, e),
    })?;
    let mut buffered = BufReader::new(file);
    let gz = buffered
        .fill_buf()
        .map_err(|e| DataError::io(archive, e))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    // tar's `unpack` refuses entries that would escape `tmp` (`..`, absolute paths).
    tar::Archive::new(reader)
        .unpack(&tmp)
        .map_err(|e| DataError::Truncated {
            path: archive.to_path_buf(),
            detail: format!("cannot extract: {e}"),
        })?;

    let mut names = Vec::new();
    for entry in fs::read_dir(&tmp).map_err(|e| DataError::io(&tmp, e))? {
        names.push(
            entry
                .map_err(|e| DataError::io(&tmp, e))?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    if names.is_empty() {
        return Err(DataError::invalid(archive, "archive is empty"));
    }
    if let Some(clash) = names.iter().find(|n| dest.join(n).exists()) {
        return Err(DataError::invalid(
            dest.join(clash),
            format!(
                "already exists but is not from a complete extraction of {}; remove it and retry",
                archive.display()
            ),
        ));
    }
    write_list(&pending, &names)?;
    for n in &names {
        fs::rename(tmp.join(n), dest.join(n)).map_err(|e| DataError::io(dest.join(n), e))?;
    }
    write_list(&done, &names)?;
    remove_any(&pending)?;
    remove_any(&tmp)?;
    Ok(names)
}

/// Extract an image-folder archive into `dest` once (skipped when a marker from a
/// previous complete extraction exists) and return the folder that contains
/// `train/` — `dest` itself or a single top-level folder of the archive.
pub fn extract_tar_gz(archive: &Path, dest: &Path) -> Result<PathBuf, DataError> {
    let names = unpack_once(archive, dest)?;
    if dest.join("train").is_dir() {
        return Ok(dest.to_path_buf());
    }
    names
        .iter()
        .map(|n| dest.join(n))
        .find(|p| p.join("train").is_dir())
        .ok_or_else(|| {
            DataError::invalid(
                archive,
                "archive has no train/ folder at its top level or one level down",
            )
        })
}
