//! Schemes as data: validation of coefficient lists and tableaux, JSON round trips, Dahlquist's
//! report (consistency, zero-stability, order, roots), and the new rules checked by hand.

use burn::prelude::*;
use odenet::nn::BranchKind;
use odenet::scheme::{Complex, History, Multistep, Scheme, SchemeConfig, SchemeError, Tableau};
use odenet::{NetConfig, params};
use std::cell::Cell;

fn t4(values: &[f32], d: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values.to_vec(), [1, values.len(), 1, 1]), d)
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().expect("f32 tensor")
}

fn has_root(roots: &[Complex], re: f64, im: f64) -> bool {
    roots.iter().any(|z| (z.re - re).abs() < 1e-6 && (z.im - im).abs() < 1e-6)
}

// ---- Dahlquist report -------------------------------------------------------------------------

#[test]
fn adams_bashforth_is_consistent_zero_stable_and_of_order_s() {
    let ab2 = Multistep::ab2().report();
    assert!(ab2.consistent && ab2.zero_stable && ab2.convergent(), "{ab2:?}");
    assert_eq!(ab2.order, 2);
    assert!(has_root(&ab2.roots, 1.0, 0.0) && has_root(&ab2.roots, 0.0, 0.0), "{ab2:?}");
    assert_eq!(ab2.time_rescaling, None);
    let ab3 = Multistep::ab3().report();
    assert!(ab3.convergent() && ab3.order == 3, "{ab3:?}");
    for m in 1..=6 {
        let r = Multistep::adams_bashforth(m).expect("valid").report();
        assert!(r.convergent() && r.order == m, "AB{m}: {r:?}");
    }
    assert_eq!(Multistep::euler().report().order, 1);
}

#[test]
fn lm_rule_is_zero_stable_iff_k_in_minus_one_exclusive_to_one() {
    // k = −0.5: ρ = (ζ − 1)(ζ − 0.5), consistent with (1 + k) u̇ = f = 0.5 u̇.
    let r = Multistep::lm(-0.5).expect("valid").report();
    assert!(r.zero_stable && !r.consistent, "{r:?}");
    assert!(has_root(&r.roots, 1.0, 0.0) && has_root(&r.roots, 0.5, 0.0), "{r:?}");
    assert_eq!(r.time_rescaling, Some(0.5));
    assert!(r.convergent_up_to_rescaling());
    assert_eq!(r.order, 1, "first order for the rescaled ODE");
    // k = −1: double root at ζ = 1 (and ρ'(1) = 0: no time scale at all).
    let r = Multistep::lm(-1.0).expect("valid").report();
    assert!(!r.zero_stable && !r.convergent_up_to_rescaling(), "{r:?}");
    assert!(r.roots.iter().all(|z| (z.re - 1.0).abs() < 1e-6), "{r:?}");
    // k = 1.5: root −1.5 outside the unit disc.
    let r = Multistep::lm(1.5).expect("valid").report();
    assert!(!r.zero_stable && has_root(&r.roots, -1.5, 0.0), "{r:?}");
    // k = 1: roots ±1, simple: zero-stable (LM = leapfrog with the factor 2 in the branch).
    let r = Multistep::lm(1.0).expect("valid").report();
    assert!(r.zero_stable && r.time_rescaling == Some(2.0) && r.order == 2, "{r:?}");
    // k = 0 is forward Euler.
    let r = Multistep::lm(0.0).expect("valid").report();
    assert!(r.convergent() && r.order == 1, "{r:?}");
}

#[test]
fn leapfrog_is_zero_stable_with_roots_plus_and_minus_one() {
    let r = Multistep::leapfrog().report();
    assert!(r.consistent && r.zero_stable && r.order == 2, "{r:?}");
    assert!(has_root(&r.roots, 1.0, 0.0) && has_root(&r.roots, -1.0, 0.0), "{r:?}");
}

