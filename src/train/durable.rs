//! Files that survive a crash at any instant: every file of a run is written under a temporary
//! name, flushed to disk (`fsync`), renamed over the old one and its directory flushed, so a
//! reader sees either the old file or the new one, never a torn or empty one (POSIX `rename`
//! is atomic; the directory `fsync` makes the rename itself durable).
//!
//! A test-only fault hook counts every write and rename made here and by the checkpoint writer
//! ([`fault_point`]): with `ODENET_FAULT_AT=N` in the environment of the `odenet` binary the
//! process aborts at the N-th one (as `kill -9` would), and [`arm_fault`] makes the library
//! panic there instead, so a test can stop a run at every write point in turn.

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static FAULT_AT: AtomicUsize = AtomicUsize::new(0);
static FAULT_SEEN: AtomicUsize = AtomicUsize::new(0);
static FAULT_ABORTS: AtomicBool = AtomicBool::new(false);
static SYNC: AtomicBool = AtomicBool::new(true);

/// Turns the `fsync` calls off (`false`) or on again, for this process. Only for tests of the
/// crash logic: a killed process loses nothing that reached the kernel, so flushing to the disk
/// (≈ 10–20 ms each on a busy virtual disk) only matters for power loss.
pub fn set_sync(on: bool) {
    SYNC.store(on, Ordering::SeqCst);
}

fn syncing() -> bool {
    SYNC.load(Ordering::SeqCst)
}

/// Stops the process at the `at`-th write point from now (1-based; 0 disarms): `abort()` when
/// `abort` is set (the binary's `ODENET_FAULT_AT`), otherwise a panic (in-process tests).
pub fn arm_fault(at: usize, abort: bool) {
    FAULT_SEEN.store(0, Ordering::SeqCst);
    FAULT_ABORTS.store(abort, Ordering::SeqCst);
    FAULT_AT.store(at, Ordering::SeqCst);
}

/// Number of write points passed since the last [`arm_fault`].
pub fn fault_points_seen() -> usize {
    FAULT_SEEN.load(Ordering::SeqCst)
}

/// Marks a write point: a no-op unless a fault is armed for this one.
pub fn fault_point(what: &str) {
    let n = FAULT_SEEN.fetch_add(1, Ordering::SeqCst) + 1;
    if FAULT_AT.load(Ordering::SeqCst) == n {
        FAULT_AT.store(0, Ordering::SeqCst);
        if FAULT_ABORTS.load(Ordering::SeqCst) {
            eprintln!("ODENET_FAULT_AT: aborting at write point {n} ({what})");
            std::process::abort();
        }
        panic!("injected fault at write point {n} ({what})");
    }
}

/// Flushes a directory entry list to disk (after a rename or removal inside it).
pub fn sync_dir(dir: &Path) -> Result<()> {
    // Opening a directory read-only and fsyncing it is the POSIX way; other systems skip it.
    #[cfg(unix)]
    if syncing() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("flushing folder {}", dir.display()))?;
    }
    Ok(())
}

/// The folder holding `path` ("." for a bare file name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Renames `from` to `to` and flushes the folder of `to`.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    fault_point("rename");
    fs::rename(from, to)
        .with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))?;
    sync_dir(&parent(to))
}

/// Writes `bytes` to `path` atomically: `<path>.tmp`, fsync, rename, fsync of the folder.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fault_point("write");
    let written = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| if syncing() { f.sync_all() } else { Ok(()) }))
        .with_context(|| format!("writing {}", tmp.display()));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    rename(&tmp, path)
}

/// Writes `value` as pretty JSON to `path` atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write(path, serde_json::to_string_pretty(value)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("odenet-durable-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.json");
        write(&f, b"one").unwrap();
        write(&f, b"two").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        // A write into a missing folder fails with the path named, and no panic.
        let err = write(&dir.join("missing/b.json"), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("missing/b.json.tmp"), "{err:#}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
