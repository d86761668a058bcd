//! `odenet export` back to PyTorch: the official LM-ResNet fixture (tests/fixtures/
//! official_lm-resnet20.pt, the official code's own weights) imported, exported under the
//! official names as .pt and safetensors, and imported again gives bit-identical weights; the
//! twin's and odenet's namings round-trip too; configs the official code cannot express and bad
//! flags are clear errors. `scripts/check_export_with_torch.py` loads an export into the
//! official MResNet itself (needs PyTorch; not run here).

mod common;

use burn::prelude::*;
use odenet::interchange::{self, Format, Naming, StateTensor};
use odenet::nn::BranchKind;
use odenet::{Net, NetConfig, SchemeConfig, zoo};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn official_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/official_lm-resnet20.pt")
}

fn net_config(name: &str) -> NetConfig {
    zoo::create(name, 3, 10).expect("registered")
}

fn imported(config: &NetConfig, path: &Path, naming: Option<Naming>) -> Net {
    interchange::import(config.init(&Device::flex()), path, naming).unwrap_or_else(|e| panic!("{e:#}")).model
}

/// Exports `model` under `naming` as `format` into `dir` and reads the file back.
fn export_file(model: &Net, config: &NetConfig, naming: Naming, format: Format, dir: &Path) -> (PathBuf, interchange::Exported) {
    let exported = interchange::export(model, config, naming).unwrap_or_else(|e| panic!("{e:#}"));
    let ext = if format == Format::Pt { "pt" } else { "safetensors" };
    let path = dir.join(format!("{naming}.{ext}"));
    std::fs::write(&path, interchange::encode(&exported.tensors, format).expect("encodes")).expect("write");
    (path, exported)
}

fn tensors(model: &Net) -> BTreeMap<String, StateTensor> {
    interchange::model_tensors(model).expect("model tensors")
}

/// Bit-identical, tensor by tensor (f32 bits, so −0 ≠ 0 and NaN payloads count).
fn assert_identical(what: &str, a: &BTreeMap<String, StateTensor>, b: &BTreeMap<String, StateTensor>) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{what}: tensor names");
    for (name, t) in a {
        let u = &b[name];
        assert_eq!(t.shape, u.shape, "{what}: {name} shape");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(bits(&t.values) == bits(&u.values), "{what}: {name} differs");
    }
}

#[test]
fn official_pt_imported_exported_and_imported_again_is_bit_identical() {
    let dir = common::Scratch::new("official-export");
    let config = net_config("lm-resnet20");
    let first = imported(&config, &official_fixture(), None);
    let original = interchange::read_state_dict(&official_fixture()).expect("fixture reads");
    for format in [Format::Pt, Format::Safetensors] {
        let (path, exported) = export_file(&first, &config, Naming::Official, format, &dir.0);
        // Our own reader reads what we wrote, name for name, value for value, in state_dict order.
        let back = interchange::read_state_dict(&path).expect("our reader reads the export");
        let mut written = exported.tensors.clone();
        let mut read = back.tensors.clone();
        if format == Format::Safetensors {
            written.sort_by(|a, b| a.0.cmp(&b.0));
            read.sort_by(|a, b| a.0.cmp(&b.0));
        }
        assert_eq!(read, written, "{format:?}: read back as written");
        // Every tensor of the official state dict is there (counters aside), nothing else …
        let mut names: Vec<&str> = read.iter().map(|(n, _)| n.as_str()).collect();
        let mut official: Vec<&str> = original.tensors.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        official.sort();
        assert_eq!(names, official, "{format:?}: the official tensor names");
        // … with the official values wherever the model holds them (k included: ks = 1 − k).
        let filled: Vec<&str> = exported.filled.iter().map(|f| f.name.as_str()).collect();
        let fixture: BTreeMap<&str, &StateTensor> = original.tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        for (name, t) in &read {
            if !filled.contains(&name.as_str()) {
                assert_eq!(t, fixture[name.as_str()], "{format:?}: {name} as in the official file");
            }
        }
        let mut expected_filled: Vec<String> = ["ks.0", "ks.3", "ks.6", "downsample1.downsample.2.weight"].map(String::from).to_vec();
        for leaf in ["weight", "bias", "running_mean", "running_var"] {
            expected_filled.extend([format!("bn1.{leaf}"), format!("downsample1.downsample.0.{leaf}")]);
        }
        let mut filled_sorted = filled.clone();
        filled_sorted.sort();
        expected_filled.sort();
        assert_eq!(filled_sorted, expected_filled, "the tensors the model lacks, filled");
        // ks of a stage's first block: 1 (the Euler step the official forward takes there).
        assert_eq!(read.iter().find(|(n, _)| n == "ks.3").expect("ks.3").1.values, vec![1.0]);

        let again = imported(&config, &path, None);
        assert_identical(&format!("{format:?} round trip"), &tensors(&first), &tensors(&again));
    }
}

