//! One integration interval: a run of blocks at one resolution, stepped by one [`Scheme`].

use crate::nn::{BnReluConv, Branch, BranchConfig, BranchKind};
use crate::scheme::noise::{NoiseConfig, StageNoise};
use crate::scheme::{History, Rule, Scheme, SchemeConfig};
use burn::prelude::*;

/// A stage of the network.
///
/// Step 0 is forward Euler with shortcut r = P(u) (a BN-ReLU-conv1×1 projection when width or
/// resolution changes, else r = u): `u_1 = r + f_0(u_0)`. The [`History`] then starts from
/// (r, f_0(u_0)), so the next multistep update uses the *projected* old state as u_{n−1}, as in
/// the official code, and f_0 as f_{n−1} (Adams–Bashforth). Steps n ≥ 1 are [`Scheme::step`].
///
/// Stochastic training ([`StageNoise`]) wraps the branches: a block dropped by stochastic depth
/// is not evaluated (its f is zero, so Euler keeps u_n and LM still combines u_n and u_{n−1}),
/// and injected noise is added to the state after each step.
#[derive(Module, Debug)]
pub struct Stage {
    pub projection: Option<BnReluConv>,
    pub branches: Vec<Branch>,
    pub scheme: Scheme,
    pub noise: StageNoise,
}

/// Layout of one stage.
#[derive(Clone, Copy, Debug)]
pub struct StageConfig {
    pub in_channels: usize,
    pub width: usize,
    pub blocks: usize,
    pub stride: usize,
    pub branch: BranchKind,
    /// Global index of the stage's first block (0-based) and the network's block count, for the
    /// depth-dependent survival rule of stochastic depth.
    pub first_block: usize,
    pub total_blocks: usize,
}

impl StageConfig {
    pub fn out_channels(&self) -> usize {
        self.branch.out_channels(self.width)
    }

    pub fn init(&self, scheme: &SchemeConfig, noise: &NoiseConfig, device: &Device) -> Stage {
        let out = self.out_channels();
        let projection = (self.in_channels != out || self.stride != 1)
            .then(|| BnReluConv::new([self.in_channels, out], 1, self.stride, 1, device));
        let branches = (0..self.blocks)
            .map(|i| {
                let (in_channels, stride) =
                    if i == 0 { (self.in_channels, self.stride) } else { (out, 1) };
                BranchConfig { kind: self.branch, in_channels, width: self.width, stride }
                    .init(device)
            })
            .collect();
        Stage {
            projection,
            branches,
            scheme: scheme.init(self.blocks, out, device),
            noise: StageNoise::new(noise, self.first_block, self.blocks, self.total_blocks),
        }
    }
}

impl Stage {
    /// # Shapes
    /// - `u`: `[batch, C_in, H, W]` → `[batch, C_out, H / stride, W / stride]`
    pub fn forward(&self, u: Tensor<4>) -> Tensor<4> {
        let Some((first, rest)) = self.branches.split_first() else { return u };
        let shortcut = match &self.projection {
            Some(p) => p.forward(u.clone()),
            None => u.clone(),
        };
        let survivors = self.noise.draw_survivors(&u.device());
        // f_i of the step, or zero without evaluating the branch when the block is dropped.
        let field = |i: usize, f: &Branch, u: Tensor<4>| match survivors[i] {
            true => self.noise.scale(i, f.forward(u)),
            false => u.zeros_like(),
        };
        let mut history = History::new(shortcut, self.scheme.history_len());
        // Step 0, forward Euler through the projection: u_1 = r + f_0(u_0). A dropped first
        // block leaves u_1 = r (f_0 has the shape of r, not of u_0).
        let f0 = match survivors[0] {
            true => field(0, first, u),
            false => history.current().zeros_like(),
        };
        let u1 = history.current().clone() + f0.clone();
        history.push(f0, u1);
        history.map_current(|u| self.noise.inject(u));
        for (i, f) in rest.iter().enumerate() {
            match (f, &self.scheme.rule) {
                // RevNet: the scheme needs the two fields separately (not stochastic-depth aware).
                (Branch::Coupled(c), Rule::Coupled) => {
                    self.scheme.step_coupled(&mut history, |y| c.f(y), |x| c.g(x))
                }
                (Branch::Pair(p), Rule::Fractal(_)) => {
                    self.scheme.step_fractal(i + 1, &mut history, |x| p.f1(x), |z| p.f2(z))
                }
                _ => self.scheme.step(i + 1, &mut history, |u| field(i + 1, f, u)),
            }
            history.map_current(|u| self.noise.inject(u));
        }
        history.into_current()
    }
}

impl Stage {
    /// Whether every step after the first is an exactly invertible coupled (RevNet) step.
    pub fn invertible(&self) -> bool {
        matches!(self.scheme.rule, Rule::Coupled)
            && self.branches.iter().skip(1).all(|b| matches!(b, Branch::Coupled(_)))
    }

    /// The stage input's image after the first (non-reversible) step, reconstructed from the
    /// stage output by inverting every coupled step: exact for a RevNet stage in evaluation
    /// mode. `None` when the stage is not a coupled (RevNet) stage.
    pub fn invert_coupled_steps(&self, output: Tensor<4>) -> Option<Tensor<4>> {
        if !self.invertible() {
            return None;
        }
        let mut u = output;
        for branch in self.branches.iter().skip(1).rev() {
            let Branch::Coupled(c) = branch else { return None };
            u = crate::scheme::coupled::coupled_inverse(u, |y| c.f(y), |x| c.g(x));
        }
        Some(u)
    }
}
