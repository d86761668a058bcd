//! Weights of the official LM-ResNet code (2prime/LM-ResNet `MResNet.py`) imported into odenet
//! and checked against the official forward itself. `tests/fixtures/official_lm-resnet20.pt`
//! (torch.save of the official MResNet20's state dict, float16) and
//! `official_lm-resnet20_io.safetensors` (input, the official eval-mode logits with
//! `pretrain=False` and `pretrain=True`, and the ks, all float64) are written by
//! `python3 scripts/make_official_fixture.py <checkout of 2prime/LM-ResNet>`, which runs the
//! official code unmodified.

use burn::prelude::*;
use odenet::interchange::{self, Naming, StateDict};
use odenet::{Net, zoo};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn weights() -> PathBuf {
    fixture("official_lm-resnet20.pt")
}

/// The float64 tensors of the io fixture, as f32 (odenet computes in f32).
fn io() -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    read_io(&fixture("official_lm-resnet20_io.safetensors"))
}

fn read_io(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    st.tensors()
        .into_iter()
        .map(|(name, v)| {
            assert_eq!(v.dtype(), safetensors::Dtype::F64, "{name}");
            let values = v.data().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8")) as f32).collect();
            (name, (v.shape().to_vec(), values))
        })
        .collect()
}

fn model(name: &str) -> Net {
    zoo::create(name, 3, 10).expect("registered").init(&Device::flex())
}

fn logits(model: &Net) -> Vec<f32> {
    logits_of(model, &io())
}

