//! Explicit linear multistep rules given as coefficient lists.
//!
//! `u_{n+1} = Σ_{j=0}^{s−1} a_j u_{n−j} + Σ_{j=0}^{s−1} b_j f_{n−j}(u_{n−j})`
//!
//! **Δt convention.** As everywhere in the crate the step size is absorbed into the branch: a
//! block's output is f_n(u) = Δt·F(u, t_n), so the b_j are the textbook coefficients *without*
//! Δt (Hairer, Nørsett, Wanner, *Solving ODEs I*, §III.1). Forward Euler is `a = [1]`, `b = [1]`;
//! the midpoint (leapfrog) rule of Chang et al. (ICLR 2018), u_{n+1} = u_{n−1} + 2Δt F(u_n), is
//! a = [0, 1], b = [2, 0]. The LM rule of Lu et al. (ICML 2018, §2) with k = 1,
//! u_{n+1} = u_{n−1} + f(u_n), is the same rule with the factor 2 absorbed into the branch — or,
//! read with the crate's convention, a consistent rule for the rescaled ODE 2u̇ = F.
//!
//! **Start-up.** A stage's first step is forward Euler (through the projection, see
//! [`crate::stage`]). While only m < s past states exist, the step uses the Adams–Bashforth rule
//! of order m (AB1 = Euler), the explicit rule of highest order on m points (local error
//! O(Δt^{m+1})). diffrax `LeapfrogMidpoint.init` starts with Euler in the same way. Starting values
//! of a p-th order rule need error O(Δt^p), so behind the Euler first step a rule of order p ≥ 3
//! is globally of order 2 (measured in `tests/scheme_order.rs`).

use super::stability::{self, SchemeReport};
use super::{Coefficient, Coefficients, Field, History, RuleConfig, Scheme, SchemeConfig, SchemeError, Step};
use burn::module::Param;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Largest number of steps s accepted from a configuration.
pub const MAX_STEPS: usize = 16;

/// A validated explicit s-step rule; build it with [`Multistep::new`] or a named constructor.
///
/// With `trainable`, every full step n of a stage learns its own coefficients, stored as
/// deviations from the configured ones (a = a⁰ + δa, b = b⁰ + δb, δ initialised to 0), so weight
/// decay pulls towards the configured rule rather than towards zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MultistepSpec", into = "MultistepSpec")]
pub struct Multistep {
    a: Vec<f64>,
    b: Vec<f64>,
    trainable: bool,
    /// Start-up rules: `start[m − 1]` = Adams–Bashforth of order m (m = 1 … s − 1).
    start: Vec<(Vec<f64>, Vec<f64>)>,
}

/// The JSON form of [`Multistep`]: `{"a": [...], "b": [...], "trainable": false}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MultistepSpec {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    #[serde(default)]
    pub trainable: bool,
}

impl TryFrom<MultistepSpec> for Multistep {
    type Error = SchemeError;

    fn try_from(spec: MultistepSpec) -> Result<Self, SchemeError> {
        Self::new(spec.a, spec.b, spec.trainable)
    }
}

impl From<Multistep> for MultistepSpec {
    fn from(m: Multistep) -> Self {
        Self { a: m.a, b: m.b, trainable: m.trainable }
    }
}

impl Multistep {
    /// `u_{n+1} = Σ a_j u_{n−j} + Σ b_j f_{n−j}`; `a` and `b` must have the same length
    /// 1 ≤ s ≤ [`MAX_STEPS`] and finite entries. The rule need not be convergent (that is
    /// reported by [`Multistep::report`], not refused).
    pub fn new(a: Vec<f64>, b: Vec<f64>, trainable: bool) -> Result<Self, SchemeError> {
        let s = a.len();
        if s == 0 {
            return Err(SchemeError::Multistep(
                "a and b are empty; a rule needs s ≥ 1 steps".into(),
            ));
        }
        if b.len() != s {
            return Err(SchemeError::Multistep(format!(
                "a has {s} coefficients but b has {}; give both for j = 0 … s − 1 (pad with 0)",
                b.len()
            )));
        }
        if s > MAX_STEPS {
            return Err(SchemeError::Multistep(format!("{s} steps; at most {MAX_STEPS}")));
        }
        if let Some(x) = a.iter().chain(&b).find(|x| !x.is_finite()) {
            return Err(SchemeError::Multistep(format!("coefficient {x} is not finite")));
        }
        let start = (1..s).map(adams_bashforth_coefficients).collect();
        Ok(Self { a, b, trainable, start })
    }

