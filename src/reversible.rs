//! Reversible training for RevNet-style networks (Gomez et al. 2017): the activations inside
//! coupled stages are not stored for the backward pass but reconstructed from the stage output
//! with the exact inverse of the coupled Euler step, so activation memory does not grow with the
//! number of coupled blocks. Only each stage's input (needed by its non-invertible transition
//! step) and output are kept.
//!
//! Backward, block by block from the last: u_n = inverse(u_{n+1}); the block is recomputed from
//! u_n as a leaf and back-propagated with the incoming gradient, giving its parameter gradients
//! and the gradient for u_n. Batch norm: the recomputation sees the same batch, so its batch
//! statistics (and hence all gradients) are those of the forward pass. The inversion and the
//! recomputation would update the running statistics r ← (1 − m)·r + m·σ_batch twice more, so
//! the stem's and the stages' running states are saved after the forward pass and restored
//! after the backward pass: each is updated exactly once per step, as with stored activations.

use crate::net::Net;
use crate::stage::Stage;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use std::collections::HashMap;

/// Moves every gradient of `part` that belongs to a parameter of the visited module into `total`.
struct Merge<'a> {
    part: &'a mut GradientsParams,
    total: &'a mut GradientsParams,
}

impl ModuleVisitor for Merge<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.part.remove::<D>(param.id) {
            let g = match self.total.remove::<D>(param.id) {
                Some(acc) => acc + g,
                None => g,
            };
            self.total.register::<D>(param.id, g);
        }
    }
}

/// Forces every parameter's lazy initialisation.
struct Initialise;

impl ModuleVisitor for Initialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// The committed values of a module's buffers (running states: floats without gradient).
#[derive(Default)]
struct Buffers(HashMap<ParamId, TensorData>);

impl ModuleVisitor for Buffers {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        if !value.is_require_grad() {
            self.0.insert(param.id, value.into_data());
        }
    }
}

impl ModuleMapper for Buffers {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.0.get(&param.id) {
            Some(data) => param.map(|t| Tensor::from_data(data.clone(), &t.device())),
            None => param,
        }
    }
}

impl Buffers {
    /// Commits the pending running-state updates of `module` (`valid` synchronises them; the
    /// running states are shared by clones) and saves them.
    fn save<M: Module>(module: &M) -> Self {
        let _ = module.valid();
        let mut buffers = Self::default();
        module.visit(&mut buffers);
        buffers
    }

    /// Sets the running states of `module` (and of every clone sharing them) back to the saved
    /// values, discarding the updates made since.
    fn restore<M: Module>(mut self, module: &M) {
        let _ = module.valid();
        let _ = module.clone().map(&mut self);
    }
}

fn merge<M: Module>(module: &M, total: &mut GradientsParams, grads: &mut burn::tensor::Gradients) {
    let mut part = GradientsParams::from_module(grads, module);
    module.visit(&mut Merge { part: &mut part, total });
}

/// Back-propagates `grad_out` through `f(leaf)`; returns the gradient for the leaf.
fn backprop_through<M: Module>(
    module: &M,
    input: Tensor<4>,
    grad_out: Tensor<4>,
    total: &mut GradientsParams,
    f: impl FnOnce(Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    let leaf = input.detach().require_grad();
    let out = f(leaf.clone());
    let mut grads = (out * grad_out.detach()).sum().backward();
    let g_in = leaf.grad(&grads);
    merge(module, total, &mut grads);
    g_in.unwrap_or_else(|| leaf.zeros_like().detach())
}

/// Whether every stage of `net` with more than one block is a coupled (RevNet) stage.
pub fn is_reversible(net: &Net) -> bool {
    net.stages.iter().all(|s| s.branches.len() < 2 || s.invertible())
}

/// Cross-entropy loss and its parameter gradients, with coupled stages recomputed in the
/// backward pass instead of stored. Equal to `loss.backward()` up to floating-point rounding.
///
/// # Shapes
/// - `x`: `[batch, C, H, W]` on an autodiff device; `labels`: `[batch]`
pub fn loss_and_grads(net: &Net, x: Tensor<4>, labels: Tensor<1, Int>) -> (Tensor<2>, f32, GradientsParams) {
    // Forward with parameters that do not require gradients: no autodiff graph is recorded, so
    // nothing is kept but the stage inputs and the last output. (Batch norm still normalises
    // with batch statistics: the device is an autodiff device.)
    // Parameters are initialised lazily and a clone shares the initialiser: initialise them
    // here, or the frozen clone would initialise the originals without gradient tracking.
    net.visit(&mut Initialise);
    let frozen = net.clone().no_grad();
    let mut stage_inputs = Vec::with_capacity(net.stages.len());
    let mut u = frozen.stem.forward(x.clone().detach()).detach();
    for stage in &frozen.stages {
        stage_inputs.push(u.clone());
        u = stage.forward(u).detach();
    }
    let stem_buffers = Buffers::save(&frozen.stem);
    let stage_buffers = Buffers::save(&frozen.stages);
    // Head with ordinary autodiff.
    let mut total = GradientsParams::new();
    let feature = u.clone().detach().require_grad();
    let logits = net.forward_head(feature.clone());
    let loss = crate::train::loss(logits.clone(), labels);
    let loss_value = loss.clone().into_scalar::<f32>();
    let mut grads = loss.backward();
    let mut g = feature.grad(&grads).unwrap_or_else(|| u.zeros_like());
    merge(&net.head_bn, &mut total, &mut grads);
    merge(&net.head_fc, &mut total, &mut grads);
    // Stages in reverse: coupled blocks by inversion + recomputation, then the transition step.
    // A stage's output is the next stage's input (the last one's is the features `u`).
    let mut output = u;
    for ((stage, still), input) in net.stages.iter().zip(&frozen.stages).zip(stage_inputs).rev() {
        g = backward_stage(stage, still, input.clone(), output, g, &mut total);
        output = input;
    }
    let _ = backprop_through(&net.stem, x, g, &mut total, |x| net.stem.forward(x));
    stem_buffers.restore(&net.stem);
    stage_buffers.restore(&net.stages);
    (logits.detach(), loss_value, total)
}

/// Gradient for a stage's input, given its input, output and the output's gradient. The steps
/// are those of the stage's own loop ([`Stage::start`], [`Stage::step_from`],
/// [`Stage::invert_step`]); reversible training refuses noise (see
/// [`crate::train::TrainConfig::validate`]), so every block runs and no state noise is added.
fn backward_stage(
    stage: &Stage,
    frozen: &Stage,
    input: Tensor<4>,
    output: Tensor<4>,
    grad_out: Tensor<4>,
    total: &mut GradientsParams,
) -> Tensor<4> {
    let blocks = stage.branches.len();
    if blocks == 0 {
        return grad_out;
    }
    let mut g = grad_out;
    let mut v = output;
    if stage.invertible() {
        for n in (1..blocks).rev() {
            // The inverse needs no gradient: computed with the frozen copy, nothing recorded.
            let Some(v_prev) = frozen.invert_step(n, v) else { unreachable!("invertible() checked it") };
            let v_prev = v_prev.detach();
            g = backprop_through(&stage.branches[n], v_prev.clone(), g, total, |v| stage.step_from(n, v));
            v = v_prev;
        }
        // v is now the state after the transition step: back through it from the stage input.
        let all = vec![true; blocks];
        return backprop_through(stage, input, g, total, |u| {
            stage.start(stage.shortcut(u.clone()), u, &all).into_current()
        });
    }
    // A stage that is not coupled: ordinary autodiff through the whole stage.
    backprop_through(stage, input, g, total, |u| stage.forward(u))
}
