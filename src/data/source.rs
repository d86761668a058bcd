//! One interface over the in-memory [`BatchLoader`] and the lazily decoding
//! [`super::ImageFolderLoader`], so the trainer can take either.

use super::error::DataError;
use super::loader::{Batch, BatchLoader};

/// An epoch's batches. An `Err` (a file that could not be read or decoded) ends the
/// epoch: the iterator yields nothing after it.
pub type BatchIter = Box<dyn Iterator<Item = Result<Batch, DataError>> + Send>;

/// A source of mini-batches for training or evaluation.
pub trait BatchSource: Send + Sync {
    /// Batches per epoch.
    fn num_batches(&self) -> usize;
    /// Images per batch (the last batch may be smaller).
    fn batch_size(&self) -> usize;
    /// Images per epoch.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// C, H, W of every image in a batch.
    fn input_shape(&self) -> [usize; 3];
    /// Class names; labels index into them.
    fn classes(&self) -> &[String];
    /// The batches of `epoch`, deterministic for a given (seed, epoch).
    fn epoch(&self, epoch: usize, seed: u64) -> BatchIter;
}

impl BatchSource for BatchLoader {
    fn num_batches(&self) -> usize {
        BatchLoader::num_batches(self)
    }

    fn batch_size(&self) -> usize {
        BatchLoader::batch_size(self)
    }

    fn len(&self) -> usize {
        self.dataset().len()
    }

    fn input_shape(&self) -> [usize; 3] {
        self.dataset().shape
    }

    fn classes(&self) -> &[String] {
        &self.dataset().classes
    }

    /// In-memory data cannot fail: every item is `Ok`.
    fn epoch(&self, epoch: usize, seed: u64) -> BatchIter {
        Box::new(BatchLoader::epoch(self, epoch, seed).map(Ok))
    }
}
