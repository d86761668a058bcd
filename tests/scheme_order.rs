//! Empirical order of accuracy of every stepping rule (style rule 8; diffrax `test_ode_order`).
//!
//! The branch is a fixed linear map f(u) = h·A·u and the loop is the network's own: step 0 is
//! forward Euler (as a stage's projection step) or, where a rule's order exceeds 2 and so needs a
//! starting value accurate to O(h^p), the exact u(h); steps n ≥ 1 are `Scheme::step` on a
//! `History`. Every scheme of the model registry is measured too (`every_registered_scheme…`),
//! so a newly registered scheme is checked without a new test.
//! Integrating u' = A·u from 0 to T = 1 with N = 16 … 128 steps (h = 1/N), the error against the
//! closed-form exp(A·T)·u_0 must fall like h^p: the least-squares slope of log(error) against
//! log(h) is asserted within ±0.3 of the nominal order p. Two problems: the rotation
//! A = [[0, 1], [−1, 0]] and the decay A = diag(−1, −2).
//!
//! f64 on the flex device; its own test binary because that setting is process-wide.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::FloatDType;
use odenet::nn::BranchKind;
use odenet::scheme::{Field, History, LinearTwoStepConfig, Multistep, Scheme, SchemeConfig, Tableau};
use odenet::zoo;
use std::sync::Once;

const T: f64 = 1.0;
const STEPS: [usize; 4] = [16, 32, 64, 128];
const U0: [f64; 2] = [1.0, 0.5];

fn device() -> Device {
    static F64: Once = Once::new();
    let mut d = Device::flex();
    F64.call_once(|| d.configure(FloatDType::F64).expect("flex computes in f64"));
    d
}

#[derive(Clone, Copy, Debug)]
enum Problem {
    Rotation,
    Decay,
}

impl Problem {
    /// f(u) = h·A·u on a `[1, 2, 1, 1]` state (the two components are channels).
    fn f(self, u: Tensor<4>, h: f64) -> Tensor<4> {
        let x = u.clone().narrow(1, 0, 1);
        let y = u.narrow(1, 1, 1);
        match self {
            Self::Rotation => Tensor::cat(vec![y.mul_scalar(h), x.mul_scalar(-h)], 1),
            Self::Decay => Tensor::cat(vec![x.mul_scalar(-h), y.mul_scalar(-2.0 * h)], 1),
        }
    }

    /// exp(A·t)·u_0.
    fn exact(self, t: f64) -> [f64; 2] {
        let [a, b] = U0;
        match self {
            Self::Rotation => [t.cos() * a + t.sin() * b, -t.sin() * a + t.cos() * b],
            Self::Decay => [(-t).exp() * a, (-2.0 * t).exp() * b],
        }
    }
}

/// h·A·u as a block's field: one part, or the two parts a RevNet block (F(y) = h·y, G(x) = −h·x
/// on the channel halves: the rotation) or a FractalNet block (f1 = f, f2 = f/2: Heun) steps.
#[derive(Clone, Copy)]
struct Linear {
    p: Problem,
    h: f64,
    branch: BranchKind,
}

impl Field for Linear {
    fn eval(&self, u: Tensor<4>) -> Tensor<4> {
        self.p.f(u, self.h)
    }

    fn parts(&self) -> usize {
        match self.branch {
            BranchKind::Coupled | BranchKind::Pair => 2,
            _ => 1,
        }
    }

    fn part(&self, i: usize, u: Tensor<4>) -> Tensor<4> {
        match (self.branch, i) {
            (BranchKind::Coupled, 0) => u.mul_scalar(self.h),
            (BranchKind::Coupled, _) => u.mul_scalar(-self.h),
            (BranchKind::Pair, 0) => self.eval(u),
            (BranchKind::Pair, _) => self.eval(u).mul_scalar(0.5),
            _ => self.eval(u),
        }
    }
}

fn state(v: [f64; 2], d: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v.to_vec(), [1, 2, 1, 1]), d)
}

/// How the first step is taken: the network's Euler step, or the exact u(h).
#[derive(Clone, Copy)]
enum Start {
    Euler,
    Exact,
}

