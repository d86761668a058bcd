//! Every configuration rule of `odenet::validate`, one row each: a valid config broken in one
//! field must be rejected with that field, its value and the rule in the message; every
//! rejected config would otherwise panic or train on nonsense.

mod common;

use common::{config, small_lm};
use odenet::data::{Augment, DatasetKind};
use odenet::nn::BranchKind;
use odenet::scheme::noise::{DropScaling, NoiseConfig};
use odenet::train::{DataConfig, Schedule, TrainConfig};
use odenet::precision::Precision;
use odenet::validate::ConfigError;
use odenet::{NetConfig, SchemeConfig};

fn base() -> TrainConfig {
    let data = DataConfig {
        kind: DatasetKind::Cifar10,
        path: "data/cifar-10-batches-bin".into(),
        train_per_class: Some(5),
        test_per_class: None,
        augment: Augment::paper_cifar(),
        normalization: Default::default(),
    };
    config(small_lm(3, 4), data, 2, 8)
}

type Edit = fn(&mut TrainConfig);

/// (change, field, value as printed, words of the rule).
const CASES: &[(Edit, &str, &str, &str)] = &[
    (|c| c.optim.lr = f64::NAN, "optim.lr", "NaN", "finite number > 0"),
    (|c| c.optim.lr = f64::INFINITY, "optim.lr", "inf", "finite number > 0"),
    (|c| c.optim.lr = -1.0, "optim.lr", "-1.0", "finite number > 0"),
    (|c| c.optim.lr = 0.0, "optim.lr", "0.0", "finite number > 0"),
    (|c| c.optim.weight_decay = f64::NAN, "optim.weight_decay", "NaN", "≥ 0"),
    (|c| c.optim.weight_decay = -1e-4, "optim.weight_decay", "-0.0001", "≥ 0"),
    (|c| c.optim.momentum = -5.0, "optim.momentum", "-5.0", "[0, 1)"),
    (|c| c.optim.momentum = 1.0, "optim.momentum", "1.0", "[0, 1)"),
    (|c| c.optim.momentum = f64::NAN, "optim.momentum", "NaN", "[0, 1)"),
    (|c| c.epochs = 0, "epochs", "0", "at least 1"),
    (|c| c.batch_size = 0, "batch_size", "0", "at least 1"),
    (
        |c| {
            c.precision = Precision::Bf16;
            c.reversible = true;
        },
        "precision",
        "\"bf16\"",
        "train reversible models in f32",
    ),
    (
        |c| {
            c.precision = Precision::Bf16;
            c.device = "wgpu".into();
        },
        "precision",
        "\"bf16\"",
        "no bf16 type",
    ),
    (|c| c.data.train_per_class = Some(0), "data.train_per_class", "0", "empty dataset"),
    (|c| c.data.test_per_class = Some(0), "data.test_per_class", "0", "empty dataset"),
    (
        |c| c.schedule = Schedule::Step { milestones: vec![120, 80], gamma: 0.1 },
        "schedule.milestones",
        "[120, 80]",
        "strictly increasing",
    ),
    (
        |c| c.schedule = Schedule::Step { milestones: vec![80, 80], gamma: 0.1 },
        "schedule.milestones",
        "[80, 80]",
        "strictly increasing",
    ),
    (|c| c.schedule = Schedule::Step { milestones: vec![80], gamma: 0.0 }, "schedule.gamma", "0.0", "> 0"),
    (|c| c.model.in_channels = 0, "model.in_channels", "0", "at least 1"),
    (|c| c.model.num_classes = 0, "model.num_classes", "0", "at least 1"),
    (|c| c.model.stem_width = 0, "model.stem_width", "0", "at least 1"),
    (|c| c.model.widths = vec![], "model.widths", "[]", "at least one stage"),
    (|c| c.model.widths[1] = 0, "model.widths[1]", "0", "at least 1"),
    (|c| c.model.depths[2] = 0, "model.depths[2]", "0", "at least 1"),
    (|c| c.model.depths = vec![2, 2], "model.depths", "[2, 2]", "one entry per stage"),
    (
        |c| c.model.branch = BranchKind::Bottleneck { expansion: 4, groups: 0, base_width: 64 },
        "model.branch.groups",
        "0",
        "at least 1",
    ),
    (
        |c| c.model.branch = BranchKind::Bottleneck { expansion: 0, groups: 1, base_width: 64 },
        "model.branch.expansion",
        "0",
        "at least 1",
    ),
    (
        |c| c.model.branch = BranchKind::Bottleneck { expansion: 4, groups: 8, base_width: 4 },
        "model.widths[0]",
        "4",
        "must be ≥ groups",
    ),
    (
        |c| c.model.scheme = SchemeConfig::lm([0.0, -0.1], false),
        "model.scheme.k_init",
        "[0.0, -0.1]",
        "lo ≤ hi",
    ),
    (
        |c| c.model.scheme = SchemeConfig::lm([f64::NAN, 0.0], true),
        "model.scheme.k_init",
        "NaN",
        "finite range",
    ),
    (|c| c.model.scheme = SchemeConfig::poly(0), "model.scheme.order", "0", "at least 1"),
    (
        |c| c.model.scheme = SchemeConfig::damped_backward_euler(0, 1.0),
        "model.scheme.iterations",
        "0",
        "at least 1",
    ),
    (
        |c| c.model.scheme = SchemeConfig::damped_backward_euler(2, -1.0),
        "model.scheme.relaxation",
        "-1.0",
        "> 0",
    ),
    (|c| c.model.scheme = SchemeConfig::coupled_euler(), "model.branch", "Basic", "coupled branch"),
    (
        |c| c.model.scheme = SchemeConfig::fractal_rk2([0.5, 0.5, 1.0], true),
        "model.branch",
        "Basic",
        "pair branch",
    ),
    (
        |c| {
            c.model.branch = BranchKind::Coupled;
            c.model.widths = vec![4, 6, 9];
        },
        "model.widths[2]",
        "9",
        "even",
    ),
    (
        |c| c.model.noise = NoiseConfig::StochasticDepth { p_last: 0.0, scaling: DropScaling::AtTest, indexing: Default::default() },
        "model.noise.p_last",
        "0.0",
        "(0, 1]",
    ),
    (
        |c| c.model.noise = NoiseConfig::StochasticDepth { p_last: 2.0, scaling: DropScaling::Inverted, indexing: Default::default() },
        "model.noise.p_last",
        "2.0",
        "(0, 1]",
    ),
    (
        |c| c.model.noise = NoiseConfig::StochasticDepth { p_last: -1.0, scaling: DropScaling::AtTest, indexing: Default::default() },
        "model.noise.p_last",
        "-1.0",
        "(0, 1]",
    ),
    (|c| c.model.noise = NoiseConfig::Gaussian { sigma: f64::NAN }, "model.noise.sigma", "NaN", "> 0"),
    (|c| c.model.noise = NoiseConfig::Uniform { sigma: 0.0 }, "model.noise.sigma", "0.0", "> 0"),
    (
        |c| {
            c.reversible = true;
            c.model.noise = NoiseConfig::Gaussian { sigma: 0.1 };
        },
        "reversible",
        "true",
        "deterministic steps",
    ),
];

