//! Lazily decoded ImageNet-style folders: scanning, decode-time transforms
//! (torchvision semantics), the prefetching loader, errors on corrupt files, and a
//! one-epoch training run through `odenet::train::fit`.

mod common;
use common::Scratch;

use std::path::Path;
use std::sync::Arc;

use image::{Rgb, RgbImage};
use odenet::data::{
    self, Batch, BatchSource, DataError, DatasetKind, FolderTransforms, IMAGENET_MEAN,
    IMAGENET_STD, ImageFolderFiles, ImageFolderLoader, Transform,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const CLASSES: [&str; 3] = ["dog", "cat", "bird"];
/// Train image sizes (w, h), one per image index: all different aspect ratios.
const SIZES: [(u32, u32); 4] = [(300, 200), (180, 260), (224, 224), (97, 61)];

/// A smooth, class-dependent pattern, so JPEG artefacts stay small.
fn picture(class: usize, k: usize, w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w.max(1)) as u8,
            (y * 255 / h.max(1)) as u8,
            (class * 100 + k * 10) as u8,
        ])
    })
}

/// `<root>/train/<class>/{0..4}.jpg` of different sizes and `<root>/val/<class>/{0,1}.jpg`.
fn make_tree(root: &Path) {
    for (ci, class) in CLASSES.iter().enumerate() {
        let train = root.join("train").join(class);
        let val = root.join("val").join(class);
        std::fs::create_dir_all(&train).unwrap();
        std::fs::create_dir_all(&val).unwrap();
        for (k, &(w, h)) in SIZES.iter().enumerate() {
            picture(ci, k, w, h)
                .save(train.join(format!("{k}.jpg")))
                .unwrap();
        }
        for k in 0..2 {
            picture(ci, k, 120 + 40 * k as u32, 90)
                .save(val.join(format!("{k}.jpg")))
                .unwrap();
        }
    }
    std::fs::write(root.join("train/dog/readme.txt"), "not an image").unwrap();
}

fn loader(
    files: &ImageFolderFiles,
    pipeline: Vec<Transform>,
    bs: usize,
    shuffle: bool,
) -> ImageFolderLoader {
    ImageFolderLoader::try_new(
        Arc::new(files.clone()),
        pipeline,
        IMAGENET_MEAN,
        IMAGENET_STD,
        bs,
        shuffle,
        false,
    )
    .unwrap()
}

fn all_ok(it: impl Iterator<Item = Result<Batch, DataError>>) -> Vec<Batch> {
    it.map(|b| b.expect("batch")).collect()
}

