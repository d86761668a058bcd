//! In-memory image datasets and their normalisation statistics.

use rayon::prelude::*;

use super::error::DataError;

/// Decoded-once images in memory, u8, CHW order per image, all of one shape.
///
/// Keeping raw bytes (not f32) makes CIFAR-10 150 MB instead of 600 MB and lets the
/// loader normalise and augment on the fly.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageDataset {
    pub images: Vec<u8>,
    pub labels: Vec<u32>,
    /// C, H, W
    pub shape: [usize; 3],
    pub classes: Vec<String>,
}

impl ImageDataset {
    /// Number of images (= number of labels).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image, C*H*W.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The C*H*W bytes of image `i`; an empty slice if `i` is out of range
    /// (so a bad index never panics).
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        i.checked_mul(n)
            .and_then(|start| self.images.get(start..start.checked_add(n)?))
            .unwrap_or(&[])
    }

    /// Number of classes, i.e. the length of `classes`.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// The images at `indices`, in that order (repeats allowed). Out-of-range indices
    /// are skipped; use [`ImageDataset::validate`] beforehand if that matters.
    pub fn subset(&self, indices: &[usize]) -> ImageDataset {
        let n = self.image_len();
        let mut images = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let img = self.image(i);
            if let Some(&label) = self.labels.get(i).filter(|_| img.len() == n) {
                images.extend_from_slice(img);
                labels.push(label);
            }
        }
        ImageDataset {
            images,
            labels,
            shape: self.shape,
            classes: self.classes.clone(),
        }
    }

    /// Balanced subset for quick experiments: the first `n` images of each class,
    /// keeping the original order.
    pub fn first_per_class(&self, n: usize) -> ImageDataset {
        let mut taken = vec![0usize; self.num_classes()];
        let indices: Vec<usize> = (0..self.len())
            .filter(|&i| {
                let label = self.labels[i] as usize;
                match taken.get_mut(label) {
                    Some(t) if *t < n => {
                        *t += 1;
                        true
                    }
                    _ => false,
                }
            })
            .collect();
        self.subset(&indices)
    }

    /// Number of images per class (length `num_classes()`).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.num_classes()];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// Check the invariants the loader relies on (sizes agree, labels in range).
    /// The readers in this module always produce valid datasets; this guards
    /// hand-built ones.
    pub fn validate(&self) -> Result<(), DataError> {
        let here = std::path::PathBuf::from("<in-memory dataset>");
        if self.image_len() == 0 {
            return Err(DataError::invalid(
                here,
                format!("image shape {:?} has a zero dimension", self.shape),
            ));
        }
        if self.images.len() != self.len() * self.image_len() {
            return Err(DataError::invalid(
                here,
                format!(
                    "{} image bytes for {} labels of shape {:?} (expected {})",
                    self.images.len(),
                    self.len(),
                    self.shape,
                    self.len() * self.image_len()
                ),
            ));
        }
        if let Some((index, &label)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, l)| **l as usize >= self.num_classes())
        {
            return Err(DataError::LabelOutOfRange {
                path: here,
                index,
                label,
                classes: self.num_classes(),
            });
        }
        Ok(())
    }
}

/// A train/test pair plus the per-channel normalisation statistics (on 0..1 scale).
#[derive(Clone, Debug)]
pub struct DataSplit {
    pub name: String,
    pub train: ImageDataset,
    pub test: ImageDataset,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl DataSplit {
    /// Build a split, computing mean/std from the train images (never the test ones,
    /// so no test information leaks into preprocessing).
    pub fn new(name: impl Into<String>, train: ImageDataset, test: ImageDataset) -> Self {
        let (mean, std) = channel_stats(&train);
        DataSplit {
            name: name.into(),
            train,
            test,
            mean,
            std,
        }
    }
}

/// Exact per-channel mean and (population) standard deviation over all pixels of all
/// images, on the 0..1 scale. One parallel pass with integer sums, so it is exact and
/// independent of thread scheduling.
///
/// Note: the LM-ResNet reference code hard-codes std (0.2023, 0.1994, 0.2010) for
/// CIFAR-10, which is the mean of per-image stds; the true pixel std is ≈ (0.247, 0.243,
/// 0.261). We use the true value.
pub fn channel_stats(data: &ImageDataset) -> (Vec<f32>, Vec<f32>) {
    let [c, h, w] = data.shape;
    let plane = h * w;
    let per_image = c * plane;
    if per_image == 0 || data.images.len() < per_image {
        return (vec![0.0; c], vec![1.0; c]);
    }
    let zero = || vec![(0u64, 0u64); c];
    let sums = data
        .images
        .par_chunks_exact(per_image)
        .fold(zero, |mut acc, img| {
            for (ch, px) in img.chunks_exact(plane).enumerate() {
                let (s, q) = px.iter().fold((0u64, 0u64), |(s, q), &v| {
                    let v = v as u64;
                    (s + v, q + v * v)
                });
                acc[ch].0 += s;
                acc[ch].1 += q;
            }
            acc
        })
        .reduce(zero, |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.0 += y.0;
                x.1 += y.1;
            }
            a
        });
    let count = (data.images.len() / per_image * plane) as u128;
    let mut mean = Vec::with_capacity(c);
    let mut std = Vec::with_capacity(c);
    for (s, q) in sums {
        let (s, q) = (s as u128, q as u128);
        // n²·var = n·Σx² − (Σx)², exact in integers (no cancellation error).
        let var = (q * count).saturating_sub(s * s) as f64 / (count * count) as f64;
        mean.push((s as f64 / count as f64 / 255.0) as f32);
        // A constant channel would give std 0 and divide by zero in normalisation.
        let sd = var.sqrt() / 255.0;
        std.push(if sd > 1e-8 { sd as f32 } else { 1.0 });
    }
    (mean, std)
}

/// The non-empty, trimmed lines of a class-name list file (`batches.meta.txt`, `classes.txt`).
pub(crate) fn read_name_list(path: &std::path::Path) -> Result<Vec<String>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
}
