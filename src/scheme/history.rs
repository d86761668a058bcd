//! The past a multistep rule reads: states u_{n−j} and branch outputs f_{n−j}(u_{n−j}).
//!
//! Owned by the stepping loop ([`crate::stage::Stage::forward`]), reset at every stage boundary
//! (diffrax keeps it in the solver state returned by `init`/`step`). Only the last `capacity`
//! states are kept, so inference memory does not grow with depth.

use burn::prelude::*;
use std::collections::VecDeque;

/// States u_{n−j} with their branch outputs f_{n−j}.
#[derive(Clone, Debug)]
pub struct History {
    /// u_n.
    current: Tensor<4>,
    /// f_n(u_n), once evaluated.
    current_f: Option<Tensor<4>>,
    /// (u_m, f_m(u_m)) for m < n, oldest first; at most `capacity − 1` of them.
    past: VecDeque<(Tensor<4>, Option<Tensor<4>>)>,
    capacity: usize,
}

impl History {
    /// A history holding only u_0; keeps at most `capacity` (≥ 1) states.
    pub fn new(u0: Tensor<4>, capacity: usize) -> Self {
        Self { current: u0, current_f: None, past: VecDeque::new(), capacity: capacity.max(1) }
    }

    /// u_n, the newest state.
    pub fn current(&self) -> &Tensor<4> {
        &self.current
    }

    /// u_{n−j}, if still held.
    pub fn state(&self, j: usize) -> Option<&Tensor<4>> {
        match j {
            0 => Some(&self.current),
            _ => self.past.get(self.past.len().checked_sub(j)?).map(|(u, _)| u),
        }
    }

    /// f_{n−j}(u_{n−j}), if recorded and still held.
    pub fn f(&self, j: usize) -> Option<&Tensor<4>> {
        match j {
            0 => self.current_f.as_ref(),
            _ => self.past.get(self.past.len().checked_sub(j)?).and_then(|(_, f)| f.as_ref()),
        }
    }

    /// How many of the newest states have their f recorded (m: the steps a rule can use).
    pub fn len_with_f(&self) -> usize {
        if self.current_f.is_none() {
            return 0;
        }
        1 + self.past.iter().rev().take_while(|(_, f)| f.is_some()).count()
    }

    /// Records f_n(u_n) for the newest state.
    pub fn record_f(&mut self, f: Tensor<4>) {
        self.current_f = Some(f);
    }

    /// Appends u_{n+1}, dropping states older than the capacity.
    pub fn advance(&mut self, u_next: Tensor<4>) {
        let old = std::mem::replace(&mut self.current, u_next);
        self.past.push_back((old, self.current_f.take()));
        while self.past.len() >= self.capacity {
            self.past.pop_front();
        }
    }

    /// `record_f(f_n)` then `advance(u_{n+1})`.
    pub fn push(&mut self, f: Tensor<4>, u_next: Tensor<4>) {
        self.record_f(f);
        self.advance(u_next);
    }

    /// Replaces u_n by `f(u_n)` (e.g. noise injected after a step).
    pub fn map_current(&mut self, f: impl FnOnce(Tensor<4>) -> Tensor<4>) {
        let u = self.current.clone();
        self.current = f(u);
    }

    /// The newest state, u_n.
    pub fn into_current(self) -> Tensor<4> {
        self.current
    }
}
