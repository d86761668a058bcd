//! One error type for the whole data module, so callers can match on what went wrong
//! and every message names the file involved.

use std::path::PathBuf;

/// Everything that can go wrong while finding, reading, decoding or downloading data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An operating-system I/O error on a specific file or directory.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A required file or directory does not exist; `hint` says how to get it.
    #[error("missing {}: {hint}", path.display())]
    Missing { path: PathBuf, hint: String },

    /// The file ends early or its length does not fit the format.
    #[error("{}: truncated or wrong size: {detail}", path.display())]
    Truncated { path: PathBuf, detail: String },

    /// An IDX file does not start with the expected magic number.
    #[error("{}: bad magic number 0x{found:08x}, expected 0x{expected:08x}", path.display())]
    BadMagic {
        path: PathBuf,
        expected: u32,
        found: u32,
    },

    /// A label is not a valid class index.
    #[error("{}: label {label} of record {index} is out of range (only {classes} classes)", path.display())]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u32,
        classes: usize,
    },

    /// The data is readable but inconsistent (count mismatch, missing class, empty split...).
    #[error("{}: {detail}", path.display())]
    Invalid { path: PathBuf, detail: String },

    /// The `image` crate could not decode a file.
    #[error("{}: cannot decode image: {source}", path.display())]
    Decode {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },

    /// An image's size differs from the rest of the dataset.
    #[error(
        "{}: image is {got_w}x{got_h} but {} (the first image) is {want_w}x{want_h}; all images must have one size",
        path.display(), reference.display()
    )]
    ShapeMismatch {
        path: PathBuf,
        reference: PathBuf,
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },

    /// A downloaded file's MD5 does not match the published one.
    #[error(
        "checksum mismatch for {url}: expected md5 {expected}, got {got} (partial file deleted)"
    )]
    Checksum {
        url: String,
        expected: String,
        got: String,
    },

    /// The HTTP request failed (connection, status code, body read).
    #[error("download of {url} failed: {detail}")]
    Download { url: String, detail: String },

    /// The dataset name on the command line is not one we know.
    #[error("unknown dataset '{name}'; valid names are: {valid}")]
    UnknownDataset { name: String, valid: String },

    /// Bad parameters passed to the API (e.g. batch size 0, wrong number of channels in mean/std).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl DataError {
    /// Shorthand for wrapping an `io::Error` with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`DataError::Invalid`].
    pub(crate) fn invalid(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.into(),
            detail: detail.into(),
        }
    }
}

/// Read a whole file, mapping "not found" to [`DataError::Missing`] with a hint.
pub(crate) fn read_file(path: &std::path::Path, hint: &str) -> Result<Vec<u8>, DataError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::Missing {
            path: path.to_path_buf(),
            hint: hint.to_string(),
        }),
        Err(e) => Err(DataError::io(path, e)),
    }
}
