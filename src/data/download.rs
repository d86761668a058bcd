//! Checksum-verified downloads of the official dataset archives.
//!
//! Files are written to `<dest>.part` and renamed only after the MD5 matches, so an
//! interrupted or corrupted download never looks like a valid dataset file.
//! `ODENET_MIRROR` (or the `base_url` argument of [`download_from`]) replaces the
//! official host — an `http(s)://` base or a `file://` directory — for offline
//! mirrors and tests.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

use super::DatasetKind;
use super::error::DataError;
use super::extract::unpack_once;

/// Hex MD5 of a file (used to skip files already downloaded).
fn file_md5(path: &Path) -> Result<String, DataError> {
    let mut f = fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Open `url` for reading: `file://` paths directly, anything else over HTTP(S).
fn open(url: &str) -> Result<Box<dyn Read>, DataError> {
    let fail = |detail: String| DataError::Download {
        url: url.to_string(),
        detail,
    };
    if let Some(path) = url.strip_prefix("file://") {
        let f = fs::File::open(path).map_err(|e| fail(e.to_string()))?;
        return Ok(Box::new(f));
    }
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(30)))
            .build(),
    );
    let response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    Ok(Box::new(response.into_body().into_reader()))
}

/// Download `url` to `dest`, verifying its MD5 (`md5_hex`, case-insensitive).
/// The data goes to `dest.with_extension("part")` first and is renamed on success; on
/// a mismatch the partial file is deleted and [`DataError::Checksum`] reports expected
/// vs actual.
pub fn fetch_verified(url: &str, dest: &Path, md5_hex: &str) -> Result<(), DataError> {
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    let part = dest.with_extension("part");
    let result = (|| {
        let mut reader = open(url)?;
        let mut out = fs::File::create(&part).map_err(|e| DataError::io(&part, e))?;
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buf).map_err(|e| DataError::Download {
                url: url.to_string(),
                detail: format!("reading body: {e}"),
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| DataError::io(&part, e))?;
        }
        out.sync_all().map_err(|e| DataError::io(&part, e))?;
        let got = hex(&hasher.finalize());
        if !got.eq_ignore_ascii_case(md5_hex.trim()) {
            return Err(DataError::Checksum {
                url: url.to_string(),
                expected: md5_hex.trim().to_lowercase(),
                got,
            });
        }
        fs::rename(&part, dest).map_err(|e| DataError::io(dest, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&part);
    }
    result
}

/// [`download_from`] with the official host, or `$ODENET_MIRROR` when set.
pub fn download(kind: DatasetKind, dir: &Path) -> Result<PathBuf, DataError> {
    let mirror = std::env::var("ODENET_MIRROR")
        .ok()
        .filter(|m| !m.is_empty());
    download_from(kind, dir, mirror.as_deref())
}

/// Fetch a dataset's official files into `dir` (skipping files already present with
/// the right MD5), extract CIFAR archives, and return the folder to pass to
/// [`super::load`]: `dir/cifar-10-batches-bin`, `dir/cifar-100-binary`,
/// `dir/fashion-mnist` or `dir/mnist`. `base_url` replaces the official host.
pub fn download_from(
    kind: DatasetKind,
    dir: &Path,
    base_url: Option<&str>,
) -> Result<PathBuf, DataError> {
    let Some(src) = kind.facts().download else {
        return Err(DataError::Config(format!(
            "dataset '{kind}' has no download source; point --data-dir at it"
        )));
    };
    let out = dir.join(src.folder);
    let target = if src.archive.is_some() { dir.to_path_buf() } else { out.clone() };
    let base = base_url.unwrap_or(src.base);
    let sep = if base.ends_with('/') { "" } else { "/" };
    for (name, md5) in src.files {
        let dest = target.join(name);
        if dest.is_file() && file_md5(&dest)?.eq_ignore_ascii_case(md5) {
            continue;
        }
        fetch_verified(&format!("{base}{sep}{name}"), &dest, md5)?;
    }
    if let Some(archive) = src.archive {
        unpack_once(&dir.join(archive), dir)?;
        if !out.is_dir() {
            return Err(DataError::invalid(dir.join(archive), format!("archive did not contain {}/", src.folder)));
        }
    }
    Ok(out)
}
