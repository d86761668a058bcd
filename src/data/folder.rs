//! Image folders in the ImageNet / torchvision `ImageFolder` layout:
//! `<root>/train/<class>/*.{jpg,jpeg,png}` and `<root>/test/<class>/…` (or `val/`).
//!
//! Classes are sorted by folder name, as torchvision does; for the CIFAR-10 JPEG
//! copy that is also the official label order (airplane … truck happen to be
//! alphabetical). A `classes.txt` in `<root>` (one name per line) overrides the
//! order for datasets where name order is not the label order.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::DynamicImage;
use rayon::prelude::*;

use super::dataset::{DataSplit, ImageDataset};
use super::error::DataError;

/// File extensions we decode (case-insensitive); other files are ignored.
const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// Sorted names of the sub-directories of `dir` (hidden ones skipped).
fn subdirs(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Sorted image files directly inside `dir` (sorted so the dataset order is reproducible).
fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
        if path.is_file() && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The class order: `classes.txt` if present (must match the folders), else sorted names.
fn class_order(root: &Path, folders: &[String]) -> Result<Vec<String>, DataError> {
    let list = root.join("classes.txt");
    if !list.is_file() {
        return Ok(folders.to_vec());
    }
    let names = super::dataset::read_name_list(&list)?;
    let mut sorted = names.clone();
    sorted.sort();
    if sorted != folders {
        return Err(DataError::invalid(
            &list,
            format!("lists classes {names:?} but the train folder has class folders {folders:?}"),
        ));
    }
    Ok(names)
}

/// Decode one file; the `image` crate returns errors (never panics) on corrupt data.
pub(crate) fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    reader.decode().map_err(|source| DataError::Decode {
        path: path.to_path_buf(),
        source,
    })
}

/// Whether an image has no colour (L or LA); such images stay 1-channel only if all are.
fn is_gray(img: &DynamicImage) -> bool {
    !img.color().has_color()
}

/// Interleaved HWC pixels → planar CHW.
fn to_chw(hwc: &[u8], channels: usize) -> Vec<u8> {
    let plane = hwc.len() / channels.max(1);
    let mut out = vec![0u8; hwc.len()];
    for (i, px) in hwc.chunks_exact(channels).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            out[c * plane + i] = v;
        }
    }
    out
}

/// All files of one split with their labels, checking the class folders match `classes`.
fn list_split(split_dir: &Path, classes: &[String]) -> Result<Vec<(PathBuf, u32)>, DataError> {
    let mut found = subdirs(split_dir)?;
    let mut expected = classes.to_vec();
    found.sort();
    expected.sort();
    if let Some(missing) = expected.iter().find(|c| !found.contains(c)) {
        return Err(DataError::invalid(
            split_dir,
            format!(
                "has no folder for class '{missing}' (present in the train split); every class needs a folder in each split"
            ),
        ));
    }
    if let Some(extra) = found.iter().find(|c| !expected.contains(c)) {
        return Err(DataError::invalid(
            split_dir,
            format!(
                "has a folder for class '{extra}' that the train split lacks; every class needs a folder in each split"
            ),
        ));
    }
    let mut items = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let dir = split_dir.join(class);
        let files = image_files(&dir)?;
        if files.is_empty() {
            return Err(DataError::invalid(
                &dir,
                "class folder contains no .jpg/.jpeg/.png images",
            ));
        }
        items.extend(files.into_iter().map(|f| (f, label as u32)));
    }
    Ok(items)
}

/// Decode all images of both splits in parallel and pack them as CHW bytes.
/// Returns (train, test) datasets sharing one shape.
fn decode_all(
    train: Vec<(PathBuf, u32)>,
    test: Vec<(PathBuf, u32)>,
    classes: &[String],
) -> Result<(ImageDataset, ImageDataset), DataError> {
    let n_train = train.len();
    let items: Vec<(PathBuf, u32)> = train.into_iter().chain(test).collect();
    // Collect every result, then report the first failure in file order, so the error
    // does not depend on thread scheduling.
    let decoded: Vec<Result<DynamicImage, DataError>> =
        items.par_iter().map(|(p, _)| decode(p)).collect();
    let decoded: Vec<DynamicImage> = decoded.into_iter().collect::<Result<_, _>>()?;
    let (Some(first), Some((first_path, _))) = (decoded.first(), items.first()) else {
        return Err(DataError::Config("no images to decode".into()));
    };
    let (w, h) = (first.width(), first.height());
    for (img, (path, _)) in decoded.iter().zip(&items) {
        if (img.width(), img.height()) != (w, h) {
            return Err(DataError::ShapeMismatch {
                path: path.clone(),
                reference: first_path.clone(),
                got_w: img.width(),
                got_h: img.height(),
                want_w: w,
                want_h: h,
            });
        }
    }
    let channels = if decoded.iter().all(is_gray) { 1 } else { 3 };
    let pixels: Vec<Vec<u8>> = decoded
        .into_par_iter()
        .map(|img| match channels {
            1 => img.into_luma8().into_raw(),
            _ => to_chw(&img.into_rgb8().into_raw(), 3),
        })
        .collect();
    let shape = [channels, h as usize, w as usize];
    let pack = |range: std::ops::Range<usize>| ImageDataset {
        images: pixels[range.clone()].concat(),
        labels: items[range].iter().map(|(_, l)| *l).collect(),
        shape,
        classes: classes.to_vec(),
    };
    Ok((pack(0..n_train), pack(n_train..items.len())))
}

/// The file lists of an image folder, found without decoding anything.
pub(crate) struct Scan {
    /// Name of the root folder (the dataset name in reports).
    pub name: String,
    pub classes: Vec<String>,
    pub train: Vec<(PathBuf, u32)>,
    pub test: Vec<(PathBuf, u32)>,
}

/// List `<root>/train` and `<root>/test` (or `<root>/val`) with their labels, checking
/// the layout (both splits present, same class folders, no empty class folder).
pub(crate) fn scan(root: &Path) -> Result<Scan, DataError> {
    let train_dir = root.join("train");
    if !train_dir.is_dir() {
        return Err(DataError::Missing {
            path: train_dir,
            hint: "an image folder needs <root>/train/<class>/*.jpg|png and <root>/test/<class>/… (or val/)".into(),
        });
    }
    let test_dir = ["test", "val"]
        .iter()
        .map(|s| root.join(s))
        .find(|p| p.is_dir())
        .ok_or_else(|| DataError::Missing {
            path: root.join("test"),
            hint: "an image folder needs a test/ (or val/) split next to train/".into(),
        })?;
    let folders = subdirs(&train_dir)?;
    if folders.is_empty() {
        return Err(DataError::invalid(
            &train_dir,
            "split is empty: no class folders",
        ));
    }
    let classes = class_order(root, &folders)?;
    let train = list_split(&train_dir, &classes)?;
    let test = list_split(&test_dir, &classes)?;
    let name = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "folder".to_string());
    Ok(Scan { name, classes, train, test })
}

/// Load `<root>/train` and `<root>/test` (or `<root>/val`), decoding every image once.
/// Grayscale images are expanded to RGB unless every image is grayscale.
pub fn load_folder(root: &Path) -> Result<DataSplit, DataError> {
    let Scan { name, classes, train, test } = scan(root)?;
    let (train, test) = decode_all(train, test, &classes)?;
    Ok(DataSplit::new(name, train, test))
}