#[test]
fn every_rule_rejects_with_field_value_and_rule() {
    base().validate().expect("the base config is valid");
    for (i, (edit, field, value, rule)) in CASES.iter().enumerate() {
        let mut c = base();
        edit(&mut c);
        let err: ConfigError = c.validate().expect_err(&format!("case {i} ({field}) must be rejected"));
        let msg = err.to_string();
        assert_eq!(err.field, *field, "case {i}: {msg}");
        assert!(err.value.contains(value), "case {i}: value {value} in '{msg}'");
        assert!(err.rule.contains(rule), "case {i}: rule '{rule}' in '{msg}'");
        assert!(msg.starts_with(&format!("{field} = ")), "{msg}");
    }
}

/// The boundary values each rule allows are accepted, and every registered model is valid.
#[test]
fn boundary_values_and_the_registry_are_valid() {
    let ok: &[Edit] = &[
        |c| c.optim.weight_decay = 0.0,
        |c| c.optim.momentum = 0.0,
        |c| c.epochs = 1,
        |c| c.schedule = Schedule::Step { milestones: vec![], gamma: 0.1 },
        |c| c.model.scheme = SchemeConfig::lm([0.0, 0.0], false),
        |c| c.model.noise = NoiseConfig::StochasticDepth { p_last: 1.0, scaling: DropScaling::AtTest, indexing: Default::default() },
    ];
    for (i, edit) in ok.iter().enumerate() {
        let mut c = base();
        edit(&mut c);
        c.validate().unwrap_or_else(|e| panic!("case {i}: {e}"));
    }
    for entry in odenet::zoo::models() {
        let net: NetConfig = odenet::zoo::create(entry.name, 3, 10).expect("registered");
        net.validate().unwrap_or_else(|e| panic!("{}: {e}", entry.name));
    }
}
