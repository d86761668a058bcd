//! Stepping rules: how a residual network combines its states u_n, u_{n−1}, … with the branch
//! output f_n(u_n). A [`Scheme`] owns a stage's whole step; no other code adds a skip connection
//! or combines states.
//!
//! Lu, Zhong, Li, Dong (ICML 2018), §2: ResNet is forward Euler, `u_{n+1} = u_n + f_n(u_n)`;
//! the LM-architecture is the linear two-step method
//! `u_{n+1} = (1 − k_n) u_n + k_n u_{n−1} + f_n(u_n)` with a trainable k_n per block.
//! Beyond the paper's two rules a scheme is data: any explicit linear multistep rule given by its
//! coefficients ([`Multistep`]) and any explicit Runge–Kutta rule given by its Butcher tableau
//! ([`Tableau`]), both validated when built and analysed by [`stability`] (Dahlquist's theory).
//!
//! **One stepping loop** ([`crate::stage::Stage`]), as a diffrax solver owns `init` and `step`:
//! - [`Scheme::start`]: step 0 of a stage is forward Euler through the projection,
//!   `u_1 = P(u_0) + f_0(u_0)`, exactly as a multistep solver starts with a one-step method
//!   (diffrax `LeapfrogMidpoint.init`); it returns the [`History`] the later steps read;
//! - [`Scheme::step_field`]: each step n ≥ 1, by the rule family's own file;
//! - [`Scheme::inverse`]: u_n from u_{n+1} where the step is exactly invertible (RevNet);
//! - [`Scheme::learned`]: the trainable coefficients, as typed [`Learned`] rows.
//!
//! One file per rule family, with its maths in the module doc: [`euler`], [`two_step`] (LM),
//! [`multistep`], [`runge_kutta`], [`implicit`] (PolyNet, backward Euler), [`coupled`] (RevNet),
//! [`fractal`] (FractalNet). The block's vector field reaches a step as a [`Field`], with the
//! stochastic terms of [`noise`] already applied, so every rule gets them.

mod field;
mod history;
mod learned;
pub mod noise;
pub mod stability;

pub use config::RuleConfig;
pub use field::{Field, FieldForm};
pub use history::History;
pub use learned::{Coefficient, Coefficients, KRow, Learned};
pub use multistep::{MAX_STEPS, Multistep, MultistepSpec};
pub use runge_kutta::{Tableau, TableauSpec};
pub use stability::{Complex, SchemeReport};
pub use two_step::LinearTwoStepConfig;

use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
    Param,
};
use burn::prelude::*;

/// An invalid coefficient list or tableau (from code or from a JSON configuration).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SchemeError {
    #[error("invalid multistep rule: {0}")]
    Multistep(String),
    #[error("invalid Butcher tableau: {0}")]
    Tableau(String),
}

/// What every rule family provides; [`Scheme`] dispatches each call to its family's file.
pub trait Step {
    /// How many past states (with their f) a step reads: the [`History`] capacity.
    fn history_len(&self) -> usize {
        1
    }

    /// Step n ≥ 1 of a stage: evaluates the field (once, or once per stage of the rule) and
    /// pushes u_{n+1} (with f_n where later steps read it) onto `history`.
    ///
    /// # Shapes
    /// - states in `history` and the field's input/output: `[batch, C, H, W]`
    fn step<F: Field>(&self, n: usize, history: &mut History, f: &F);

    /// u_n recovered from u_{n+1} = step(u_n), where the step is exactly invertible.
    fn inverse<F: Field>(&self, n: usize, next: Tensor<4>, f: &F) -> Option<Tensor<4>> {
        let _ = (n, next, f);
        None
    }

    /// The trainable coefficient tensors of this stage (none for fixed rules): each
    /// `[rows, width]`, row r is step `first_step + r`.
    fn coefficients(&self) -> Vec<Coefficients<'_>> {
        Vec::new()
    }
}

