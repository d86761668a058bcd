//! Explicit Runge–Kutta rules given as a Butcher tableau.
//!
//! `k_i = f(u_n + Σ_{j<i} a_ij k_j)`, `u_{n+1} = u_n + Σ_i b_i k_i`, with c_i = Σ_j a_ij
//! (Butcher 1963; Hairer, Nørsett, Wanner, *Solving ODEs I*, §II.1). As in the rest of the crate
//! Δt is absorbed into the branch f = Δt·F. One block evaluates its own branch at every stage of
//! the tableau (weights shared within the block); the paper (Lu et al. 2018, Table 1) reads
//! FractalNet's order-2 block as such a 2-stage rule.
//!
//! The tableau is data, validated when it is built (torchdiffeq `_ButcherTableau`, diffrax
//! `ButcherTableau.__post_init__`): strictly lower triangular a, Σ b = 1, row sums of a = c, and
//! the order conditions of the declared order (checked up to order 4).

use super::stability::SchemeReport;
use super::{Field, History, RuleConfig, Scheme, SchemeConfig, SchemeError, Step};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Tolerance on the tableau identities.
const TOL: f64 = 1e-10;

/// A validated explicit Butcher tableau; build it with [`Tableau::new`] or a named constructor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TableauSpec", into = "TableauSpec")]
pub struct Tableau {
    /// Row i holds a_i0 … a_i(i−1) (the strictly lower part).
    a: Vec<Vec<f64>>,
    b: Vec<f64>,
    c: Vec<f64>,
    order: usize,
}

/// The JSON form of [`Tableau`]. Row i of `a` may list the i entries left of the diagonal, or
/// all s entries with zeros on and above the diagonal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableauSpec {
    pub a: Vec<Vec<f64>>,
    pub b: Vec<f64>,
    pub c: Vec<f64>,
    pub order: usize,
}

impl TryFrom<TableauSpec> for Tableau {
    type Error = SchemeError;

    fn try_from(t: TableauSpec) -> Result<Self, SchemeError> {
        Self::new(t.a, t.b, t.c, t.order)
    }
}

impl From<Tableau> for TableauSpec {
    fn from(t: Tableau) -> Self {
        Self { a: t.a, b: t.b, c: t.c, order: t.order }
    }
}

fn err(msg: String) -> SchemeError {
    SchemeError::Tableau(msg)
}

impl Tableau {
    /// Checks shape, explicitness, Σ b = 1, Σ_j a_ij = c_i and the order conditions of `order`.
    pub fn new(
        a: Vec<Vec<f64>>,
        b: Vec<f64>,
        c: Vec<f64>,
        order: usize,
    ) -> Result<Self, SchemeError> {
        let s = b.len();
        if s == 0 {
            return Err(err("b is empty; a tableau needs at least one stage".into()));
        }
        if a.len() != s || c.len() != s {
            return Err(err(format!(
                "{s} weights b but {} rows of a and {} nodes c",
                a.len(),
                c.len()
            )));
        }
        let mut lower = Vec::with_capacity(s);
        for (i, row) in a.into_iter().enumerate() {
            if row.len() != i && row.len() != s {
                return Err(err(format!(
                    "row {i} of a has {} entries; give {i} or {s}",
                    row.len()
                )));
            }
            if row[i.min(row.len())..].iter().any(|&x| x != 0.0) {
                return Err(err(format!(
                    "row {i} of a is not strictly lower triangular (implicit)"
                )));
            }
            lower.push(row[..i].to_vec());
        }
        let all = lower.iter().flatten().chain(&b).chain(&c);
        if let Some(x) = all.clone().find(|x| !x.is_finite()) {
            return Err(err(format!("entry {x} is not finite")));
        }
        let sum_b: f64 = b.iter().sum();
        if (sum_b - 1.0).abs() > TOL {
            return Err(err(format!("Σ b = {sum_b}, must be 1 (consistency)")));
        }
        for (i, (row, ci)) in lower.iter().zip(&c).enumerate() {
            let sum: f64 = row.iter().sum();
            if (sum - ci).abs() > TOL {
                return Err(err(format!("row {i} of a sums to {sum} but c_{i} = {ci}")));
            }
        }
        if order == 0 {
            return Err(err("order must be ≥ 1".into()));
        }
        let tableau = Self { a: lower, b, c, order };
        let achieved = tableau.conditions_met();
        if achieved < order.min(4) {
            return Err(err(format!(
                "declared order {order}, but the order conditions hold only up to order {achieved}"
            )));
        }
        Ok(tableau)
    }

