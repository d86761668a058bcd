//! IDX reader (MNIST format) on synthetic raw and gzipped files.

mod common;
use common::Scratch;

use std::io::Write;
use std::path::Path;

use odenet::data::{self, DataError, DatasetKind};


fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(payload);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes train (n) and test (m) splits of 4×3 images; `gzip` picks the encoding.
/// Gzipped files get no `.gz` suffix on the raw-named image file to prove detection
/// is by magic bytes.
fn write_split(dir: &Path, n: usize, m: usize, gzip: bool) -> (Vec<u8>, Vec<u8>) {
    let mut train_px = Vec::new();
    for (prefix, count) in [("train", n), ("t10k", m)] {
        let pixels: Vec<u8> = (0..count * 12).map(|i| (i * 3 % 256) as u8).collect();
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        let images = idx(0x803, &[count as u32, 4, 3], &pixels);
        let labels_f = idx(0x801, &[count as u32], &labels);
        let enc = |b: Vec<u8>| if gzip { gz(&b) } else { b };
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), enc(images)).unwrap();
        let lname = if gzip {
            format!("{prefix}-labels-idx1-ubyte.gz")
        } else {
            format!("{prefix}-labels-idx1-ubyte")
        };
        std::fs::write(dir.join(lname), enc(labels_f)).unwrap();
        if prefix == "train" {
            train_px = pixels;
        }
    }
    (train_px, (0..n).map(|i| (i % 10) as u8).collect())
}

#[test]
fn idx_raw_and_gz_read_back() {
    for gzip in [false, true] {
        let t = Scratch::new(if gzip { "idxgz" } else { "idxraw" });
        let (px, labels) = write_split(&t.0, 13, 5, gzip);
        let split = data::load(DatasetKind::Mnist, &t.0).unwrap();
        assert_eq!(split.name, "mnist");
        assert_eq!(split.train.shape, [1, 4, 3]);
        assert_eq!(split.train.images, px);
        assert_eq!(
            split.train.labels,
            labels.iter().map(|&l| l as u32).collect::<Vec<_>>()
        );
        assert_eq!(split.test.len(), 5);
        assert_eq!(split.train.num_classes(), 10);
        let fm = data::load(DatasetKind::FashionMnist, &t.0).unwrap();
        assert_eq!(fm.train.classes[0], "T-shirt/top");
        assert_eq!(fm.train.classes[9], "Ankle boot");
    }
}

#[test]
fn idx_wrong_magic() {
    let t = Scratch::new("idxmagic");
    write_split(&t.0, 4, 2, false);
    let p = t.0.join("t10k-images-idx3-ubyte");
    std::fs::write(&p, idx(0x801, &[2, 4, 3], &[0; 24])).unwrap();
    let err = data::load(DatasetKind::Mnist, &t.0).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                expected: 0x803,
                found: 0x801,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("t10k-images-idx3-ubyte"), "{err}");
}

#[test]
fn idx_truncated_payload_and_header() {
    let t = Scratch::new("idxtrunc");
    write_split(&t.0, 4, 2, true);
    let p = t.0.join("train-images-idx3-ubyte");
    std::fs::write(&p, gz(&idx(0x803, &[4, 4, 3], &[0; 47]))).unwrap();
    let err = data::load(DatasetKind::Mnist, &t.0).unwrap_err();
    assert!(
        matches!(&err, DataError::Truncated { path, .. } if path == &p),
        "{err}"
    );
    std::fs::write(&p, [0u8, 0, 8]).unwrap();
    let err = data::load(DatasetKind::Mnist, &t.0).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err}");
    // A gzip stream cut in half is reported, not a panic.
    let full = gz(&idx(0x803, &[4, 4, 3], &[7; 48]));
    std::fs::write(&p, &full[..full.len() / 2]).unwrap();
    let err = data::load(DatasetKind::Mnist, &t.0).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err}");
}

#[test]
fn idx_count_mismatch_and_label_range() {
    let t = Scratch::new("idxcount");
    write_split(&t.0, 4, 2, false);
    let lp = t.0.join("train-labels-idx1-ubyte");
    std::fs::write(&lp, idx(0x801, &[3], &[1, 2, 3])).unwrap();
    let err = data::load(DatasetKind::Mnist, &t.0).unwrap_err();
    assert!(
        matches!(&err, DataError::Invalid { path, .. } if path == &lp),
        "{err}"
    );
    assert!(
        err.to_string().contains("3 labels") && err.to_string().contains("4 images"),
        "{err}"
    );
    std::fs::write(&lp, idx(0x801, &[4], &[1, 2, 11, 3])).unwrap();
    let err = data::load(DatasetKind::Mnist, &t.0).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 2,
                label: 11,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn idx_missing_dir_mentions_apt() {
    let err = data::load(DatasetKind::FashionMnist, Path::new("/nonexistent/odenet")).unwrap_err();
    assert!(
        err.to_string()
            .contains("apt-get install -y dataset-fashion-mnist"),
        "{err}"
    );
}
