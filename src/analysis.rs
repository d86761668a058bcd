//! Modified-equation analysis of learned LM coefficients k_n (Lu et al., ICML 2018, §3).
//!
//! The LM step `u_{n+1} = (1 − k_n) u_n + k_n u_{n−1} + Δt f(u_n)` is, by Taylor expansion, a
//! second-order approximation of the modified equation
//!
//! ```text
//!     (1 + k_n) u̇ + (1 − k_n) (Δt/2) ü = f(u)          (ResNet, k = 0:  u̇ + (Δt/2) ü = f(u))
//! ```
//!
//! With Δt = 1 the coefficient of u̇ is `1 + k` and that of ü is `(1 − k)/2`. The weight of the
//! ü ("mass", "momentum") term relative to the u̇ term, normalised by ResNet's 1/2, is
//! `(1 − k)/(1 + k)`: above 1 for k < 0 (more momentum than ResNet), infinite at k = −1.
//!
//! The two-step rule is zero-stable (its homogeneous part `u_{n+1} = (1 − k) u_n + k u_{n−1}`
//! stays bounded) iff the roots 1 and −k of `ζ² − (1 − k) ζ − k` lie in the closed unit disc
//! with the root on the circle simple: −1 < k ≤ 1 (k = −1 gives the double root 1).
//!
//! Everything here is a pure function of the k values and the network layout; the `analyze`
//! command does the reading and writing.

use crate::net::NetConfig;
use crate::scheme::{Coefficient, LinearTwoStepConfig, Learned, SchemeConfig};
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize, Serializer};

/// ResNet's ratio of the ü coefficient to the u̇ coefficient (Δt = 1): 1/2.
pub const RESNET_RATIO: f64 = 0.5;

/// The modified-equation reading of one value of k.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Coefficients {
    pub k: f64,
    /// Coefficient of u̇: 1 + k.
    pub udot: f64,
    /// Coefficient of ü with Δt = 1: (1 − k)/2.
    pub uddot: f64,
    /// (ü coefficient / u̇ coefficient) / ResNet's 1/2 = (1 − k)/(1 + k); +∞ at k = −1 (written
    /// "inf" in JSON), negative for k < −1.
    #[serde(serialize_with = "finite_or_string")]
    pub momentum_ratio: f64,
    /// −1 < k ≤ 1.
    pub zero_stable: bool,
}

/// Coefficient of u̇ in the modified equation: 1 + k.
pub fn udot_coefficient(k: f64) -> f64 {
    1.0 + k
}

/// Coefficient of ü in the modified equation for a step `dt`: (1 − k) Δt / 2.
pub fn uddot_coefficient(k: f64, dt: f64) -> f64 {
    (1.0 - k) * dt / 2.0
}

/// (1 − k)/(1 + k): the ü/u̇ weight relative to ResNet's; `f64::INFINITY` at k = −1.
pub fn momentum_ratio(k: f64) -> f64 {
    let den = 1.0 + k;
    if den == 0.0 { f64::INFINITY } else { (1.0 - k) / den }
}

/// Roots of the characteristic polynomial ζ² − (1 − k) ζ − k of the two-step rule: 1 and −k.
pub fn characteristic_roots(k: f64) -> [f64; 2] {
    [1.0, -k]
}

/// Root condition: both roots in |ζ| ≤ 1, a root on the circle simple ⇔ −1 < k ≤ 1.
pub fn is_zero_stable(k: f64) -> bool {
    k > -1.0 && k <= 1.0
}

pub fn coefficients(k: f64) -> Coefficients {
    Coefficients {
        k,
        udot: udot_coefficient(k),
        uddot: uddot_coefficient(k, 1.0),
        momentum_ratio: momentum_ratio(k),
        zero_stable: is_zero_stable(k),
    }
}

/// `x` as a JSON number, or "inf" / "-inf" / "nan" (JSON has no infinities).
fn finite_or_string<S: Serializer>(x: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if x.is_finite() { s.serialize_f64(*x) } else { s.serialize_str(&format_ratio(*x)) }
}

/// A ratio for printing: 4 decimals, or "inf".
pub fn format_ratio(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x == f64::INFINITY {
        "inf".into()
    } else if x == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{x:.4}")
    }
}

/// Where one LM step sits in the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPosition {
    /// Global residual-block index, 1-based (block 1 is the first block of stage 0).
    pub block: usize,
    /// Stage, 0-based.
    pub stage: usize,
    /// Step within the stage, 1-based (step 0 of every stage is forward Euler and has no k).
    pub step: usize,
}

