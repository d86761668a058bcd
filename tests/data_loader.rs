//! Augmentation and the seeded batch loader.

use std::collections::HashSet;
use std::sync::Arc;

use odenet::data::{Augment, BatchLoader, DataError, ImageDataset};

const H: usize = 5;
const W: usize = 6;

/// `n` one-channel H×W images; image i has pixels `i*... ` chosen so each image and
/// each pixel position is recognisable: pixel (y, x) = 1 + y*W + x + 40*(i % 5).
fn dataset(n: usize) -> ImageDataset {
    let mut images = Vec::new();
    for i in 0..n {
        images.extend((0..H * W).map(|p| (1 + p + 40 * (i % 5)) as u8));
    }
    ImageDataset {
        images,
        labels: (0..n as u32).map(|i| i % 7).collect(),
        shape: [1, H, W],
        classes: (0..7).map(|c| c.to_string()).collect(),
    }
}

/// Reference crop+flip written independently: zero padding, crop at (dy, dx), then flip.
fn reference(src: &[u8], pad: usize, dy: usize, dx: usize, flip: bool) -> Vec<f32> {
    let mut out = vec![0.0; H * W];
    for y in 0..H {
        for x in 0..W {
            let xc = if flip { W - 1 - x } else { x };
            let (py, px) = (y + dy, xc + dx); // coordinates in the padded image
            if py >= pad && py < pad + H && px >= pad && px < pad + W {
                out[y * W + x] = src[(py - pad) * W + (px - pad)] as f32 / 255.0;
            }
        }
    }
    out
}

fn loader(n: usize, bs: usize, aug: Augment, shuffle: bool, drop_last: bool) -> BatchLoader {
    BatchLoader::try_new(
        Arc::new(dataset(n)),
        vec![0.0],
        vec![1.0],
        bs,
        aug,
        shuffle,
        drop_last,
    )
    .unwrap()
}

#[test]
fn augmented_images_are_shifted_or_flipped_copies() {
    let n = 200;
    let data = dataset(n);
    let l = loader(n, 16, Augment { pad: 2, flip: true }, true, false);
    let order = l.epoch_order(0, 42);
    let mut seen_flip = [false; 2];
    let mut offsets = HashSet::new();
    let mut k = 0;
    for batch in l.epoch(0, 42) {
        assert_eq!(batch.dims[1..], [1, H, W]);
        assert_eq!(batch.images.len(), batch.dims.iter().product::<usize>());
        for (j, img) in batch.images.chunks(H * W).enumerate() {
            let src = data.image(order[k]);
            assert_eq!(batch.labels[j], data.labels[order[k]] as i64);
            let found = (0..=4)
                .flat_map(|dy| (0..=4).flat_map(move |dx| [false, true].map(|f| (dy, dx, f))))
                .find(|&(dy, dx, f)| {
                    reference(src, 2, dy, dx, f)
                        .iter()
                        .zip(img)
                        .all(|(a, b)| (a - b).abs() < 1e-6)
                });
            let (dy, dx, f) =
                found.unwrap_or_else(|| panic!("image {k} is not a crop/flip of its source"));
            seen_flip[f as usize] = true;
            offsets.insert((dy, dx));
            k += 1;
        }
    }
    assert_eq!(k, n);
    assert_eq!(
        seen_flip,
        [true, true],
        "both flipped and unflipped images occur"
    );
    assert!(
        offsets.len() > 15,
        "most of the 25 crop offsets occur, got {}",
        offsets.len()
    );
}

#[test]
fn no_augmentation_is_plain_normalisation() {
    let data = ImageDataset {
        images: vec![0, 255, 51, 0, 255, 102, 0, 255, 255, 0, 255, 0],
        labels: vec![1],
        shape: [3, 2, 2],
        classes: vec!["a".into(), "b".into()],
    };
    let l = BatchLoader::try_new(
        Arc::new(data),
        vec![0.5, 0.2, 0.0],
        vec![0.25, 0.4, 0.5],
        4,
        Augment::none(),
        false,
        false,
    )
    .unwrap();
    let b: Vec<_> = l.epoch(0, 1).collect();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].dims, [1, 3, 2, 2]);
    assert_eq!(b[0].labels, vec![1]);
    let want = [
        -2.0, 2.0, -1.2, -2.0, 2.0, 0.5, -0.5, 2.0, 2.0, 0.0, 2.0, 0.0,
    ];
    for (got, want) in b[0].images.iter().zip(want) {
        assert!((got - want).abs() < 1e-5, "{:?}", b[0].images);
    }
}

