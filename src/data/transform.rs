//! Decode-time image transforms for variable-size image folders (ImageNet), as data.
//!
//! A pipeline is a list of [`Transform`]s applied in order to the decoded RGB image;
//! it must end at a fixed size so images can be batched. Semantics follow torchvision:
//!
//! * [`Transform::RandomResizedCrop`]: up to 10 tries of a random area fraction in
//!   `scale` and a log-uniform aspect ratio in `ratio`; after 10 failures a centre crop
//!   of the whole image clamped to `ratio` (see [`sample_resized_crop`]); the crop is
//!   then resized to `size`×`size`.
//! * [`Transform::Resize`]: shorter side to `shorter`, longer side
//!   `⌊shorter · long / short⌋` (aspect ratio kept).
//! * [`Transform::CenterCrop`]: offsets `round((H − size) / 2)` with Python's
//!   round-half-to-even; an image smaller than `size` is first padded with black.
//! * [`Transform::RandomHorizontalFlip`]: mirror with probability 1/2.
//!
//! Resizing is bilinear and antialiased (`image::imageops::resize` with
//! `FilterType::Triangle`, whose support widens when downscaling, like PIL and
//! torchvision's `antialias=True`).

use image::RgbImage;
use image::imageops::{self, FilterType};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::error::DataError;

/// ImageNet channel means (RGB, 0..1 scale), the torchvision default.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB, 0..1 scale).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How many random tries `RandomResizedCrop` makes before falling back to a centre crop.
const CROP_TRIES: usize = 10;

/// One step of a decode-time pipeline (serialised as `{"op": "resize", "shorter": 256}` …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Transform {
    /// Random crop of area fraction in `scale` and aspect ratio (w/h) in `ratio`,
    /// resized to `size`×`size`.
    RandomResizedCrop {
        size: usize,
        scale: (f64, f64),
        ratio: (f64, f64),
    },
    /// Resize so the shorter side is `shorter`, keeping the aspect ratio.
    Resize { shorter: usize },
    /// Central `size`×`size` crop (black padding if the image is smaller).
    CenterCrop { size: usize },
    /// Horizontal mirror with probability 1/2.
    RandomHorizontalFlip,
}

/// A crop rectangle chosen by [`sample_resized_crop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResizedCrop {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// True when all 10 random tries failed and the centre fallback was used.
    pub fallback: bool,
}

/// Python's `int(round(v))` (round half to even), clamped to `0..=max`.
fn round_even(v: f64, max: u32) -> u32 {
    let r = v.round_ties_even();
    if r.is_finite() && r > 0.0 {
        (r as u64).min(max as u64) as u32
    } else {
        0
    }
}

/// torchvision's `RandomResizedCrop.get_params` for a `width`×`height` image.
/// Never returns an empty or out-of-bounds rectangle, whatever `scale`/`ratio`.
pub fn sample_resized_crop<R: Rng + ?Sized>(
    width: u32,
    height: u32,
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut R,
) -> ResizedCrop {
    let area = width as f64 * height as f64;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    let usable = scale.0.is_finite()
        && scale.1.is_finite()
        && scale.0 <= scale.1
        && log_lo.is_finite()
        && log_hi.is_finite()
        && log_lo <= log_hi;
    if usable {
        for _ in 0..CROP_TRIES {
            let target_area = area * rng.random_range(scale.0..=scale.1);
            let aspect = rng.random_range(log_lo..=log_hi).exp();
            let w = (target_area * aspect).sqrt().round_ties_even();
            let h = (target_area / aspect).sqrt().round_ties_even();
            if w > 0.0 && w <= width as f64 && h > 0.0 && h <= height as f64 {
                let (w, h) = (w as u32, h as u32);
                let y = rng.random_range(0..=height - h);
                let x = rng.random_range(0..=width - w);
                return ResizedCrop {
                    x,
                    y,
                    width: w,
                    height: h,
                    fallback: false,
                };
            }
        }
    }
    // Fallback: the whole image, clamped to the allowed aspect ratios, centred.
    let in_ratio = width as f64 / height.max(1) as f64;
    let (lo, hi) = (ratio.0.min(ratio.1), ratio.0.max(ratio.1));
    let (w, h) = if in_ratio < lo {
        (width, round_even(width as f64 / lo, height))
    } else if in_ratio > hi {
        (round_even(height as f64 * hi, width), height)
    } else {
        (width, height)
    };
    let (w, h) = (w.clamp(1.min(width), width), h.clamp(1.min(height), height));
    ResizedCrop {
        x: (width - w) / 2,
        y: (height - h) / 2,
        width: w,
        height: h,
        fallback: true,
    }
}