fn logits_of(model: &Net, reference: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> Vec<f32> {
    let (shape, values) = &reference["input"];
    let dims: [usize; 4] = shape.as_slice().try_into().expect("NCHW");
    let x = Tensor::<4>::from_data(TensorData::new(values.clone(), dims), &Device::flex());
    model.valid().forward(x).into_data().try_to_vec::<f32>().expect("f32 logits")
}

/// max |got − want| ≤ 1e-5 max |want| (f32 compute against the official float64 forward).
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got.iter().zip(want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(scale > 0.1, "{what}: logits are not trivial ({scale})");
    assert!(err <= 1e-5 * scale, "{what}: max error {err} against max |logit| {scale}");
    eprintln!("{what}: max |error| / max |logit| = {:.2e}", err / scale);
}

fn unused_names(imported: &interchange::Imported) -> Vec<&str> {
    let mut names: Vec<&str> = imported.unused.iter().map(|u| u.name.as_str()).collect();
    names.sort();
    names
}

#[test]
fn the_official_pt_imports_with_the_official_logits_and_k_equal_one_minus_ks() {
    check_official(&fixture(""), "lm-resnet20");
    let imported = interchange::import(model("lm-resnet20"), &weights(), None).expect("imports");
    assert_eq!(imported.naming, Naming::Official, "naming detected");
    // The official forward never reads bn1, downsample1 (basic blocks) nor the ks of a stage's
    // first block (0, 3, 6): reported, not silently dropped.
    let mut expected: Vec<String> =
        ["ks.0", "ks.3", "ks.6", "downsample1.downsample.2.weight"].map(String::from).to_vec();
    for leaf in ["weight", "bias", "running_mean", "running_var"] {
        expected.push(format!("bn1.{leaf}"));
        expected.push(format!("downsample1.downsample.0.{leaf}"));
    }
    expected.sort();
    assert_eq!(unused_names(&imported), expected);
    assert_eq!(imported.model.learned().len(), 6, "two LM steps per stage");
}

/// An official model written by `make_official_fixture.py --model NAME --out DIR` imports with
/// the official logits and k_n = 1 − ks[L s + n] (L blocks per stage).
fn check_official(dir: &Path, name: &str) {
    let imported = interchange::import(model(name), &dir.join(format!("official_{name}.pt")), None)
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let reference = read_io(&dir.join(format!("official_{name}_io.safetensors")));
    assert_close(&format!("{name} logits"), &logits_of(&imported.model, &reference), &reference["logits_lm"].1);
    let ks = &reference["ks"].1;
    let per_stage = ks.len() / 3;
    for k in imported.model.learned() {
        let (stage, n) = (k.stage, k.step);
        assert_eq!(k.values, vec![1.0 - ks[per_stage * stage + n]], "{name}: stage {stage} step {n}");
    }
    eprintln!("{name}: logits and k_n match the official code");
}

/// The deeper official models, too large to commit: `ODENET_OFFICIAL_FIXTURES=DIR cargo test
/// --release --test official_import -- --ignored` with DIR written by
/// `make_official_fixture.py --model lm-resnet56|lm-resnet110|lm-resnet164 --out DIR`.
#[test]
#[ignore = "needs ODENET_OFFICIAL_FIXTURES (fixtures made with PyTorch and the official code)"]
fn deeper_official_models_import_with_the_official_logits() {
    let dir = PathBuf::from(std::env::var_os("ODENET_OFFICIAL_FIXTURES").expect("ODENET_OFFICIAL_FIXTURES"));
    let mut found = 0;
    for name in ["lm-resnet56", "lm-resnet110", "lm-resnet164"] {
        if dir.join(format!("official_{name}.pt")).is_file() {
            check_official(&dir, name);
            found += 1;
        }
    }
    assert!(found > 0, "no official_<model>.pt in {}", dir.display());
}

#[test]
fn the_same_weights_with_pretrain_true_are_a_plain_resnet20() {
    let imported = interchange::import(model("resnet20"), &weights(), Some(Naming::Official)).expect("imports");
    assert_close("resnet20 logits", &logits(&imported.model), &io()["logits_resnet"].1);
    let unused = unused_names(&imported);
    for i in 0..9 {
        assert!(unused.contains(&format!("ks.{i}").as_str()), "ks.{i} reported unused: {unused:?}");
    }
}

/// `state` as a float64 safetensors file, names prefixed with `prefix`, plus an int64
/// num_batches_tracked counter as PyTorch writes it.
fn write_f64(path: &Path, state: &StateDict, prefix: &str) {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>, safetensors::Dtype)> = state
        .tensors
        .iter()
        .map(|(n, t)| {
            let bytes = t.values.iter().flat_map(|v| (*v as f64).to_le_bytes()).collect();
            (format!("{prefix}{n}"), t.shape.clone(), bytes, safetensors::Dtype::F64)
        })
        .collect();
    tensors.push((format!("{prefix}bn.num_batches_tracked"), vec![], 7i64.to_le_bytes().to_vec(), safetensors::Dtype::I64));
    let views = tensors.iter().map(|(n, shape, b, dtype)| {
        (n.clone(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), b).expect("view"))
    });
    std::fs::write(path, safetensors::serialize(views, None).expect("serialize")).expect("write");
}