/// |u_N − u(T)| after N steps; `time_scale` r compares with the rescaled ODE r·u̇ = A·u; the
/// field is split as `branch` splits it.
fn error_with(scheme: &Scheme, p: Problem, n: usize, start: Start, time_scale: f64, branch: BranchKind) -> f64 {
    let d = device();
    let h = T / n as f64;
    let f = Linear { p, h, branch };
    let u0 = state(U0, &d);
    let mut history = History::new(u0.clone(), scheme.history_len());
    let u1 = match start {
        Start::Euler => u0.clone() + f.eval(u0.clone()),
        Start::Exact => state(p.exact(h / time_scale), &d),
    };
    history.push(f.eval(u0), u1);
    for step in 1..n {
        scheme.step_field(step, &mut history, &f);
    }
    let got: Vec<f64> = history.into_current().into_data().try_into_vec_as().expect("f64");
    let want = p.exact(T / time_scale);
    got.iter().zip(want).map(|(g, w)| (g - w).powi(2)).sum::<f64>().sqrt()
}

/// Least-squares slope of log(error) against log(h) over `STEPS`, and the errors.
fn observed_order(scheme: &Scheme, p: Problem, start: Start, time_scale: f64) -> (f64, Vec<f64>) {
    observed_order_with(scheme, p, start, time_scale, BranchKind::Basic)
}

fn observed_order_with(
    scheme: &Scheme,
    p: Problem,
    start: Start,
    time_scale: f64,
    branch: BranchKind,
) -> (f64, Vec<f64>) {
    let errors: Vec<f64> =
        STEPS.iter().map(|&n| error_with(scheme, p, n, start, time_scale, branch)).collect();
    let xs: Vec<f64> = STEPS.iter().map(|&n| (T / n as f64).ln()).collect();
    let ys: Vec<f64> = errors.iter().map(|e| e.ln()).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / 4.0, ys.iter().sum::<f64>() / 4.0);
    let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    (cov / var, errors)
}

fn sci(v: &[f64]) -> String {
    v.iter().map(|e| format!("{e:.2e}")).collect::<Vec<_>>().join(", ")
}

fn assert_order(name: &str, scheme: &Scheme, start: Start, nominal: f64) {
    for p in [Problem::Rotation, Problem::Decay] {
        let (order, errors) = observed_order(scheme, p, start, 1.0);
        println!("{name:<24} {p:?}: observed order {order:.3} (errors {})", sci(&errors));
        assert!((order - nominal).abs() <= 0.3, "{name} {p:?}: order {order:.3}, want {nominal}");
    }
}

/// A scheme for a "stage" long enough for the finest grid.
fn build(config: SchemeConfig) -> Scheme {
    config.init(STEPS[3], 2, &device())
}

#[test]
fn forward_euler_is_first_order() {
    assert_order("forward Euler", &build(SchemeConfig::forward_euler()), Start::Euler, 1.0);
    let tableau = build(SchemeConfig::runge_kutta(Tableau::euler()));
    assert_order("Euler tableau", &tableau, Start::Euler, 1.0);
    let multistep = build(SchemeConfig::Multistep(Multistep::euler()));
    assert_order("Euler as 1-step rule", &multistep, Start::Euler, 1.0);
}

#[test]
fn second_order_runge_kutta() {
    let midpoint = build(SchemeConfig::runge_kutta(Tableau::midpoint()));
    assert_order("explicit midpoint RK", &midpoint, Start::Euler, 2.0);
    assert_order("Heun RK2", &build(SchemeConfig::heun2()), Start::Euler, 2.0);
}

#[test]
fn classical_rk4_is_fourth_order() {
    assert_order("RK4", &build(SchemeConfig::rk4()), Start::Exact, 4.0);
    // A stage's Euler first step (local error O(h^2)) caps any rule at global order 2.
    assert_order("RK4 (Euler start)", &build(SchemeConfig::rk4()), Start::Euler, 2.0);
}

#[test]
fn adams_bashforth_orders() {
    // Behind the network's Euler first step (starting error O(h^2)) AB2 keeps order 2 …
    assert_order("AB2 (Euler start)", &build(SchemeConfig::ab2()), Start::Euler, 2.0);
    assert_order("explicit BDF2 (Euler start)", &build(SchemeConfig::bdf2_explicit()), Start::Euler, 2.0);
    // … AB3 needs a starting value accurate to O(h^3) (then AB2 start-up, then AB3) …
    assert_order("AB3 (exact start)", &build(SchemeConfig::ab3()), Start::Exact, 3.0);
    // … and is held to order 2 by the Euler start, as at the start of a network stage.
    assert_order("AB3 (Euler start)", &build(SchemeConfig::ab3()), Start::Euler, 2.0);
    let ab4 = SchemeConfig::Multistep(Multistep::adams_bashforth(4).expect("AB4"));
    let (order, _) = observed_order(&build(ab4), Problem::Decay, Start::Exact, 1.0);
    // AB4 behind an exact u_1 but AB2/AB3 start-up steps (local errors h^3, h^4): order 3.
    assert!((order - 3.0).abs() <= 0.3, "AB4 with AB2 start-up: {order:.3}");
}

