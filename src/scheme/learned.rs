//! The learned coefficients of a network as one typed record: which coefficient, where (stage,
//! step within the stage, global block) and its values. Read by the trainer's metrics, `k.json`,
//! `analyze` and `report`.

use burn::module::{Param, ParamGroup};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Which trainable coefficient of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coefficient {
    /// LM k_n ([`super::two_step`]), one value or one per channel.
    LmK,
    /// Deviations δa_j of a trainable multistep rule ([`super::multistep`]).
    MultistepA,
    /// Deviations δb_j of a trainable multistep rule.
    MultistepB,
    /// FractalNet's (k1, k2, k3) ([`super::fractal`]).
    FractalK,
}

/// The learned values of one coefficient at one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    /// Stage index (0-based).
    pub stage: usize,
    /// Step n ≥ 1 within the stage (step 0 is the Euler start and learns nothing).
    pub step: usize,
    /// Global index of the block taking the step, 1-based (block 1 is the first block of stage
    /// 0), as in `analysis.json`.
    pub block: usize,
    pub coefficient: Coefficient,
    pub values: Vec<f32>,
}

impl Coefficient {
    /// The field holding this coefficient in its rule's struct: the last part of its parameter
    /// path `stages.N.scheme.<field>` (kept from the first checkpoints, see [`super::Scheme`]).
    pub fn field(self) -> &'static str {
        match self {
            Self::LmK => "lm_k",
            Self::MultistepA => "ms_a",
            Self::MultistepB => "ms_b",
            Self::FractalK => "fractal_k",
        }
    }

    /// The optimizer's parameter group of this coefficient in a [`crate::Net`].
    pub fn group(self) -> ParamGroup {
        ParamGroup::from_predicate(format!(".scheme.{}", self.field()))
    }
}

/// The `k.json` form of the LM rows: `[stage, step, values]` (the file's format since its first
/// version; the block is implied by the model's depths).
pub type KRow = (usize, usize, Vec<f32>);

impl Learned {
    /// The `k.json` rows of the LM coefficients among `rows`.
    pub fn k_json(rows: &[Learned]) -> Vec<KRow> {
        rows.iter()
            .filter(|l| l.coefficient == Coefficient::LmK)
            .map(|l| (l.stage, l.step, l.values.clone()))
            .collect()
    }

    /// LM rows read back from `k.json`, with blocks from the stage `depths`.
    pub fn from_k_json(rows: Vec<KRow>, depths: &[usize]) -> Vec<Learned> {
        rows.into_iter()
            .map(|(stage, step, values)| Learned {
                stage,
                step,
                block: depths.iter().take(stage).sum::<usize>() + step + 1,
                coefficient: Coefficient::LmK,
                values,
            })
            .collect()
    }

    /// One row per step of a `[rows, width]` parameter whose row r is step `first_step + r`
    /// (stage and block 0: the stage is filled in by [`crate::Net::learned`]).
    pub(crate) fn rows(coefficient: Coefficient, p: &Param<Tensor<2>>, first_step: usize) -> Vec<Self> {
        let [rows, width] = p.dims();
        let flat: Vec<f32> = p.val().into_data().try_into_vec_as::<f32>().unwrap_or_default();
        (0..rows)
            .map(|r| Self {
                stage: 0,
                step: first_step + r,
                block: 0,
                coefficient,
                values: flat.get(r * width..(r + 1) * width).unwrap_or_default().to_vec(),
            })
            .collect()
    }
}