#[test]
fn scan_lists_files_without_decoding_and_checks_the_layout() {
    let t = Scratch::new("imagenet-scan");
    make_tree(&t.0);
    // A corrupt file does not matter while scanning: nothing is decoded.
    std::fs::write(t.0.join("train/cat/broken.jpg"), b"not a jpeg at all").unwrap();
    let split = data::scan_folder(&t.0).unwrap();
    assert_eq!(
        split.train.classes,
        vec!["bird", "cat", "dog"],
        "sorted folder names"
    );
    assert_eq!(split.train.len(), 13);
    assert_eq!(split.test.len(), 6);
    assert_eq!(split.train.class_counts(), vec![4, 5, 4]);
    assert_eq!(split.test.class_counts(), vec![2, 2, 2]);
    assert!(
        split
            .train
            .files
            .iter()
            .all(|(p, _)| p.extension().unwrap() == "jpg")
    );
    assert_eq!(split.train.first_per_class(2).class_counts(), vec![2, 2, 2]);
    assert_eq!(data::open_folder(&t.0).unwrap(), split);
    // Decoding happens on demand: the corrupt file fails, naming itself; the others decode.
    let broken = split
        .train
        .files
        .iter()
        .position(|(p, _)| p.ends_with("broken.jpg"))
        .unwrap();
    let err = split.train.load(broken).unwrap_err();
    assert!(
        matches!(err, DataError::Decode { .. }) && err.to_string().contains("broken.jpg"),
        "{err}"
    );
    assert_eq!(
        split.train.load(0).unwrap().dimensions(),
        (300, 200),
        "bird/0.jpg"
    );
    // The imagenet kind is never loaded eagerly.
    let err = data::load(DatasetKind::imagenet(224), &t.0).unwrap_err();
    assert!(matches!(err, DataError::Config(_)), "{err}");

    // Layout errors are the eager reader's.
    std::fs::remove_file(t.0.join("train/cat/broken.jpg")).unwrap();
    std::fs::remove_dir_all(t.0.join("val/cat")).unwrap();
    let lazy = data::scan_folder(&t.0).unwrap_err();
    let eager = data::load_folder(&t.0).unwrap_err();
    assert!(matches!(lazy, DataError::Invalid { .. }), "{lazy}");
    assert!(
        lazy.to_string().contains("no folder for class 'cat'"),
        "{lazy}"
    );
    assert_eq!(lazy.to_string(), eager.to_string());
    std::fs::create_dir_all(t.0.join("val/cat")).unwrap();
    let err = data::scan_folder(&t.0).unwrap_err();
    assert!(
        err.to_string().contains("no .jpg/.jpeg/.png images"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        data::load_folder(&t.0).unwrap_err().to_string()
    );
    std::fs::remove_dir_all(t.0.join("val")).unwrap();
    let err = data::scan_folder(&t.0).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
    let empty = Scratch::new("imagenet-empty");
    std::fs::create_dir_all(empty.0.join("train")).unwrap();
    std::fs::create_dir_all(empty.0.join("val")).unwrap();
    let err = data::scan_folder(&empty.0).unwrap_err();
    assert!(err.to_string().contains("split is empty"), "{err}");
}

#[test]
fn imagenet_recipe_and_serde_defaults() {
    let t = FolderTransforms::imagenet(224);
    assert_eq!(
        t.train,
        vec![
            Transform::RandomResizedCrop {
                size: 224,
                scale: (0.08, 1.0),
                ratio: (0.75, 4.0 / 3.0)
            },
            Transform::RandomHorizontalFlip
        ]
    );
    assert_eq!(
        t.eval,
        vec![
            Transform::Resize { shorter: 256 },
            Transform::CenterCrop { size: 224 }
        ]
    );
    assert_eq!((t.mean, t.std), (IMAGENET_MEAN, IMAGENET_STD));
    assert_eq!(
        FolderTransforms::imagenet(64).eval[0],
        Transform::Resize { shorter: 73 }
    );
    assert_eq!(FolderTransforms::default(), t);

    // As data: a round trip, and missing fields take the defaults.
    let json = serde_json::to_string(&DatasetKind::imagenet(64)).unwrap();
    assert_eq!(
        serde_json::from_str::<DatasetKind>(&json).unwrap(),
        DatasetKind::imagenet(64)
    );
    assert!(json.contains(r#""op":"random-resized-crop""#), "{json}");
    assert_eq!(
        serde_json::from_str::<DatasetKind>(r#"{"ImageNet":{}}"#).unwrap(),
        DatasetKind::imagenet(224)
    );
    let custom: FolderTransforms = serde_json::from_str(
        r#"{"eval":[{"op":"resize","shorter":40},{"op":"center-crop","size":32}]}"#,
    )
    .unwrap();
    assert_eq!(custom.train, t.train);
    assert_eq!(custom.eval[1], Transform::CenterCrop { size: 32 });
    // Old configs still parse; "imagenet" is a command-line name.
    assert_eq!(
        serde_json::from_str::<DatasetKind>(r#""Folder""#).unwrap(),
        DatasetKind::Folder
    );
    assert_eq!(
        "ImageNet".parse::<DatasetKind>().unwrap(),
        DatasetKind::imagenet(224)
    );
    assert_eq!(DatasetKind::imagenet(64).to_string(), "imagenet");

    // Pipelines must end at a fixed size and have sane parameters.
    assert_eq!(data::output_size(&t.train).unwrap(), [224, 224]);
    assert!(
        data::output_size(&[
            Transform::CenterCrop { size: 8 },
            Transform::Resize { shorter: 9 }
        ])
        .is_err()
    );
    assert!(data::output_size(&[Transform::CenterCrop { size: 0 }]).is_err());
    let bad = Transform::RandomResizedCrop {
        size: 8,
        scale: (0.5, 0.1),
        ratio: (0.75, 1.3),
    };
    assert!(data::output_size(&[bad]).is_err());
    let files = ImageFolderFiles {
        files: vec![],
        classes: vec!["a".into()],
    };
    let err = ImageFolderLoader::try_new(
        Arc::new(files.clone()),
        t.eval.clone(),
        IMAGENET_MEAN,
        [0.2, 0.0, 0.2],
        4,
        false,
        false,
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Config(_)), "{err}");
    assert!(
        ImageFolderLoader::try_new(
            Arc::new(files),
            t.eval,
            IMAGENET_MEAN,
            IMAGENET_STD,
            0,
            false,
            false
        )
        .is_err()
    );
}

#[test]
fn training_batches_are_square_crops_normalised_and_deterministic() {
    let t = Scratch::new("imagenet-train");
    make_tree(&t.0);
    let split = data::scan_folder(&t.0).unwrap();
    let train = FolderTransforms::imagenet(64).train;
    let l = loader(&split.train, train.clone(), 5, true);
    assert_eq!(BatchSource::input_shape(&l), [3, 64, 64]);
    assert_eq!((BatchSource::len(&l), l.num_batches()), (12, 3));
    let a = all_ok(l.epoch(0, 7));
    assert_eq!(
        a.iter().map(|b| b.dims).collect::<Vec<_>>(),
        vec![[5, 3, 64, 64], [5, 3, 64, 64], [2, 3, 64, 64]]
    );
    let plane = 64 * 64;
    for b in &a {
        assert_eq!(b.images.len(), b.dims.iter().product::<usize>());
        for img in b.images.chunks(3 * plane) {
            for c in 0..3 {
                let (lo, hi) = (
                    -IMAGENET_MEAN[c] / IMAGENET_STD[c],
                    (1.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c],
                );
                assert!(
                    img[c * plane..(c + 1) * plane]
                        .iter()
                        .all(|v| (lo - 1e-5..=hi + 1e-5).contains(v))
                );
            }
        }
    }
    // Every file once per epoch, labels from the folders.
    let mut labels: Vec<i64> = a.iter().flat_map(|b| b.labels.clone()).collect();
    labels.sort();
    assert_eq!(labels, vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    let mut order = l.epoch_order(0, 7);
    order.sort();
    assert_eq!(order, (0..12).collect::<Vec<_>>());

    // Same (seed, epoch): the same batches, from a fresh loader too; else different.
    assert_eq!(
        all_ok(loader(&split.train, train.clone(), 5, true).epoch(0, 7)),
        a
    );
    assert_ne!(all_ok(l.epoch(1, 7)), a);
    assert_ne!(all_ok(l.epoch(0, 8)), a);
    // The augmentation depends on the position in the epoch, not on the batch size.
    let b3: Vec<f32> = all_ok(loader(&split.train, train, 3, true).epoch(0, 7))
        .into_iter()
        .flat_map(|b| b.images)
        .collect();
    assert_eq!(
        b3,
        a.iter().flat_map(|b| b.images.clone()).collect::<Vec<_>>()
    );
    // Through the trait object, as the trainer sees it.
    let src: Box<dyn BatchSource> = Box::new(l);
    assert_eq!(all_ok(src.epoch(0, 7)), a);
}

#[test]
fn random_resized_crop_stays_within_scale_and_ratio() {
    let (w, h) = (300u32, 200u32);
    let (scale, ratio) = ((0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0));
    let mut rng = StdRng::seed_from_u64(3);
    let (mut fractions, mut fallbacks) = (Vec::new(), 0);
    for _ in 0..5000 {
        let c = data::sample_resized_crop(w, h, scale, ratio, &mut rng);
        assert!(
            c.width >= 1 && c.height >= 1 && c.x + c.width <= w && c.y + c.height <= h,
            "{c:?}"
        );
        if c.fallback {
            fallbacks += 1;
            continue;
        }
        // Widths and heights are rounded to whole pixels: allow half a pixel each.
        let (cw, ch) = (c.width as f64, c.height as f64);
        let area = (w * h) as f64;
        assert!((cw + 0.5) * (ch + 0.5) >= scale.0 * area, "{c:?} too small");
        assert!((cw - 0.5) * (ch - 0.5) <= scale.1 * area, "{c:?} too large");
        assert!(
            (cw + 0.5) / (ch - 0.5) >= ratio.0 && (cw - 0.5) / (ch + 0.5) <= ratio.1,
            "{c:?} aspect"
        );
        fractions.push(cw * ch / area);
    }
    // Large targets often miss (at most 267×200, 89% of the area, fits the ratios);
    // ten tries almost always find one, and the accepted ones cover the range.
    assert!(fallbacks < 50, "{fallbacks} fallbacks");
    assert!(fractions.iter().any(|&f| f < 0.1) && fractions.iter().any(|&f| f > 0.85));
    assert!(
        fractions.iter().all(|&f| f <= 0.8901),
        "{:?}",
        fractions.iter().cloned().fold(0.0, f64::max)
    );

    // Nothing fits a 1000×10 strip at scale ≥ 0.9: the fallback is the centred crop
    // clamped to the widest allowed ratio, as torchvision does.
    let strip = data::sample_resized_crop(1000, 10, (0.9, 1.0), ratio, &mut rng);
    assert_eq!(
        (strip.x, strip.y, strip.width, strip.height, strip.fallback),
        (493, 0, 13, 10, true)
    );
    let tall = data::sample_resized_crop(10, 1000, (0.9, 1.0), ratio, &mut rng);
    assert_eq!(
        (tall.x, tall.y, tall.width, tall.height, tall.fallback),
        (0, 493, 10, 13, true)
    );
    let square = data::sample_resized_crop(50, 50, (2.0, 3.0), ratio, &mut rng);
    assert_eq!(
        (square.x, square.y, square.width, square.height),
        (0, 0, 50, 50)
    );

    // The transform itself always gives size×size, whatever the input shape.
    let rrc = Transform::RandomResizedCrop {
        size: 24,
        scale,
        ratio,
    };
    for (iw, ih) in [(300, 200), (7, 90), (1, 1), (1000, 10)] {
        assert_eq!(
            rrc.apply(RgbImage::new(iw, ih), &mut rng).dimensions(),
            (24, 24)
        );
    }
}

/// Bilinear (triangle, antialiased) resampling of one row that is 0 before column
/// `edge` and 255 from it, `src` pixels wide, to `dst` pixels: value of column `x`.
fn step_resampled(src: u32, dst: u32, edge: u32, x: u32) -> f64 {
    let r = src as f64 / dst as f64;
    let support = r.max(1.0);
    let centre = (x as f64 + 0.5) * r - 0.5;
    let (mut sum, mut white) = (0.0, 0.0);
    for i in 0..src {
        let w = (1.0 - (i as f64 - centre).abs() / support).max(0.0);
        sum += w;
        if i >= edge {
            white += w;
        }
    }
    255.0 * white / sum
}

#[test]
fn eval_transform_resizes_shorter_side_then_centre_crops() {
    // 144×100, black left of column 72, white from it. Crop 64 → shorter side
    // round(64·256/224) = 73 → 105×73 (⌊144·73/100⌋ = 105); centre crop offsets
    // round((105−64)/2 = 20.5) = 20 and round((73−64)/2 = 4.5) = 4 (half to even).
    let img = RgbImage::from_fn(144, 100, |x, _| {
        if x < 72 {
            Rgb([0, 0, 0])
        } else {
            Rgb([255, 255, 255])
        }
    });
    let eval = FolderTransforms::imagenet(64).eval;
    assert_eq!(data::resized_size(144, 100, 73), (105, 73));
    assert_eq!(data::resized_size(100, 144, 73), (73, 105));
    assert_eq!(data::center_crop_offset(105, 73, 64), (20, 4));
    assert_eq!(
        data::center_crop_offset(256, 341, 224),
        (16, 58),
        "58.5 rounds to 58"
    );

    // Through the loader, from a lossless PNG in a folder.
    let t = Scratch::new("imagenet-eval");
    for split in ["train", "val"] {
        let dir = t.0.join(split).join("edge");
        std::fs::create_dir_all(&dir).unwrap();
        img.save(dir.join("0.png")).unwrap();
    }
    let split = data::scan_folder(&t.0).unwrap();
    let batch = all_ok(loader(&split.test, eval, 1, false).epoch(0, 0)).remove(0);
    assert_eq!(batch.dims, [1, 3, 64, 64]);
    let plane = 64 * 64;
    for c in 0..3 {
        for y in 0..64 {
            for x in 0..64u32 {
                let got = batch.images[c * plane + y * 64 + x as usize] * IMAGENET_STD[c]
                    + IMAGENET_MEAN[c];
                let want = step_resampled(144, 105, 72, x + 20) / 255.0;
                assert!(
                    (got as f64 - want).abs() <= 1.01 / 255.0,
                    "channel {c} ({x},{y}): {got} vs {want}"
                );
            }
        }
    }
    // The edge lands where expected: at 72·105/144 = 52.5 after resizing, the middle of
    // column 52, i.e. crop column 32 is half grey, 0..=31 black, 33.. white (an offset
    // rounded half up, 21, would put the grey column at 31).
    let row: Vec<f64> = (0..64)
        .map(|x| step_resampled(144, 105, 72, x + 20))
        .collect();
    assert!(
        row[..32].iter().all(|&v| v == 0.0) && row[33..].iter().all(|&v| (v - 255.0).abs() < 1e-9),
        "{row:?}"
    );
    assert!((row[32] - 127.5).abs() < 1e-9, "{row:?}");
    let grey = batch.images[32] * IMAGENET_STD[0] + IMAGENET_MEAN[0];
    assert!((grey - 0.5).abs() <= 1.01 / 255.0, "{grey}");

    // A crop larger than the image pads with black (0 before normalisation).
    let small = Transform::CenterCrop { size: 6 }.apply(
        RgbImage::from_pixel(2, 4, Rgb([9, 9, 9])),
        &mut StdRng::seed_from_u64(0),
    );
    assert_eq!(small.dimensions(), (6, 6));
    assert_eq!(
        (
            small.get_pixel(2, 1)[0],
            small.get_pixel(3, 4)[0],
            small.get_pixel(1, 1)[0],
            small.get_pixel(2, 5)[0]
        ),
        (9, 9, 0, 0)
    );
}

#[test]
fn a_corrupt_image_mid_epoch_is_an_error_naming_it() {
    let t = Scratch::new("imagenet-corrupt");
    make_tree(&t.0);
    std::fs::write(
        t.0.join("train/cat/3b-broken.jpg"),
        b"\xFF\xD8\xFF\xE0 definitely not a jpeg",
    )
    .unwrap();
    let split = data::scan_folder(&t.0).unwrap();
    let pos = split
        .train
        .files
        .iter()
        .position(|(p, _)| p.ends_with("3b-broken.jpg"))
        .unwrap();
    assert_eq!(pos, 8, "bird 0-3, cat 0-3, then the broken one");
    let l = loader(&split.train, FolderTransforms::imagenet(32).train, 4, false);
    let mut it = l.epoch(0, 0);
    assert!(it.next().unwrap().is_ok());
    assert!(it.next().unwrap().is_ok());
    let err = it.next().unwrap().unwrap_err();
    assert!(err.to_string().contains("3b-broken.jpg"), "{err}");
    assert!(it.next().is_none(), "the epoch ends after an error");
    // A file deleted after the scan: an I/O error naming it.
    std::fs::remove_file(t.0.join("train/cat/3b-broken.jpg")).unwrap();
    let err = all_err(l.epoch(0, 0));
    assert!(
        matches!(err, DataError::Io { .. }) && err.to_string().contains("3b-broken.jpg"),
        "{err}"
    );
}

fn all_err(it: impl Iterator<Item = Result<Batch, DataError>>) -> DataError {
    it.filter_map(Result::err).next().expect("an error")
}

#[test]
fn one_epoch_of_training_on_a_lazy_folder() {
    use odenet::nn::BranchKind;
    use odenet::train::{DataConfig, FitOptions, TrainConfig, fit};
    use odenet::{NetConfig, SchemeConfig};

    let t = Scratch::new("imagenet-fit");
    make_tree(&t.0);
    let model = NetConfig {
        name: "tiny-lm".into(),
        in_channels: 3,
        num_classes: 3,
        stem_width: 4,
        stem: Default::default(),
        widths: vec![4, 8],
        depths: vec![1, 1],
        branch: BranchKind::Basic,
        scheme: SchemeConfig::lm_paper(),
        noise: Default::default(),
    };
    let data = DataConfig {
        kind: DatasetKind::imagenet(32),
        path: t.0.clone(),
        train_per_class: None,
        test_per_class: None,
        augment: data::Augment::none(),
        normalization: Default::default(),
    };
    let mut config = common::config(model, data, 1, 4);
    config.optim.lr = 0.01;
    let run = common::run_dir("imagenet-fit");
    let summary = fit(&config, &run, &FitOptions::default()).expect("training on a lazy folder");
    assert_eq!(summary.epochs, 1);
    let line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let loss = line["train_loss"].as_f64().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "{line}");
    assert!(line["test_loss"].as_f64().unwrap().is_finite(), "{line}");
    let saved: TrainConfig =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(saved, config, "the transforms are recorded in config.json");
    let (train, test) = odenet::train::make_loaders(&config).unwrap();
    assert_eq!(
        (train.len(), test.len(), test.input_shape()),
        (12, 6, [3, 32, 32])
    );

    // A corrupt image stops training with an error naming it, no panic.
    std::fs::write(t.0.join("train/dog/9-broken.jpg"), b"garbage").unwrap();
    let run = common::run_dir("imagenet-fit-corrupt");
    let err = fit(&config, &run, &FitOptions::default()).unwrap_err();
    assert!(format!("{err:#}").contains("9-broken.jpg"), "{err:#}");
    // More classes than model outputs is a clear error too.
    config.model.num_classes = 2;
    let err = fit(
        &config,
        &common::run_dir("imagenet-fit-classes"),
        &FitOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("3 classes"), "{err}");
}
