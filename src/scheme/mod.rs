//! Stepping rules: how a residual network combines its states u_n, u_{n-1}, … with the branch
//! output f_n(u_n). This is the only place where a skip connection is added.
//!
//! Lu, Zhong, Li, Dong (ICML 2018), §2: ResNet is forward Euler, `u_{n+1} = u_n + f_n(u_n)`;
//! the LM-architecture is the linear two-step method
//! `u_{n+1} = (1 − k_n) u_n + k_n u_{n−1} + f_n(u_n)` with a trainable k_n per block.
//! Beyond the paper's two rules a scheme is data: any explicit linear multistep rule given by its
//! coefficients ([`Multistep`]) and any explicit Runge–Kutta rule given by its Butcher tableau
//! ([`Tableau`]), both validated when built and analysed by [`stability`] (Dahlquist's theory).
//!
//! A stage of blocks is one integration interval. Its first step is always forward Euler (it may
//! change width and resolution through a projection, see [`crate::stage`]), exactly as a
//! multistep solver starts with a one-step method (diffrax `LeapfrogMidpoint.init`). Steps
//! n ≥ 1 of the stage are taken by [`Scheme::step`] on a [`History`] owned by the stage loop.

pub mod coupled;
pub mod fractal;
mod history;
pub mod implicit;
mod multistep;
pub mod stability;
mod tableau;

pub use history::History;
pub use multistep::{MAX_STEPS, Multistep, MultistepSpec};
pub use stability::{Complex, SchemeReport};
pub use tableau::{Tableau, TableauSpec};

pub mod noise;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

/// An invalid coefficient list or tableau (from code or from a JSON configuration).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SchemeError {
    #[error("invalid multistep rule: {0}")]
    Multistep(String),
    #[error("invalid Butcher tableau: {0}")]
    Tableau(String),
}

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
            Self::LinearTwoStep { k_init: [lo, hi], .. } => lm_report(0.5 * (lo + hi)),
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
            Self::LinearTwoStep { k_init: [lo, hi], .. } => vec![lm_report(*lo), lm_report(*hi)],
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

    /// Builds the rule for a stage of `blocks` blocks of `channels` output channels.
    pub fn init(&self, blocks: usize, channels: usize, device: &Device) -> Scheme {
        // Step 0 of a stage is Euler, so only blocks − 1 steps carry a k.
        let steps = blocks.saturating_sub(1);
        let mut scheme = Scheme::euler();
        match self {
            Self::ForwardEuler => {}
            Self::LinearTwoStep { .. } if steps == 0 => {}
            Self::LinearTwoStep { k_init: [lo, hi], per_channel } => {
                let width = if *per_channel { channels } else { 1 };
                let k = Tensor::random([steps, width], Distribution::Uniform(*lo, *hi), device);
                scheme = Scheme::from_lm_k(Param::from_tensor(k));
            }
            Self::Multistep(m) => {
                let rows = blocks.saturating_sub(first_full_step(m));
                if m.is_trainable() && rows > 0 {
                    let zeros = || Param::from_tensor(Tensor::zeros([rows, m.steps()], device));
                    (scheme.ms_a, scheme.ms_b) = (Some(zeros()), Some(zeros()));
                }
                scheme.rule = Rule::Multistep(m.clone());
            }
            Self::RungeKutta { tableau } => scheme.rule = Rule::RungeKutta(tableau.clone()),
            // At least one evaluation of F: order/iterations 0 would drop the branch entirely.
            Self::Poly { order } => scheme.rule = Rule::Poly((*order).max(1)),
            Self::BackwardEuler { iterations: m, relaxation: w } => {
                scheme.rule = Rule::FixedPoint((*m).max(1), *w)
            }
            Self::CoupledEuler => scheme.rule = Rule::Coupled,
            Self::FractalRk2 { k, trainable } => {
                if *trainable && steps > 0 {
                    let rows: Vec<f32> = (0..steps).flat_map(|_| k.map(|v| v as f32)).collect();
                    let t = Tensor::from_data(TensorData::new(rows, [steps, 3]), device);
                    scheme.fractal_k = Some(Param::from_tensor(t));
                }
                scheme.rule = Rule::Fractal(*k);
            }
        }
        scheme
    }
}