/// The registry of rule families, one line per family:
/// `Variant(module::Type) { ConfigVariant(module::ConfigType), … }` — the family's file, its
/// [`Scheme`] variant (the stepping rule, a [`Step`]) and the configuration variants that build
/// it (each a [`RuleConfig`], a `rule` of `config.json`: PolyNet's and backward Euler's configs
/// both build the implicit family). From it: the `pub mod`s, [`Scheme`], [`SchemeConfig`], the
/// `From` conversions, and the dispatch macros `each!` (a `match` binding the family's value),
/// `rewrap!` (the same, wrapping the result back into the variant) and `each_config!` (for
/// [`SchemeConfig`]). `$d` is a literal `$` for the generated macros' own variables.
macro_rules! families {
    ($d:tt $(#[$meta:meta])*
     $($variant:ident($module:ident::$ty:ident) { $($config:ident($config_ty:ty)),+ $(,)? }),* $(,)?) => {
        $(pub mod $module;)*

        $(#[$meta])*
        #[derive(Clone, Debug)]
        pub enum Scheme {
            $($variant($module::$ty),)*
        }

        $(impl From<$module::$ty> for Scheme {
            fn from(family: $module::$ty) -> Self {
                Self::$variant(family)
            }
        })*

        /// A stepping rule, as data: one variant per configuration of the registry, each holding
        /// its family's config type (see the family's file). Serialised into every run's
        /// `config.json`, tagged by `rule` (the variant's name in kebab case), the config's
        /// fields beside it: `{"rule": "forward-euler"}`,
        /// `{"rule": "linear-two-step", "k_init": [-0.1, 0], "per_channel": false}`,
        /// `{"rule": "multistep", "a": [1, 0], "b": [1.5, -0.5]}`, `{"rule": "runge-kutta",
        /// "tableau": {"a": [[], [1]], "b": [0.5, 0.5], "c": [0, 1], "order": 2}}`.
        /// Multistep coefficients and tableaux are validated while deserialising, the other
        /// rules by [`SchemeConfig::validate`].
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "rule", rename_all = "kebab-case")]
        pub enum SchemeConfig {
            $($($config($config_ty),)+)*
        }

        $($(impl From<$config_ty> for SchemeConfig {
            fn from(config: $config_ty) -> Self {
                Self::$config(config)
            }
        })+)*

        macro_rules! each {
            ($d value:expr, $d s:ident => $d body:expr) => {
                match $d value {
                    $(Scheme::$variant($d s) => $d body,)*
                }
            };
        }

        macro_rules! rewrap {
            ($d value:expr, $d s:ident => $d body:expr) => {
                match $d value {
                    $(Scheme::$variant($d s) => Scheme::$variant($d body),)*
                }
            };
        }

        macro_rules! each_config {
            ($d value:expr, $d s:ident => $d body:expr) => {
                match $d value {
                    $($(SchemeConfig::$config($d s) => $d body,)+)*
                }
            };
        }
    };
}

families! {
    $
    /// A stage's stepping rule with its trainable coefficients: one variant per rule family, each
    /// owning its data (see the family's file).
    ///
    /// `Module` is implemented by hand, not derived, only so that the variant's name does not
    /// enter the parameter paths: `stages.N.scheme.lm_k`, `…scheme.ms_a`, `…scheme.fractal_k` are
    /// the paths of checkpoints (safetensors and burnpack) written before the families were split.
    Euler(euler::Euler) { ForwardEuler(euler::ForwardEuler) },
    LinearTwoStep(two_step::LinearTwoStep) { LinearTwoStep(two_step::LinearTwoStepConfig) },
    Multistep(multistep::MultistepRule) { Multistep(multistep::Multistep) },
    RungeKutta(runge_kutta::RungeKutta) { RungeKutta(runge_kutta::RungeKuttaConfig) },
    Implicit(implicit::Implicit) { Poly(implicit::Poly), BackwardEuler(implicit::BackwardEuler) },
    Coupled(coupled::CoupledEuler) { CoupledEuler(coupled::CoupledEulerConfig) },
    Fractal(fractal::Fractal) { FractalRk2(fractal::FractalRk2) },
}

// Declared after the registry: textual scope makes `each_config!` visible there.
mod config;

impl Scheme {
    /// Forward Euler, no parameters.
    pub fn euler() -> Self {
        Self::Euler(euler::Euler)
    }

    /// The LM rule with the given k (`[steps, 1 or C]`, row n − 1 for step n).
    pub fn from_lm_k(k: Param<Tensor<2>>) -> Self {
        Self::LinearTwoStep(two_step::LinearTwoStep { lm_k: k })
    }

    /// The learned k_n of an LM scheme.
    pub fn lm_k(&self) -> Option<&Param<Tensor<2>>> {
        match self {
            Self::LinearTwoStep(lm) => Some(&lm.lm_k),
            _ => None,
        }
    }

