//! CIFAR binary reader on small synthetic files.

mod common;
use common::Scratch;

use std::path::Path;

use odenet::data::{self, DataError, DatasetKind};

/// A unique scratch directory under the system temp dir, removed on drop.

/// `n` records with label bytes `labels(i)` and pixels `(i*7 + j) % 251`.
fn records(n: usize, labels: impl Fn(usize) -> Vec<u8>) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut bytes = Vec::new();
    let mut images = Vec::new();
    for i in 0..n {
        bytes.extend(labels(i));
        let img: Vec<u8> = (0..3072).map(|j| ((i * 7 + j) % 251) as u8).collect();
        bytes.extend(&img);
        images.push(img);
    }
    (bytes, images)
}

fn write_cifar10(dir: &Path, per_file: usize) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for f in 1..=6 {
        let name = if f == 6 {
            "test_batch.bin".to_string()
        } else {
            format!("data_batch_{f}.bin")
        };
        let (bytes, imgs) = records(per_file, |i| vec![((f + i) % 10) as u8]);
        std::fs::write(dir.join(name), bytes).unwrap();
        all.extend(imgs);
    }
    all
}

#[test]
fn cifar10_roundtrip_exact() {
    let t = Scratch::new("c10");
    let imgs = write_cifar10(&t.0, 3);
    let split = data::load(DatasetKind::Cifar10, &t.0).unwrap();
    assert_eq!(split.name, "cifar10");
    assert_eq!(split.train.len(), 15);
    assert_eq!(split.test.len(), 3);
    assert_eq!(split.train.shape, [3, 32, 32]);
    assert_eq!(
        split.train.classes,
        data::CIFAR10_CLASSES.map(String::from).to_vec()
    );
    for (i, img) in imgs.iter().take(15).enumerate() {
        assert_eq!(split.train.image(i), img.as_slice(), "train image {i}");
        let f = i / 3 + 1;
        assert_eq!(split.train.labels[i], ((f + i % 3) % 10) as u32);
    }
    assert_eq!(split.test.image(2), imgs[17].as_slice());
    assert_eq!(split.test.labels, vec![6, 7, 8]);
    assert_eq!(split.mean.len(), 3);
    // The parent folder also works.
    let nested = Scratch::new("c10nest");
    let inner = nested.0.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&inner).unwrap();
    write_cifar10(&inner, 1);
    assert_eq!(
        data::load(DatasetKind::Cifar10, &nested.0)
            .unwrap()
            .train
            .len(),
        5
    );
}

#[test]
fn cifar10_class_names_from_meta() {
    let t = Scratch::new("c10meta");
    write_cifar10(&t.0, 1);
    let names: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    std::fs::write(t.0.join("batches.meta.txt"), names.join("\n") + "\n\n").unwrap();
    assert_eq!(
        data::load(DatasetKind::Cifar10, &t.0)
            .unwrap()
            .train
            .classes,
        names
    );
}

#[test]
fn cifar100_uses_fine_label() {
    let t = Scratch::new("c100");
    let (train, timgs) = records(3, |i| vec![(i % 20) as u8, (90 + i) as u8]);
    let (test, _) = records(2, |i| vec![0, (i * 50) as u8]);
    std::fs::write(t.0.join("train.bin"), train).unwrap();
    std::fs::write(t.0.join("test.bin"), test).unwrap();
    let split = data::load(DatasetKind::Cifar100, &t.0).unwrap();
    assert_eq!(split.train.labels, vec![90, 91, 92]);
    assert_eq!(split.test.labels, vec![0, 50]);
    assert_eq!(split.train.image(1), timgs[1].as_slice());
    assert_eq!(split.train.num_classes(), 100);
    assert_eq!(split.train.classes[0], "apple");
    assert_eq!(split.train.classes[99], "worm");
    let mut sorted = data::CIFAR100_CLASSES.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted,
        data::CIFAR100_CLASSES.to_vec(),
        "official fine names are sorted and unique"
    );
}