#[test]
fn leapfrog_is_second_order() {
    assert_order("leapfrog (Euler start)", &build(SchemeConfig::leapfrog()), Start::Euler, 2.0);
}

/// The LM rule with every k_n = k.
fn lm(k: f64) -> Scheme {
    let d = device();
    Scheme::from_lm_k(Param::from_tensor(Tensor::full([STEPS[3] - 1, 1], k, &d)))
}

#[test]
fn lm_with_k_zero_is_euler_and_otherwise_solves_the_rescaled_ode() {
    assert_order("LM k = 0", &lm(0.0), Start::Euler, 1.0);
    let fixed = build(SchemeConfig::Multistep(Multistep::lm(0.0).expect("valid")));
    assert_order("LM k = 0 as Multistep", &fixed, Start::Euler, 1.0);
    // k = −0.3: ρ'(1) = 1 + k = 0.7, so the rule integrates 0.7·u̇ = A·u (paper §3) …
    for p in [Problem::Rotation, Problem::Decay] {
        let (order, errors) = observed_order(&lm(-0.3), p, Start::Euler, 0.7);
        println!("LM k = -0.3 vs rescaled ODE   {p:?}: observed order {order:.3} ({})", sci(&errors));
        assert!((order - 1.0).abs() <= 0.3, "{p:?}: {order:.3}");
        // … and does not converge to the solution of u̇ = A·u.
        let (order, errors) = observed_order(&lm(-0.3), p, Start::Euler, 1.0);
        println!("LM k = -0.3 vs u' = Au        {p:?}: observed order {order:.3} ({})", sci(&errors));
        assert!(order.abs() < 0.3 && errors[3] > 0.05, "{p:?}: {order:.3} {errors:?}");
    }
}

/// Every distinct scheme of the registry, behind the network's Euler start: the observed order
/// lies between the scheme's nominal order p from its own report capped at 2 by that start (see
/// `classical_rk4_is_fourth_order`) and p itself, against the ODE it is consistent with (LM with k fixed at
/// the middle of its initial range solves (1 + k) u̇ = A u). RevNet's coupled step is checked on
/// the rotation, the one problem of the two that is a coupled system ẋ = F(y), ẏ = G(x).
#[test]
fn every_registered_scheme_has_its_nominal_order() {
    let mut seen: Vec<SchemeConfig> = Vec::new();
    for entry in zoo::models() {
        let config = (entry.build)();
        let scheme = match config.scheme {
            SchemeConfig::LinearTwoStep(LinearTwoStepConfig { k_init: [lo, hi], .. }) => {
                let k = 0.5 * (lo + hi);
                SchemeConfig::lm([k, k], false)
            }
            other => other,
        };
        if seen.contains(&scheme) {
            continue;
        }
        seen.push(scheme.clone());
        let report = scheme.report();
        let (nominal, ceiling) = (report.order.min(2) as f64, report.order as f64);
        let time_scale = report.time_rescaling.unwrap_or(1.0);
        let problems: &[Problem] = match config.branch {
            BranchKind::Coupled => &[Problem::Rotation],
            _ => &[Problem::Rotation, Problem::Decay],
        };
        for &p in problems {
            let built = build(scheme.clone());
            let (order, errors) = observed_order_with(&built, p, Start::Euler, time_scale, config.branch);
            let name = entry.name;
            println!("{name:<24} {p:?}: observed order {order:.3}, nominal {nominal}…{ceiling} ({})", sci(&errors));
            assert!(
                order >= nominal - 0.3 && order <= ceiling + 0.3,
                "{name} ({}) {p:?}: order {order:.3}, want {nominal} … {ceiling}",
                scheme.describe()
            );
        }
    }
    assert!(seen.len() >= 8, "the registry's schemes: {seen:?}");
}