    /// Valid by construction (fixed, finite, 1 ≤ s ≤ 3).
    fn known(a: Vec<f64>, b: Vec<f64>) -> Self {
        let start = (1..a.len()).map(adams_bashforth_coefficients).collect();
        Self { a, b, trainable: false, start }
    }

    /// Forward Euler as a one-step rule: `a = [1]`, `b = [1]`. Order 1.
    pub fn euler() -> Self {
        Self::known(vec![1.0], vec![1.0])
    }

    /// Adams–Bashforth 2: `u_{n+1} = u_n + 3/2 f_n − 1/2 f_{n−1}`. Order 2.
    pub fn ab2() -> Self {
        Self::known(vec![1.0, 0.0], vec![1.5, -0.5])
    }

    /// Adams–Bashforth 3: `u_{n+1} = u_n + (23 f_n − 16 f_{n−1} + 5 f_{n−2}) / 12`. Order 3.
    pub fn ab3() -> Self {
        Self::known(vec![1.0, 0.0, 0.0], vec![23.0 / 12.0, -16.0 / 12.0, 5.0 / 12.0])
    }

    /// Adams–Bashforth of order m (1 ≤ m ≤ [`MAX_STEPS`]), from the closed formula
    /// `b_j = (−1)^j / (j! (m−1−j)!) ∫_0^1 Π_{i≠j} (τ + i) dτ`.
    pub fn adams_bashforth(m: usize) -> Result<Self, SchemeError> {
        if m == 0 || m > MAX_STEPS {
            return Err(SchemeError::Multistep(format!(
                "Adams–Bashforth order {m}; 1 … {MAX_STEPS}"
            )));
        }
        let (a, b) = adams_bashforth_coefficients(m);
        Self::new(a, b, false)
    }

    /// Explicit BDF2 (the explicit half of the IMEX "SBDF2" scheme): BDF2's state weights with
    /// f extrapolated, `u_{n+1} = 4/3 u_n − 1/3 u_{n−1} + 2/3 (2 f_n − f_{n−1})`. Order 2, roots
    /// 1 and 1/3.
    pub fn bdf2_explicit() -> Self {
        Self::known(vec![4.0 / 3.0, -1.0 / 3.0], vec![4.0 / 3.0, -2.0 / 3.0])
    }

    /// Midpoint / leapfrog rule of Chang et al. (2018): `u_{n+1} = u_{n−1} + 2 f_n`
    /// (a = [0, 1], b = [2, 0]; f = Δt·F, see the module doc). Order 2, roots ±1.
    pub fn leapfrog() -> Self {
        Self::known(vec![0.0, 1.0], vec![2.0, 0.0])
    }

    /// Explicit Nyström of order 3 (Hairer, Nørsett, Wanner, *Solving ODEs I*, §III.1):
    /// `u_{n+1} = u_{n−1} + (7 f_n − 2 f_{n−1} + f_{n−2}) / 3`. Roots of ρ: 0 and ±1 (zero-stable,
    /// weakly: like leapfrog, the Nyström rule of order 2).
    pub fn nystrom3() -> Self {
        Self::known(vec![0.0, 1.0, 0.0], vec![7.0 / 3.0, -2.0 / 3.0, 1.0 / 3.0])
    }

    /// The LM rule of Lu et al. with a fixed k: `u_{n+1} = (1 − k) u_n + k u_{n−1} + f_n`
    /// (a = [1 − k, k], b = [1, 0]). Zero-stable iff −1 < k ≤ 1; consistent with (1 + k)u̇ = f.
    /// The trainable, per-block k of the paper is [`super::two_step`].
    pub fn lm(k: f64) -> Result<Self, SchemeError> {
        Self::new(vec![1.0 - k, k], vec![1.0, 0.0], false)
    }

    /// The same rule with trainable coefficients (one set per step, see the type doc).
    pub fn trainable(self) -> Self {
        Self { trainable: true, ..self }
    }