#[test]
fn twin_and_odenet_namings_round_trip_as_pt_and_safetensors() {
    let dir = common::Scratch::new("twin-export");
    let config = net_config("lm-resnet20");
    let model = imported(&config, &official_fixture(), None);
    for naming in [Naming::Twin, Naming::Odenet] {
        for format in [Format::Pt, Format::Safetensors] {
            let (path, exported) = export_file(&model, &config, naming, format, &dir.0);
            assert!(exported.filled.is_empty(), "{naming}: nothing to fill");
            let state = interchange::read_state_dict(&path).expect("reads");
            assert_eq!(Naming::detect(&state).expect("detected"), naming, "{naming} {format:?}");
            let names: Vec<&str> = state.tensors.iter().map(|(n, _)| n.as_str()).collect();
            if naming == Naming::Twin {
                assert!(names.contains(&"head_bn.weight") && !names.iter().any(|n| n.ends_with(".gamma")), "{names:?}");
                let fc = &state.tensors.iter().find(|(n, _)| n == "head_fc.weight").expect("fc").1;
                assert_eq!(fc.shape, vec![10, 64], "Linear weight [out, in] as PyTorch");
            } else {
                assert!(names.contains(&"head_bn.gamma"), "{names:?}");
            }
            let again = imported(&config, &path, Some(naming));
            assert_identical(&format!("{naming} {format:?}"), &tensors(&model), &tensors(&again));
        }
    }
}

#[test]
fn plain_resnet_and_bottleneck_models_export_under_official_names() {
    let dir = common::Scratch::new("official-layouts");
    // resnet20 is the official MResNet20 with pretrain=True: every ks unused, written 1.
    let config = net_config("resnet20");
    let model = imported(&config, &official_fixture(), Some(Naming::Official));
    let (path, exported) = export_file(&model, &config, Naming::Official, Format::Pt, &dir.0);
    assert_eq!(exported.filled.iter().filter(|f| f.name.starts_with("ks.")).count(), 9);
    assert_identical("resnet20", &tensors(&model), &tensors(&imported(&config, &path, Some(Naming::Official))));
    assert!(interchange::official_layout(&config).expect("expressible").pretrain);

    // A bottleneck LM-ResNet (the official Bottleneck, expansion 4): downsample1 is the first
    // stage's projection and nothing but bn1 and the first ks is filled.
    let mut config = net_config("lm-resnet20");
    config.branch = BranchKind::Bottleneck { expansion: 4, groups: 1, base_width: 64 };
    config.depths = vec![2, 3, 2];
    let model = config.init(&Device::flex());
    let (path, exported) = export_file(&model, &config, Naming::Official, Format::Pt, &dir.0);
    let mut filled: Vec<&str> = exported.filled.iter().map(|f| f.name.as_str()).collect();
    filled.sort();
    let want = ["bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.weight", "ks.0", "ks.2", "ks.5"];
    assert_eq!(filled, want);
    let names: Vec<&str> = exported.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"blocks.6.conv3.weight") && names.contains(&"downsample1.downsample.2.weight"), "{names:?}");
    assert_same_but_k_rounding(&model, &imported(&config, &path, Some(Naming::Official)));

    // Per-channel k is the official MResNetC: ks [channels, 1, 1], the first blocks' all ones.
    let mut config = net_config("lm-resnet20");
    config.scheme = SchemeConfig::lm([-0.1, 0.0], true);
    let model = config.init(&Device::flex());
    let layout = interchange::official_layout(&config).expect("expressible");
    assert_eq!(layout.constructor(10), "MResNetC(BasicBlock, [3, 3, 3], pretrain=False, num_classes=10)");
    let (path, exported) = export_file(&model, &config, Naming::Official, Format::Pt, &dir.0);
    let ks = |name: &str| exported.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone()).expect(name);
    assert_eq!((ks("ks.0").shape, ks("ks.0").values), (vec![16, 1, 1], vec![1.0; 16]));
    assert_eq!(ks("ks.4").shape, vec![32, 1, 1]);
    let k = &tensors(&model)["stages.1.scheme.lm_k"];
    assert_eq!(ks("ks.4").values, k.values[..32].iter().map(|k| 1.0 - k).collect::<Vec<_>>(), "ks.4 = 1 − row 0 of stage 1");
    assert_same_but_k_rounding(&model, &imported(&config, &path, Some(Naming::Official)));
}