    /// How many past states (with their f) a step reads: the [`History`] capacity.
    pub fn history_len(&self) -> usize {
        each!(self, s => s.history_len())
    }

    /// Step 0 of a stage, forward Euler through the projection: `u_1 = r + f_0(u_0)` with
    /// `r = P(u_0)` the stage's shortcut. The history starts from (r, f_0), so a multistep
    /// update reads the *projected* old state as u_{n−1} (as in the official code) and f_0 as
    /// f_{n−1} (Adams–Bashforth). A dropped first block leaves u_1 = r (f_0 has r's shape).
    ///
    /// # Shapes
    /// - `shortcut`: `[batch, C_out, H', W']`; `u0`: the stage input `[batch, C_in, H, W]`
    pub fn start(&self, shortcut: Tensor<4>, u0: Tensor<4>, f: &impl Field) -> History {
        let f0 = if f.dropped() { shortcut.zeros_like() } else { f.eval(u0) };
        let u1 = crate::kernels::residual_add(shortcut.clone(), f0.clone());
        let mut history = History::new(shortcut, self.history_len());
        history.push(f0, u1);
        history
    }

    /// One step n ≥ 1 of a stage with the block's field `f`, by the family's rule; see
    /// [`Step::step`].
    pub fn step_field(&self, n: usize, history: &mut History, f: &impl Field) {
        each!(self, s => s.step(n, history, f))
    }

    /// [`Scheme::step_field`] with a one-part field given as a closure.
    pub fn step(&self, n: usize, history: &mut History, f: impl Fn(Tensor<4>) -> Tensor<4>) {
        self.step_field(n, history, &f)
    }

    /// Whether every step n ≥ 1 is exactly invertible ([`Scheme::inverse`] returns `Some`).
    pub fn invertible(&self) -> bool {
        matches!(self, Self::Coupled(_))
    }

    /// u_n from u_{n+1} for an exactly invertible step; `None` for the other families.
    pub fn inverse(&self, n: usize, next: Tensor<4>, f: &impl Field) -> Option<Tensor<4>> {
        each!(self, s => s.inverse(n, next, f))
    }

    /// The learned coefficients of this stage (stage and global block left 0; see
    /// [`crate::Net::learned`]).
    pub fn learned(&self) -> Vec<Learned> {
        self.coefficients().iter().flat_map(Coefficients::rows).collect()
    }

    /// The trainable coefficient tensors of this stage, each with its [`Coefficient`] (the
    /// optimizer selects its parameter groups by them, see [`crate::train::OptimConfig::init`]).
    pub fn coefficients(&self) -> Vec<Coefficients<'_>> {
        each!(self, s => s.coefficients())
    }
}

impl Module for Scheme {
    fn collect_devices(&self, devices: Devices) -> Devices {
        each!(self, s => s.collect_devices(devices))
    }

    fn fork(self, device: &Device) -> Self {
        rewrap!(self, s => s.fork(device))
    }

    fn to_device(self, device: &Device) -> Self {
        rewrap!(self, s => s.to_device(device))
    }

    fn train(self) -> Self {
        rewrap!(self, s => s.train())
    }

    fn valid(&self) -> Self {
        rewrap!(self, s => s.valid())
    }

    fn materialize(self) -> Self {
        rewrap!(self, s => s.materialize())
    }

    fn num_params(&self) -> usize {
        each!(self, s => Module::num_params(s))
    }

    // No enter_module/exit_module for the variant: see the type's doc.
    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        each!(self, s => s.visit(visitor))
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        rewrap!(self, s => s.map(mapper))
    }
}

impl ModuleDisplayDefault for Scheme {
    fn content(&self, content: Content) -> Option<Content> {
        each!(self, s => ModuleDisplayDefault::content(s, content))
    }

    fn num_params(&self) -> usize {
        Module::num_params(self)
    }
}

impl ModuleDisplay for Scheme {}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        each!(self, s => std::fmt::Display::fmt(s, f))
    }
}

/// `acc + Σ c·x` over the terms with c ≠ 0 (c = 1 adds x unscaled).
fn add_scaled(acc: Tensor<4>, terms: impl IntoIterator<Item = (f64, Tensor<4>)>) -> Tensor<4> {
    terms
        .into_iter()
        .filter(|(c, _)| *c != 0.0)
        .fold(acc, |acc, (c, x)| if c == 1.0 { acc + x } else { acc + x.mul_scalar(c) })
}