/// The LM rule with a fixed k as a 2-step rule (a = [1 − k, k], b = [1, 0]).
fn lm_report(k: f64) -> SchemeReport {
    stability::analyse(&[1.0 - k, k], &[1.0, 0.0])
}

/// The first step n of a stage that sees s past states (step 0 is the Euler projection step).
fn first_full_step(m: &Multistep) -> usize {
    m.steps().saturating_sub(1).max(1)
}

/// Which rule a [`Scheme`] applies (constant data, not parameters).
#[derive(Clone, Debug, Default)]
pub enum Rule {
    /// u + f, or the LM rule when `lm_k` is present.
    #[default]
    Euler,
    Multistep(Multistep),
    RungeKutta(Tableau),
    /// PolyNet's truncated Neumann series of this order.
    Poly(usize),
    /// Backward Euler by this many fixed-point iterations with this relaxation ω.
    FixedPoint(usize, f64),
    /// RevNet's coupled Euler step (taken by [`Scheme::step_coupled`]).
    Coupled,
    /// FractalNet's block with these fixed (k1, k2, k3) (taken by [`Scheme::step_fractal`]).
    Fractal([f64; 3]),
}

/// The trainable part of a stepping rule and the rule itself; parameter-free for fixed rules.
#[derive(Module, Debug)]
pub struct Scheme {
    /// `[steps, 1]` or `[steps, C]`: k_n for steps n = 1 … blocks − 1 of the stage.
    pub lm_k: Option<Param<Tensor<2>>>,
    /// Trainable multistep rules: `[full steps, s]` deviations δa_j, one row per step that sees
    /// all s past states (rows start at step max(s − 1, 1)).
    pub ms_a: Option<Param<Tensor<2>>>,
    /// As `ms_a`, for the b_j.
    pub ms_b: Option<Param<Tensor<2>>>,
    /// Learned FractalNet coefficients, `[steps, 3]` rows (k1, k2, k3) for steps 1 … blocks − 1.
    pub fractal_k: Option<Param<Tensor<2>>>,
    #[module(skip)]
    pub rule: Rule,
}

impl Scheme {
    /// Forward Euler, no parameters.
    pub fn euler() -> Self {
        Self { lm_k: None, ms_a: None, ms_b: None, fractal_k: None, rule: Rule::Euler }
    }

    /// The LM rule with the given k (`[steps, 1 or C]`, row n − 1 for step n).
    pub fn from_lm_k(k: Param<Tensor<2>>) -> Self {
        Self { lm_k: Some(k), ..Self::euler() }
    }

    /// How many past states (with their f) a step reads: the [`History`] capacity.
    pub fn history_len(&self) -> usize {
        match (&self.rule, &self.lm_k) {
            (Rule::Multistep(m), _) => m.steps(),
            (_, Some(_)) => 2,
            _ => 1,
        }
    }

    /// One step n ≥ 1 of a stage: evaluates the branch `f` (once, or once per Runge–Kutta stage),
    /// records f(u_n) and u_{n+1} in `history`.
    ///
    /// The LM combination `u + f + k·(u_{n−1} − u)` is one fused operation on the fast CPU
    /// kernels ([`crate::kernels::lm_step`]).
    ///
    /// # Shapes
    /// - states in `history` and `f`'s input/output: `[batch, C, H, W]`
    pub fn step(&self, n: usize, history: &mut History, f: impl Fn(Tensor<4>) -> Tensor<4>) {
        let evaluated = match &self.rule {
            Rule::RungeKutta(tableau) => Some(tableau.step(history.current(), &f)),
            Rule::Poly(order) => Some(implicit::poly_step(history.current(), *order, &f)),
            Rule::FixedPoint(m, w) => Some(implicit::damped_step(history.current(), *m, *w, &f)),
            _ => None,
        };
        if let Some((f_n, next)) = evaluated {
            history.push(f_n, next);
            return;
        }
        let u = history.current().clone();
        let fu = f(u.clone());
        history.record_f(fu.clone());
        let next = match (&self.rule, &self.lm_k, history.state(1)) {
            (Rule::Multistep(m), _, _) => self.multistep(m, n, history),
            (_, Some(k), Some(prev)) => {
                crate::kernels::lm_step(u, prev.clone(), fu, self.k_at(k, n))
            }
            _ => u + fu,
        };
        history.advance(next);
    }

