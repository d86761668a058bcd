//! Parity with the PyTorch twin of the model registry (`scripts/odenet_torch.py`).
//!
//! The fixtures `tests/fixtures/parity_<name>.safetensors` (resnet20, lm-resnet20, and the
//! scheme variants ab2-, leapfrog- and rk2-resnet20 of the restructured stepping loop) are
//! written by
//! `python3 scripts/make_parity_fixtures.py`: PyTorch weights under odenet's parameter paths, an
//! input batch with labels, and PyTorch's train-mode logits, loss, gradients, batch statistics and
//! eval-mode logits. Here the same weights are loaded into odenet's network and every one of those
//! quantities is recomputed with Burn (flex CPU backend) and compared.
//!
//! `param_counts.json` holds PyTorch's trainable parameter count of every registered model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use odenet::Net;
use safetensors::{Dtype, SafeTensors};

/// Relative tolerance on the worst element (max |a − b| / max |b|). Both sides compute in f64;
/// values are compared after rounding to f32 (≈ 6e-8 relative), hence 1e-6 and not 1e-12.
const REL_MAX: f64 = 1e-6;
/// Elementwise tolerance |a − b| ≤ ATOL + RTOL |b|.
const ATOL: f64 = 1e-7;
const RTOL: f64 = 1e-5;

/// The CPU device computing in float64, as the PyTorch fixtures do. The setting is per process
/// and must precede the first tensor, so every test of this binary goes through here.
fn f64_device() -> Device {
    static CONFIGURE: std::sync::Once = std::sync::Once::new();
    CONFIGURE.call_once(|| {
        let mut device = Device::flex();
        device.configure(burn::tensor::FloatDType::F64).expect("flex computes in f64");
    });
    Device::flex()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture_path(name: &str) -> PathBuf {
    fixtures().join(format!("parity_{name}.safetensors"))
}

/// The reference tensors of one fixture file, decoded to f32 (labels to i64).
struct Fixture {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    labels: Vec<i64>,
}

impl Fixture {
    fn read(name: &str) -> Self {
        let path = fixture_path(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (run scripts/make_parity_fixtures.py)", path.display())
        });
        let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
        let mut tensors = BTreeMap::new();
        let mut labels = Vec::new();
        for (key, view) in st.tensors() {
            match view.dtype() {
                Dtype::F32 => {
                    let values = view
                        .data()
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                        .collect();
                    tensors.insert(key, (view.shape().to_vec(), values));
                }
                Dtype::F64 => {
                    // Compared in f32 (tolerances ≥ 1e-6), computed and loaded in f64.
                    let values = view
                        .data()
                        .chunks_exact(8)
                        .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
                        .collect();
                    tensors.insert(key, (view.shape().to_vec(), values));
                }
                Dtype::I64 if key == "fixture.labels" => {
                    labels = view
                        .data()
                        .chunks_exact(8)
                        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                        .collect();
                }
                other => panic!("unexpected dtype {other:?} for {key}"),
            }
        }
        assert!(!labels.is_empty(), "fixture.labels missing");
        Self { tensors, labels }
    }

    fn get(&self, key: &str) -> &(Vec<usize>, Vec<f32>) {
        self.tensors.get(key).unwrap_or_else(|| panic!("fixture has no tensor {key}"))
    }

    fn input(&self, device: &Device) -> Tensor<4> {
        let (shape, values) = self.get("fixture.input");
        let dims: [usize; 4] = shape.as_slice().try_into().unwrap();
        Tensor::from_data(TensorData::new(values.clone(), dims), device)
    }

    fn labels(&self, device: &Device) -> Tensor<1, Int> {
        Tensor::from_data(TensorData::new(self.labels.clone(), [self.labels.len()]), device)
    }

    /// Keys under `prefix`, with the prefix stripped.
    fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.tensors.keys().filter_map(move |k| k.strip_prefix(prefix))
    }
}

/// Every float tensor of a module by its path (enum variants omitted, as in `odenet::params`),
/// with its values and, if `grads` is given, its gradient.
struct Snapshot<'g> {
    grads: Option<&'g burn::tensor::Gradients>,
    stack: odenet::params::PathStack,
    values: BTreeMap<String, Vec<f32>>,
    grad: BTreeMap<String, Vec<f32>>,
}

impl ModuleVisitor for Snapshot<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.stack.path();
        let value = param.val();
        if let Some(grads) = self.grads
            && let Some(g) = value.grad(grads)
        {
            self.grad.insert(path.clone(), to_vec(g));
        }
        self.values.insert(path, to_vec(value));
    }
}

