//! Forward Euler, the ResNet step (He et al. 2016; Lu et al. 2018, §2):
//! `u_{n+1} = u_n + f_n(u_n)`, with Δt absorbed into the branch (f = Δt·F). Order 1.

use super::{Field, History, RuleConfig, Scheme, SchemeConfig, SchemeReport, Step};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// `{"rule": "forward-euler"}`: ResNet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ForwardEuler {}

impl RuleConfig for ForwardEuler {
    fn describe(&self) -> String {
        "forward Euler".into()
    }

    fn report(&self) -> SchemeReport {
        SchemeReport::one_step(1)
    }

    fn init(&self, _blocks: usize, _channels: usize, _device: &Device) -> Scheme {
        Scheme::euler()
    }
}

/// Forward Euler; no parameters.
#[derive(Module, Debug, Default)]
pub struct Euler;

impl Step for Euler {
    fn step<F: Field>(&self, _n: usize, history: &mut History, f: &F) {
        let u = history.current().clone();
        let fu = f.eval(u.clone());
        history.record_f(fu.clone());
        history.advance(crate::kernels::residual_add(u, fu));
    }
}

impl SchemeConfig {
    /// ResNet's rule.
    pub fn forward_euler() -> Self {
        Self::ForwardEuler(ForwardEuler {})
    }
}