#[test]
fn unstable_rules_are_reported_and_warned_about() {
    // The explicit 2-step rule of maximal order 3 (Dahlquist's barrier): ρ = (ζ − 1)(ζ + 5).
    let bad = Multistep::new(vec![-4.0, 5.0], vec![4.0, 2.0], false).expect("valid data");
    let r = bad.report();
    assert!(r.consistent && !r.zero_stable && r.order == 3, "{r:?}");
    assert!(has_root(&r.roots, -5.0, 0.0), "{r:?}");
    assert!(SchemeConfig::Multistep(bad).warn_if_not_convergent());
    // Complex roots on the unit circle: ρ = ζ² + 1 (a = [0, −1]) is zero-stable, inconsistent.
    let r = Multistep::new(vec![0.0, -1.0], vec![1.0, 0.0], false).expect("valid").report();
    assert!(r.zero_stable && !r.consistent && has_root(&r.roots, 0.0, 1.0), "{r:?}");
    let lm_out_of_range = SchemeConfig::lm([0.9, 1.2], false);
    assert!(lm_out_of_range.warn_if_not_convergent(), "k = 1.2 violates the root condition");
    for fine in [SchemeConfig::lm_paper(), SchemeConfig::ab2(), SchemeConfig::rk4()] {
        assert!(!fine.warn_if_not_convergent(), "{fine:?}");
    }
    let rk = SchemeConfig::heun2().report();
    assert!(rk.convergent() && rk.order == 2 && rk.roots.len() == 1, "{rk:?}");
}

// ---- validation -------------------------------------------------------------------------------

#[test]
fn invalid_coefficient_lists_are_errors() {
    let e = Multistep::new(vec![], vec![], false).expect_err("empty");
    assert!(matches!(e, SchemeError::Multistep(_)) && e.to_string().contains("empty"), "{e}");
    let e = Multistep::new(vec![1.0, 0.0], vec![1.0], false).expect_err("lengths");
    assert!(e.to_string().contains("b has 1"), "{e}");
    let e = Multistep::new(vec![f64::NAN], vec![1.0], false).expect_err("NaN");
    assert!(e.to_string().contains("not finite"), "{e}");
    assert!(Multistep::new(vec![0.0; 17], vec![0.0; 17], false).is_err(), "too many steps");
    assert!(Multistep::adams_bashforth(0).is_err());
}

#[test]
fn tableaux_are_validated() {
    let ok = Tableau::new(vec![vec![0.0, 0.0], vec![1.0, 0.0]], vec![0.5, 0.5], vec![0.0, 1.0], 2);
    assert_eq!(ok.expect("full square rows accepted"), Tableau::heun2());
    let cases = [
        (Tableau::new(vec![vec![], vec![1.0]], vec![0.6, 0.5], vec![0.0, 1.0], 1), "Σ b"),
        (Tableau::new(vec![vec![], vec![1.0]], vec![0.5, 0.5], vec![0.0, 0.5], 2), "sums to"),
        (Tableau::new(vec![vec![0.5], vec![1.0]], vec![0.5, 0.5], vec![0.5, 1.0], 1), "row 0"),
        (Tableau::new(vec![vec![0.0, 0.2], vec![1.0, 0.0]], vec![0.5, 0.5], vec![0.2, 1.0], 1), "strictly"),
        (Tableau::new(vec![vec![], vec![1.0]], vec![0.5, 0.5], vec![0.0, 1.0], 3), "order"),
        (Tableau::new(vec![], vec![], vec![], 1), "empty"),
        (Tableau::new(vec![vec![], vec![1.0]], vec![0.5, 0.5], vec![0.0], 2), "nodes"),
    ];
    for (result, what) in cases {
        let e = result.expect_err(what);
        assert!(matches!(e, SchemeError::Tableau(_)) && e.to_string().contains(what), "{e}");
    }
    assert!(Tableau::new(vec![vec![], vec![1.0]], vec![0.5, 0.5], vec![0.0, 1.0], 1).is_ok());
}

// ---- JSON -------------------------------------------------------------------------------------

