//! The real Fashion-MNIST files from Debian's `dataset-fashion-mnist` package.

use std::path::Path;

use odenet::data::{self, DatasetKind};

#[test]
fn fashion_mnist_real_files() {
    let dir = data::default_path(&DatasetKind::FashionMnist);
    assert!(
        Path::new(&dir).is_dir(),
        "{} is missing: run `apt-get install -y dataset-fashion-mnist` (CI installs it)",
        dir.display()
    );
    let split = data::load(DatasetKind::FashionMnist, &dir).unwrap();
    assert_eq!(split.name, "fashion-mnist");
    assert_eq!((split.train.len(), split.test.len()), (60_000, 10_000));
    assert_eq!(split.train.shape, [1, 28, 28]);
    assert_eq!(split.test.shape, [1, 28, 28]);
    assert_eq!(split.train.num_classes(), 10);
    assert_eq!(
        split.train.classes,
        data::FASHION_MNIST_CLASSES.map(String::from).to_vec()
    );
    assert_eq!(split.train.class_counts(), vec![6_000; 10]);
    assert_eq!(split.test.class_counts(), vec![1_000; 10]);
    assert_eq!(split.train.images.len(), 60_000 * 784);
    // Known Fashion-MNIST training statistics: mean ≈ 0.2860, std ≈ 0.3530.
    assert!(
        (split.mean[0] - 0.2860).abs() < 1e-3,
        "mean {:?}",
        split.mean
    );
    assert!((split.std[0] - 0.3530).abs() < 1e-3, "std {:?}", split.std);
    let small = split.train.first_per_class(7);
    assert_eq!(small.class_counts(), vec![7; 10]);
}
