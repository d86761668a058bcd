//! PolyNet and backward Euler: the poly block by hand, the fixed-point iteration against the exact
//! implicit step, and backward Euler's first order on u' = λu.

use burn::prelude::*;
use odenet::scheme::implicit::{damped_step, fixed_point_step, poly_step};
use odenet::scheme::{History, SchemeConfig};

fn t(v: f32, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(vec![v, 2.0 * v], [1, 2, 1, 1]), device)
}

fn vals(x: Tensor<4>) -> Vec<f32> {
    x.into_data().try_to_vec::<f32>().expect("f32")
}

#[test]
fn poly_block_and_fixed_point_by_hand() {
    let d = Device::flex();
    let half = |u: Tensor<4>| u.mul_scalar(0.5);
    // u + F u + F² u with F = ½: 1.75 u; order 3: 1.875 u.
    let (f1, next) = poly_step(&t(1.0, &d), 2, half);
    assert_eq!(vals(f1), vec![0.5, 1.0]);
    assert_eq!(vals(next), vec![1.75, 3.5]);
    assert_eq!(vals(poly_step(&t(1.0, &d), 3, half).1), vec![1.875, 3.75]);
    // Fixed point: 1 iteration is forward Euler, 2 iterations equal the poly block for linear F.
    assert_eq!(vals(fixed_point_step(&t(1.0, &d), 1, half).1), vec![1.5, 3.0]);
    assert_eq!(vals(fixed_point_step(&t(1.0, &d), 2, half).1), vec![1.75, 3.5]);
}

#[test]
fn fixed_point_iteration_converges_to_the_backward_euler_step() {
    let d = Device::flex();
    // F = hλ with hλ = −0.5 (a contraction): the implicit step is u / (1 − hλ) = u / 1.5.
    let f = |u: Tensor<4>| u.mul_scalar(-0.5);
    for (iterations, tol) in [(2, 0.2), (10, 1e-3), (40, 1e-6)] {
        let got = vals(fixed_point_step(&t(1.0, &d), iterations, f).1);
        let want = [1.0 / 1.5, 2.0 / 1.5];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < tol, "{iterations} iterations: {g} vs {w}");
        }
    }
}

/// F(u) = h·A·u with A = diag(λ_1, λ_2) acting on the two channels.
fn diag(h: f32, lambda: [f32; 2], d: &Device) -> impl Fn(Tensor<4>) -> Tensor<4> + Clone {
    let a = Tensor::<4>::from_data(TensorData::new(lambda.map(|l| h * l).to_vec(), [1, 2, 1, 1]), d);
    move |u: Tensor<4>| u * a.clone()
}

#[test]
fn fixed_point_iteration_converges_to_the_exact_implicit_step_on_a_diagonal_system() {
    // u' = A u, A = diag(−1, −5), h = 0.1: (I − hA)^{-1} u = (u_1 / 1.1, u_2 / 1.5); the error
    // shrinks by |hλ| per iteration (0.5 for the stiffer component).
    let d = Device::flex();
    let want = [1.0 / 1.1, 2.0 / 1.5];
    let mut last = f32::INFINITY;
    for iterations in [1, 2, 4, 8, 16, 32] {
        let got = vals(fixed_point_step(&t(1.0, &d), iterations, diag(0.1, [-1.0, -5.0], &d)).1);
        let err = got.iter().zip(want).fold(0f32, |m, (g, w)| m.max((g - w).abs()));
        assert!(err < last || err < 1e-6, "{iterations} iterations: error {err} after {last}");
        assert!(err <= 2.0 * 0.5f32.powi(iterations as i32) + 1e-6, "{iterations}: {err}");
        last = err;
    }
    assert!(last < 1e-6, "converged: {last}");
}

#[test]
fn damped_backward_euler_stays_bounded_on_a_stiff_step_where_forward_euler_blows_up() {
    // A = diag(−1, −5), h = 0.6: hλ = (−0.6, −3). 20 steps from u = (1, 2).
    let d = Device::flex();
    let f = diag(0.6, [-1.0, -5.0], &d);
    let run = |scheme: SchemeConfig| {
        let scheme = scheme.init(2, 2, &d);
        let mut history = History::new(t(1.0, &d), scheme.history_len());
        for step in 1..=20 {
            scheme.step(step, &mut history, f.clone());
        }
        vals(history.into_current())
    };
    // Forward Euler: |1 + hλ| = 2 for the stiff component, 2^20 growth.
    let euler = run(SchemeConfig::forward_euler());
    assert!(euler[1].abs() > 1e5, "forward Euler {euler:?}");
    // Undamped Picard (= the poly block for 2 iterations): 1 − 3 + 9 = 7 per step, unstable too.
    let picard = run(SchemeConfig::backward_euler(2));
    assert!(picard[1].abs() > 1e5, "undamped fixed point {picard:?}");
    // Damped iterations (ω = 1/4 < 2/(1 + 3)) reach the exact backward-Euler step: (I − hA)^{-20} u.
    let implicit = run(SchemeConfig::damped_backward_euler(30, 0.25));
    let exact = [1.6f64.powi(-20), 2.0 * 4.0f64.powi(-20)];
    for (g, w) in implicit.iter().zip(exact) {
        assert!((*g as f64 - w).abs() <= 1e-6, "damped backward Euler {implicit:?} vs {exact:?}");
    }
    // One damped step agrees with (I − hA)^{-1} u and is bounded by |u|.
    let (_, one) = damped_step(&t(1.0, &d), 30, 0.25, &f);
    let one = vals(one);
    assert!((one[0] - 1.0 / 1.6).abs() < 1e-5 && (one[1] - 2.0 / 4.0).abs() < 1e-5, "{one:?}");
}

