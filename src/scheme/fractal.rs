//! FractalNet's order-2 block as a Runge–Kutta-2 scheme (Lu et al. 2018, §1):
//! `x_{n+1} = k1·x_n + k2·(k3·x_n + f1(x_n)) + f2(k3·x_n + f1(x_n))`, with two different
//! branches f1, f2 per block. With `(k1, k2, k3) = (½, ½, 1)` and `f2 = ½ f1 = ½ f` it is Heun's
//! method `x + ½ f(x) + ½ f(x + f(x))`; learned k's let each block pick its own two-stage rule.

use super::field::two_parts;
use super::{Coefficient, Coefficients, Field, FieldForm, History, RuleConfig, Scheme, SchemeConfig, SchemeReport, Step};
use crate::config_error::{ConfigError, check};
use burn::module::Param;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// `{"rule": "fractal-rk2", "k": [k1, k2, k3], "trainable": bool}` on the pair (f1, f2) branch:
/// `k` at initialisation, one learned triple per step when `trainable`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FractalRk2 {
    pub k: [f64; 3],
    pub trainable: bool,
}

impl RuleConfig for FractalRk2 {
    fn describe(&self) -> String {
        let k = if self.trainable { "learned" } else { "fixed" };
        format!("FractalNet two-stage RK2 ({k} k1, k2, k3)")
    }

    fn report(&self) -> SchemeReport {
        SchemeReport::one_step(2)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check(self.k.iter().all(|v| v.is_finite()), "scheme.k", self.k, "must be finite")
    }

    fn needs_field(&self) -> Option<FieldForm> {
        Some(FieldForm::Pair)
    }

    fn init(&self, blocks: usize, _channels: usize, device: &Device) -> Scheme {
        Scheme::Fractal(Fractal::init(self.k, self.trainable, blocks, device))
    }
}

/// A stage of FractalNet blocks: the fixed (k1, k2, k3), or one learned triple per step.
#[derive(Module, Debug)]
pub struct Fractal {
    /// `[steps, 3]` rows (k1, k2, k3) for steps 1 … blocks − 1 when trainable.
    pub fractal_k: Option<Param<Tensor<2>>>,
    #[module(skip)]
    pub k: [f64; 3],
}

impl Fractal {
    /// For a stage of `blocks` blocks; every learned row starts at `k`.
    pub fn init(k: [f64; 3], trainable: bool, blocks: usize, device: &Device) -> Self {
        let steps = blocks.saturating_sub(1);
        let fractal_k = (trainable && steps > 0).then(|| {
            let rows: Vec<f32> = (0..steps).flat_map(|_| k.map(|v| v as f32)).collect();
            Param::from_tensor(Tensor::from_data(TensorData::new(rows, [steps, 3]), device))
        });
        Self { fractal_k, k }
    }
}

impl Step for Fractal {
    fn step<F: Field>(&self, n: usize, history: &mut History, f: &F) {
        let x = history.current().clone();
        let device = x.device();
        let k = match &self.fractal_k {
            Some(k) => [0, 1, 2].map(|j| k.val().slice([n - 1..n, j..j + 1]).reshape([1, 1, 1, 1])),
            None => self.k.map(|v| Tensor::full([1, 1, 1, 1], v, &device)),
        }
        .map(|k| crate::precision::like(k, &x));
        let [f1, f2] = two_parts(f, "fractal-rk2 (FractalNet)");
        let (f_n, next) = fractal_step(&x, k, f1, f2);
        history.push(f_n, next);
    }

    fn coefficients(&self) -> Vec<Coefficients<'_>> {
        let k = self.fractal_k.as_ref();
        k.map(|param| Coefficients { coefficient: Coefficient::FractalK, param, first_step: 1 }).into_iter().collect()
    }
}

/// One FractalNet step with coefficients `k = [k1, k2, k3]` (scalars or `[1, 1, 1, 1]` tensors);
/// returns (f1(x_n), x_{n+1}).
pub fn fractal_step(
    x: &Tensor<4>,
    k: [Tensor<4>; 3],
    f1: impl Fn(Tensor<4>) -> Tensor<4>,
    f2: impl Fn(Tensor<4>) -> Tensor<4>,
) -> (Tensor<4>, Tensor<4>) {
    let [k1, k2, k3] = k;
    let first = f1(x.clone());
    let z = x.clone() * k3 + first.clone();
    let next = x.clone() * k1 + z.clone() * k2 + f2(z);
    (first, next)
}

impl SchemeConfig {
    /// FractalNet's block starting at `k` = (k1, k2, k3), learned per step if `trainable` (with
    /// [`crate::nn::BranchKind::Pair`] branches).
    pub fn fractal_rk2(k: [f64; 3], trainable: bool) -> Self {
        Self::FractalRk2(FractalRk2 { k, trainable })
    }
}
