//! The configuration of a stage's stepping rule: [`SchemeConfig`], the JSON form written into
//! every run's `config.json`, with its Dahlquist report and the [`Scheme`] it builds.

use super::{
    Multistep, Scheme, SchemeReport, Tableau, coupled, fractal, implicit, multistep, runge_kutta,
    two_step,
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// A stepping rule, as data. Serialised into every run's `config.json`, tagged by `rule`:
/// `{"rule": "forward-euler"}`, `{"rule": "multistep", "a": [1, 0], "b": [1.5, -0.5]}`,
/// `{"rule": "runge-kutta",
///   "tableau": {"a": [[], [1]], "b": [0.5, 0.5], "c": [0, 1], "order": 2}}`.
/// Multistep coefficients and tableaux are validated while deserialising.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum SchemeConfig {
    /// ResNet: u_{n+1} = u_n + f_n(u_n).
    ForwardEuler,
    /// LM-ResNet: u_{n+1} = (1 − k_n) u_n + k_n u_{n−1} + f_n(u_n) (paper convention; the official
    /// code stores 1 − k). `k_init` is the U[lo, hi] range at initialisation (paper: [−0.1, 0]);
    /// `per_channel` learns one k per channel instead of one scalar per block (official MResNetC).
    LinearTwoStep { k_init: [f64; 2], per_channel: bool },
    /// u_{n+1} = Σ_j a_j u_{n−j} + Σ_j b_j f_{n−j}(u_{n−j}), see [`Multistep`].
    Multistep(Multistep),
    /// u_{n+1} = u_n + Σ_i b_i k_i, k_i = f_n(u_n + Σ_j a_ij k_j): block n evaluates its branch
    /// once per stage of the tableau (shared weights), see [`Tableau`].
    RungeKutta { tableau: Tableau },
    /// PolyNet: u_{n+1} = u_n + F(u_n) + F²(u_n) + … + F^order(u_n), a truncated Neumann series
    /// of the backward-Euler step (I − F)^{-1} u_n; order 2 is the paper's poly block.
    Poly { order: usize },
    /// Backward Euler u_{n+1} = u_n + F(u_{n+1}) by `iterations` fixed-point iterations from u_n,
    /// z_{j+1} = (1 − ω) z_j + ω (u_n + F(z_j)) with ω = `relaxation` (default 1: plain Picard;
    /// ω < 2/(1 + L) converges for stiff F with eigenvalues in [−L, 0], see [`implicit`]).
    BackwardEuler {
        iterations: usize,
        #[serde(default = "implicit::undamped")]
        relaxation: f64,
    },
    /// RevNet: forward Euler on the coupled system ẋ = F(y), ẏ = G(x) of the two channel halves,
    /// x_{n+1} = x_n + F(y_n), y_{n+1} = y_n + G(x_{n+1}); exactly invertible. Needs
    /// [`crate::nn::BranchKind::Coupled`] branches.
    CoupledEuler,
    /// FractalNet's RK2-like block x_{n+1} = k1·x + k2·(k3·x + f1(x)) + f2(k3·x + f1(x)) with two
    /// branches per block ([`crate::nn::BranchKind::Pair`]); `k` = (k1, k2, k3) at initialisation,
    /// one learned triple per step when `trainable`. (½, ½, 1) is Heun's method for f2 = ½ f1.
    FractalRk2 { k: [f64; 3], trainable: bool },
}

impl SchemeConfig {
    /// The paper's LM rule: scalar k_n ~ U[−0.1, 0].
    pub fn lm_paper() -> Self {
        Self::LinearTwoStep { k_init: [-0.1, 0.0], per_channel: false }
    }

    /// Adams–Bashforth 2, `u_{n+1} = u_n + 3/2 f_n − 1/2 f_{n−1}`.
    pub fn ab2() -> Self {
        Self::Multistep(Multistep::ab2())
    }

    /// Adams–Bashforth 3, `u_{n+1} = u_n + (23 f_n − 16 f_{n−1} + 5 f_{n−2}) / 12`.
    pub fn ab3() -> Self {
        Self::Multistep(Multistep::ab3())
    }

    /// Explicit BDF2, `u_{n+1} = 4/3 u_n − 1/3 u_{n−1} + 2/3 (2 f_n − f_{n−1})`.
    pub fn bdf2_explicit() -> Self {
        Self::Multistep(Multistep::bdf2_explicit())
    }

