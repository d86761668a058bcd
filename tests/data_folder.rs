//! Image-folder reader and archive extraction on tiny synthetic folders.

mod common;
use common::Scratch;

use std::path::{Path, PathBuf};

use image::{GrayImage, Luma, Rgb, RgbImage};
use odenet::data::{self, DataError, DatasetKind};


/// Distinct, exactly-representable (PNG) pixels for image `k`.
fn rgb(k: u8, w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([k, (x * 10 + y) as u8, 200 - k]))
}

/// `<root>/{train,test}/{cat,ant}/` with 2 PNGs each (and a JPEG in train/cat).
fn make_tree(root: &Path) {
    for (split, base) in [("train", 0u8), ("test", 100u8)] {
        for (ci, class) in ["cat", "ant"].iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for j in 0..2u8 {
                rgb(base + ci as u8 * 10 + j, 4, 3)
                    .save(dir.join(format!("{j}.png")))
                    .unwrap();
            }
        }
    }
    rgb(50, 4, 3).save(root.join("train/cat/z.jpg")).unwrap();
    std::fs::write(root.join("train/cat/notes.txt"), "ignored").unwrap();
}

#[test]
fn folder_reads_sorted_classes_chw() {
    let t = Scratch::new("folder");
    make_tree(&t.0);
    let split = data::load(DatasetKind::Folder, &t.0).unwrap();
    assert_eq!(split.train.classes, vec!["ant", "cat"]);
    assert_eq!(split.train.shape, [3, 3, 4]);
    assert_eq!(split.train.len(), 5);
    assert_eq!(split.test.len(), 4);
    assert_eq!(split.train.labels, vec![0, 0, 1, 1, 1]);
    // train/ant/1.png is image k = 0 + 10 + 1 = 11, stored CHW.
    let expect = rgb(11, 4, 3);
    let img = split.train.image(1);
    for (x, y, p) in expect.enumerate_pixels() {
        for c in 0..3 {
            assert_eq!(
                img[c * 12 + (y * 4 + x) as usize],
                p[c],
                "pixel ({x},{y}) channel {c}"
            );
        }
    }
    assert_eq!(split.test.image(2)[0], 100, "test/cat/0.png red channel");
    assert_eq!(split.train.class_counts(), vec![2, 3]);
}

#[test]
fn folder_classes_txt_overrides_order_and_val_split() {
    let t = Scratch::new("folderval");
    make_tree(&t.0);
    std::fs::rename(t.0.join("test"), t.0.join("val")).unwrap();
    std::fs::write(t.0.join("classes.txt"), "cat\nant\n").unwrap();
    let split = data::load_folder(&t.0).unwrap();
    assert_eq!(split.train.classes, vec!["cat", "ant"]);
    assert_eq!(split.train.labels, vec![0, 0, 0, 1, 1]);
    assert_eq!(split.test.len(), 4);
}

#[test]
fn folder_all_gray_stays_one_channel_mixed_becomes_rgb() {
    let t = Scratch::new("foldergray");
    for split in ["train", "test"] {
        let dir = t.0.join(split).join("a");
        std::fs::create_dir_all(&dir).unwrap();
        GrayImage::from_fn(2, 2, |x, y| Luma([(x + 2 * y) as u8 * 40]))
            .save(dir.join("g.png"))
            .unwrap();
    }
    let split = data::load_folder(&t.0).unwrap();
    assert_eq!(split.train.shape, [1, 2, 2]);
    assert_eq!(split.train.images, vec![0, 40, 80, 120]);
    rgb(1, 2, 2).save(t.0.join("test/a/c.png")).unwrap();
    let split = data::load_folder(&t.0).unwrap();
    assert_eq!(split.train.shape, [3, 2, 2]);
    assert_eq!(
        split.train.images,
        vec![0, 40, 80, 120, 0, 40, 80, 120, 0, 40, 80, 120]
    );
}

