//! Each stepping rule checked against its formula written out by hand, and the gradient of the
//! LM coefficient k_n checked by finite differences.

mod common;
use common::tiny_lm;

use burn::module::Param;
use burn::prelude::*;
use odenet::scheme::{History, Scheme, SchemeConfig};

fn t4(values: &[f32], shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

/// One step n of `scheme` from the history (u_{n-1} = prev, u_n = u) with branch output `fu`.
fn step(scheme: &Scheme, n: usize, u: Tensor<4>, prev: Tensor<4>, fu: Tensor<4>) -> Tensor<4> {
    let mut history = History::new(prev, 2);
    history.push(fu.zeros_like(), u);
    scheme.step(n, &mut history, |_| fu.clone());
    history.into_current()
}

fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "element {i}: got {g}, want {w}");
    }
}

#[test]
fn forward_euler_adds_the_branch_output() {
    let d = Device::flex();
    let scheme = SchemeConfig::forward_euler().init(3, 2, &d);
    assert!(scheme.lm_k().is_none(), "Euler has no parameters");
    let u = t4(&[1.0, 2.0, 3.0, 4.0], [1, 2, 1, 2], &d);
    let prev = t4(&[9.0, 9.0, 9.0, 9.0], [1, 2, 1, 2], &d);
    let fu = t4(&[0.5, -1.0, 0.25, 2.0], [1, 2, 1, 2], &d);
    // u_{n+1} = u_n + f(u_n); the history is ignored.
    assert_close(&values(step(&scheme, 1, u, prev, fu)), &[1.5, 1.0, 3.25, 6.0], 1e-6);
}

#[test]
fn lm_step_is_the_papers_two_step_formula() {
    let d = Device::flex();
    // Two steps with k_1 = -0.25 and k_2 = 0.5.
    let k = Tensor::<2>::from_data(TensorData::new(vec![-0.25f32, 0.5], [2, 1]), &d);
    let scheme = Scheme::from_lm_k(Param::from_tensor(k));
    let u = t4(&[1.0, 2.0], [1, 2, 1, 1], &d);
    let prev = t4(&[3.0, -1.0], [1, 2, 1, 1], &d);
    let fu = t4(&[0.5, 0.5], [1, 2, 1, 1], &d);
    // (1 - k) u + k prev + f with k = -0.25: 1.25·1 - 0.25·3 + 0.5 = 1.0; 1.25·2 + 0.25 + 0.5 = 3.25
    let step1 = step(&scheme, 1, u.clone(), prev.clone(), fu.clone());
    assert_close(&values(step1), &[1.0, 3.25], 1e-6);
    // k = 0.5: 0.5·1 + 0.5·3 + 0.5 = 2.5; 0.5·2 - 0.5 + 0.5 = 1.0
    assert_close(&values(step(&scheme, 2, u, prev, fu)), &[2.5, 1.0], 1e-6);
}

#[test]
fn per_channel_k_scales_each_channel_separately() {
    let d = Device::flex();
    let k = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, 2]), &d);
    let scheme = Scheme::from_lm_k(Param::from_tensor(k));
    let u = t4(&[1.0, 1.0, 2.0, 2.0], [1, 2, 2, 1], &d);
    let prev = t4(&[5.0, 5.0, 7.0, 7.0], [1, 2, 2, 1], &d);
    let fu = t4(&[0.0; 4], [1, 2, 2, 1], &d);
    // channel 0: k = 0 → u (Euler); channel 1: k = 1 → prev (leapfrog u_{n+1} = u_{n-1} + f).
    assert_close(&values(step(&scheme, 1, u, prev, fu)), &[1.0, 1.0, 7.0, 7.0], 1e-6);
}

#[test]
fn lm_init_draws_k_in_the_paper_range_one_per_step() {
    let d = Device::flex();
    d.seed(7);
    let scheme = SchemeConfig::lm_paper().init(9, 16, &d);
    let k = scheme.lm_k().expect("LM has k");
    assert_eq!(k.dims(), [8, 1], "a stage of 9 blocks takes 8 two-step updates");
    let v: Vec<f32> = k.val().into_data().try_to_vec::<f32>().expect("f32");
    assert!(v.iter().all(|&x| (-0.1..=0.0).contains(&x)), "k ~ U[-0.1, 0]: {v:?}");
    let per_channel = SchemeConfig::lm([-0.1, 0.0], true);
    assert_eq!(per_channel.init(9, 16, &d).lm_k().expect("k").dims(), [8, 16]);
}


