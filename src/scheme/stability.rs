//! Dahlquist's theory of linear multistep methods: consistency, zero-stability, order.
//!
//! For the explicit s-step rule (Δt absorbed into f, see [`super::Multistep`])
//!
//! `u_{n+1} = Σ_{j=0}^{s−1} a_j u_{n−j} + Σ_{j=0}^{s−1} b_j f(u_{n−j})`
//!
//! the characteristic polynomials are `ρ(ζ) = ζ^s − Σ_j a_j ζ^{s−1−j}` and
//! `σ(ζ) = Σ_j b_j ζ^{s−1−j}`. The rule is *consistent* iff ρ(1) = 0 and ρ'(1) = σ(1),
//! *zero-stable* iff every root of ρ has |ζ| ≤ 1 and those with |ζ| = 1 are simple (root
//! condition), and convergent iff both hold (Dahlquist 1956; Hairer, Nørsett, Wanner, *Solving
//! ODEs I*, §III.2–4).
//!
//! When ρ(1) = 0 but ρ'(1) ≠ σ(1) the rule is consistent with the time-rescaled ODE
//! `ρ'(1)·u̇ = σ(1)·f(u)`: the LM rule of Lu et al. (2018) has ρ(ζ) = (ζ − 1)(ζ + k), σ(ζ) = ζ, so
//! it integrates `(1 + k)·u̇ = f(u)` (their modified-equation remark, paper.md §2 and §3).

use serde::Serialize;

/// Coefficients are compared with this absolute tolerance (scaled by their magnitude).
const TOL: f64 = 1e-9;
/// A root with | |ζ| − 1 | below this counts as on the unit circle.
const CIRCLE_TOL: f64 = 1e-6;
/// A root on the circle with |ρ'(ζ)| below this counts as multiple. Durand–Kerner locates an
/// m-fold root only to about ε^{1/m}, so |ρ'| there is ~1e-8 (double) or ~1e-10 (triple).
const MULTIPLE_TOL: f64 = 1e-6;

/// A complex number (a root of ρ).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Complex {
    pub re: f64,
    pub im: f64,
}

impl Complex {
    const fn new(re: f64, im: f64) -> Self {
        Self { re, im }
    }

    /// |z|.
    pub fn norm(self) -> f64 {
        self.re.hypot(self.im)
    }

    fn sub(self, o: Self) -> Self {
        Self::new(self.re - o.re, self.im - o.im)
    }

    fn mul(self, o: Self) -> Self {
        Self::new(self.re * o.re - self.im * o.im, self.re * o.im + self.im * o.re)
    }

    fn div(self, o: Self) -> Self {
        let d = o.re * o.re + o.im * o.im;
        Self::new((self.re * o.re + self.im * o.im) / d, (self.im * o.re - self.re * o.im) / d)
    }
}

/// What Dahlquist's theory says about a rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SchemeReport {
    /// ρ(1) = 0 and ρ'(1) = σ(1).
    pub consistent: bool,
    /// Root condition on ρ.
    pub zero_stable: bool,
    /// Order of accuracy p (local error O(Δt^{p+1})) for the ODE `r·u̇ = f`, where r is
    /// [`Self::time_rescaling`] (1 when consistent); 0 when ρ(1) ≠ 0 or σ(1) = 0.
    pub order: usize,
    /// Roots of ρ (for a one-step Runge–Kutta rule: ζ = 1).
    pub roots: Vec<Complex>,
    /// `Some(r = ρ'(1) / σ(1))` when ρ(1) = 0 and r ≠ 1: the rule is consistent with the
    /// time-rescaled ODE `r·u̇ = f(u)` (r = 1 + k for the LM rule).
    pub time_rescaling: Option<f64>,
}

impl SchemeReport {
    /// Consistent and zero-stable, hence convergent (Dahlquist's equivalence theorem).
    pub fn convergent(&self) -> bool {
        self.consistent && self.zero_stable
    }

    /// Zero-stable and consistent with some rescaled ODE `r·u̇ = f`, r > 0 (the LM rule with
    /// −1 < k ≤ 1): it converges, to the solution of the rescaled equation.
    pub fn convergent_up_to_rescaling(&self) -> bool {
        self.zero_stable && (self.consistent || self.time_rescaling.is_some_and(|r| r > 0.0))
    }

    /// The report of a one-step rule of the given order (forward Euler, Runge–Kutta).
    pub fn one_step(order: usize) -> Self {
        Self {
            consistent: order >= 1,
            zero_stable: true,
            order,
            roots: vec![Complex::new(1.0, 0.0)],
            time_rescaling: None,
        }
    }
}

/// Analyses the explicit rule `u_{n+1} = Σ a_j u_{n−j} + Σ b_j f_{n−j}`; `a` and `b` have the
/// same length s ≥ 1 (checked by [`super::Multistep::new`]).
pub fn analyse(a: &[f64], b: &[f64]) -> SchemeReport {
    let s = a.len();
    let rho_1 = 1.0 - a.iter().sum::<f64>();
    // ρ'(1) = s − Σ_j a_j (s − 1 − j).
    let rho_d1 = s as f64 - a.iter().enumerate().map(|(j, a)| a * (s - 1 - j) as f64).sum::<f64>();
    let sigma_1: f64 = b.iter().sum();
    let scale = 1.0 + a.iter().chain(b).map(|x| x.abs()).sum::<f64>();
    let zero_at_1 = rho_1.abs() <= TOL * scale;
    let rescaling = (zero_at_1 && sigma_1.abs() > TOL * scale).then(|| rho_d1 / sigma_1);
    let consistent = rescaling.is_some_and(|r| (r - 1.0).abs() <= TOL * scale);
    let order = rescaling.map_or(0, |r| order_of(a, &b.iter().map(|b| b * r).collect::<Vec<_>>()));
    let roots = rho_roots(a);
    let zero_stable = root_condition(a, &roots);
    SchemeReport {
        consistent,
        zero_stable,
        order,
        roots,
        time_rescaling: rescaling.filter(|_| !consistent),
    }
}