#[test]
fn cifar_truncated_file_is_an_error() {
    let t = Scratch::new("c10trunc");
    write_cifar10(&t.0, 2);
    let path = t.0.join("data_batch_3.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(3073 + 100);
    std::fs::write(&path, bytes).unwrap();
    let err = data::load(DatasetKind::Cifar10, &t.0).unwrap_err();
    assert!(
        matches!(&err, DataError::Truncated { path: p, .. } if p == &path),
        "{err}"
    );
    assert!(err.to_string().contains("data_batch_3.bin"), "{err}");
}

#[test]
fn cifar_label_out_of_range_is_an_error() {
    let t = Scratch::new("c10label");
    write_cifar10(&t.0, 2);
    let (bytes, _) = records(2, |i| vec![if i == 1 { 10 } else { 0 }]);
    std::fs::write(t.0.join("test_batch.bin"), bytes).unwrap();
    let err = data::load(DatasetKind::Cifar10, &t.0).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                classes: 10,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("test_batch.bin"), "{err}");
}

#[test]
fn cifar_missing_file_is_an_error() {
    let t = Scratch::new("c10missing");
    write_cifar10(&t.0, 1);
    std::fs::remove_file(t.0.join("data_batch_4.bin")).unwrap();
    let err = data::load(DatasetKind::Cifar10, &t.0).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { path, .. } if path.ends_with("data_batch_4.bin")),
        "{err}"
    );
    let err = data::load(DatasetKind::Cifar100, &t.0.join("nope")).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
}

#[test]
fn dataset_kind_parsing_and_defaults() {
    assert_eq!(
        "cifar10".parse::<DatasetKind>().unwrap(),
        DatasetKind::Cifar10
    );
    assert_eq!(
        "CIFAR-100".parse::<DatasetKind>().unwrap(),
        DatasetKind::Cifar100
    );
    assert_eq!(
        "fashion-mnist".parse::<DatasetKind>().unwrap(),
        DatasetKind::FashionMnist
    );
    assert_eq!(
        "fashion_mnist".parse::<DatasetKind>().unwrap(),
        DatasetKind::FashionMnist
    );
    assert_eq!("mnist".parse::<DatasetKind>().unwrap(), DatasetKind::Mnist);
    assert_eq!(
        "folder".parse::<DatasetKind>().unwrap(),
        DatasetKind::Folder
    );
    let err = "svhn".parse::<DatasetKind>().unwrap_err().to_string();
    assert!(
        err.contains("svhn") && err.contains("cifar10, cifar100, fashion-mnist, mnist, folder, imagenet"),
        "{err}"
    );
    for k in [
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
        DatasetKind::FashionMnist,
        DatasetKind::Mnist,
        DatasetKind::Folder,
        DatasetKind::imagenet(224),
    ] {
        assert_eq!(k.to_string().parse::<DatasetKind>().unwrap(), k);
        // The facts table: classes are fixed exactly for the downloadable sets, which land on
        // their default paths.
        let facts = k.facts();
        assert_eq!(facts.classes.is_none(), facts.download.is_none(), "{k}: folders only");
        if let Some(d) = facts.download {
            assert!(facts.default_path.ends_with(d.folder), "{k}: {} vs {}", facts.default_path, d.folder);
        }
    }
    assert_eq!(DatasetKind::Cifar100.facts().classes, Some(100));
    assert!(DatasetKind::FashionMnist.download_hint().contains("apt-get"));
    assert_eq!(
        data::default_path(&DatasetKind::Cifar10),
        Path::new("data/cifar-10-batches-bin")
    );
    assert_eq!(
        data::default_path(&DatasetKind::Cifar100),
        Path::new("data/cifar-100-binary")
    );
    assert_eq!(
        data::default_path(&DatasetKind::FashionMnist),
        Path::new("/usr/share/datasets/fashion-mnist")
    );
    assert_eq!(
        data::default_path(&DatasetKind::Mnist),
        Path::new("/usr/share/datasets/mnist")
    );
    assert_eq!(data::default_path(&DatasetKind::Folder), Path::new("data/"));
}