#[test]
fn stage_starts_with_an_euler_step_through_the_projection() {
    let d = Device::flex();
    let net = tiny_lm(&d);
    assert!(net.stages[0].projection.is_none(), "same width and stride: identity shortcut");
    let p = net.stages[1].projection.as_ref().expect("4→8 channels, stride 2: projection");
    assert_eq!(p.conv.weight.dims(), [8, 4, 1, 1]);
    let out = net.forward_features(Tensor::zeros([2, 1, 8, 8], &d));
    assert_eq!(out.dims(), [2, 8, 4, 4]);
}

/// Stochastic depth wraps the field once, so it reaches the two-field rules too: a dropped
/// RevNet block is the identity and a dropped FractalNet block with (k1, k2, k3) = (½, ½, 1)
/// keeps the state, while a surviving block moves it.
#[test]
fn a_dropped_block_applies_every_rule_with_f_zero() {
    use odenet::nn::{BranchConfig, BranchKind};
    use odenet::scheme::noise::{DropScaling, NoiseConfig, StageNoise};
    let d = Device::flex();
    d.seed(2);
    let sd = NoiseConfig::StochasticDepth { p_last: 0.5, scaling: DropScaling::Inverted, indexing: Default::default() };
    let noise = StageNoise::new(&sd, 0, 2, 2);
    let u = Tensor::<4>::random([1, 4, 3, 3], burn::tensor::Distribution::Default, &d);
    let cases = [
        (BranchKind::Coupled, SchemeConfig::coupled_euler()),
        (BranchKind::Pair, SchemeConfig::fractal_rk2([0.5, 0.5, 1.0], false)),
    ];
    for (kind, config) in cases {
        let branch = BranchConfig { kind, in_channels: 4, width: 4, stride: 1 }.init(&d);
        let scheme = config.init(2, 4, &d);
        let run = |survive: bool| {
            let mut history = History::new(u.clone(), scheme.history_len());
            scheme.step_field(1, &mut history, &noise.wrap(1, survive, &branch));
            values(history.into_current())
        };
        assert_close(&run(false), &values(u.clone()), 1e-6);
        let moved = run(true).iter().zip(values(u.clone())).any(|(a, b)| (a - b).abs() > 1e-3);
        assert!(moved, "{kind:?}: a surviving block changes the state");
    }
}

/// A rule that needs two sub-fields refuses a one-field block instead of silently stepping Euler.
#[test]
#[should_panic(expected = "needs a block with two sub-fields")]
fn a_branch_that_does_not_fit_its_rule_is_an_error() {
    let d = Device::flex();
    let scheme = SchemeConfig::coupled_euler().init(2, 2, &d);
    let mut history = History::new(t4(&[1.0, 2.0], [1, 2, 1, 1], &d), 1);
    scheme.step(1, &mut history, |u| u);
}

/// Every learned coefficient is one typed row: which, stage, step and global block.
#[test]
fn learned_coefficients_carry_their_position() {
    use odenet::scheme::Coefficient;
    let d = Device::flex();
    let lm = tiny_lm(&d).learned();
    let at: Vec<(usize, usize, usize)> = lm.iter().map(|l| (l.stage, l.step, l.block)).collect();
    // Two stages of three blocks: steps 1, 2 of each, blocks 2, 3 and 5, 6 (1-based).
    assert_eq!(at, [(0, 1, 2), (0, 2, 3), (1, 1, 5), (1, 2, 6)]);
    assert!(lm.iter().all(|l| l.coefficient == Coefficient::LmK && l.values.len() == 1));
    let fractal = odenet::zoo::create("fractal-resnet20", 3, 10).expect("registered").init(&d).learned();
    assert_eq!(fractal.len(), 3 * 2, "three stages of three blocks");
    assert!(fractal.iter().all(|l| l.coefficient == Coefficient::FractalK && l.values == [0.5, 0.5, 1.0]));
}
