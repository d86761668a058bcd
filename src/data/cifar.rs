//! CIFAR-10 and CIFAR-100 in the official "binary version" format
//! (<https://www.cs.toronto.edu/~kriz/cifar.html>): fixed-size records of label
//! byte(s) followed by 3072 bytes of 32×32 RGB in CHW order, which is exactly our
//! in-memory layout, so reading is a copy.

use std::path::{Path, PathBuf};

use super::dataset::{DataSplit, ImageDataset};
use super::error::{DataError, read_file};

/// Official CIFAR-10 class names in label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Official CIFAR-100 fine class names in label order (alphabetical), used when
/// `fine_label_names.txt` is absent.
#[rustfmt::skip]
pub const CIFAR100_CLASSES: [&str; 100] = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
];

const PIXELS: usize = 3 * 32 * 32;
const SHAPE: [usize; 3] = [3, 32, 32];

/// Read one CIFAR binary file. `label_bytes` is 1 for CIFAR-10 and 2 for CIFAR-100
/// (coarse then fine; the last label byte is used). Returns images (CHW) and labels.
pub fn read_cifar_file(
    path: &Path,
    label_bytes: usize,
    num_classes: usize,
    hint: &str,
) -> Result<(Vec<u8>, Vec<u32>), DataError> {
    if label_bytes == 0 {
        return Err(DataError::Config(
            "CIFAR records need at least one label byte".into(),
        ));
    }
    let bytes = read_file(path, hint)?;
    let record = label_bytes + PIXELS;
    if bytes.is_empty() || bytes.len() % record != 0 {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            detail: format!(
                "{} bytes is not a positive multiple of the {record}-byte record size ({} full records + {} stray bytes)",
                bytes.len(),
                bytes.len() / record,
                bytes.len() % record
            ),
        });
    }
    let n = bytes.len() / record;
    let mut images = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (index, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[label_bytes - 1] as u32;
        if label as usize >= num_classes {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                index,
                label,
                classes: num_classes,
            });
        }
        labels.push(label);
        images.extend_from_slice(&rec[label_bytes..]);
    }
    Ok((images, labels))
}

/// Read several files into one dataset.
fn read_files(
    files: &[PathBuf],
    label_bytes: usize,
    classes: &[String],
    hint: &str,
) -> Result<ImageDataset, DataError> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for f in files {
        let (i, l) = read_cifar_file(f, label_bytes, classes.len(), hint)?;
        images.extend(i);
        labels.extend(l);
    }
    Ok(ImageDataset {
        images,
        labels,
        shape: SHAPE,
        classes: classes.to_vec(),
    })
}

/// Class names from a text file (one per non-empty line) if it exists, else `default`.
/// A file with the wrong number of names is an error rather than silently mislabelled.
fn class_names(path: &Path, default: &[&str]) -> Result<Vec<String>, DataError> {
    if !path.exists() {
        return Ok(default.iter().map(|s| s.to_string()).collect());
    }
    let names = super::dataset::read_name_list(path)?;
    if names.len() != default.len() {
        return Err(DataError::invalid(
            path,
            format!(
                "lists {} class names, expected {}",
                names.len(),
                default.len()
            ),
        ));
    }
    Ok(names)
}

/// Accept either the batches folder itself or its parent (e.g. `data/`).
fn resolve_dir(dir: &Path, sub: &str, probe: &str) -> PathBuf {
    if !dir.join(probe).exists() && dir.join(sub).join(probe).exists() {
        dir.join(sub)
    } else {
        dir.to_path_buf()
    }
}

/// CIFAR-10 from `cifar-10-batches-bin/` (`data_batch_1..5.bin`, `test_batch.bin`).
pub fn load_cifar10(dir: &Path) -> Result<DataSplit, DataError> {
    let dir = resolve_dir(dir, "cifar-10-batches-bin", "test_batch.bin");
    let hint = "expected the CIFAR-10 binary version (data_batch_1..5.bin, test_batch.bin); \
                run `odenet download cifar10 --dir data` or fetch https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
    let classes = class_names(&dir.join("batches.meta.txt"), &CIFAR10_CLASSES)?;
    let train_files: Vec<PathBuf> = (1..=5)
        .map(|i| dir.join(format!("data_batch_{i}.bin")))
        .collect();
    let train = read_files(&train_files, 1, &classes, hint)?;
    let test = read_files(&[dir.join("test_batch.bin")], 1, &classes, hint)?;
    Ok(DataSplit::new("cifar10", train, test))
}

/// CIFAR-100 from `cifar-100-binary/` (`train.bin`, `test.bin`), fine labels.
pub fn load_cifar100(dir: &Path) -> Result<DataSplit, DataError> {
    let dir = resolve_dir(dir, "cifar-100-binary", "test.bin");
    let hint = "expected the CIFAR-100 binary version (train.bin, test.bin); \
                run `odenet download cifar100 --dir data` or fetch https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz";
    let classes = class_names(&dir.join("fine_label_names.txt"), &CIFAR100_CLASSES)?;
    let train = read_files(&[dir.join("train.bin")], 2, &classes, hint)?;
    let test = read_files(&[dir.join("test.bin")], 2, &classes, hint)?;
    Ok(DataSplit::new("cifar100", train, test))
}