/// The LM steps of a network in the order of [`crate::Net::learned`] (stages in order, steps
/// 1 … depth − 1 of each); empty for Euler networks.
pub fn lm_steps(config: &NetConfig) -> Vec<StepPosition> {
    if !matches!(config.scheme, SchemeConfig::LinearTwoStep(_)) {
        return Vec::new();
    }
    let mut offset = 0;
    let mut out = Vec::new();
    for (stage, &depth) in config.depths.iter().enumerate() {
        for step in 1..depth {
            out.push(StepPosition { block: offset + step + 1, stage, step });
        }
        offset += depth;
    }
    out
}

/// The analysis of one LM step (one k_n, or one k_n per channel).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepAnalysis {
    #[serde(flatten)]
    pub position: StepPosition,
    /// Number of k values of the step: 1, or the channel count for per-channel k.
    pub channels: usize,
    pub k_mean: f64,
    pub k_min: f64,
    pub k_max: f64,
    /// The modified-equation coefficients at `k_mean`.
    pub at_mean: Coefficients,
    /// Whether every channel's k is zero-stable.
    pub zero_stable: bool,
    /// Channels with k outside (−1, 1].
    pub unstable_channels: usize,
    /// All k values of the step (one for scalar k).
    pub k: Vec<f32>,
}

/// Statistics of one step's k values.
pub fn analyse_step(position: StepPosition, k: &[f32]) -> Result<StepAnalysis> {
    if k.is_empty() {
        bail!("LM step (stage {}, step {}) has no k value", position.stage, position.step);
    }
    let values: Vec<f64> = k.iter().map(|&v| v as f64).collect();
    let k_mean = values.iter().sum::<f64>() / values.len() as f64;
    let k_min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let k_max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let unstable_channels = values.iter().filter(|&&v| !is_zero_stable(v)).count();
    Ok(StepAnalysis {
        position,
        channels: k.len(),
        k_mean,
        k_min,
        k_max,
        at_mean: coefficients(k_mean),
        zero_stable: unstable_channels == 0,
        unstable_channels,
        k: k.to_vec(),
    })
}

/// Summary over all LM steps of a network.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub steps: usize,
    pub k_min: f64,
    pub k_max: f64,
    /// Mean over steps of the per-step mean k.
    pub k_mean: f64,
    pub all_zero_stable: bool,
    /// Global block indices of the steps that are not zero-stable.
    pub unstable_blocks: Vec<usize>,
}

/// The whole analysis; what `analysis.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    pub model: String,
    pub scheme: String,
    /// Residual blocks in the network (LM steps are blocks 2 … depth of each stage).
    pub num_blocks: usize,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    pub per_channel: bool,
    pub modified_equation: &'static str,
    pub resnet_equation: &'static str,
    pub dt: f64,
    pub steps: Vec<StepAnalysis>,
    pub summary: Summary,
}

pub const MODIFIED_EQUATION: &str = "(1 + k_n) u' + (1 - k_n) (dt/2) u'' = f(u)";
pub const RESNET_EQUATION: &str = "u' + (dt/2) u'' = f(u)";

/// Analyses the LM coefficients among `learned` (as returned by [`crate::Net::learned`]),
/// checking them against the layout of `config`.
pub fn analyse(config: &NetConfig, learned: &[Learned]) -> Result<Analysis> {
    let positions = lm_steps(config);
    let k_values: Vec<&Learned> = learned.iter().filter(|l| l.coefficient == Coefficient::LmK).collect();
    if positions.len() != k_values.len() {
        bail!("{} has {} LM steps but {} k values were given", config.name, positions.len(), k_values.len());
    }
    let mut steps = Vec::with_capacity(positions.len());
    for (pos, k) in positions.into_iter().zip(k_values) {
        if (pos.stage, pos.step) != (k.stage, k.step) {
            bail!(
                "k values out of order: expected stage {} step {}, found stage {} step {}",
                pos.stage,
                pos.step,
                k.stage,
                k.step
            );
        }
        steps.push(analyse_step(pos, &k.values)?);
    }
    let n = steps.len().max(1) as f64;
    let summary = Summary {
        steps: steps.len(),
        k_min: steps.iter().map(|s| s.k_min).fold(f64::INFINITY, f64::min),
        k_max: steps.iter().map(|s| s.k_max).fold(f64::NEG_INFINITY, f64::max),
        k_mean: steps.iter().map(|s| s.k_mean).sum::<f64>() / n,
        all_zero_stable: steps.iter().all(|s| s.zero_stable),
        unstable_blocks: steps.iter().filter(|s| !s.zero_stable).map(|s| s.position.block).collect(),
    };
    let per_channel = matches!(config.scheme, SchemeConfig::LinearTwoStep(LinearTwoStepConfig { per_channel: true, .. }));
    Ok(Analysis {
        model: config.name.clone(),
        scheme: config.scheme.describe().to_string(),
        num_blocks: config.num_blocks(),
        depths: config.depths.clone(),
        per_channel,
        modified_equation: MODIFIED_EQUATION,
        resnet_equation: RESNET_EQUATION,
        dt: 1.0,
        steps,
        summary,
    })
}

