//! The optimiser of a run: its own config (SGD with momentum, weight decay, how k_n decays),
//! which builds the optimiser with its parameter groups. The learning-rate schedule stays in
//! [`super::Schedule`].

use crate::net::Net;
use crate::scheme::Coefficient;
use burn::module::ParamGroup;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use serde::{Deserialize, Serialize};

/// SGD with momentum, as in the paper (PyTorch semantics: no dampening, coupled L2 decay).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OptimConfig {
    /// Base learning rate (paper: 0.1 at batch 128).
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    /// L2 weight decay (paper: 1e-4 for LM-ResNet, 5e-4 for LM-ResNeXt).
    pub weight_decay: f64,
    /// Whether weight decay also applies to the LM coefficients k_n (official code: yes).
    pub decay_k: bool,
    /// Where weight decay pulls k_n when `decay_k` (older configs: toward 0).
    #[serde(default)]
    pub k_decay_target: KDecayTarget,
}

/// The value weight decay pulls the LM coefficients k_n (paper convention) toward.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum KDecayTarget {
    /// Decay the paper's k toward 0 (adds wd·k to ∂L/∂k), like any other parameter.
    #[default]
    Paper,
    /// Official LM-ResNet code: it stores 1 − k and decays that, so k is pulled toward 1
    /// (adds wd·(k − 1) to ∂L/∂k).
    Official,
}

impl OptimConfig {
    /// The optimiser for `model`: SGD with PyTorch semantics (dampening 0; Burn's default is
    /// 0.1) on every parameter, and, unless weight decay pulls k_n
    /// toward 0 like any other parameter, a group without weight decay for the LM k_n
    /// (`decay_k = false`, or [`KDecayTarget::Official`], whose pull [`Self::decay_k_toward_one`]
    /// adds to the gradient).
    ///
    /// The group is selected by [`Coefficient`]: the ids of the model's k_n parameters, not
    /// their paths. Build it from the model the optimiser will step, *after* loading a
    /// checkpoint into it (a checkpoint restores the parameter ids its optimizer state is keyed
    /// by, so a group taken from a freshly initialised model would match nothing).
    pub fn init(&self, model: &Net) -> ModuleOptimizer {
        let momentum = (self.momentum > 0.0).then(|| {
            MomentumConfig::new().with_momentum(self.momentum).with_dampening(0.0).with_nesterov(self.nesterov)
        });
        let sgd = |wd: f64| {
            SgdConfig::new()
                .with_momentum(momentum.clone())
                .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd as f32)))
        };
        let optim = sgd(self.weight_decay).init();
        if self.decay_k && self.k_decay_target == KDecayTarget::Paper {
            return optim;
        }
        let ids = model.coefficients().filter(|c| c.coefficient == Coefficient::LmK).map(|c| c.param.id);
        optim.with_group(ParamGroup::from_ids(ids.collect()), sgd(0.0).build(), None)
    }

    /// Weight decay of the official LM-ResNet code on k_n: it stores k' = 1 − k and decays k', so
    /// ∂L/∂k gains wd·(k − 1) (coupled L2, as SGD's weight decay, before momentum). A no-op
    /// unless the config asks for [`KDecayTarget::Official`].
    pub fn decay_k_toward_one(&self, model: &Net, grads: &mut GradientsParams) {
        if !(self.decay_k && self.k_decay_target == KDecayTarget::Official && self.weight_decay > 0.0) {
            return;
        }
        for k in model.coefficients().filter(|c| c.coefficient == Coefficient::LmK) {
            if let Some(g) = grads.remove::<2>(k.param.id) {
                let pull = (k.param.val().inner() - 1.0) * self.weight_decay;
                grads.register(k.param.id, g + pull);
            }
        }
    }
}