fn snapshot<'g>(model: &Net, grads: Option<&'g burn::tensor::Gradients>) -> Snapshot<'g> {
    let mut s =
        Snapshot { grads, stack: Default::default(), values: BTreeMap::new(), grad: BTreeMap::new() };
    model.visit(&mut s);
    s
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// Compares `actual` with `expected`; returns the relative worst-element error, panics on a
/// mismatch with the worst element.
fn assert_close(what: &str, actual: &[f32], expected: &[f32], atol: f64, rtol: f64) -> f64 {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    let scale = expected.iter().fold(0f64, |m, &b| m.max((b as f64).abs()));
    let (mut worst, mut worst_i, mut worst_excess, mut worst_excess_i) = (0f64, 0, 0f64, None);
    for (i, (&a, &b)) in actual.iter().zip(expected).enumerate() {
        let d = (a as f64 - b as f64).abs();
        if !d.is_finite() {
            panic!("{what}: non-finite at {i}: got {a}, expected {b}");
        }
        if d > worst {
            (worst, worst_i) = (d, i);
        }
        let excess = d - (atol + rtol * (b as f64).abs());
        if excess > worst_excess {
            (worst_excess, worst_excess_i) = (excess, Some(i));
        }
    }
    let rel = if scale > 0.0 { worst / scale } else { worst };
    println!(
        "{what:<52} max|a-b| {worst:.3e}  max|b| {scale:.3e}  rel {rel:.3e}  (worst at {worst_i}: {} vs {})",
        actual[worst_i], expected[worst_i]
    );
    if let Some(i) = worst_excess_i {
        panic!(
            "{what}: element {i} outside atol {atol:e} + rtol {rtol:e}: got {}, expected {} (|diff| {:.3e})",
            actual[i],
            expected[i],
            (actual[i] as f64 - expected[i] as f64).abs()
        );
    }
    assert!(rel <= REL_MAX, "{what}: relative error {rel:.3e} > {REL_MAX:e} (element {worst_i})");
    rel
}

/// Builds `name` on `device` and loads the fixture's weights (every tensor the model has).
/// The registry model `name`, or the small LM-ResNeXt of `tiny_resnext` in the fixture script.
fn config(name: &str) -> odenet::NetConfig {
    if !name.starts_with("lm-resnext-tiny") {
        return odenet::zoo::create(name, 3, 10).unwrap();
    }
    odenet::NetConfig {
        name: name.into(),
        in_channels: 3,
        num_classes: 10,
        stem_width: 16,
        stem: Default::default(),
        widths: vec![8, 16, 32],
        depths: vec![3, 3, 3],
        branch: odenet::nn::BranchKind::resnext(4, 16),
        scheme: odenet::SchemeConfig::lm_paper(),
        noise: Default::default(),
    }
}

fn load_model(name: &str, device: &Device) -> Net {
    let mut model = config(name).init(device);
    let mut store = SafetensorsStore::from_file(fixture_path(name))
        .skip_enum_variants(true)
        .allow_partial(true);
    let result = model.load_from(&mut store).expect("load fixture weights");
    assert!(result.errors.is_empty(), "{name}: load errors {:?}", result.errors);
    assert!(
        result.missing.is_empty(),
        "{name}: model tensors missing from fixture: {:?}",
        result.missing
    );
    let unused: Vec<_> = result.unused.iter().filter(|k| !k.starts_with("fixture.")).collect();
    assert!(unused.is_empty(), "{name}: fixture weights the model does not have: {unused:?}");

    // Every model tensor now equals the file bit for bit.
    let fixture = Fixture::read(name);
    let loaded = snapshot(&model, None);
    let inventory = odenet::params::inventory(&model);
    assert_eq!(loaded.values.len(), inventory.len());
    for (path, values) in &loaded.values {
        let (_, expected) = fixture.get(path);
        assert_eq!(values, expected, "{name}: {path} not loaded");
    }
    model
}