#[test]
fn folder_corrupt_jpeg_names_the_file() {
    let t = Scratch::new("foldercorrupt");
    make_tree(&t.0);
    let bad = t.0.join("test/ant/bad.jpg");
    let noise: Vec<u8> = (0..500u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&bad, noise).unwrap();
    let err = data::load_folder(&t.0).unwrap_err();
    assert!(
        matches!(&err, DataError::Decode { path, .. } if path == &bad),
        "{err}"
    );
    assert!(err.to_string().contains("bad.jpg"), "{err}");
    // A truncated real JPEG as well.
    let good = std::fs::read(t.0.join("train/cat/z.jpg")).unwrap();
    std::fs::write(&bad, &good[..good.len() / 2]).unwrap();
    assert!(matches!(
        data::load_folder(&t.0),
        Err(DataError::Decode { .. })
    ));
}

#[test]
fn folder_missing_class_in_either_split() {
    let t = Scratch::new("foldermissing");
    make_tree(&t.0);
    std::fs::remove_dir_all(t.0.join("test/cat")).unwrap();
    let err = data::load_folder(&t.0).unwrap_err();
    assert!(matches!(err, DataError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("'cat'"), "{err}");
    let t = Scratch::new("folderextra");
    make_tree(&t.0);
    std::fs::create_dir_all(t.0.join("test/bee")).unwrap();
    let err = data::load_folder(&t.0).unwrap_err();
    assert!(err.to_string().contains("'bee'"), "{err}");
}

#[test]
fn folder_mixed_sizes_and_empty_splits() {
    let t = Scratch::new("foldersize");
    make_tree(&t.0);
    let odd = t.0.join("test/cat/odd.png");
    rgb(1, 5, 3).save(&odd).unwrap();
    let err = data::load_folder(&t.0).unwrap_err();
    assert!(
        matches!(&err, DataError::ShapeMismatch { path, got_w: 5, want_w: 4, .. } if path == &odd),
        "{err}"
    );
    let t = Scratch::new("folderempty");
    std::fs::create_dir_all(t.0.join("train")).unwrap();
    std::fs::create_dir_all(t.0.join("test")).unwrap();
    assert!(matches!(
        data::load_folder(&t.0),
        Err(DataError::Invalid { .. })
    ));
    std::fs::create_dir_all(t.0.join("train/a")).unwrap();
    std::fs::create_dir_all(t.0.join("test/a")).unwrap();
    let err = data::load_folder(&t.0).unwrap_err();
    assert!(err.to_string().contains("no .jpg"), "{err}");
    std::fs::remove_dir_all(t.0.join("test")).unwrap();
    assert!(matches!(
        data::load_folder(&t.0),
        Err(DataError::Missing { .. })
    ));
}

#[test]
fn extract_tar_gz_once_and_recovers() {
    let t = Scratch::new("foldertar");
    let src = t.0.join("src");
    make_tree(&src);
    let archive = t.0.join("tiny.tar.gz");
    let enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&archive).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(enc);
    tar.append_dir_all("tiny", &src).unwrap();
    tar.into_inner().unwrap().finish().unwrap();

    let dest = t.0.join("out");
    let root = data::extract_tar_gz(&archive, &dest).unwrap();
    assert_eq!(root, dest.join("tiny"));
    assert_eq!(data::load_folder(&root).unwrap().train.len(), 5);
    // Second call is skipped thanks to the marker: a file we delete stays deleted.
    std::fs::remove_file(root.join("train/cat/z.jpg")).unwrap();
    assert_eq!(data::extract_tar_gz(&archive, &dest).unwrap(), root);
    assert!(!root.join("train/cat/z.jpg").exists());
    // Simulate a killed run (no marker, leftovers): a fresh extraction cleans up.
    let leftovers: Vec<PathBuf> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let done = leftovers
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".extracted"))
        .unwrap();
    std::fs::rename(done, dest.join(".tiny.tar.gz.pending")).unwrap();
    std::fs::create_dir_all(dest.join(".tiny.tar.gz.partial/junk")).unwrap();
    let root = data::extract_tar_gz(&archive, &dest).unwrap();
    assert!(root.join("train/cat/z.jpg").exists());
    assert!(!dest.join(".tiny.tar.gz.partial").exists());
    // Missing or garbage archives are errors.
    let err = data::extract_tar_gz(&t.0.join("nope.tar.gz"), &dest).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
    std::fs::write(t.0.join("junk.tar.gz"), b"not an archive at all").unwrap();
    assert!(data::extract_tar_gz(&t.0.join("junk.tar.gz"), &t.0.join("junk")).is_err());
}
