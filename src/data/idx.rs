//! IDX files (MNIST, Fashion-MNIST), raw or gzipped. Compression is detected from
//! the gzip magic bytes rather than the file name, because distributions differ
//! (Debian ships `.gz`, Kaggle and torchvision's `raw/` ship plain files).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::dataset::{DataSplit, ImageDataset};
use super::error::{DataError, read_file};

/// Fashion-MNIST class names in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Deflate cannot expand data by more than about 1032:1 (RFC 1951 limits a 258-byte match to
/// 2 bits at best), so a gzip stream whose header promises more is refused before decoding.
const MAX_DEFLATE_RATIO: usize = 1032;

/// File contents of an IDX file with `ndims` dimensions, gunzipped if they start with the gzip
/// magic `1f 8b`. Decompression stops at the size the IDX header announces (plus one byte, to
/// detect a longer stream), so a gzip bomb cannot inflate beyond what the file claims to hold.
fn read_maybe_gz(path: &Path, hint: &str, ndims: usize) -> Result<Vec<u8>, DataError> {
    let bytes = read_file(path, hint)?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let corrupt = |e: std::io::Error| DataError::Truncated {
        path: path.to_path_buf(),
        detail: format!("corrupt gzip stream: {e}"),
    };
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes.as_slice());
    let header_len = 4 * (1 + ndims);
    let mut out = Vec::with_capacity(header_len);
    (&mut decoder).take(header_len as u64).read_to_end(&mut out).map_err(corrupt)?;
    if out.len() < header_len {
        return Ok(out); // parse_idx reports the short header
    }
    let dims = (0..ndims).map(|d| {
        let i = 4 + 4 * d;
        u32::from_be_bytes([out[i], out[i + 1], out[i + 2], out[i + 3]]) as usize
    });
    let payload = dims.fold(Some(1usize), |acc, d| acc.and_then(|a| a.checked_mul(d)));
    let limit = payload.and_then(|p| p.checked_add(header_len));
    let max = bytes.len().saturating_mul(MAX_DEFLATE_RATIO);
    match limit {
        Some(limit) if limit <= max => {
            (&mut decoder).take((limit - header_len + 1) as u64).read_to_end(&mut out).map_err(corrupt)?;
            Ok(out)
        }
        _ => Err(DataError::Truncated {
            path: path.to_path_buf(),
            detail: format!(
                "the IDX header announces {} bytes, more than a {}-byte gzip file can hold",
                limit.map_or_else(|| "over 2^64".to_string(), |l| l.to_string()),
                bytes.len()
            ),
        }),
    }
}

/// Parse the IDX header: magic, then one big-endian u32 per dimension.
/// Returns the dims and the payload, checking the payload length exactly.
fn parse_idx<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    ndims: usize,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let header = 4 * (1 + ndims);
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            detail: format!(
                "{} bytes is shorter than the {header}-byte IDX header",
                bytes.len()
            ),
        });
    }
    let found = be(0);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected: magic,
            found,
        });
    }
    let dims: Vec<usize> = (0..ndims).map(|d| be(4 + 4 * d) as usize).collect();
    let payload = &bytes[header..];
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if expected != Some(payload.len()) {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            detail: format!(
                "header dims {dims:?} need {expected:?} payload bytes but the file has {}",
                payload.len()
            ),
        });
    }
    Ok((dims, payload))
}

/// Read an IDX3 image file: returns (count, rows, cols, pixels row-major).
pub fn read_idx_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    let bytes = read_maybe_gz(path, "IDX image file not found", 3)?;
    let (dims, payload) = parse_idx(path, &bytes, IMAGES_MAGIC, 3)?;
    if dims[1] == 0 || dims[2] == 0 {
        return Err(DataError::invalid(
            path,
            format!("image size {}x{} has a zero dimension", dims[1], dims[2]),
        ));
    }
    Ok((dims[0], dims[1], dims[2], payload.to_vec()))
}

/// Read an IDX1 label file, checking every label is `< num_classes`.
pub fn read_idx_labels(path: &Path, num_classes: usize) -> Result<Vec<u32>, DataError> {
    let bytes = read_maybe_gz(path, "IDX label file not found", 1)?;
    let (_, payload) = parse_idx(path, &bytes, LABELS_MAGIC, 1)?;
    if let Some(index) = payload.iter().position(|&l| l as usize >= num_classes) {
        return Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: payload[index] as u32,
            classes: num_classes,
        });
    }
    Ok(payload.iter().map(|&l| l as u32).collect())
}

/// Find `<stem>-idxN-ubyte` in `dir`, also accepting `.gz` and the `stem.idxN-ubyte` spelling.
fn find_file(dir: &Path, stem: &str, kind: &str, hint: &str) -> Result<PathBuf, DataError> {
    let names = [
        format!("{stem}-{kind}-ubyte"),
        format!("{stem}-{kind}-ubyte.gz"),
        format!("{stem}.{kind}-ubyte"),
        format!("{stem}.{kind}-ubyte.gz"),
    ];
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::Missing {
            path: dir.join(&names[1]),
            hint: hint.to_string(),
        })
}

/// One split: images + labels, checking the counts agree.
fn read_split(
    dir: &Path,
    prefix: &str,
    classes: &[String],
    hint: &str,
) -> Result<ImageDataset, DataError> {
    let img_path = find_file(dir, &format!("{prefix}-images"), "idx3", hint)?;
    let lbl_path = find_file(dir, &format!("{prefix}-labels"), "idx1", hint)?;
    let (n, rows, cols, images) = read_idx_images(&img_path)?;
    let labels = read_idx_labels(&lbl_path, classes.len())?;
    if labels.len() != n {
        return Err(DataError::invalid(
            &lbl_path,
            format!(
                "has {} labels but {} has {n} images",
                labels.len(),
                img_path.display()
            ),
        ));
    }
    if n == 0 {
        return Err(DataError::invalid(&img_path, "contains no images"));
    }
    Ok(ImageDataset {
        images,
        labels,
        shape: [1, rows, cols],
        classes: classes.to_vec(),
    })
}

/// Load an MNIST-style directory (`train-…` and `t10k-…` IDX files) with the given
/// class names; `name` becomes [`DataSplit::name`].
pub fn load_idx_dir(dir: &Path, name: &str, classes: &[&str]) -> Result<DataSplit, DataError> {
    let hint = if name == "fashion-mnist" {
        "install it with `apt-get install -y dataset-fashion-mnist` or run `odenet download fashion-mnist --dir DIR`"
    } else {
        "install it with `apt-get install -y dataset-mnist` or fetch the four IDX files into DIR"
    };
    if !dir.is_dir() {
        return Err(DataError::Missing {
            path: dir.to_path_buf(),
            hint: hint.to_string(),
        });
    }
    let classes: Vec<String> = classes.iter().map(|s| s.to_string()).collect();
    let train = read_split(dir, "train", &classes, hint)?;
    let test = read_split(dir, "t10k", &classes, hint)?;
    if train.shape != test.shape {
        return Err(DataError::invalid(
            dir,
            format!(
                "train images are {:?} but test images are {:?}",
                train.shape, test.shape
            ),
        ));
    }
    Ok(DataSplit::new(name, train, test))
}