/// The analysis as an aligned text table (what `odenet analyze` prints).
pub fn render_table(a: &Analysis) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{}: {} LM steps in {} blocks ({}{})\n",
        a.model,
        a.steps.len(),
        a.num_blocks,
        a.scheme,
        if a.per_channel { ", one k per channel" } else { "" }
    ));
    out.push_str(&format!(
        "modified equation (dt = 1): {}   [ResNet: {}]\n",
        a.modified_equation, a.resnet_equation
    ));
    out.push_str("ratio = (u'' coef / u' coef) / (1/2) = (1 - k)/(1 + k); zero-stable iff -1 < k <= 1\n\n");
    let k_head = if a.per_channel {
        format!("{:>9} {:>9} {:>9}", "k mean", "k min", "k max")
    } else {
        format!("{:>9}", "k")
    };
    out.push_str(&format!(
        "{:>5} {:>5} {:>4} {k_head} {:>9} {:>9} {:>9} {:>11}\n",
        "block", "stage", "step", "coef u'", "coef u''", "ratio", "zero-stable"
    ));
    for s in &a.steps {
        let k = if a.per_channel {
            format!("{:>9.4} {:>9.4} {:>9.4}", s.k_mean, s.k_min, s.k_max)
        } else {
            format!("{:>9.4}", s.k_mean)
        };
        let stable = match (s.zero_stable, s.channels) {
            (true, _) => "yes".to_string(),
            (false, 1) => "no".to_string(),
            (false, c) => format!("no ({}/{c})", s.unstable_channels),
        };
        out.push_str(&format!(
            "{:>5} {:>5} {:>4} {k} {:>9.4} {:>9.4} {:>9} {:>11}\n",
            s.position.block,
            s.position.stage,
            s.position.step,
            s.at_mean.udot,
            s.at_mean.uddot,
            format_ratio(s.at_mean.momentum_ratio),
            stable
        ));
    }
    let sm = &a.summary;
    out.push_str(&format!(
        "\nk in [{:.4}, {:.4}], mean {:.4}; {}\n",
        sm.k_min,
        sm.k_max,
        sm.k_mean,
        if sm.all_zero_stable {
            "every step is zero-stable".to_string()
        } else {
            format!("not zero-stable at block(s) {:?}", sm.unstable_blocks)
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficients_of_known_k() {
        let c = coefficients(-0.5);
        assert_eq!((c.udot, c.uddot, c.momentum_ratio, c.zero_stable), (0.5, 0.75, 3.0, true));
        let c = coefficients(0.0);
        assert_eq!((c.udot, c.uddot, c.momentum_ratio, c.zero_stable), (1.0, 0.5, 1.0, true));
        assert!(!coefficients(1.2).zero_stable);
        assert!(coefficients(1.0).zero_stable);
        let c = coefficients(-1.0);
        assert!(!c.zero_stable && c.momentum_ratio == f64::INFINITY);
        assert_eq!(format_ratio(c.momentum_ratio), "inf");
    }

    #[test]
    fn roots_solve_the_characteristic_polynomial() {
        for k in [-2.0, -0.5, 0.0, 0.3, 1.0] {
            for z in characteristic_roots(k) {
                assert!((z * z - (1.0 - k) * z - k).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn infinite_ratio_serialises_as_string() {
        let json = serde_json::to_value(coefficients(-1.0)).unwrap();
        assert_eq!(json["momentum_ratio"], "inf");
        let json = serde_json::to_value(coefficients(-0.5)).unwrap();
        assert_eq!(json["momentum_ratio"], 3.0);
    }
}