/// Output size of torchvision's `Resize(shorter)` for a `width`×`height` image.
pub fn resized_size(width: u32, height: u32, shorter: u32) -> (u32, u32) {
    let scale = |long: u32, short: u32| {
        ((shorter as u64 * long as u64) / short.max(1) as u64).clamp(1, u32::MAX as u64) as u32
    };
    if width <= height {
        (shorter, scale(height, width))
    } else {
        (scale(width, height), shorter)
    }
}

/// Top-left corner of torchvision's `CenterCrop(size)` on a `width`×`height` image
/// (at least `size` in both directions).
pub fn center_crop_offset(width: u32, height: u32, size: u32) -> (u32, u32) {
    let off = |n: u32| round_even((n.saturating_sub(size)) as f64 / 2.0, n);
    (off(width), off(height))
}

fn to_u32(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

impl Transform {
    /// Apply to `img`, drawing any random choice from `rng`.
    pub fn apply<R: Rng + ?Sized>(&self, img: RgbImage, rng: &mut R) -> RgbImage {
        let (w, h) = img.dimensions();
        if w == 0 || h == 0 {
            return img;
        }
        match *self {
            Transform::RandomResizedCrop { size, scale, ratio } => {
                let c = sample_resized_crop(w, h, scale, ratio, rng);
                let size = to_u32(size);
                let view = imageops::crop_imm(&img, c.x, c.y, c.width, c.height);
                imageops::resize(&*view, size, size, FilterType::Triangle)
            }
            Transform::Resize { shorter } => {
                let (nw, nh) = resized_size(w, h, to_u32(shorter));
                if (nw, nh) == (w, h) {
                    img
                } else {
                    imageops::resize(&img, nw, nh, FilterType::Triangle)
                }
            }
            Transform::CenterCrop { size } => {
                let size = to_u32(size);
                let img = if w < size || h < size {
                    // torchvision pads (left/top get the smaller half) with zeros.
                    let (pw, ph) = (w.max(size), h.max(size));
                    let mut padded = RgbImage::new(pw, ph);
                    imageops::replace(
                        &mut padded,
                        &img,
                        ((pw - w) / 2) as i64,
                        ((ph - h) / 2) as i64,
                    );
                    padded
                } else {
                    img
                };
                let (w, h) = img.dimensions();
                if (w, h) == (size, size) {
                    return img;
                }
                let (x, y) = center_crop_offset(w, h, size);
                imageops::crop_imm(&img, x, y, size, size).to_image()
            }
            Transform::RandomHorizontalFlip => {
                let mut img = img;
                if rng.random_bool(0.5) {
                    imageops::flip_horizontal_in_place(&mut img);
                }
                img
            }
        }
    }

    /// Reject settings that would make no image or an undefined distribution.
    fn validate(&self) -> Result<(), DataError> {
        let bad = |m: String| Err(DataError::Config(format!("{self:?}: {m}")));
        match *self {
            Transform::RandomResizedCrop { size, scale, ratio } => {
                if size == 0 {
                    return bad("size must be at least 1".into());
                }
                if !(scale.0.is_finite()
                    && scale.1.is_finite()
                    && 0.0 < scale.0
                    && scale.0 <= scale.1)
                {
                    return bad("scale must satisfy 0 < min <= max".into());
                }
                if !(ratio.0.is_finite()
                    && ratio.1.is_finite()
                    && 0.0 < ratio.0
                    && ratio.0 <= ratio.1)
                {
                    return bad("ratio must satisfy 0 < min <= max".into());
                }
                Ok(())
            }
            Transform::Resize { shorter: 0 } => bad("shorter side must be at least 1".into()),
            Transform::CenterCrop { size: 0 } => bad("size must be at least 1".into()),
            _ => Ok(()),
        }
    }
}

/// The (height, width) a pipeline produces, or an error if it is invalid or does not
/// end at a fixed size (needed to stack images into a batch).
pub fn output_size(pipeline: &[Transform]) -> Result<[usize; 2], DataError> {
    let mut size = None;
    for t in pipeline {
        t.validate()?;
        match *t {
            Transform::RandomResizedCrop { size: s, .. } | Transform::CenterCrop { size: s } => {
                size = Some([s, s])
            }
            Transform::Resize { .. } => size = None,
            Transform::RandomHorizontalFlip => {}
        }
    }
    size.ok_or_else(|| {
        DataError::Config(format!(
            "the transform pipeline {pipeline:?} does not end at a fixed size; add a \
             random-resized-crop or center-crop"
        ))
    })
}

/// Run `pipeline` on `img` in order.
pub fn apply_pipeline<R: Rng + ?Sized>(
    pipeline: &[Transform],
    img: RgbImage,
    rng: &mut R,
) -> RgbImage {
    pipeline.iter().fold(img, |img, t| t.apply(img, rng))
}

/// `(v/255 − mean[c]) / std[c]` of an RGB image into planar CHW `out` (3·H·W values).
pub fn normalize_rgb_into(img: &RgbImage, mean: &[f32; 3], std: &[f32; 3], out: &mut [f32]) {
    let plane = img.width() as usize * img.height() as usize;
    if out.len() < 3 * plane {
        return;
    }
    let luts: [[f32; 256]; 3] = std::array::from_fn(|c| {
        let inv = 1.0 / std[c];
        std::array::from_fn(|v| (v as f32 / 255.0 - mean[c]) * inv)
    });
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
        r[i] = luts[0][px[0] as usize];
        g[i] = luts[1][px[1] as usize];
        b[i] = luts[2][px[2] as usize];
    }
}

