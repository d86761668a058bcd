//! Generated-input tests of every parser (CIFAR binary, IDX and its gzip, image folders and
//! their .tar.gz, torch .pt state dicts, safetensors, config and state JSON): valid inputs
//! mutated at random (seeded) — bytes flipped, truncated, cut out, duplicated, overwritten with
//! extreme values — must give a value or a clean error, never a panic. Short here; `ODENET_FUZZ_ITERS=N` runs N inputs per parser
//! (the long run recorded in the closing note of issue 9).

mod common;

use common::{Scratch, tiny_config};
use flate2::Compression;
use flate2::write::GzEncoder;
use odenet::SchemeConfig;
use odenet::data;
use odenet::train::checkpoint;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

fn iterations() -> usize {
    std::env::var("ODENET_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(150)
}

/// One random mutation of `input`.
fn mutate(rng: &mut StdRng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let n = v.len().max(1);
        match rng.random_range(0..6) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 => v.truncate(rng.random_range(0..n)),
            2 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                let j = rng.random_range(i..v.len().min(i + 64) + 1).min(v.len());
                v.drain(i..j);
            }
            3 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                let j = (i + rng.random_range(1..64)).min(v.len());
                let chunk = v[i..j].to_vec();
                v.splice(i..i, chunk);
            }
            4 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                let extreme = [0x00, 0xff, 0x7f, 0x80][rng.random_range(0..4)];
                for b in v.iter_mut().skip(i).take(rng.random_range(1..9)) {
                    *b = extreme;
                }
            }
            _ => v.push(rng.random()),
        }
    }
    v
}

/// Feeds `iterations()` mutations of `valid` (written to `file`) to `parse`; a panic fails.
fn fuzz(name: &str, seed: u64, valid: &[u8], file: &Path, parse: impl Fn(&Path) -> bool) {
    write(file, valid);
    assert!(parse(file), "{name}: the unmutated input must parse");
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut ok, mut rejected) = (0, 0);
    for i in 0..iterations() {
        let input = mutate(&mut rng, valid);
        write(file, &input);
        match catch_unwind(AssertUnwindSafe(|| parse(file))) {
            Ok(true) => ok += 1,
            Ok(false) => rejected += 1,
            Err(_) => panic!("{name}: input {i} (seed {seed}) panicked; {} bytes", input.len()),
        }
    }
    eprintln!("{name}: {} inputs, {ok} accepted, {rejected} rejected cleanly, 0 panics", ok + rejected);
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write input");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

fn idx_images(n: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, 4, 4] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend((0..n * 16).map(|i| i as u8));
    v
}

#[test]
fn binary_data_parsers_never_panic() {
    let t = Scratch::new("fuzz-data");
    let cifar: Vec<u8> = (0..3u8).flat_map(|k| std::iter::once(k).chain((0..3072).map(move |i| (i as u8) ^ k))).collect();
    fuzz("cifar", 1, &cifar, &t.0.join("batch.bin"), |p| data::read_cifar_file(p, 1, 10, "hint").is_ok());
    let images = idx_images(3);
    fuzz("idx", 2, &images, &t.0.join("img-idx3-ubyte"), |p| data::read_idx_images(p).is_ok());
    fuzz("idx.gz", 3, &gzip(&images), &t.0.join("img-idx3-ubyte.gz"), |p| data::read_idx_images(p).is_ok());
    let labels = [vec![0, 0, 8, 1, 0, 0, 0, 3], vec![1, 2, 9]].concat();
    fuzz("idx labels", 4, &labels, &t.0.join("lbl-idx1-ubyte"), |p| data::read_idx_labels(p, 10).is_ok());
    fuzz("idx labels.gz", 5, &gzip(&labels), &t.0.join("lbl.gz"), |p| data::read_idx_labels(p, 10).is_ok());
}

#[test]
fn a_gzip_bomb_is_refused_before_it_is_inflated() {
    let t = Scratch::new("fuzz-bomb");
    // 2^64 bytes announced, 16 MiB of zeros supplied: refused without inflating anything.
    let mut header = vec![0, 0, 8, 3];
    for d in [u32::MAX, 1 << 16, 1 << 16] {
        header.extend_from_slice(&d.to_be_bytes());
    }
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(&header).expect("gzip");
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..16 {
        e.write_all(&zeros).expect("gzip");
    }
    let path = t.0.join("bomb-idx3-ubyte.gz");
    write(&path, &e.finish().expect("gzip"));
    let err = data::read_idx_images(&path).expect_err("the header claims more than the file holds");
    assert!(err.to_string().contains("more than a"), "{err}");
    // A stream longer than its header says stops one byte past the announced size.
    let mut long = idx_images(2);
    long.extend(vec![0u8; 1 << 20]);
    write(&path, &gzip(&long));
    let err = data::read_idx_images(&path).expect_err("trailing data");
    assert!(err.to_string().contains("33"), "{err}");
}