    /// a_0 … a_{s−1}.
    pub fn a(&self) -> &[f64] {
        &self.a
    }

    /// b_0 … b_{s−1}.
    pub fn b(&self) -> &[f64] {
        &self.b
    }

    /// Whether each step learns its coefficients.
    pub fn is_trainable(&self) -> bool {
        self.trainable
    }

    /// Number of steps s.
    pub fn steps(&self) -> usize {
        self.a.len()
    }

    /// The coefficients used when only `m` past states are available: the rule itself when
    /// m ≥ s, else Adams–Bashforth of order m.
    pub fn coefficients_with(&self, m: usize) -> (&[f64], &[f64]) {
        match self.start.get(m.wrapping_sub(1)) {
            Some((a, b)) if m < self.steps() => (a, b),
            _ => (&self.a, &self.b),
        }
    }

    /// The first step n of a stage that sees all s past states (step 0 is the Euler start).
    pub fn first_full_step(&self) -> usize {
        self.steps().saturating_sub(1).max(1)
    }

    /// Consistency, zero-stability, order and the roots of ρ (of the configured coefficients).
    pub fn report(&self) -> SchemeReport {
        stability::analyse(&self.a, &self.b)
    }

    /// A short name: the named rule it equals, else its coefficients.
    pub fn describe(&self) -> String {
        let close = |x: &[f64], y: &[f64]| {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| (x - y).abs() < 1e-12)
        };
        let named = [
            (Self::euler(), "forward Euler (1-step)"),
            (Self::ab2(), "Adams–Bashforth 2"),
            (Self::ab3(), "Adams–Bashforth 3"),
            (Self::leapfrog(), "leapfrog / midpoint (Chang et al.)"),
            (Self::nystrom3(), "Nyström 3"),
        ];
        let name = named
            .iter()
            .find(|(m, _)| close(&m.a, &self.a) && close(&m.b, &self.b))
            .map(|(_, n)| n.to_string())
            .unwrap_or_else(|| {
                format!("{}-step, a = {:?}, b = {:?}", self.steps(), self.a, self.b)
            });
        if self.trainable { format!("{name}, trainable coefficients") } else { name }
    }
}

/// A stage's multistep rule; with a trainable rule, the learned deviations.
#[derive(Module, Debug)]
pub struct MultistepRule {
    /// `[full steps, s]` deviations δa_j, one row per step that sees all s past states (rows
    /// start at step max(s − 1, 1)); `None` for a fixed rule (or a stage too short to learn).
    pub ms_a: Option<Param<Tensor<2>>>,
    /// As `ms_a`, for the b_j.
    pub ms_b: Option<Param<Tensor<2>>>,
    #[module(skip)]
    pub rule: Multistep,
}

impl MultistepRule {
    /// The rule for a stage of `blocks` blocks, δ = 0 when trainable.
    pub fn init(rule: &Multistep, blocks: usize, device: &Device) -> Self {
        let rows = blocks.saturating_sub(rule.first_full_step());
        let zeros = || Param::from_tensor(Tensor::zeros([rows, rule.steps()], device));
        let learn = rule.is_trainable() && rows > 0;
        Self {
            ms_a: learn.then(zeros),
            ms_b: learn.then(zeros),
            rule: rule.clone(),
        }
    }

    /// Σ a_j u_{n−j} + Σ b_j f_{n−j}, with Adams–Bashforth start-up while the history is short
    /// and the learned deviations on full steps of a trainable rule.
    fn combine(&self, n: usize, history: &History) -> Tensor<4> {
        let m = &self.rule;
        let available = history.len_with_f();
        let (a, b) = m.coefficients_with(available);
        let states = (0..a.len()).filter_map(|j| history.state(j).cloned());
        let fs = (0..b.len()).filter_map(|j| history.f(j).cloned());
        let row = n.checked_sub(m.first_full_step());
        if let (Some(da), Some(db), Some(row), true) =
            (&self.ms_a, &self.ms_b, row, available >= m.steps())
            && row < da.dims()[0]
        {
            let coef = |d: &Param<Tensor<2>>, j: usize, base: f64| {
                d.val().slice([row..row + 1, j..j + 1]).reshape([1, 1, 1, 1]).add_scalar(base)
            };
            let terms = states
                .enumerate()
                .map(|(j, u)| {
                    let c = crate::precision::like(coef(da, j, a[j]), &u);
                    u * c
                })
                .chain(fs.enumerate().map(|(j, f)| {
                    let c = crate::precision::like(coef(db, j, b[j]), &f);
                    f * c
                }));
            return terms
                .reduce(|acc, t| acc + t)
                .unwrap_or_else(|| history.current().zeros_like());
        }
        let mut terms = a.iter().copied().zip(states).chain(b.iter().copied().zip(fs));
        let Some((c, first)) = terms.find(|(c, _)| *c != 0.0) else {
            return history.current().zeros_like();
        };
        let first = if c == 1.0 { first } else { first.mul_scalar(c) };
        super::add_scaled(first, terms)
    }
}

