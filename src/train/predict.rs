//! Per-image outputs of a trained network, written so that any framework can compare them:
//! logits, softmax probabilities and labels as safetensors (one file, three tensors) or NumPy
//! `.npy` files (one per array).

use super::durable;
use crate::data::BatchSource;
use crate::net::Net;
use anyhow::{Context, Result, bail};
use burn::prelude::*;
use std::path::{Path, PathBuf};

/// Network outputs over a test set, in the loader's (unshuffled) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    /// Row-major `[images, classes]`.
    pub logits: Vec<f32>,
    pub classes: usize,
    /// True label of each image.
    pub labels: Vec<i64>,
}

impl Predictions {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Softmax of each row, computed in f64 from the logits (max subtracted for stability).
    pub fn probabilities(&self) -> Vec<f32> {
        self.logits
            .chunks(self.classes)
            .flat_map(|row| {
                let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
                let exp: Vec<f64> = row.iter().map(|&v| (v as f64 - max).exp()).collect();
                let sum: f64 = exp.iter().sum();
                exp.into_iter().map(move |e| (e / sum) as f32)
            })
            .collect()
    }

    /// Share of rows whose arg-max (first one on ties) is the label.
    pub fn accuracy(&self) -> f64 {
        let hits = self.logits.chunks(self.classes).zip(&self.labels).filter(|(row, label)| {
            let best = row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
            best as i64 == **label
        });
        hits.count() as f64 / self.len().max(1) as f64
    }

    /// Writes `path`: `.safetensors` holds `logits` `[N, C]` f32, `probabilities` `[N, C]` f32
    /// and `labels` `[N]` i64; `.npy` writes `<stem>.logits.npy`, `<stem>.probabilities.npy` and
    /// `<stem>.labels.npy` next to it. Returns the files written.
    pub fn save(&self, path: &Path) -> Result<Vec<PathBuf>> {
        let n = self.len();
        let probabilities = self.probabilities();
        let arrays: [(&str, Vec<u8>, Vec<usize>, &str); 3] = [
            ("logits", le_bytes(&self.logits), vec![n, self.classes], "<f4"),
            ("probabilities", le_bytes(&probabilities), vec![n, self.classes], "<f4"),
            ("labels", self.labels.iter().flat_map(|l| l.to_le_bytes()).collect(), vec![n], "<i8"),
        ];
        match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => {
                let views = arrays
                    .iter()
                    .map(|(name, bytes, shape, descr)| {
                        let dtype =
                            if *descr == "<f4" { safetensors::Dtype::F32 } else { safetensors::Dtype::I64 };
                        let view = safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes)?;
                        Ok((name.to_string(), view))
                    })
                    .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
                let bytes = safetensors::serialize(views, None)?;
                durable::write(path, &bytes)?;
                Ok(vec![path.to_path_buf()])
            }
            Some("npy") => arrays
                .iter()
                .map(|(name, bytes, shape, descr)| {
                    let file = path.with_extension(format!("{name}.npy"));
                    durable::write(&file, &npy(descr, shape, bytes))?;
                    Ok(file)
                })
                .collect(),
            _ => bail!("{}: the output must end in .safetensors or .npy", path.display()),
        }
    }
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A NumPy `.npy` (format 1.0) file: magic, header dict padded to 64 bytes, raw C-order data.
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Logits of `model` (evaluation mode) for every image of `loader`, with the labels.
pub fn predict(model: &Net, loader: &dyn BatchSource, device: &Device) -> Result<Predictions> {
    let model = model.valid();
    let mut out = Predictions { logits: Vec::new(), classes: 0, labels: Vec::new() };
    for batch in loader.epoch(0, 0) {
        let batch = batch.context("reading the test set")?;
        let images = Tensor::<4>::from_data(TensorData::new(batch.images, batch.dims), device);
        let logits = model.forward(images);
        out.classes = logits.dims()[1];
        let values = logits.into_data().convert::<f32>().try_into_vec::<f32>();
        out.logits.extend(values.map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?);
        out.labels.extend(batch.labels);
    }
    if out.is_empty() {
        bail!("the test set is empty");
    }
    Ok(out)
}