#[test]
fn backward_euler_is_first_order_through_the_scheme() {
    // u' = −u on [0, 1], N steps of h = 1/N through Scheme::step (converged fixed point).
    let d = Device::flex();
    let scheme = SchemeConfig::backward_euler(60).init(2, 2, &d);
    let error = |n: usize| {
        let h = 1.0 / n as f32;
        let mut history = History::new(t(1.0, &d), scheme.history_len());
        for step in 1..=n {
            scheme.step(step, &mut history, |u| u.mul_scalar(-h));
        }
        let u = vals(history.into_current())[0] as f64;
        (u - (-1.0f64).exp()).abs()
    };
    let (e1, e2) = (error(16), error(32));
    let order = (e1 / e2).log2();
    assert!((order - 1.0).abs() < 0.15, "observed order {order} (errors {e1}, {e2})");
    // The poly block is a truncation of the same step: close to it for small h.
    let poly = SchemeConfig::polynet().init(2, 2, &d);
    let mut history = History::new(t(1.0, &d), 1);
    poly.step(1, &mut history, |u| u.mul_scalar(-0.1));
    let got = vals(history.into_current())[0];
    assert!((got - 1.0 / 1.1).abs() < 2e-3, "poly step {got} vs backward Euler {}", 1.0 / 1.1);
}

#[test]
fn implicit_schemes_round_trip_through_json() {
    for scheme in [SchemeConfig::polynet(), SchemeConfig::backward_euler(3)] {
        let json = serde_json::to_string(&scheme).expect("serialise");
        assert_eq!(serde_json::from_str::<SchemeConfig>(&json).expect("parse"), scheme, "{json}");
    }
    assert!(SchemeConfig::polynet().describe().contains("PolyNet"));
    let damped = SchemeConfig::damped_backward_euler(8, 0.25);
    let json = serde_json::to_string(&damped).expect("serialise");
    assert_eq!(serde_json::from_str::<SchemeConfig>(&json).expect("parse"), damped, "{json}");
    assert!(damped.describe().contains("damped by 0.25"), "{}", damped.describe());
    // Configs written before the relaxation existed still parse, as plain fixed-point iteration.
    let old = r#"{"rule":"backward-euler","iterations":2}"#;
    assert_eq!(serde_json::from_str::<SchemeConfig>(old).expect("parse"), SchemeConfig::backward_euler(2));
}

#[test]
fn fractal_block_by_hand_and_as_heun() {
    use odenet::scheme::fractal::fractal_step;
    let d = Device::flex();
    let k = |a: f32, b: f32, c: f32| [a, b, c].map(|v| Tensor::<4>::full([1, 1, 1, 1], v, &d));
    // x = 1, f1 = 2x, f2 = 3z, (k1, k2, k3) = (0.5, 2, −1): z = −1 + 2 = 1; x' = 0.5 + 2 + 3 = 5.5.
    let (f1x, next) = fractal_step(&t(1.0, &d), k(0.5, 2.0, -1.0), |x| x.mul_scalar(2.0), |z| z.mul_scalar(3.0));
    assert_eq!(vals(f1x), vec![2.0, 4.0]);
    assert_eq!(vals(next), vec![5.5, 11.0]);
    // (½, ½, 1) with f2 = ½ f1 is Heun: x + ½ f(x) + ½ f(x + f(x)); f = −0.1 x → 0.905 x.
    let f = |x: Tensor<4>| x.mul_scalar(-0.1);
    let heun = vals(fractal_step(&t(1.0, &d), k(0.5, 0.5, 1.0), f, |z| f(z).mul_scalar(0.5)).1);
    let want = 1.0 - 0.05 + 0.5 * (-0.1 * 0.9);
    assert!((heun[0] - want).abs() < 1e-6, "{heun:?} vs {want}");
}