impl Step for MultistepRule {
    fn history_len(&self) -> usize {
        self.rule.steps()
    }

    fn step<F: Field>(&self, n: usize, history: &mut History, f: &F) {
        let fu = f.eval(history.current().clone());
        history.record_f(fu);
        let next = self.combine(n, history);
        history.advance(next);
    }

    fn coefficients(&self) -> Vec<Coefficients<'_>> {
        let first_step = self.rule.first_full_step();
        [(Coefficient::MultistepA, &self.ms_a), (Coefficient::MultistepB, &self.ms_b)]
            .into_iter()
            .filter_map(|(coefficient, p)| p.as_ref().map(|param| Coefficients { coefficient, param, first_step }))
            .collect()
    }
}

/// Adams–Bashforth of order m: a = [1, 0, …], b_j = (−1)^j / (j!(m−1−j)!) ∫_0^1 Π_{i≠j}(τ+i) dτ.
fn adams_bashforth_coefficients(m: usize) -> (Vec<f64>, Vec<f64>) {
    let factorial = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
    let b = (0..m)
        .map(|j| {
            // Π_{i≠j} (τ + i), coefficients in ascending powers of τ.
            let poly = (0..m).filter(|&i| i != j).fold(vec![1.0], |p, i| {
                let mut q = vec![0.0; p.len() + 1];
                for (k, c) in p.iter().enumerate() {
                    q[k] += c * i as f64;
                    q[k + 1] += c;
                }
                q
            });
            let integral: f64 = poly.iter().enumerate().map(|(k, c)| c / (k + 1) as f64).sum();
            let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
            sign * integral / (factorial(j) * factorial(m - 1 - j))
        })
        .collect();
    let mut a = vec![0.0; m];
    a[0] = 1.0;
    (a, b)
}

/// `{"rule": "multistep", "a": […], "b": […], "trainable": bool}`: the rule is its own
/// configuration, validated while deserialising.
impl RuleConfig for Multistep {
    fn describe(&self) -> String {
        Multistep::describe(self)
    }

    /// At the configured coefficients (a trainable rule: its starting point).
    fn report(&self) -> SchemeReport {
        Multistep::report(self)
    }

    fn init(&self, blocks: usize, _channels: usize, device: &Device) -> Scheme {
        Scheme::Multistep(MultistepRule::init(self, blocks, device))
    }
}

impl SchemeConfig {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adams_bashforth_formula_matches_the_tables() {
        let close = |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(x, y)| (x - y).abs() < 1e-14);
        assert!(close(&adams_bashforth_coefficients(1).1, &[1.0]));
        assert!(close(&adams_bashforth_coefficients(2).1, Multistep::ab2().b()));
        assert!(close(&adams_bashforth_coefficients(3).1, Multistep::ab3().b()));
        let ab4 = [55.0 / 24.0, -59.0 / 24.0, 37.0 / 24.0, -9.0 / 24.0];
        assert!(close(&adams_bashforth_coefficients(4).1, &ab4));
    }

    #[test]
    fn start_up_uses_lower_order_adams_bashforth() {
        let ab3 = Multistep::ab3();
        assert_eq!(ab3.coefficients_with(1), (&[1.0][..], &[1.0][..]));
        assert_eq!(ab3.coefficients_with(2).1, &[1.5, -0.5]);
        assert_eq!(ab3.coefficients_with(3).1, ab3.b());
        assert_eq!(ab3.coefficients_with(7).1, ab3.b());
    }
}