    /// One RevNet step on the channel halves with the block's two fields F and G (see
    /// [`coupled`]); the F(y_n) evaluation is recorded as this step's f.
    pub fn step_coupled(
        &self,
        history: &mut History,
        f: impl Fn(Tensor<4>) -> Tensor<4>,
        g: impl Fn(Tensor<4>) -> Tensor<4>,
    ) {
        let next = coupled::coupled_step(history.current().clone(), f, g);
        history.advance(next);
    }

    /// One FractalNet step n ≥ 1 with the block's two branches (see [`fractal`]).
    pub fn step_fractal(
        &self,
        n: usize,
        history: &mut History,
        f1: impl Fn(Tensor<4>) -> Tensor<4>,
        f2: impl Fn(Tensor<4>) -> Tensor<4>,
    ) {
        let x = history.current().clone();
        let device = x.device();
        let k = match (&self.fractal_k, &self.rule) {
            (Some(k), _) => [0, 1, 2].map(|j| k.val().slice([n - 1..n, j..j + 1]).reshape([1, 1, 1, 1])),
            (None, Rule::Fractal(k)) => k.map(|v| Tensor::full([1, 1, 1, 1], v, &device)),
            (None, _) => [1.0, 0.0, 1.0].map(|v| Tensor::full([1, 1, 1, 1], v, &device)),
        };
        let (f_n, next) = fractal::fractal_step(&x, k, f1, f2);
        history.push(f_n, next);
    }

    /// Σ a_j u_{n−j} + Σ b_j f_{n−j}, with Adams–Bashforth start-up while the history is short
    /// and the learned deviations on full steps of a trainable rule.
    fn multistep(&self, m: &Multistep, n: usize, history: &History) -> Tensor<4> {
        let available = history.len_with_f();
        let (a, b) = m.coefficients_with(available);
        let states = (0..a.len()).filter_map(|j| history.state(j).cloned());
        let fs = (0..b.len()).filter_map(|j| history.f(j).cloned());
        let row = n.checked_sub(first_full_step(m));
        if let (Some(da), Some(db), Some(row), true) =
            (&self.ms_a, &self.ms_b, row, available >= m.steps())
            && row < da.dims()[0]
        {
            let coef = |d: &Param<Tensor<2>>, j: usize, base: f64| {
                d.val().slice([row..row + 1, j..j + 1]).reshape([1, 1, 1, 1]).add_scalar(base)
            };
            let terms = states
                .enumerate()
                .map(|(j, u)| u * coef(da, j, a[j]))
                .chain(fs.enumerate().map(|(j, f)| f * coef(db, j, b[j])));
            return terms
                .reduce(|acc, t| acc + t)
                .unwrap_or_else(|| history.current().zeros_like());
        }
        let mut terms = a.iter().copied().zip(states).chain(b.iter().copied().zip(fs));
        let Some((c, first)) = terms.find(|(c, _)| *c != 0.0) else {
            return history.current().zeros_like();
        };
        let first = if c == 1.0 { first } else { first.mul_scalar(c) };
        add_scaled(first, terms)
    }

    /// k_n as a broadcastable `[1, C or 1, 1, 1]` tensor.
    fn k_at(&self, k: &Param<Tensor<2>>, n: usize) -> Tensor<4> {
        let [_, width] = k.dims();
        k.val().slice([n - 1..n]).reshape([1, width, 1, 1])
    }

    /// The learned k_n of this stage, one row per step (empty for Euler).
    pub fn k_values(&self) -> Vec<Vec<f32>> {
        let Some(k) = &self.lm_k else { return Vec::new() };
        let [steps, width] = k.dims();
        let flat: Vec<f32> = k.val().into_data().try_into_vec_as::<f32>().unwrap_or_default();
        (0..steps).map(|s| flat[s * width..(s + 1) * width].to_vec()).collect()
    }
}

/// `acc + Σ c·x` over the terms with c ≠ 0 (c = 1 adds x unscaled).
fn add_scaled(acc: Tensor<4>, terms: impl IntoIterator<Item = (f64, Tensor<4>)>) -> Tensor<4> {
    terms
        .into_iter()
        .filter(|(c, _)| *c != 0.0)
        .fold(acc, |acc, (c, x)| if c == 1.0 { acc + x } else { acc + x.mul_scalar(c) })
}
