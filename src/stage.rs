//! One integration interval: a run of blocks at one resolution, stepped by one [`Scheme`].

use crate::nn::{BnReluConv, Branch, BranchConfig, BranchKind};
use crate::scheme::noise::{NoiseConfig, Noisy, StageNoise};
use crate::scheme::{History, Scheme, SchemeConfig};
use burn::prelude::*;
use std::ops::Range;

/// A stage of the network.
///
/// Its blocks are stepped by its [`Scheme`] in one loop ([`Stage::start`] then
/// [`Stage::steps`]), which the forward pass, the inversion of a RevNet stage and the reversible
/// backward pass ([`crate::reversible`]) all use. Step 0 is forward Euler with shortcut
/// r = P(u) (a BN-ReLU-conv1×1 projection when width or resolution changes, else r = u), see
/// [`Scheme::start`].
///
/// Stochastic training ([`StageNoise`]) wraps each block's field ([`StageNoise::wrap`]): a
/// block dropped by stochastic depth is not evaluated (its f is zero, so Euler keeps u_n and LM
/// still combines u_n and u_{n−1}), and injected noise is added to the state after each step.
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
        if self.branches.is_empty() {
            return u;
        }
        let shortcut = self.shortcut(u.clone());
        let survivors = self.noise.draw_survivors(&u.device());
        let history = self.start(shortcut, u, &survivors);
        self.steps(history, 1..self.branches.len(), &survivors).into_current()
    }

    /// r = P(u), the state step 0 starts from: the projection when width or resolution
    /// changes, else u.
    pub fn shortcut(&self, u: Tensor<4>) -> Tensor<4> {
        match &self.projection {
            Some(p) => p.forward(u),
            None => u,
        }
    }

    /// Block `n`'s field with the stage's stochastic terms (`survivors`: from
    /// [`StageNoise::draw_survivors`]).
    fn field(&self, n: usize, survivors: &[bool]) -> Noisy<'_, Branch> {
        self.noise.wrap(n, survivors[n], &self.branches[n])
    }

    /// Step 0 from the stage input `u0` and its `shortcut` (see [`Scheme::start`]), then noise.
    pub fn start(&self, shortcut: Tensor<4>, u0: Tensor<4>, survivors: &[bool]) -> History {
        let mut history = self.scheme.start(shortcut, u0, &self.field(0, survivors));
        history.map_current(|u| self.noise.inject(u));
        history
    }

    /// Steps n ∈ `range` (n ≥ 1) of the stage from `history`: the stage's stepping loop.
    pub fn steps(&self, mut history: History, range: Range<usize>, survivors: &[bool]) -> History {
        for n in range {
            self.scheme.step_field(n, &mut history, &self.field(n, survivors));
            history.map_current(|u| self.noise.inject(u));
        }
        history
    }

    /// Step n ≥ 1 alone from the state `u` (for a one-step rule), every block surviving.
    pub fn step_from(&self, n: usize, u: Tensor<4>) -> Tensor<4> {
        let all = vec![true; self.branches.len()];
        let history = History::new(u, self.scheme.history_len());
        self.steps(history, n..n + 1, &all).into_current()
    }

    /// Whether every step after the first is exactly invertible (a RevNet stage).
    pub fn invertible(&self) -> bool {
        self.scheme.invertible()
    }

    /// u_n from u_{n+1} for step n ≥ 1 of an invertible stage (evaluation: every block runs).
    pub fn invert_step(&self, n: usize, next: Tensor<4>) -> Option<Tensor<4>> {
        let all = vec![true; self.branches.len()];
        self.scheme.inverse(n, next, &self.field(n, &all))
    }

    /// The stage input's image after the first (non-reversible) step, reconstructed from the
    /// stage output by inverting every later step: exact for a RevNet stage in evaluation mode.
    /// `None` when the stage's steps are not invertible.
    pub fn invert_coupled_steps(&self, output: Tensor<4>) -> Option<Tensor<4>> {
        if !self.invertible() {
            return None;
        }
        (1..self.branches.len()).rev().try_fold(output, |u, n| self.invert_step(n, u))
    }
}