    /// Valid by construction (the classical tableaux below).
    fn known(a: Vec<Vec<f64>>, b: Vec<f64>, c: Vec<f64>, order: usize) -> Self {
        Self { a, b, c, order }
    }

    /// Forward Euler: one stage, `b = [1]`. Order 1.
    pub fn euler() -> Self {
        Self::known(vec![vec![]], vec![1.0], vec![0.0], 1)
    }

    /// Explicit midpoint: `u_{n+1} = u_n + f(u_n + f(u_n)/2)`. Order 2.
    pub fn midpoint() -> Self {
        Self::known(vec![vec![], vec![0.5]], vec![0.0, 1.0], vec![0.0, 0.5], 2)
    }

    /// Heun (explicit trapezoid): `u_{n+1} = u_n + (k_1 + f(u_n + k_1)) / 2`. Order 2.
    pub fn heun2() -> Self {
        Self::known(vec![vec![], vec![1.0]], vec![0.5, 0.5], vec![0.0, 1.0], 2)
    }

    /// The classical Runge–Kutta method (Kutta 1901). Order 4.
    pub fn rk4() -> Self {
        let a = vec![vec![], vec![0.5], vec![0.0, 0.5], vec![0.0, 0.0, 1.0]];
        Self::known(
            a,
            vec![1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
            vec![0.0, 0.5, 0.5, 1.0],
            4,
        )
    }

    /// Number of stages s (branch evaluations per step).
    pub fn stages(&self) -> usize {
        self.b.len()
    }

    /// Declared (and, up to 4, verified) order.
    pub fn order(&self) -> usize {
        self.order
    }

    /// Rows of the strictly lower part of a.
    pub fn a(&self) -> &[Vec<f64>] {
        &self.a
    }

    pub fn b(&self) -> &[f64] {
        &self.b
    }

    pub fn c(&self) -> &[f64] {
        &self.c
    }

    /// A one-step rule: root ζ = 1 only, so always zero-stable; consistent since Σ b = 1.
    pub fn report(&self) -> SchemeReport {
        SchemeReport::one_step(self.order)
    }

    /// A short name: the named tableau it equals, else its size and order.
    pub fn describe(&self) -> String {
        let named = [
            (Self::euler(), "Euler RK1"),
            (Self::midpoint(), "midpoint RK2"),
            (Self::heun2(), "Heun RK2"),
            (Self::rk4(), "classical RK4"),
        ];
        let name = named.iter().find(|(t, _)| t == self).map_or("explicit RK", |(_, n)| n);
        format!("{name} ({} stages, order {})", self.stages(), self.order)
    }

    /// The highest order p ≤ 4 whose Butcher order conditions hold (rooted trees up to 4 nodes).
    fn conditions_met(&self) -> usize {
        let s = self.stages();
        let (a, b, c) = (&self.a, &self.b, &self.c);
        let aij = |i: usize, j: usize| a[i].get(j).copied().unwrap_or(0.0);
        // (A v)_i = Σ_j a_ij v_j.
        let apply = |v: &[f64]| -> Vec<f64> {
            (0..s).map(|i| (0..s).map(|j| aij(i, j) * v[j]).sum()).collect()
        };
        let dot = |v: &[f64]| -> f64 { b.iter().zip(v).map(|(b, v)| b * v).sum() };
        let pow = |k: i32| -> Vec<f64> { c.iter().map(|c| c.powi(k)).collect() };
        let ac = apply(c);
        let cac: Vec<f64> = c.iter().zip(&ac).map(|(c, x)| c * x).collect();
        let conditions: [&[(f64, f64)]; 4] = [
            &[(dot(&pow(0)), 1.0)],
            &[(dot(c), 0.5)],
            &[(dot(&pow(2)), 1.0 / 3.0), (dot(&ac), 1.0 / 6.0)],
            &[
                (dot(&pow(3)), 0.25),
                (dot(&cac), 0.125),
                (dot(&apply(&pow(2))), 1.0 / 12.0),
                (dot(&apply(&ac)), 1.0 / 24.0),
            ],
        ];
        conditions
            .iter()
            .take_while(|conds| conds.iter().all(|(got, want)| (got - want).abs() <= TOL))
            .count()
    }

    /// One step: returns (k_1 = f(u_n), u_{n+1}). `f` is evaluated once per stage.
    ///
    /// # Shapes
    /// - `u`: `[batch, C, H, W]`; `f` must preserve the shape.
    pub fn step(
        &self,
        u: &Tensor<4>,
        f: impl Fn(Tensor<4>) -> Tensor<4>,
    ) -> (Tensor<4>, Tensor<4>) {
        let mut ks: Vec<Tensor<4>> = Vec::with_capacity(self.stages());
        for row in &self.a {
            let arg = super::add_scaled(u.clone(), row.iter().copied().zip(ks.iter().cloned()));
            ks.push(f(arg));
        }
        let next = super::add_scaled(u.clone(), self.b.iter().copied().zip(ks.iter().cloned()));
        let k1 = ks.swap_remove(0);
        (k1, next)
    }
}

/// A stage stepped by one tableau; no parameters (the branch's weights are shared by the stages).
#[derive(Module, Debug)]
pub struct RungeKutta {
    #[module(skip)]
    pub tableau: Tableau,
}

impl RungeKutta {
    pub fn new(tableau: &Tableau) -> Self {
        Self { tableau: tableau.clone() }
    }
}

impl Step for RungeKutta {
    fn step<F: Field>(&self, _n: usize, history: &mut History, f: &F) {
        let (f_n, next) = self.tableau.step(history.current(), |u| f.eval(u));
        history.push(f_n, next);
    }
}

/// `{"rule": "runge-kutta", "tableau": {…}}`: u_{n+1} = u_n + Σ_i b_i k_i,
/// k_i = f_n(u_n + Σ_j a_ij k_j); block n evaluates its branch once per stage of the tableau
/// (shared weights), see [`Tableau`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RungeKuttaConfig {
    pub tableau: Tableau,
}

impl RuleConfig for RungeKuttaConfig {
    fn describe(&self) -> String {
        self.tableau.describe()
    }

    fn report(&self) -> SchemeReport {
        self.tableau.report()
    }

    fn init(&self, _blocks: usize, _channels: usize, _device: &Device) -> Scheme {
        Scheme::RungeKutta(RungeKutta::new(&self.tableau))
    }
}

impl SchemeConfig {
    /// The explicit Runge–Kutta rule of `tableau`.
    pub fn runge_kutta(tableau: Tableau) -> Self {
        Self::RungeKutta(RungeKuttaConfig { tableau })
    }

    /// Heun's method (explicit trapezoid), one shared branch evaluated twice per block.
    pub fn heun2() -> Self {
        Self::runge_kutta(Tableau::heun2())
    }

    /// Classical RK4, one shared branch evaluated four times per block.
    pub fn rk4() -> Self {
        Self::runge_kutta(Tableau::rk4())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_tableaux_pass_their_own_validation() {
        for t in [Tableau::euler(), Tableau::midpoint(), Tableau::heun2(), Tableau::rk4()] {
            let spec = TableauSpec::from(t.clone());
            assert_eq!(Tableau::try_from(spec).expect("valid"), t);
        }
    }
}
