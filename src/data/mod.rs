//! Data loading for the experiments: readers for CIFAR-10/100 (binary), MNIST and
//! Fashion-MNIST (IDX) and ImageNet-style image folders, a seeded augmenting batch
//! loader, a lazily decoding loader for ImageNet-scale folders ([`ImageFolderLoader`]
//! with decode-time [`Transform`]s), the [`BatchSource`] interface over both loaders,
//! and checksum-verified downloads.
//!
//! Everything here works on plain `Vec<u8>` / `Vec<f32>` so that it stays independent
//! of the Burn backend; the trainer turns a [`Batch`] into tensors itself.
//! Nothing in this module panics on bad input: every failure is a [`DataError`]
//! that names the offending file.

mod augment;
mod cifar;
mod dataset;
mod download;
mod error;
mod extract;
mod facts;
mod folder;
mod idx;
mod lazy;
mod loader;
mod prefetch;
mod source;
mod transform;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use augment::{Augment, Placement, normalize_into};
pub use cifar::{CIFAR10_CLASSES, CIFAR100_CLASSES, load_cifar10, load_cifar100, read_cifar_file};
pub use dataset::{DataSplit, ImageDataset, channel_stats};
pub use download::{download, download_from, fetch_verified};
pub use error::DataError;
pub use extract::extract_tar_gz;
pub use facts::{DatasetFacts, Download, Normalization};
pub use folder::load_folder;
pub use idx::{FASHION_MNIST_CLASSES, load_idx_dir, read_idx_images, read_idx_labels};
pub use lazy::{FolderEpochIter, ImageFolderFiles, ImageFolderLoader, ImageFolderSplit, scan_folder};
pub use prefetch::{PREFETCH, Prefetch};
pub use loader::{Batch, BatchLoader, EpochIter};
pub use source::{BatchIter, BatchSource};
pub use transform::{
    FolderTransforms, IMAGENET_MEAN, IMAGENET_STD, ResizedCrop, Transform, apply_pipeline,
    center_crop_offset, normalize_rgb_into, output_size, resized_size, sample_resized_crop,
};

/// What the user asked for on the command line, e.g. `--data cifar10 --data-dir data/`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub enum DatasetKind {
    Cifar10,
    Cifar100,
    FashionMnist,
    Mnist,
    /// Image folder decoded once into memory (all images one size, e.g. CIFAR JPEGs).
    Folder,
    /// Image folder read lazily, image by image, with decode-time transforms (ImageNet:
    /// variable sizes, too large for memory). The transforms travel with the kind so
    /// that a run's `config.json` records them; they default to ImageNet at 224.
    ImageNet {
        #[serde(default)]
        transforms: FolderTransforms,
    },
}

/// The accepted command-line spellings, listed in error messages.
const VALID_NAMES: &str = "cifar10, cifar100, fashion-mnist, mnist, folder, imagenet";

impl DatasetKind {
    /// Canonical command-line name (inverse of `FromStr`).
    pub fn name(&self) -> &'static str {
        self.facts().name
    }

    /// The ImageNet kind with the standard transforms at crop `size` (224 normally).
    pub fn imagenet(size: usize) -> Self {
        DatasetKind::ImageNet { transforms: FolderTransforms::imagenet(size) }
    }

    /// Number of classes: fixed for the named sets; for image folders one per class folder
    /// of `path` (listed, not decoded).
    pub fn num_classes(&self, path: &Path) -> Result<usize, DataError> {
        match self.facts().classes {
            Some(classes) => Ok(classes),
            None => Ok(open_folder(path)?.train.num_classes()),
        }
    }

    /// The command that fetches this dataset, or why there is none.
    pub fn download_hint(&self) -> String {
        match self.facts().download {
            Some(Download { alternative: Some(other), .. }) => format!("{other} or `odenet download {self}`"),
            Some(_) => format!("`odenet download {self}`"),
            None => "no download: place train/ and test/ (or val/) class folders there".into(),
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = DataError;

    /// Case-insensitive; `_` and `-` are interchangeable and optional
    /// (`fashion_mnist`, `FashionMNIST`, `cifar-10` all work).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String = s
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        match key.as_str() {
            "cifar10" => Ok(DatasetKind::Cifar10),
            "cifar100" => Ok(DatasetKind::Cifar100),
            "fashionmnist" | "fmnist" => Ok(DatasetKind::FashionMnist),
            "mnist" => Ok(DatasetKind::Mnist),
            "folder" | "imagefolder" => Ok(DatasetKind::Folder),
            "imagenet" | "lazyfolder" => Ok(DatasetKind::imagenet(224)),
            _ => Err(DataError::UnknownDataset {
                name: s.to_string(),
                valid: VALID_NAMES.to_string(),
            }),
        }
    }
}

/// Where each dataset lives when `--data-dir` is not given.
pub fn default_path(kind: &DatasetKind) -> PathBuf {
    PathBuf::from(kind.facts().default_path)
}

/// Load a dataset's train and test splits and compute the normalisation statistics
/// from the train split.
///
/// For [`DatasetKind::Folder`], `path` may also be a `.tar.gz`/`.tgz` archive in the
/// image-folder layout; it is extracted once (see [`extract_tar_gz`]) into
/// `$ODENET_EXTRACT_DIR/<archive stem>` (default `data/<archive stem>`).
///
/// [`DatasetKind::ImageNet`] is never loaded into memory: this returns
/// [`DataError::Config`]; list it with [`open_folder`] and read it with
/// [`ImageFolderLoader`] (the trainer's `make_loaders` does both).
pub fn load(kind: DatasetKind, path: &Path) -> Result<DataSplit, DataError> {
    match kind {
        DatasetKind::Cifar10 => load_cifar10(path),
        DatasetKind::Cifar100 => load_cifar100(path),
        DatasetKind::FashionMnist => load_idx_dir(path, "fashion-mnist", &FASHION_MNIST_CLASSES),
        DatasetKind::Mnist => load_idx_dir(
            path,
            "mnist",
            &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
        ),
        DatasetKind::Folder => load_folder(&folder_root(path)?),
        DatasetKind::ImageNet { .. } => Err(DataError::Config(format!(
            "{}: the imagenet kind is read lazily, not loaded into memory; use \
             data::open_folder and ImageFolderLoader (or train::make_loaders)",
            path.display()
        ))),
    }
}

/// `path` itself, or for a `.tar.gz`/`.tgz` file the folder it is extracted to (once).
fn folder_root(path: &Path) -> Result<PathBuf, DataError> {
    if path.is_file() {
        let base = std::env::var_os("ODENET_EXTRACT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("data"));
        extract_tar_gz(path, &base.join(extract::archive_stem(path)))
    } else {
        Ok(path.to_path_buf())
    }
}

/// List an image folder without decoding it ([`scan_folder`]); like [`load`] for
/// [`DatasetKind::Folder`], `path` may also be a `.tar.gz` of the folder.
pub fn open_folder(path: &Path) -> Result<ImageFolderSplit, DataError> {
    scan_folder(&folder_root(path)?)
}
