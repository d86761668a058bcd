//! Lazily decoded image folders (ImageNet scale): the folder is only *listed* up front;
//! each image is read, decoded and transformed when its batch is built.
//!
//! Batches are built on a background thread (images of one batch decoded in parallel
//! with rayon) and handed over through a bounded queue of [`PREFETCH`](super::PREFETCH) batches, so
//! memory stays at a few batches whatever the dataset size.
//!
//! Errors: a file that cannot be read or decoded in the middle of an epoch does not
//! panic and is not skipped. The epoch iterator yields `Err(DataError)` naming the
//! file (the first failing image of the batch, in batch order, so the report does not
//! depend on thread scheduling) and then ends; the trainer stops with that error.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use super::prefetch::{Item, Prefetch};

use image::RgbImage;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::error::DataError;
use super::folder;
use super::loader::{Batch, image_seed, order_seed};
use super::source::{BatchIter, BatchSource};
use super::transform::{Transform, apply_pipeline, normalize_rgb_into, output_size};


/// The files of one split of an image folder with their labels (indices into `classes`).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFolderFiles {
    pub files: Vec<(PathBuf, u32)>,
    pub classes: Vec<String>,
}

/// Both splits of an image folder, listed but not decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFolderSplit {
    /// Name of the root folder.
    pub name: String,
    pub train: ImageFolderFiles,
    /// `test/`, or `val/` when there is no `test/`.
    pub test: ImageFolderFiles,
}

/// List `<root>/train/<class>/*.{jpg,jpeg,png}` and `<root>/test/…` (or `val/`) without
/// decoding anything. Same layout rules and errors as [`super::load_folder`]: both
/// splits must exist with the same class folders, no class folder may be empty, and a
/// `classes.txt` in `<root>` sets the label order (else sorted folder names).
pub fn scan_folder(root: &Path) -> Result<ImageFolderSplit, DataError> {
    let s = folder::scan(root)?;
    Ok(ImageFolderSplit {
        name: s.name,
        train: ImageFolderFiles {
            files: s.train,
            classes: s.classes.clone(),
        },
        test: ImageFolderFiles {
            files: s.test,
            classes: s.classes,
        },
    })
}