/// Train-mode forward, loss, backward and running statistics against PyTorch.
fn check_train(name: &str) {
    let device = f64_device().autodiff();
    let fixture = Fixture::read(name);
    let model = load_model(name, &device);
    let before = snapshot(&model, None).values;

    let logits = model.forward(fixture.input(&device));
    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits.clone(), fixture.labels(&device));
    let grads = loss.backward();

    let tag = |what: &str| format!("{name} {what}");
    assert_close(
        &tag("logits (train)"),
        &to_vec(logits),
        &fixture.get("fixture.logits_train").1,
        ATOL,
        RTOL,
    );
    assert_close(&tag("loss"), &to_vec(loss), &fixture.get("fixture.loss").1, 1e-6, 1e-5);

    let with_grads = snapshot(&model, Some(&grads));
    let grad_keys: Vec<&str> = fixture.with_prefix("fixture.grad.").collect();
    assert!(grad_keys.iter().any(|k| k.starts_with("stem")), "no gradients in fixture");
    if name.starts_with("lm-") {
        assert_eq!(grad_keys.iter().filter(|k| k.ends_with("lm_k")).count(), 3, "every lm_k");
    }
    for path in grad_keys {
        let got =
            with_grads.grad.get(path).unwrap_or_else(|| panic!("{name}: no gradient for {path}"));
        let expected = &fixture.get(&format!("fixture.grad.{path}")).1;
        assert_close(&tag(&format!("grad {path}")), got, expected, ATOL, RTOL);
    }

    // Running statistics: running ← 0.9 running + 0.1 batch, with the biased batch variance.
    // A visitor sees a `RunningState`'s value one update late (the new value waits in a
    // per-thread slot until synced), so read them from `valid()`, which syncs.
    let after = snapshot(&model.valid(), None);
    let bns: Vec<&str> = fixture.with_prefix("fixture.batch_mean.").collect();
    assert_eq!(bns.len() * 2, before.keys().filter(|k| k.contains(".running_")).count());
    for bn in bns {
        for (stat, batch) in [("running_mean", "batch_mean"), ("running_var", "batch_var")] {
            let key = format!("{bn}.{stat}");
            // [C], or [calls, C] when a Runge-Kutta block ran this BN once per tableau stage.
            let (shape, batch) = fixture.get(&format!("fixture.{batch}.{bn}"));
            let channels = *shape.last().expect("channel dimension");
            let mut expected = before[&key].clone();
            for call in batch.chunks(channels) {
                expected = expected.iter().zip(call).map(|(r, b)| 0.9 * r + 0.1 * b).collect();
            }
            assert_close(&tag(&key), &after.values[&key], &expected, ATOL, RTOL);
        }
    }
}

/// Eval-mode forward (running statistics from the file) against PyTorch.
fn check_eval(name: &str) {
    let device = f64_device();
    let fixture = Fixture::read(name);
    let model = load_model(name, &device).valid();
    let logits = model.forward(fixture.input(&device));
    assert_close(
        &format!("{name} logits (eval)"),
        &to_vec(logits),
        &fixture.get("fixture.logits_eval").1,
        ATOL,
        RTOL,
    );
}

#[test]
fn resnet20_train_step_matches_pytorch() {
    check_train("resnet20");
}

#[test]
fn lm_resnet20_train_step_matches_pytorch() {
    check_train("lm-resnet20");
}

#[test]
fn resnet20_eval_logits_match_pytorch() {
    check_eval("resnet20");
}

#[test]
fn lm_resnet20_eval_logits_match_pytorch() {
    check_eval("lm-resnet20");
}

#[test]
fn ab2_resnet20_train_step_matches_pytorch() {
    check_train("ab2-resnet20");
}

#[test]
fn ab2_resnet20_eval_logits_match_pytorch() {
    check_eval("ab2-resnet20");
}

#[test]
fn leapfrog_resnet20_train_step_matches_pytorch() {
    check_train("leapfrog-resnet20");
}

#[test]
fn leapfrog_resnet20_eval_logits_match_pytorch() {
    check_eval("leapfrog-resnet20");
}

#[test]
fn rk2_resnet20_train_step_matches_pytorch() {
    check_train("rk2-resnet20");
}

#[test]
fn rk2_resnet20_eval_logits_match_pytorch() {
    check_eval("rk2-resnet20");
}

#[test]
fn lm_resnext_train_step_matches_pytorch() {
    check_train("lm-resnext-tiny");
}

#[test]
fn lm_resnext_eval_logits_match_pytorch() {
    check_eval("lm-resnext-tiny");
}

/// A second draw of weights: in float32 this draw's early-layer gradients differ from PyTorch by
/// ~1 % because of ReLU kinks (PyTorch's own gradients move that much under 1e-6 perturbations);
/// the float64 fixtures make every draw comparable.
#[test]
fn lm_resnext_second_draw_train_step_matches_pytorch() {
    check_train("lm-resnext-tiny-b");
}

#[test]
fn poly_resnet20_train_step_matches_pytorch() {
    check_train("poly-resnet20");
}

#[test]
fn poly_resnet20_eval_logits_match_pytorch() {
    check_eval("poly-resnet20");
}

#[test]
fn fractal_resnet20_train_step_matches_pytorch() {
    check_train("fractal-resnet20");
}

#[test]
fn every_registry_model_has_pytorchs_parameter_count() {
    let text = std::fs::read_to_string(fixtures().join("param_counts.json")).unwrap();
    let expected: BTreeMap<String, usize> = serde_json::from_str(&text).unwrap();
    let device = f64_device();
    let names: Vec<&str> = odenet::zoo::models().iter().map(|m| m.name).collect();
    assert_eq!(
        names.iter().map(|n| n.to_string()).collect::<std::collections::BTreeSet<_>>(),
        expected.keys().cloned().collect(),
        "registry and param_counts.json list different models"
    );
    for name in names {
        let model = odenet::zoo::create(name, 3, 10).unwrap().init(&device);
        let count = odenet::params::count_trainable(&model);
        println!("{name:<14} rust {count:>9}  pytorch {:>9}", expected[name]);
        assert_eq!(count, expected[name], "{name}: trainable parameter count");
    }
}