/// Train and evaluation pipelines plus normalisation of a lazily read image folder.
/// Missing fields in JSON take the ImageNet-224 defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FolderTransforms {
    /// Applied to training images (random choices per (seed, epoch, position)).
    pub train: Vec<Transform>,
    /// Applied to test/validation images.
    pub eval: Vec<Transform>,
    /// Per-channel (RGB) mean subtracted after scaling to 0..1.
    pub mean: [f32; 3],
    /// Per-channel (RGB) standard deviation divided by.
    pub std: [f32; 3],
}

impl FolderTransforms {
    /// The standard ImageNet recipe at crop `size` (224 normally): training
    /// `RandomResizedCrop(size, scale (0.08, 1), ratio (3/4, 4/3))` + flip; evaluation
    /// `Resize(round(size·256/224))` + `CenterCrop(size)`; ImageNet mean/std.
    pub fn imagenet(size: usize) -> Self {
        let shorter = ((size as f64) * 256.0 / 224.0).round() as usize;
        FolderTransforms {
            train: vec![
                Transform::RandomResizedCrop {
                    size,
                    scale: (0.08, 1.0),
                    ratio: (3.0 / 4.0, 4.0 / 3.0),
                },
                Transform::RandomHorizontalFlip,
            ],
            eval: vec![
                Transform::Resize { shorter },
                Transform::CenterCrop { size },
            ],
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
        }
    }

    /// Check both pipelines and the normalisation.
    pub fn validate(&self) -> Result<(), DataError> {
        output_size(&self.train)?;
        output_size(&self.eval)?;
        if self.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
            || self.mean.iter().any(|m| !m.is_finite())
        {
            return Err(DataError::Config(format!(
                "std must be positive and finite (mean {:?}, std {:?})",
                self.mean, self.std
            )));
        }
        Ok(())
    }
}

impl Default for FolderTransforms {
    fn default() -> Self {
        Self::imagenet(224)
    }
}
