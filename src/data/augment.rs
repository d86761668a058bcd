//! The paper's CIFAR augmentation: zero-pad, random crop back to H×W, random
//! horizontal flip — fused with normalisation in one pass over each image.
//!
//! Padding choice: like torchvision's `RandomCrop(32, padding=4)` applied to the
//! *normalised* tensor, padded pixels are 0 after normalisation (i.e. they equal the
//! channel mean), not black. This keeps the padding neutral for the first conv.

use rand::Rng;

/// Augmentation settings; `pad == 0 && !flip` means no augmentation.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Augment {
    /// Zero padding on each side before the random crop (0 = no crop).
    pub pad: usize,
    /// Random horizontal flip with probability 1/2.
    pub flip: bool,
}

/// The random choices for one image: crop offset into the padded image and flip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Row offset in `0..=2*pad`; `pad` means no vertical shift.
    pub dy: usize,
    /// Column offset in `0..=2*pad`; `pad` means no horizontal shift.
    pub dx: usize,
    pub flip: bool,
}

impl Augment {
    /// No augmentation (evaluation).
    pub fn none() -> Self {
        Augment {
            pad: 0,
            flip: false,
        }
    }

    /// Paper / ResNet CIFAR recipe: pad 4, random 32×32 crop, random horizontal flip.
    pub fn paper_cifar() -> Self {
        Augment { pad: 4, flip: true }
    }

    pub fn is_identity(&self) -> bool {
        self.pad == 0 && !self.flip
    }

    /// Draw this image's random choices. Always consumes the same number of draws so
    /// the stream stays aligned whatever the settings.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Placement {
        let dy = rng.random_range(0..=2 * self.pad);
        let dx = rng.random_range(0..=2 * self.pad);
        let flip = rng.random_bool(0.5) && self.flip;
        Placement { dy, dx, flip }
    }

    /// Normalise `src` (u8 CHW of `shape`) into `out` (same length) with a random
    /// crop/flip drawn from `rng`. Missing mean/std entries count as 0/1.
    pub fn apply<R: Rng + ?Sized>(
        &self,
        src: &[u8],
        shape: [usize; 3],
        mean: &[f32],
        std: &[f32],
        rng: &mut R,
        out: &mut [f32],
    ) {
        let placement = self.sample(rng);
        self.apply_placement(src, shape, mean, std, placement, out);
    }

    /// Deterministic part of [`Augment::apply`], for a given placement.
    pub fn apply_placement(
        &self,
        src: &[u8],
        shape: [usize; 3],
        mean: &[f32],
        std: &[f32],
        p: Placement,
        out: &mut [f32],
    ) {
        let [c, h, w] = shape;
        let plane = h * w;
        if src.len() < c * plane || out.len() < c * plane {
            return;
        }
        let pad = self.pad as isize;
        for ch in 0..c {
            let lut = channel_lut(
                mean.get(ch).copied().unwrap_or(0.0),
                std.get(ch).copied().unwrap_or(1.0),
            );
            let src_plane = &src[ch * plane..(ch + 1) * plane];
            let out_plane = &mut out[ch * plane..(ch + 1) * plane];
            for (y, out_row) in out_plane.chunks_exact_mut(w).enumerate() {
                let sy = y as isize + p.dy as isize - pad;
                if sy < 0 || sy >= h as isize {
                    out_row.fill(0.0);
                    continue;
                }
                let src_row = &src_plane[sy as usize * w..(sy as usize + 1) * w];
                for (x, o) in out_row.iter_mut().enumerate() {
                    let xc = if p.flip { w - 1 - x } else { x };
                    let sx = xc as isize + p.dx as isize - pad;
                    *o = if sx < 0 || sx >= w as isize {
                        0.0
                    } else {
                        lut[src_row[sx as usize] as usize]
                    };
                }
            }
        }
    }
}

/// `(v/255 - mean) / std` for every byte value: one table lookup per pixel.
fn channel_lut(mean: f32, std: f32) -> [f32; 256] {
    let inv = if std.is_finite() && std > 0.0 {
        1.0 / std
    } else {
        1.0
    };
    let mut lut = [0.0f32; 256];
    for (v, slot) in lut.iter_mut().enumerate() {
        *slot = (v as f32 / 255.0 - mean) * inv;
    }
    lut
}

/// Plain normalisation without augmentation (u8 CHW → f32 CHW).
pub fn normalize_into(src: &[u8], shape: [usize; 3], mean: &[f32], std: &[f32], out: &mut [f32]) {
    let identity = Placement {
        dy: 0,
        dx: 0,
        flip: false,
    };
    Augment::none().apply_placement(src, shape, mean, std, identity, out);
}