/// The largest p with C_0 = … = C_p = 0, where (t_n = 0, Δt = 1, nodes t_{n−j} = −j)
/// `C_q = 1 − Σ_j a_j (−j)^q − q Σ_j b_j (−j)^{q−1}`: the rule is exact on polynomials of degree p.
fn order_of(a: &[f64], b: &[f64]) -> usize {
    let max_order = 2 * a.len() + 1;
    let pow = |x: f64, q: usize| if q == 0 { 1.0 } else { x.powi(q as i32) };
    for q in 0..=max_order {
        let (mut sum, mut scale) = (1.0, 1.0f64);
        for j in 0..a.len() {
            let x = -(j as f64);
            let ta = a[j] * pow(x, q);
            let tb = if q == 0 { 0.0 } else { q as f64 * b[j] * pow(x, q - 1) };
            sum -= ta + tb;
            scale += ta.abs() + tb.abs();
        }
        if sum.abs() > TOL * scale {
            return q.saturating_sub(1);
        }
    }
    max_order
}

/// ρ(z) by Horner, with coefficients in descending powers `[1, −a_0, …, −a_{s−1}]`.
fn rho_at(a: &[f64], z: Complex) -> Complex {
    a.iter().fold(Complex::new(1.0, 0.0), |acc, &a| acc.mul(z).sub(Complex::new(a, 0.0)))
}

/// ρ'(z) by Horner on the derivative's coefficients `s·z^{s−1} − Σ_j a_j (s−1−j) z^{s−2−j}`.
fn rho_derivative_at(a: &[f64], z: Complex) -> Complex {
    let s = a.len();
    let mut acc = Complex::new(s as f64, 0.0);
    for (j, &a) in a.iter().enumerate().take(s.saturating_sub(1)) {
        acc = acc.mul(z).sub(Complex::new(a * (s - 1 - j) as f64, 0.0));
    }
    acc
}

/// Roots of ρ(ζ) = ζ^s − Σ a_j ζ^{s−1−j} by the Durand–Kerner (Weierstrass) iteration
/// `z_i ← z_i − ρ(z_i) / Π_{k≠i} (z_i − z_k)`, started from powers of 0.4 + 0.9i.
pub fn rho_roots(a: &[f64]) -> Vec<Complex> {
    let s = a.len();
    if s == 1 {
        return vec![Complex::new(a[0], 0.0)];
    }
    let seed = Complex::new(0.4, 0.9);
    let mut z: Vec<Complex> = (0..s)
        .scan(Complex::new(1.0, 0.0), |p, _| {
            *p = p.mul(seed);
            Some(*p)
        })
        .collect();
    for _ in 0..5000 {
        let mut moved = 0.0f64;
        for i in 0..s {
            let mut den = Complex::new(1.0, 0.0);
            for k in (0..s).filter(|&k| k != i) {
                den = den.mul(z[i].sub(z[k]));
            }
            if den.norm() == 0.0 {
                den = Complex::new(1e-12, 1e-12);
            }
            let step = rho_at(a, z[i]).div(den);
            z[i] = z[i].sub(step);
            moved = moved.max(step.norm());
        }
        if moved < 1e-15 {
            break;
        }
    }
    z.into_iter().map(|c| Complex::new(c.re, if c.im.abs() < 1e-12 { 0.0 } else { c.im })).collect()
}

/// Root condition: every |ζ| ≤ 1, and roots with |ζ| = 1 simple (ρ'(ζ) ≠ 0).
fn root_condition(a: &[f64], roots: &[Complex]) -> bool {
    roots.iter().all(|&z| {
        let r = z.norm();
        if r > 1.0 + CIRCLE_TOL {
            return false;
        }
        r < 1.0 - CIRCLE_TOL || rho_derivative_at(a, z).norm() > MULTIPLE_TOL
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complex_arithmetic() {
        let z = Complex::new(1.0, 2.0);
        let w = Complex::new(3.0, -1.0);
        assert_eq!(z.mul(w), Complex::new(5.0, 5.0));
        let q = z.mul(w).div(w);
        assert!((q.re - 1.0).abs() < 1e-15 && (q.im - 2.0).abs() < 1e-15);
    }

    #[test]
    fn cubic_roots() {
        // (ζ − 1)(ζ − 0.5)(ζ + 0.5) = ζ³ − ζ² − 0.25ζ + 0.25, i.e. a = [1, 0.25, −0.25].
        let roots = rho_roots(&[1.0, 0.25, -0.25]);
        let mut re: Vec<f64> = roots.iter().map(|z| z.re).collect();
        re.sort_by(f64::total_cmp);
        for (got, want) in re.iter().zip([-0.5, 0.5, 1.0]) {
            assert!((got - want).abs() < 1e-12, "{roots:?}");
        }
    }
}
