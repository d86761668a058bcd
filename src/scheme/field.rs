//! The vector field f_n of one block, as a stepping rule sees it.
//!
//! Most rules need f only as a whole, `f(u)`. Two families need a block's two sub-fields:
//! RevNet's coupled step (F, G on the two channel halves) and FractalNet's block (f1, f2). A
//! [`crate::nn::Branch`] is a field; [`super::noise::Noisy`] wraps one with the stochastic terms,
//! so every rule sees them in the same way; a closure `Fn(Tensor<4>) -> Tensor<4>` is a
//! one-part field (tests, the order-of-accuracy check).

use burn::prelude::*;

/// One block's vector field.
pub trait Field {
    /// f(u), the whole field.
    fn eval(&self, u: Tensor<4>) -> Tensor<4>;

    /// How many sub-fields the block has: 1, or 2 for RevNet's (F, G) and FractalNet's (f1, f2).
    fn parts(&self) -> usize {
        1
    }

    /// Sub-field `i < parts()` (the whole field for a one-part block).
    fn part(&self, i: usize, u: Tensor<4>) -> Tensor<4> {
        let _ = i;
        self.eval(u)
    }

    /// Whether the block is dropped in this pass (stochastic depth): f = 0, nothing is evaluated.
    fn dropped(&self) -> bool {
        false
    }
}

impl<F: Fn(Tensor<4>) -> Tensor<4>> Field for F {
    fn eval(&self, u: Tensor<4>) -> Tensor<4> {
        self(u)
    }
}

/// The two sub-fields of a two-part block, for the rule `rule`.
///
/// # Panics
/// If the block has one part: a network whose branch does not fit its rule is refused by
/// [`crate::NetConfig::validate`] before it is built, so this is a programming error, never a
/// silent fall-back to another rule.
pub(crate) fn two_parts<'a, F: Field>(
    f: &'a F,
    rule: &str,
) -> [impl Fn(Tensor<4>) -> Tensor<4> + 'a; 2] {
    assert!(
        f.parts() == 2,
        "the {rule} rule needs a block with two sub-fields (its branch), this one has {}",
        f.parts()
    );
    let part = |i: usize| move |u: Tensor<4>| f.part(i, u);
    [part(0), part(1)]
}

/// The sub-fields a rule's step reads where it needs more than f whole; a branch provides one
/// form ([`crate::nn::BranchKind::field_form`]) and [`crate::NetConfig::validate`] matches them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldForm {
    /// f as a whole (every one-part branch).
    Whole,
    /// RevNet's F, G, each acting on one channel half.
    Halves,
    /// FractalNet's two full-width sub-fields f1, f2.
    Pair,
}

impl FieldForm {
    /// The branch kind (as named in `config.json`) that provides this form.
    pub fn branch(self) -> &'static str {
        match self {
            Self::Whole => "basic",
            Self::Halves => "coupled",
            Self::Pair => "pair",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Whole => "one field f",
            Self::Halves => "two sub-fields F, G on the channel halves",
            Self::Pair => "two full-width sub-fields f1, f2",
        }
    }
}