impl ImageFolderFiles {
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Number of files per class (length `num_classes()`).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.num_classes()];
        for (_, l) in &self.files {
            if let Some(c) = counts.get_mut(*l as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// The first `n` files of each class, keeping the order.
    pub fn first_per_class(&self, n: usize) -> ImageFolderFiles {
        let mut taken = vec![0usize; self.num_classes()];
        let files = self
            .files
            .iter()
            .filter(|(_, l)| match taken.get_mut(*l as usize) {
                Some(t) if *t < n => {
                    *t += 1;
                    true
                }
                _ => false,
            })
            .cloned()
            .collect();
        ImageFolderFiles {
            files,
            classes: self.classes.clone(),
        }
    }

    /// Read and decode file `i` as 8-bit RGB (grayscale, alpha and 16-bit images are
    /// converted). Errors name the file.
    pub fn load(&self, i: usize) -> Result<RgbImage, DataError> {
        let (path, _) = self.files.get(i).ok_or_else(|| {
            DataError::Config(format!(
                "image index {i} out of range ({} files)",
                self.len()
            ))
        })?;
        Ok(folder::decode(path)?.into_rgb8())
    }
}

/// Epochs of batches over an [`ImageFolderFiles`], decoding and transforming each
/// image when its batch is built. Order and random transforms are pure functions of
/// (seed, epoch, position in the epoch), as for [`super::BatchLoader`].
#[derive(Clone, Debug)]
pub struct ImageFolderLoader {
    files: Arc<ImageFolderFiles>,
    pipeline: Arc<Vec<Transform>>,
    mean: [f32; 3],
    std: [f32; 3],
    /// Output height and width.
    size: [usize; 2],
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
}

impl ImageFolderLoader {
    /// Errors on batch size 0, an invalid pipeline or one that does not end at a fixed
    /// size, non-finite mean or non-positive std, or a label outside `classes`.
    pub fn try_new(
        files: Arc<ImageFolderFiles>,
        pipeline: Vec<Transform>,
        mean: [f32; 3],
        std: [f32; 3],
        batch_size: usize,
        shuffle: bool,
        drop_last: bool,
    ) -> Result<Self, DataError> {
        if batch_size == 0 {
            return Err(DataError::Config("batch size must be at least 1".into()));
        }
        let size = output_size(&pipeline)?;
        if std.iter().any(|s| !(s.is_finite() && *s > 0.0)) || mean.iter().any(|m| !m.is_finite()) {
            return Err(DataError::Config(format!(
                "std must be positive and finite (mean {mean:?}, std {std:?})"
            )));
        }
        if let Some((index, (path, label))) = files
            .files
            .iter()
            .enumerate()
            .find(|(_, (_, l))| *l as usize >= files.num_classes())
        {
            return Err(DataError::LabelOutOfRange {
                path: path.clone(),
                index,
                label: *label,
                classes: files.num_classes(),
            });
        }
        Ok(ImageFolderLoader {
            files,
            pipeline: Arc::new(pipeline),
            mean,
            std,
            size,
            batch_size,
            shuffle,
            drop_last,
        })
    }

    pub fn files(&self) -> &Arc<ImageFolderFiles> {
        &self.files
    }

    pub fn pipeline(&self) -> &[Transform] {
        &self.pipeline
    }

    /// Batches per epoch (the partial last batch counts unless `drop_last`).
    pub fn num_batches(&self) -> usize {
        let n = self.files.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The file indices in the order epoch `epoch` visits them.
    pub fn epoch_order(&self, epoch: usize, seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        if self.shuffle {
            order.shuffle(&mut StdRng::seed_from_u64(order_seed(seed, epoch)));
        }
        order
    }

    /// Decode and transform the image at `position` of an epoch (file `index`) into
    /// `out` (3·H·W normalised values).
    fn load_into(
        &self,
        index: usize,
        position: usize,
        epoch: usize,
        seed: u64,
        out: &mut [f32],
    ) -> Result<(), DataError> {
        let img = self.files.load(index)?;
        let mut rng = StdRng::seed_from_u64(image_seed(seed, epoch, position));
        let img = apply_pipeline(&self.pipeline, img, &mut rng);
        let [h, w] = self.size;
        if img.dimensions() != (w as u32, h as u32) {
            let path = self
                .files
                .files
                .get(index)
                .map(|(p, _)| p.clone())
                .unwrap_or_default();
            return Err(DataError::invalid(
                path,
                format!(
                    "transforms produced a {}x{} image instead of {w}x{h}",
                    img.width(),
                    img.height()
                ),
            ));
        }
        normalize_rgb_into(&img, &self.mean, &self.std, out);
        Ok(())
    }

    /// Build batch `b` of an epoch whose visiting order is `order`.
    fn make_batch(
        &self,
        order: &[usize],
        b: usize,
        epoch: usize,
        seed: u64,
    ) -> Result<Batch, DataError> {
        let [h, w] = self.size;
        let chw = 3 * h * w;
        let start = b * self.batch_size;
        let end = (start + self.batch_size).min(order.len());
        let idx = order.get(start..end).unwrap_or(&[]);
        let mut images = vec![0.0f32; idx.len() * chw];
        let results: Vec<Result<(), DataError>> = images
            .par_chunks_mut(chw)
            .zip(idx.par_iter())
            .enumerate()
            .map(|(j, (out, &i))| self.load_into(i, start + j, epoch, seed, out))
            .collect();
        // The first failure in batch order, whatever thread hit it first.
        results.into_iter().collect::<Result<(), DataError>>()?;
        let labels = idx
            .iter()
            .map(|&i| self.files.files.get(i).map_or(0, |(_, l)| *l as i64))
            .collect();
        Ok(Batch {
            images,
            labels,
            dims: [idx.len(), 3, h, w],
        })
    }

    /// Epoch iterator yielding `Ok(batch)` and, if an image fails, one `Err` naming
    /// its file, after which it ends. Owns everything it needs; dropping it early stops
    /// the background thread. As for [`super::BatchLoader::epoch`], consume it from an
    /// ordinary thread, not from inside a rayon task.
    pub fn epoch(&self, epoch: usize, seed: u64) -> FolderEpochIter {
        let loader = self.clone();
        let order = std::sync::Arc::new(self.epoch_order(epoch, seed));
        Prefetch::spawn("odenet-folder-loader", self.num_batches(), move |b| {
            loader.make_batch(&order, b, epoch, seed)
        })
    }
}

impl BatchSource for ImageFolderLoader {
    fn num_batches(&self) -> usize {
        ImageFolderLoader::num_batches(self)
    }

    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn len(&self) -> usize {
        self.files.len()
    }

    fn input_shape(&self) -> [usize; 3] {
        [3, self.size[0], self.size[1]]
    }

    fn classes(&self) -> &[String] {
        &self.files.classes
    }

    fn epoch(&self, epoch: usize, seed: u64) -> BatchIter {
        Box::new(ImageFolderLoader::epoch(self, epoch, seed))
    }
}

/// Iterator over one epoch of an [`ImageFolderLoader`] (see [`ImageFolderLoader::epoch`]):
/// `Ok(batch)`s and, if an image fails, one `Err` naming its file, after which it ends.
pub type FolderEpochIter = Prefetch<Result<Batch, DataError>>;

impl Item for Result<Batch, DataError> {
    fn ends_stream(&self) -> bool {
        self.is_err()
    }

    fn producer_lost() -> Option<Self> {
        Some(Err(DataError::Config("the image loader thread stopped unexpectedly".into())))
    }
}