    /// Leapfrog / midpoint rule of Chang et al., `u_{n+1} = u_{n−1} + 2 f_n`.
    pub fn leapfrog() -> Self {
        Self::Multistep(Multistep::leapfrog())
    }

    /// Heun's method (explicit trapezoid), one shared branch evaluated twice per block.
    pub fn heun2() -> Self {
        Self::RungeKutta { tableau: Tableau::heun2() }
    }

    /// Classical RK4, one shared branch evaluated four times per block.
    pub fn rk4() -> Self {
        Self::RungeKutta { tableau: Tableau::rk4() }
    }

    /// Short human name of the numerical scheme.
    pub fn describe(&self) -> String {
        match self {
            Self::ForwardEuler => "forward Euler".into(),
            Self::LinearTwoStep { .. } => "linear two-step (LM, trainable k_n)".into(),
            Self::Multistep(m) => m.describe(),
            Self::RungeKutta { tableau } => tableau.describe(),
            Self::Poly { order } => format!("PolyNet, order-{order} truncated backward Euler"),
            Self::BackwardEuler { iterations, relaxation: w } => {
                let damped = if *w == 1.0 { String::new() } else { format!(" damped by {w}") };
                format!("backward Euler, {iterations} fixed-point iterations{damped}")
            }
            Self::CoupledEuler => "coupled forward Euler (RevNet, reversible)".into(),
            Self::FractalRk2 { trainable, .. } => {
                let k = if *trainable { "learned" } else { "fixed" };
                format!("FractalNet two-stage RK2 ({k} k1, k2, k3)")
            }
        }
    }

    /// Dahlquist's verdict on the rule as initialised: for LM at the mid-point of `k_init`, for
    /// a trainable multistep rule at its configured coefficients.
    pub fn report(&self) -> SchemeReport {
        match self {
            Self::ForwardEuler => SchemeReport::one_step(1),
            Self::LinearTwoStep { k_init: [lo, hi], .. } => two_step::lm_report(0.5 * (lo + hi)),
            Self::Multistep(m) => m.report(),
            Self::RungeKutta { tableau } => tableau.report(),
            Self::Poly { .. } | Self::BackwardEuler { .. } | Self::CoupledEuler => {
                SchemeReport::one_step(1)
            }
            Self::FractalRk2 { .. } => SchemeReport::one_step(2),
        }
    }

    /// Logs a `tracing` warning when the rule (for LM: either end of `k_init`) is not
    /// convergent, not even for a rescaled time (`r·u̇ = f`, r > 0). Returns whether it warned.
    pub fn warn_if_not_convergent(&self) -> bool {
        let reports = match self {
            Self::LinearTwoStep { k_init: [lo, hi], .. } => vec![two_step::lm_report(*lo), two_step::lm_report(*hi)],
            _ => vec![self.report()],
        };
        let bad = reports.iter().find(|r| !r.convergent_up_to_rescaling());
        if let Some(r) = bad {
            tracing::warn!(
                scheme = %self.describe(),
                consistent = r.consistent,
                zero_stable = r.zero_stable,
                roots = ?r.roots,
                "the configured stepping rule is not a convergent discretisation of u' = f(u)"
            );
        }
        bad.is_some()
    }

    /// Builds the rule for a stage of `blocks` blocks of `channels` output channels. Step 0 of
    /// a stage is the Euler start, so a learned coefficient exists for steps 1 … blocks − 1.
    pub fn init(&self, blocks: usize, channels: usize, device: &Device) -> Scheme {
        match self {
            Self::ForwardEuler => Scheme::euler(),
            Self::LinearTwoStep { k_init, per_channel } => {
                two_step::LinearTwoStep::init(*k_init, *per_channel, blocks, channels, device)
                    .map_or_else(Scheme::euler, Scheme::LinearTwoStep)
            }
            Self::Multistep(m) => Scheme::Multistep(multistep::MultistepRule::init(m, blocks, device)),
            Self::RungeKutta { tableau } => Scheme::RungeKutta(runge_kutta::RungeKutta::new(tableau)),
            Self::Poly { order } => Scheme::Implicit(implicit::Implicit::poly(*order)),
            Self::BackwardEuler { iterations, relaxation } => {
                Scheme::Implicit(implicit::Implicit::fixed_point(*iterations, *relaxation))
            }
            Self::CoupledEuler => Scheme::Coupled(coupled::CoupledEuler),
            Self::FractalRk2 { k, trainable } => {
                Scheme::Fractal(fractal::Fractal::init(*k, *trainable, blocks, device))
            }
        }
    }
}