#[test]
fn json_and_checkpoint_parsers_never_panic() {
    let t = Scratch::new("fuzz-json");
    let device = burn::tensor::Device::flex();
    let net = tiny_config("tiny-lm", SchemeConfig::lm_paper());
    let model = net.init(&device);
    let state = checkpoint::TrainState { epochs_done: 1, best_test_acc: 0.5, best_epoch: 1 };
    checkpoint::save(&t.0, "last", &model, None, &state).expect("checkpoint");
    let weights = std::fs::read(t.0.join("last/model.safetensors")).expect("weights");
    let file = t.0.join("fuzz.safetensors");
    fuzz("safetensors checkpoint", 6, &weights, &file, |p| {
        checkpoint::load_model(net.init(&device), p).is_ok()
    });
    let state_json = std::fs::read(t.0.join("last/state.json")).expect("state");
    let dir = t.0.join("state");
    std::fs::create_dir_all(&dir).expect("dir");
    fuzz("state.json", 7, &state_json, &dir.join("state.json"), |_| checkpoint::load_state(&dir).is_ok());
    let data = common::fashion(Some(1), Some(1));
    let mut config = common::config(net.clone(), data, 1, 4);
    config.model.noise = Default::default();
    let json = serde_json::to_vec_pretty(&config).expect("json");
    // Accepted configs must also build their network without a panic (when small enough to
    // build quickly: a mutation may turn a width of 8 into 8888).
    fuzz("config.json", 8, &json, &t.0.join("config.json"), |p| match odenet::report::read_config(p) {
        Ok(c) => {
            let m = &c.model;
            let sizes = [m.in_channels, m.num_classes, m.stem_width, m.num_blocks() * 8];
            if sizes.iter().chain(&m.widths).all(|&s| s <= 64) {
                let _ = m.init(&device);
            }
            true
        }
        Err(_) => false,
    });
}

#[test]
fn torch_state_dict_reader_never_panics() {
    let t = Scratch::new("fuzz-pt");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // Small (2.8 kB: most of it zip headers and pickle), in every float dtype, with a strided view.
    let valid = std::fs::read(fixtures.join("torch_dtypes.pt")).expect("fixture");
    fuzz("torch .pt", 9, &valid, &t.0.join("state.pt"), |p| odenet::interchange::read_state_dict(p).is_ok());
}

/// `<root>/{train,test}/{a,b}/0.png` and a JPEG in train/b.
fn image_tree(root: &Path) {
    for split in ["train", "test"] {
        for (k, class) in ["a", "b"].iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).expect("dir");
            let img = image::RgbImage::from_fn(5, 4, |x, y| image::Rgb([k as u8 * 90, (x * 40) as u8, (y * 50) as u8]));
            img.save(dir.join("0.png")).expect("png");
            if split == "train" && k == 1 {
                img.save(dir.join("1.jpg")).expect("jpeg");
            }
        }
    }
}

#[test]
fn image_folders_and_their_tar_gz_never_panic() {
    let t = Scratch::new("fuzz-folder");
    let root = t.0.join("set");
    image_tree(&root);
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    tar.append_dir_all("set", &root).expect("tar");
    let archive = tar.into_inner().expect("tar").finish().expect("gzip");
    let load = |_: &Path| data::load_folder(&root).is_ok();
    for (seed, file) in [(10, "train/a/0.png"), (11, "train/b/1.jpg")] {
        let path = root.join(file);
        let valid = std::fs::read(&path).expect("image");
        fuzz(file, seed, &valid, &path, load);
        write(&path, &valid);
    }
    let dest = t.0.join("out");
    fuzz("image folder .tar.gz", 12, &archive, &t.0.join("set.tar.gz"), |p| {
        let _ = std::fs::remove_dir_all(&dest);
        data::extract_tar_gz(p, &dest).is_ok_and(|root| data::load_folder(&root).is_ok())
    });
}