#[test]
fn schemes_round_trip_through_json_and_bad_json_is_an_error() {
    let all = [
        SchemeConfig::forward_euler(),
        SchemeConfig::lm_paper(),
        SchemeConfig::ab2(),
        SchemeConfig::ab3(),
        SchemeConfig::leapfrog(),
        SchemeConfig::Multistep(Multistep::ab2().trainable()),
        SchemeConfig::heun2(),
        SchemeConfig::rk4(),
    ];
    for s in all {
        let json = serde_json::to_string(&s).expect("serialises");
        assert_eq!(serde_json::from_str::<SchemeConfig>(&json).expect(&json), s);
    }
    // The existing rules keep their JSON.
    let lm = r#"{"rule":"linear-two-step","k_init":[-0.1,0.0],"per_channel":false}"#;
    assert_eq!(serde_json::to_string(&SchemeConfig::lm_paper()).expect("json"), lm);
    let ab2: SchemeConfig =
        serde_json::from_str(r#"{"rule":"multistep","a":[1,0],"b":[1.5,-0.5]}"#).expect("ab2");
    assert_eq!(ab2, SchemeConfig::ab2());
    let heun = r#"{"rule":"runge-kutta","tableau":{"a":[[],[1]],"b":[0.5,0.5],"c":[0,1],"order":2}}"#;
    assert_eq!(serde_json::from_str::<SchemeConfig>(heun).expect("heun"), SchemeConfig::heun2());
    for (bad, what) in [
        (r#"{"rule":"multistep","a":[1],"b":[1,2]}"#, "invalid multistep rule"),
        (r#"{"rule":"runge-kutta","tableau":{"a":[[],[1]],"b":[1,1],"c":[0,1],"order":1}}"#, "Σ b"),
        (r#"{"rule":"runge-kutta","tableau":{"a":[[],[1]],"b":[1,0]}}"#, "missing field `c`"),
    ] {
        let e = serde_json::from_str::<SchemeConfig>(bad).expect_err(bad).to_string();
        assert!(e.contains(what), "{bad}: {e}");
    }
}

/// Every `rule` keeps the JSON that `config.json` files hold from before the families owned their
/// configs (struct variants then, one config struct per family now): written identically, read
/// back equal, and `rule()` names the tag.
#[test]
fn every_rule_keeps_its_config_json() {
    let cases = [
        (SchemeConfig::forward_euler(), r#"{"rule":"forward-euler"}"#),
        (SchemeConfig::lm([1.0, 1.1], true), r#"{"rule":"linear-two-step","k_init":[1.0,1.1],"per_channel":true}"#),
        (SchemeConfig::poly(3), r#"{"rule":"poly","order":3}"#),
        (
            SchemeConfig::damped_backward_euler(4, 0.5),
            r#"{"rule":"backward-euler","iterations":4,"relaxation":0.5}"#,
        ),
        (SchemeConfig::coupled_euler(), r#"{"rule":"coupled-euler"}"#),
        (
            SchemeConfig::fractal_rk2([0.5, 0.5, 1.0], true),
            r#"{"rule":"fractal-rk2","k":[0.5,0.5,1.0],"trainable":true}"#,
        ),
    ];
    for (config, json) in cases {
        assert_eq!(serde_json::to_string(&config).expect("serialises"), json);
        assert_eq!(serde_json::from_str::<SchemeConfig>(json).expect(json), config);
        let tag = json.split('"').nth(3).expect("tag");
        assert_eq!(config.rule(), tag);
    }
    let e = serde_json::from_str::<SchemeConfig>(r#"{"rule":"fractal-rk2","k":[1,1,1]}"#).expect_err("no trainable");
    assert!(e.to_string().contains("missing field `trainable`"), "{e}");
}

#[test]
fn describe_names_the_scheme() {
    assert_eq!(SchemeConfig::ab2().describe(), "Adams–Bashforth 2");
    assert!(SchemeConfig::leapfrog().describe().contains("leapfrog"));
    assert_eq!(SchemeConfig::heun2().describe(), "Heun RK2 (2 stages, order 2)");
    assert_eq!(SchemeConfig::rk4().describe(), "classical RK4 (4 stages, order 4)");
    let custom = Multistep::new(vec![0.5, 0.5], vec![1.5, 0.0], true).expect("valid");
    let d = SchemeConfig::Multistep(custom).describe();
    assert!(d.contains("2-step") && d.contains("trainable"), "{d}");
}

// ---- steps by hand ----------------------------------------------------------------------------

#[test]
fn multistep_start_up_is_euler_then_ab2_then_ab3() {
    let d = Device::flex();
    let scheme = SchemeConfig::ab3().init(4, 1, &d);
    assert_eq!(scheme.history_len(), 3);
    // A branch returning 1, 10, 100, … on successive calls (whatever its input).
    let calls = Cell::new(0);
    let f = |u: Tensor<4>| {
        calls.set(calls.get() + 1);
        u.zeros_like().add_scalar(10f32.powi(calls.get() - 1))
    };
    let mut history = History::new(t4(&[0.0], &d), scheme.history_len());
    let expected = [1.0, 1.0 + 1.5 * 10.0 - 0.5, 15.5 + (23.0 * 100.0 - 16.0 * 10.0 + 5.0) / 12.0];
    for (n, want) in expected.into_iter().enumerate() {
        scheme.step(n, &mut history, f);
        assert_eq!(values(history.current().clone()), [want], "step {n}");
    }
    // From now on three states are kept.
    assert!(history.state(2).is_some() && history.state(3).is_none());
}

#[test]
fn heun_block_evaluates_its_branch_twice() {
    let d = Device::flex();
    let scheme = SchemeConfig::heun2().init(3, 2, &d);
    let calls = Cell::new(0);
    // f(u) = 2u: k1 = 2u, k2 = 2(u + k1) = 6u, u + (k1 + k2)/2 = 5u.
    let f = |u: Tensor<4>| {
        calls.set(calls.get() + 1);
        u.mul_scalar(2.0)
    };
    let mut history = History::new(t4(&[1.0, -2.0], &d), scheme.history_len());
    scheme.step(1, &mut history, f);
    assert_eq!(values(history.into_current()), [5.0, -10.0]);
    assert_eq!(calls.get(), 2);
}

fn tiny(scheme: SchemeConfig, device: &Device) -> odenet::Net {
    NetConfig {
        name: "tiny".into(),
        in_channels: 1,
        num_classes: 3,
        stem_width: 4,
        stem: Default::default(),
        widths: vec![4, 8],
        depths: vec![4, 4],
        branch: BranchKind::Basic,
        scheme,
        noise: Default::default(),
    }
    .init(device)
}

#[test]
fn trainable_multistep_learns_per_step_deviations_starting_at_the_rule() {
    let d = Device::flex().autodiff();
    d.seed(5);
    let fixed = tiny(SchemeConfig::ab3(), &d);
    let trainable = tiny(SchemeConfig::Multistep(Multistep::ab3().trainable()), &d);
    // AB3 over 4 blocks: step 0 Euler, step 1 AB2 start-up, steps 2 and 3 learn [2, 3] + [2, 3].
    let Scheme::Multistep(ms) = &trainable.stages[0].scheme else { panic!("a multistep scheme") };
    let a = ms.ms_a.as_ref().expect("δa");
    assert_eq!(a.dims(), [2, 3]);
    let extra = params::count_trainable(&trainable) - params::count_trainable(&fixed);
    assert_eq!(extra, 2 * 2 * 2 * 3, "two stages × (δa + δb) × [2, 3]");
    let paths: Vec<String> = params::inventory(&trainable).into_iter().map(|t| t.path).collect();
    assert!(paths.contains(&"stages.1.scheme.ms_b".to_string()), "{paths:?}");
    // Every δ gets a gradient.
    let x = Tensor::<4>::random([2, 1, 8, 8], burn::tensor::Distribution::Default, &d);
    let logits = trainable.forward(x.clone());
    let grads = logits.clone().sum().backward();
    for stage in &trainable.stages {
        let Scheme::Multistep(ms) = &stage.scheme else { panic!("a multistep scheme") };
        for p in [&ms.ms_a, &ms.ms_b] {
            let g = p.as_ref().expect("param").val().grad(&grads).expect("gradient");
            let g: Vec<f32> = g.into_data().try_into_vec_as().expect("f32");
            assert!(g.iter().any(|v| *v != 0.0), "{g:?}");
        }
    }
    // δ = 0 at init: the same function as the fixed rule with the same weights.
    let mut as_fixed = trainable.clone();
    for (s, width) in as_fixed.stages.iter_mut().zip([4, 8]) {
        s.scheme = SchemeConfig::ab3().init(4, width, &d);
    }
    let a: Vec<f32> = logits.into_data().try_into_vec_as().expect("f32");
    let b: Vec<f32> = as_fixed.forward(x).into_data().try_into_vec_as().expect("f32");
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn explicit_bdf2_is_consistent_zero_stable_second_order() {
    let r = SchemeConfig::bdf2_explicit().report();
    assert!(r.consistent && r.zero_stable, "{r:?}");
    assert_eq!(r.order, 2);
}
