//! Everything fixed about a dataset kind, in one table ([`DatasetKind::facts`], one `match`):
//! name, channels, classes, split sizes, the recipe's augmentation and normalisation, where it
//! lives by default and where it is downloaded from. The CLI, the trainer and the downloader
//! read it; nothing else matches on the kind for these facts.

use super::{Augment, DatasetKind};
use serde::{Deserialize, Serialize};

/// The facts of one dataset kind.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetFacts {
    /// Canonical command-line name (inverse of `FromStr`).
    pub name: &'static str,
    /// Image channels: 1 for the 28×28 grey sets, 3 otherwise.
    pub in_channels: usize,
    /// Number of classes; `None` for image folders, which have one per class folder
    /// ([`DatasetKind::num_classes`] lists them).
    pub classes: Option<usize>,
    /// Images in the (train, test) splits of the published set; `None` for image folders.
    pub splits: Option<(usize, usize)>,
    /// Training augmentation of the paper's recipe: pad 4 + crop + flip for CIFAR-like images,
    /// pad 2 + crop without flips for 28×28 digits and clothes (a flipped digit is wrong), none
    /// for imagenet (its transforms live in the kind itself).
    pub augment: Augment,
    /// How the official LM-ResNet code normalises this kind (its CIFAR constants for CIFAR);
    /// every other recipe uses the training split's own statistics.
    pub official_normalization: Normalization,
    /// Where the data lives when `--data-dir` is not given.
    pub default_path: &'static str,
    /// Where `odenet download` fetches it from; `None` for image folders.
    pub download: Option<Download>,
}

/// The published files of a dataset and where they end up.
#[derive(Clone, Debug, PartialEq)]
pub struct Download {
    /// Base URL of the official host.
    pub base: &'static str,
    /// (file name on the server, published MD5).
    pub files: &'static [(&'static str, &'static str)],
    /// The folder, under the download directory, that the loader reads. Without `archive` the
    /// files are downloaded into it; with one, the archive is downloaded next to it and
    /// unpacks into it.
    pub folder: &'static str,
    /// The file among `files` that unpacks into `folder` (CIFAR).
    pub archive: Option<&'static str>,
    /// Another way to get the data, named in hints before `odenet download`.
    pub alternative: Option<&'static str>,
}

/// Where the per-channel normalisation constants come from.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// Mean and (population) std of the training split, computed when it is loaded.
    #[default]
    Dataset,
    /// The official LM-ResNet code's CIFAR constants: mean (0.4914, 0.4822, 0.4465), std
    /// (0.2023, 0.1994, 0.2010) (3-channel data only).
    OfficialCifar,
}

impl Normalization {
    /// (mean, std) per channel, or `None` for the dataset's own statistics.
    pub fn constants(self) -> Option<(Vec<f32>, Vec<f32>)> {
        match self {
            Self::Dataset => None,
            Self::OfficialCifar => Some((vec![0.4914, 0.4822, 0.4465], vec![0.2023, 0.1994, 0.2010])),
        }
    }
}

const CIFAR_HOST: &str = "https://www.cs.toronto.edu/~kriz/";

// MD5s as published by Zalando (same as torchvision's FashionMNIST). Debian's
// dataset-fashion-mnist re-compresses the files, so its .gz differ byte-wise.
const FASHION_MNIST_FILES: &[(&str, &str)] = &[
    ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
];

// torchvision's MNIST mirror and checksums.
const MNIST_FILES: &[(&str, &str)] = &[
    ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
];

impl DatasetKind {
    /// The facts of this kind: the one table.
    pub fn facts(&self) -> DatasetFacts {
        let cifar = |name, classes, default_path, file: &'static [(&'static str, &'static str)], folder| DatasetFacts {
            name,
            in_channels: 3,
            classes: Some(classes),
            splits: Some((50_000, 10_000)),
            augment: Augment::paper_cifar(),
            official_normalization: Normalization::OfficialCifar,
            default_path,
            download: Some(Download { base: CIFAR_HOST, files: file, folder, archive: Some(file[0].0), alternative: None }),
        };
        let idx = |name, default_path, download: Download| DatasetFacts {
            name,
            in_channels: 1,
            classes: Some(10),
            splits: Some((60_000, 10_000)),
            augment: Augment { pad: 2, flip: false },
            official_normalization: Normalization::Dataset,
            default_path,
            download: Some(download),
        };
        let folder = |name, default_path, augment| DatasetFacts {
            name,
            in_channels: 3,
            classes: None,
            splits: None,
            augment,
            official_normalization: Normalization::Dataset,
            default_path,
            download: None,
        };
        match self {
            Self::Cifar10 => cifar(
                "cifar10",
                10,
                "data/cifar-10-batches-bin",
                &[("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")],
                "cifar-10-batches-bin",
            ),
            Self::Cifar100 => cifar(
                "cifar100",
                100,
                "data/cifar-100-binary",
                &[("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8")],
                "cifar-100-binary",
            ),
            Self::FashionMnist => idx(
                "fashion-mnist",
                "/usr/share/datasets/fashion-mnist",
                Download {
                    base: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    files: FASHION_MNIST_FILES,
                    folder: "fashion-mnist",
                    archive: None,
                    alternative: Some("`apt-get install -y dataset-fashion-mnist`"),
                },
            ),
            Self::Mnist => idx(
                "mnist",
                "/usr/share/datasets/mnist",
                Download {
                    base: "https://ossci-datasets.s3.amazonaws.com/mnist/",
                    files: MNIST_FILES,
                    folder: "mnist",
                    archive: None,
                    alternative: None,
                },
            ),
            Self::Folder => folder("folder", "data/", Augment::paper_cifar()),
            Self::ImageNet { .. } => folder("imagenet", "data/imagenet", Augment::none()),
        }
    }
}