#[test]
fn same_seed_same_batches_and_batching_does_not_matter() {
    let aug = Augment::paper_cifar();
    let a: Vec<_> = loader(50, 8, aug, true, false).epoch(3, 7).collect();
    let b: Vec<_> = loader(50, 8, aug, true, false).epoch(3, 7).collect();
    assert_eq!(a, b);
    let c: Vec<_> = loader(50, 8, aug, true, false).epoch(3, 8).collect();
    assert_ne!(a, c, "another seed gives other batches");
    // Augmentation depends on (seed, epoch, position), not on the batch size.
    let flat =
        |v: Vec<odenet::data::Batch>| v.into_iter().flat_map(|b| b.images).collect::<Vec<f32>>();
    let d: Vec<_> = loader(50, 13, aug, true, false).epoch(3, 7).collect();
    assert_eq!(flat(a), flat(d));
}

#[test]
fn every_index_once_per_epoch_and_orders_differ() {
    let n = 103;
    // Image i is filled with the value i, so the batch tells us which image it was.
    let data = ImageDataset {
        images: (0..n).flat_map(|i| [i as u8; 4]).collect(),
        labels: vec![0; n],
        shape: [1, 2, 2],
        classes: vec!["x".into()],
    };
    let l = BatchLoader::try_new(
        Arc::new(data.clone()),
        vec![0.0],
        vec![1.0],
        10,
        Augment::none(),
        true,
        false,
    )
    .unwrap();
    assert_eq!(l.num_batches(), 11);
    let ids = |l: &BatchLoader, epoch| -> Vec<usize> {
        let batches: Vec<_> = l.epoch(epoch, 5).collect();
        assert_eq!(batches.len(), l.num_batches());
        batches
            .iter()
            .flat_map(|b| {
                b.images
                    .chunks(4)
                    .map(|p| (p[0] * 255.0).round() as usize)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let e0 = ids(&l, 0);
    let e1 = ids(&l, 1);
    assert_ne!(e0, e1, "epochs are shuffled differently");
    assert_ne!(e0, (0..n).collect::<Vec<_>>(), "shuffled");
    for e in [&e0, &e1] {
        let mut s = e.clone();
        s.sort();
        assert_eq!(s, (0..n).collect::<Vec<_>>(), "each index exactly once");
    }
    assert_eq!(e0, l.epoch_order(0, 5));
    // drop_last: 10 full batches, 100 distinct images.
    let l = BatchLoader::try_new(
        Arc::new(data.clone()),
        vec![0.0],
        vec![1.0],
        10,
        Augment::none(),
        true,
        true,
    )
    .unwrap();
    assert_eq!(l.num_batches(), 10);
    let e = ids(&l, 0);
    assert_eq!(e.len(), 100);
    assert_eq!(e.iter().collect::<HashSet<_>>().len(), 100);
    // No shuffle: identity order, last batch partial.
    let l = BatchLoader::try_new(
        Arc::new(data),
        vec![0.0],
        vec![1.0],
        10,
        Augment::none(),
        false,
        false,
    )
    .unwrap();
    assert_eq!(ids(&l, 4), (0..n).collect::<Vec<_>>());
    assert_eq!(l.epoch(0, 0).last().map(|b| b.dims[0]), Some(3));
}

#[test]
fn dropping_an_epoch_early_does_not_hang() {
    let l = loader(500, 4, Augment::paper_cifar(), true, false);
    let mut it = l.epoch(0, 0);
    assert_eq!(it.len(), 125);
    assert!(it.next().is_some());
    drop(it);
    assert_eq!(l.epoch(1, 0).count(), 125);
}

#[test]
fn invalid_configuration_is_an_error_not_a_panic() {
    let d = Arc::new(dataset(4));
    let e = BatchLoader::try_new(
        d.clone(),
        vec![0.0],
        vec![1.0],
        0,
        Augment::none(),
        false,
        false,
    );
    assert!(matches!(e, Err(DataError::Config(_))));
    let e = BatchLoader::try_new(
        d.clone(),
        vec![0.0, 0.0],
        vec![1.0, 1.0],
        2,
        Augment::none(),
        false,
        false,
    );
    assert!(matches!(e, Err(DataError::Config(_))));
    let e = BatchLoader::try_new(
        d.clone(),
        vec![0.0],
        vec![0.0],
        2,
        Augment::none(),
        false,
        false,
    );
    assert!(matches!(e, Err(DataError::Config(_))));
    let mut bad = dataset(4);
    bad.labels[2] = 99;
    let e = BatchLoader::try_new(
        Arc::new(bad),
        vec![0.0],
        vec![1.0],
        2,
        Augment::none(),
        false,
        false,
    );
    assert!(matches!(e, Err(DataError::LabelOutOfRange { .. })));
    // The infallible constructor repairs instead.
    let l = BatchLoader::new(d.clone(), vec![], vec![], 0, Augment::none(), false, false);
    assert_eq!(l.num_batches(), 4);
    assert_eq!(d.image(99), &[] as &[u8]);
    assert_eq!(d.subset(&[3, 99, 0]).labels, vec![3, 0]);
    let empty = BatchLoader::new(
        Arc::new(d.subset(&[])),
        vec![0.0],
        vec![1.0],
        3,
        Augment::none(),
        true,
        false,
    );
    assert_eq!(empty.epoch(0, 0).count(), 0);
}