#[test]
fn a_safetensors_copy_of_the_official_weights_imports_the_same() {
    let state = interchange::read_state_dict(&weights()).expect("reads");
    assert_eq!(state.tensors.len(), 1 + 4 + 9 + 9 * 10 + 3 * 5 + 4 + 2, "official tensors without the counters");
    let dir = std::env::temp_dir().join(format!("odenet-official-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // As saved from nn.DataParallel: every name under `module.`.
    let path = dir.join("official.safetensors");
    write_f64(&path, &state, "module.");
    let imported = interchange::import(model("lm-resnet20"), &path, None).expect("imports");
    assert_eq!(imported.naming, Naming::Official);
    assert_close("lm-resnet20 logits (safetensors)", &logits(&imported.model), &io()["logits_lm"].1);

    // A missing tensor and a misshapen one: one error naming both; another architecture: its
    // missing tensors listed.
    let mut broken = state.clone();
    broken.tensors.retain(|(n, _)| n != "blocks.4.conv2.weight");
    let fc = broken.tensors.iter_mut().find(|(n, _)| n == "fc.bias").expect("fc.bias");
    fc.1.shape = vec![5, 2];
    write_f64(&path, &broken, "");
    let err = interchange::import(model("lm-resnet20"), &path, None).err().expect("refused").to_string();
    assert!(err.contains(&path.display().to_string()) && err.contains("official naming"), "{err}");
    assert!(err.contains("1 tensors of the model missing from the file, 1 tensors of the file that do not fit"), "{err}");
    assert!(err.contains("stages.1.branches.1.b.conv.weight [32, 32, 3, 3]: missing from the file"), "{err}");
    assert!(err.contains("fc.bias: shape [5, 2], the model's head_fc.bias is [10]"), "{err}");
    let err = interchange::import(model("lm-resnet56"), &weights(), None).err().expect("refused").to_string();
    assert!(err.contains("stages.1.branches.0.a.conv.weight [32, 16, 3, 3]: missing from the file"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_pt_is_a_clear_error_naming_the_file() {
    let bytes = std::fs::read(weights()).expect("fixture");
    let dir = std::env::temp_dir().join(format!("odenet-official-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("damaged.pt");
    for cut in [100, bytes.len() / 2, bytes.len() - 10] {
        std::fs::write(&path, &bytes[..cut]).expect("write");
        let err = interchange::read_state_dict(&path).err().expect("refused").to_string();
        assert!(err.contains("damaged.pt") && err.contains("torch.save"), "{cut}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pt_in_every_float_dtype_reads_exactly_with_strides_and_without_counters() {
    let state = interchange::read_state_dict(&fixture("torch_dtypes.pt")).expect("reads");
    let ramp = |n: usize| (0..n).map(|i| 0.5 * (i as f32 - 2.0)).collect::<Vec<f32>>();
    let got: BTreeMap<&str, (&[usize], &[f32])> =
        state.tensors.iter().map(|(n, t)| (n.as_str(), (t.shape.as_slice(), t.values.as_slice()))).collect();
    let want = [
        ("f32", vec![2, 3], ramp(6)),
        ("f64", vec![3], ramp(3)),
        ("f16", vec![2, 2], ramp(4)),
        ("bf16", vec![2], ramp(2)),
        ("f32_t", vec![3, 2], vec![-1.0, 0.5, -0.5, 1.0, 0.0, 1.5]),
    ];
    assert_eq!(got.len(), want.len(), "the int64 counter is left out: {:?}", got.keys());
    for (name, shape, values) in &want {
        assert_eq!(got[name], (shape.as_slice(), values.as_slice()), "{name}");
    }
}

#[test]
fn a_twin_state_dict_imports_like_odenets_own() {
    // odenet's own weights renamed as scripts/odenet_torch.py's state_dict() names them: BN
    // weight/bias for gamma/beta, the Linear weight [out, in].
    let original = model("lm-resnet20");
    let bytes = odenet::train::checkpoint::weights_bytes(&original).expect("weights");
    let own = interchange::parse_state_dict(Path::new("own.safetensors"), &bytes).expect("parses");
    let mut twin = own.clone();
    for (name, t) in &mut twin.tensors {
        if let Some(prefix) = name.strip_suffix(".gamma") {
            *name = format!("{prefix}.weight");
        } else if let Some(prefix) = name.strip_suffix(".beta") {
            *name = format!("{prefix}.bias");
        } else if name == "head_fc.weight" {
            let [rows, cols] = [t.shape[0], t.shape[1]];
            t.values = (0..cols).flat_map(|c| (0..rows).map(move |r| (r, c))).map(|(r, c)| t.values[r * cols + c]).collect();
            t.shape = vec![cols, rows];
        }
    }
    let dir = std::env::temp_dir().join(format!("odenet-twin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("twin.safetensors");
    write_f64(&path, &twin, "");
    let imported = interchange::import(model("lm-resnet20"), &path, None).expect("imports");
    assert_eq!(imported.naming, Naming::Twin);
    assert!(imported.unused.is_empty());
    assert_eq!(logits(&imported.model), logits(&original), "same weights, same logits");
    // Read as odenet's naming instead, the twin's names are an error listing them.
    let err = interchange::import(model("lm-resnet20"), &path, Some(Naming::Odenet)).err().expect("refused").to_string();
    assert!(err.contains("42 tensors of the model missing from the file, 43 tensors of the file that do not fit"), "{err}");
    assert!(err.contains("head_bn.gamma [64]: missing from the file"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
