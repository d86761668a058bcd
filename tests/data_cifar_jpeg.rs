//! The CIFAR-10 JPEG copy (image-folder layout) shipped with the project's shared data.

use std::path::PathBuf;

use odenet::data;

fn archive() -> PathBuf {
    std::env::var_os("ODENET_CIFAR_JPEG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10-jpeg.tar.gz")
        })
}

#[test]
fn cifar10_jpeg_folder() {
    let archive = archive();
    assert!(
        archive.is_file(),
        "{} not found; set ODENET_CIFAR_JPEG to the CIFAR-10 JPEG tarball",
        archive.display()
    );
    let dest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-data/cifar10-jpeg");
    let root = data::extract_tar_gz(&archive, &dest).unwrap();
    let split = data::load_folder(&root).unwrap();
    assert_eq!((split.train.len(), split.test.len()), (50_000, 10_000));
    assert_eq!(split.train.shape, [3, 32, 32]);
    assert_eq!(split.test.shape, [3, 32, 32]);
    assert_eq!(
        split.train.classes,
        data::CIFAR10_CLASSES.map(String::from).to_vec(),
        "official label order"
    );
    assert_eq!(split.test.classes, split.train.classes);
    assert_eq!(split.train.class_counts(), vec![5_000; 10]);
    assert_eq!(split.test.class_counts(), vec![1_000; 10]);
    let want_mean = [0.4914, 0.4822, 0.4465];
    // True per-pixel std of CIFAR-10 (the 0.2023… in the reference code is a mean of per-image stds).
    let want_std = [0.2470, 0.2435, 0.2616];
    for c in 0..3 {
        assert!(
            (split.mean[c] - want_mean[c]).abs() < 0.01,
            "mean {:?}",
            split.mean
        );
        assert!(
            (split.std[c] - want_std[c]).abs() < 0.01,
            "std {:?}",
            split.std
        );
    }
}