/// `after` has `before`'s tensors bit for bit, but k, which passes through ks = 1 − k in float32
/// (one rounding for k ∈ [−0.1, 0]).
fn assert_same_but_k_rounding(before: &Net, after: &Net) {
    let (before, after) = (tensors(before), tensors(after));
    for (name, t) in &before {
        if name.ends_with("lm_k") {
            assert_eq!(t.shape, after[name].shape, "{name}");
            for (a, b) in t.values.iter().zip(&after[name].values) {
                assert!((a - b).abs() <= 1.2e-7, "{name}: {a} → {b}");
            }
        } else {
            assert_eq!(t, &after[name], "{name}");
        }
    }
}

#[test]
fn configs_the_official_code_cannot_express_are_errors_naming_the_field() {
    let cases: Vec<(NetConfig, &str)> = vec![
        (net_config("ab2-resnet20"), "scheme is"),
        (
            {
                let mut c = net_config("lm-resnet20");
                c.widths = vec![32, 64, 128];
                c.stem_width = 32;
                c
            },
            "widths are [32, 64, 128]",
        ),
        (
            {
                let mut c = net_config("lm-resnet20");
                c.depths = vec![3, 3];
                c.widths = vec![16, 32];
                c
            },
            "three stages",
        ),
        (net_config("revnet20"), "branch is"),
    ];
    for (config, rule) in cases {
        let err = interchange::official_layout(&config).expect_err(&config.name).to_string();
        assert!(err.contains(&config.name) && err.contains(rule), "{}: {err}", config.name);
        let model = config.init(&Device::flex());
        let err = interchange::export(&model, &config, Naming::Official).err().expect("export refuses");
        assert!(err.to_string().contains(rule), "{err}");
    }
}

/// Runs the binary: success and stdout + stderr.
fn odenet(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_odenet")).args(args).output().expect("odenet runs");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!text.contains("panicked"), "{args:?}: {text}");
    (o.status.success(), text)
}

/// `dir/NAME.json`: a run config of `model` (CIFAR-10 at a path never read).
fn write_config(dir: &Path, model: NetConfig) -> PathBuf {
    let data = odenet::train::DataConfig {
        kind: odenet::data::DatasetKind::Cifar10,
        path: dir.join("no-data"),
        train_per_class: None,
        test_per_class: None,
        augment: odenet::data::Augment::none(),
        normalization: Default::default(),
    };
    let path = dir.join(format!("{}.json", model.name));
    std::fs::write(&path, serde_json::to_string(&common::config(model, data, 1, 10)).expect("json")).expect("write");
    path
}

/// A run folder holding the official fixture's weights under `model`'s config, via `odenet import`.
fn imported_run(dir: &Path, model: NetConfig) -> PathBuf {
    let run = dir.join(format!("run-{}", model.name));
    let config = write_config(dir, model);
    let (ok, text) =
        odenet(&["import", official_fixture().to_str().expect("utf-8"), "--config", config.to_str().expect("utf-8"), "--out", run.to_str().expect("utf-8")]);
    assert!(ok, "{text}");
    run
}

