//! Seeded, prefetching batch loader.
//!
//! Each epoch's order and every image's augmentation are pure functions of
//! (seed, epoch, position in the epoch), so runs are reproducible and independent of
//! rayon's scheduling. Batches are built on a background thread and handed over
//! through a bounded channel, so the trainer rarely waits for augmentation.

use std::sync::Arc;
use super::prefetch::{Item, Prefetch};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::augment::Augment;
use super::dataset::ImageDataset;
use super::error::DataError;

/// One mini-batch: normalised NCHW images and integer labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Normalised pixels, NCHW, `dims.iter().product()` values.
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
    /// N, C, H, W
    pub dims: [usize; 4],
}

/// Hands out epochs of batches over a shared in-memory dataset.
#[derive(Clone, Debug)]
pub struct BatchLoader {
    data: Arc<ImageDataset>,
    mean: Arc<Vec<f32>>,
    std: Arc<Vec<f32>>,
    batch_size: usize,
    augment: Augment,
    shuffle: bool,
    drop_last: bool,
}

/// SplitMix64 finaliser: decorrelates nearby integers into independent-looking seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed of the shuffle RNG of one epoch.
pub(crate) fn order_seed(seed: u64, epoch: usize) -> u64 {
    mix(seed ^ mix(epoch as u64))
}

/// Seed of the augmentation RNG of the image at `position` in the epoch.
pub(crate) fn image_seed(seed: u64, epoch: usize, position: usize) -> u64 {
    mix(order_seed(seed, epoch) ^ mix(position as u64 ^ 0xA5A5_5A5A_DEAD_BEEF))
}

impl BatchLoader {
    /// Infallible constructor: out-of-range settings are repaired rather than
    /// rejected (batch size 0 → 1, a single mean/std value is broadcast, missing
    /// channels use mean 0 / std 1). Prefer [`BatchLoader::try_new`] to get an error.
    pub fn new(
        data: Arc<ImageDataset>,
        mean: Vec<f32>,
        std: Vec<f32>,
        batch_size: usize,
        augment: Augment,
        shuffle: bool,
        drop_last: bool,
    ) -> Self {
        let c = data.shape[0];
        let fit = |v: Vec<f32>, default: f32| -> Vec<f32> {
            match v.len() {
                1 => vec![v[0]; c],
                _ => (0..c)
                    .map(|i| v.get(i).copied().unwrap_or(default))
                    .collect(),
            }
        };
        let mean = fit(mean, 0.0);
        let std = fit(std, 1.0);
        BatchLoader {
            data,
            mean: Arc::new(mean),
            std: Arc::new(std),
            batch_size: batch_size.max(1),
            augment,
            shuffle,
            drop_last,
        }
    }

    /// Validating constructor: errors on batch size 0, mean/std not one value per
    /// channel, non-positive std, or an inconsistent dataset.
    pub fn try_new(
        data: Arc<ImageDataset>,
        mean: Vec<f32>,
        std: Vec<f32>,
        batch_size: usize,
        augment: Augment,
        shuffle: bool,
        drop_last: bool,
    ) -> Result<Self, DataError> {
        data.validate()?;
        let c = data.shape[0];
        if batch_size == 0 {
            return Err(DataError::Config("batch size must be at least 1".into()));
        }
        if mean.len() != c || std.len() != c {
            return Err(DataError::Config(format!(
                "mean/std have {}/{} values but the images have {c} channels",
                mean.len(),
                std.len()
            )));
        }
        if std.iter().any(|s| !(s.is_finite() && *s > 0.0)) || mean.iter().any(|m| !m.is_finite()) {
            return Err(DataError::Config(format!(
                "std must be positive and finite (mean {mean:?}, std {std:?})"
            )));
        }
        Ok(Self::new(
            data, mean, std, batch_size, augment, shuffle, drop_last,
        ))
    }

    /// Batches per epoch (the partial last batch counts unless `drop_last`).
    pub fn num_batches(&self) -> usize {
        let n = self.data.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    pub fn dataset(&self) -> &Arc<ImageDataset> {
        &self.data
    }

    /// The dataset indices in the order epoch `epoch` visits them.
    pub fn epoch_order(&self, epoch: usize, seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.data.len()).collect();
        if self.shuffle {
            order.shuffle(&mut StdRng::seed_from_u64(order_seed(seed, epoch)));
        }
        order
    }

    /// Build batch `b` of an epoch whose visiting order is `order`.
    fn make_batch(&self, order: &[usize], b: usize, epoch: usize, seed: u64) -> Batch {
        let data = &self.data;
        let chw = data.image_len();
        let start = b * self.batch_size;
        let end = (start + self.batch_size).min(order.len());
        let idx = order.get(start..end).unwrap_or(&[]);
        let mut images = vec![0.0f32; idx.len() * chw];
        if chw > 0 {
            images
                .par_chunks_mut(chw)
                .zip(idx.par_iter())
                .enumerate()
                .for_each(|(j, (out, &i))| {
                    let mut rng = StdRng::seed_from_u64(image_seed(seed, epoch, start + j));
                    self.augment.apply(
                        data.image(i),
                        data.shape,
                        &self.mean,
                        &self.std,
                        &mut rng,
                        out,
                    );
                });
        }
        let labels = idx
            .iter()
            .map(|&i| data.labels.get(i).copied().unwrap_or(0) as i64)
            .collect();
        let [c, h, w] = data.shape;
        Batch {
            images,
            labels,
            dims: [idx.len(), c, h, w],
        }
    }

    /// Epoch iterator. The same (seed, epoch) always gives the same order and the same
    /// augmentation. The iterator owns everything it needs (no borrow of `self`);
    /// dropping it early stops the background thread.
    /// Consume it from an ordinary thread, not from inside a rayon task: the producer
    /// uses the rayon pool, and a pool worker blocked waiting on it could starve it.
    pub fn epoch(&self, epoch: usize, seed: u64) -> EpochIter {
        let loader = self.clone();
        let order = std::sync::Arc::new(self.epoch_order(epoch, seed));
        Prefetch::spawn("odenet-loader", self.num_batches(), move |b| {
            loader.make_batch(&order, b, epoch, seed)
        })
    }
}

/// Iterator over one epoch's batches (see [`BatchLoader::epoch`]).
pub type EpochIter = Prefetch<Batch>;

impl Item for Batch {}