#[test]
fn cli_exports_official_pt_and_refuses_bad_flags_and_configs_clearly() {
    let dir = common::Scratch::new("export-cli");
    let run = imported_run(&dir.0, net_config("lm-resnet20"));
    let run_s = run.to_str().expect("utf-8");
    let out = dir.0.join("official.pt");
    let (ok, text) = odenet(&["export", run_s, "--to", "official", out.to_str().expect("utf-8")]);
    assert!(ok, "{text}");
    assert!(text.contains("MResNet(BasicBlock, [3, 3, 3], pretrain=False, num_classes=10)"), "{text}");
    assert!(text.contains("12 tensors the model does not hold") && text.contains("ks.3: never read"), "{text}");
    assert!(text.contains("downsample1.downsample.2.weight: never read") && text.contains("unknowable"), "{text}");
    let again = dir.0.join("again");
    let (ok, text) = odenet(&["import", out.to_str().expect("utf-8"), "--config", run_s, "--out", again.to_str().expect("utf-8")]);
    assert!(ok && text.contains("(official naming)"), "{text}");
    let weights = |r: &Path| interchange::read_state_dict(&r.join("best/model.safetensors")).expect("weights").tensors;
    let (first, second) = (weights(&run), weights(&again));
    assert!(first.len() > 60 && first == second, "official .pt → run → official .pt → run: the same weights");

    // The default stays odenet's naming in safetensors, with --out or positional.
    let plain = dir.0.join("plain.safetensors");
    let (ok, text) = odenet(&["export", run_s, "--out", plain.to_str().expect("utf-8")]);
    assert!(ok, "{text}");
    let state = interchange::read_state_dict(&plain).expect("reads");
    assert_eq!(Naming::detect(&state).expect("naming"), Naming::Odenet);

    let bad = |args: &[&str], message: &str| {
        let (ok, text) = odenet(args);
        assert!(!ok && text.contains(message), "{args:?}: {text}");
    };
    let x = dir.0.join("x.bin");
    let x_s = x.to_str().expect("utf-8");
    bad(&["export", run_s, x_s], "cannot tell the format from the extension");
    bad(&["export", run_s], "no output file");
    bad(&["export", run_s, x_s, "--out", x_s], "not both");
    bad(&["export", run_s, "--to", "torch", x_s], "invalid value 'torch'");
    bad(&["export", run_s, "--format", "npy", x_s], "invalid value 'npy'");
    assert!(!x.exists(), "nothing written on a refusal");

    // A model the official code cannot build: refused before anything is written.
    let run2 = dir.0.join("run-ab2");
    std::fs::create_dir_all(&run2).expect("dir");
    std::fs::rename(write_config(&dir.0, net_config("ab2-resnet20")), run2.join("config.json")).expect("rename");
    let y = dir.0.join("y.pt");
    bad(&["export", run2.to_str().expect("utf-8"), "--to", "official", y.to_str().expect("utf-8")], "cannot be written under official names");
    assert!(!y.exists());
}

/// The .pt writer on shapes a model does not have: scalars, empty tensors, dimensions past the
/// one- and two-byte pickle ints, and special values; each read back exactly by our reader.
/// (Kept in target/tmp/pt_shapes.pt: `torch.load(weights_only=True)` reads it too.)
#[test]
fn pt_writer_round_trips_scalars_empty_and_large_dimensions() {
    let ramp = |n: usize| (0..n).map(|i| i as f32 * 0.25 - 3.0).collect::<Vec<f32>>();
    let tensors: Vec<(String, StateTensor)> = [
        ("scalar", vec![]),
        ("empty", vec![0]),
        ("empty_2d", vec![3, 0]),
        ("byte_dim", vec![300]),
        ("long_dim", vec![1, 70_000]),
        ("block.weight", vec![2, 3, 4, 5]),
    ]
    .into_iter()
    .map(|(name, shape): (&str, Vec<usize>)| {
        let values = ramp(shape.iter().product());
        (name.to_string(), StateTensor { shape, values })
    })
    .chain([("special".to_string(), StateTensor { shape: vec![4], values: vec![-0.0, f32::INFINITY, f32::MIN_POSITIVE, f32::MAX] })])
    .collect();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pt_shapes.pt");
    std::fs::write(&path, interchange::encode(&tensors, Format::Pt).expect("encodes")).expect("write");
    let back = interchange::read_state_dict(&path).expect("reads");
    assert_eq!(back.tensors.len(), tensors.len());
    for ((n, t), (m, u)) in tensors.iter().zip(&back.tensors) {
        assert_eq!((n, &t.shape), (m, &u.shape));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&t.values), bits(&u.values), "{n}");
    }
}
