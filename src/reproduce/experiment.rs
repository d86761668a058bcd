//! An experiment of the paper as data: one TOML file per table or claim (`experiments/*.toml`).
//!
//! ```toml
//! title = "CIFAR-10: ResNet vs LM-ResNet (pre-act), test error %"
//! dataset = "cifar10"          # cifar10, cifar100, imagenet, fashion-mnist, mnist
//! preset = "paper-cifar10"     # the recipe of every row unless a row names its own
//! seeds = 3                    # default; `odenet reproduce --seeds N` overrides
//!
//! [[row]]
//! model = "lm-resnet56"        # a registered model (`odenet models`)
//! paper = 6.31                 # the published test error in %, if any
//! paper_source = "…"           # where that number comes from (default: the paper)
//! replication = 6.85           # a public replication's error in %, if any
//! unconfirmed = false          # true: the number could not be checked against the paper
//! stochastic_depth = 0.8       # survival p_L of the last block (stochastic-depth rows)
//!
//! [[claim]]                    # an ordering the paper claims: `better` has the lower error
//! better = "lm-resnet56"
//! worse = "resnet110"
//! kind = "lower"               # or "not-worse" (as accurate as, e.g. with half the parameters)
//!
//! [k_figure]                   # the learned k_n by block, drawn against the paper's figure
//! rows = ["lm-resnet56"]       # rows whose k_n to draw (first seed)
//! paper_range = [-2.0, 1.0]    # range of k_n the paper's figure shows
//! note = "…"
//! ```
//!
//! A row's id is its `id`, or its model name; claims name rows by id.

use crate::train::Preset;
use crate::zoo;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One table or claim of the paper.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub title: String,
    /// Dataset name as `odenet train --data` spells it.
    pub dataset: String,
    /// Recipe name as `odenet train --preset` spells it.
    pub preset: String,
    #[serde(default = "default_seeds")]
    pub seeds: usize,
    /// What the experiment shows, for the results page.
    #[serde(default)]
    pub note: Option<String>,
    #[serde(rename = "row")]
    pub rows: Vec<Row>,
    #[serde(default, rename = "claim")]
    pub claims: Vec<Claim>,
    #[serde(default)]
    pub k_figure: Option<KFigure>,
}

/// The learned-k_n figure: which rows to draw and what the paper's figure shows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KFigure {
    pub rows: Vec<String>,
    #[serde(default)]
    pub paper_range: Option<[f64; 2]>,
    #[serde(default)]
    pub note: Option<String>,
}

fn default_seeds() -> usize {
    3
}

/// One line of a table: a model trained with a recipe, and the numbers published for it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Row {
    #[serde(default)]
    pub id: Option<String>,
    pub model: String,
    /// Published test error in %.
    #[serde(default)]
    pub paper: Option<f64>,
    #[serde(default)]
    pub paper_source: Option<String>,
    /// A public replication's test error in %.
    #[serde(default)]
    pub replication: Option<f64>,
    /// The published number could not be confirmed (e.g. CIFAR-100 and ImageNet rows).
    #[serde(default)]
    pub unconfirmed: bool,
    /// Recipe of this row when it differs from the experiment's.
    #[serde(default)]
    pub preset: Option<String>,
    /// Stochastic depth: survival probability of the last block.
    #[serde(default)]
    pub stochastic_depth: Option<f64>,
}

impl Row {
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.model)
    }
}

/// How two rows' errors are claimed to compare.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimKind {
    /// `better` has a lower error than `worse`.
    #[default]
    Lower,
    /// `better` is at least as accurate as `worse` (the compression claims).
    NotWorse,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub better: String,
    pub worse: String,
    #[serde(default)]
    pub kind: ClaimKind,
}

impl Experiment {
    /// Reads and checks an experiment file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read experiment file {}", path.display()))?;
        let exp: Experiment =
            toml::from_str(&text).with_context(|| format!("{} is not a valid experiment", path.display()))?;
        exp.validate().with_context(|| format!("in experiment {}", path.display()))?;
        Ok(exp)
    }

    /// Every model registered, every preset known, row ids unique, claims naming rows.
    pub fn validate(&self) -> Result<()> {
        if self.rows.is_empty() {
            bail!("no [[row]]: an experiment needs at least one row");
        }
        if self.seeds == 0 {
            bail!("seeds = 0: an experiment needs at least one seed");
        }
        self.dataset_kind()?;
        parse_preset(&self.preset).context("field `preset`")?;
        let mut ids = std::collections::HashSet::new();
        for row in &self.rows {
            zoo::create(&row.model, 3, 10).with_context(|| format!("row '{}': field `model`", row.id()))?;
            if let Some(p) = &row.preset {
                parse_preset(p).with_context(|| format!("row '{}': field `preset`", row.id()))?;
            }
            if let Some(p) = row.stochastic_depth.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
                bail!("row '{}': stochastic_depth = {p} is not a survival probability in (0, 1]", row.id());
            }
            for (name, v) in [("paper", row.paper), ("replication", row.replication)] {
                if let Some(v) = v.filter(|v| !(0.0..=100.0).contains(v)) {
                    bail!("row '{}': {name} = {v} is not an error in % (0 to 100)", row.id());
                }
            }
            if !ids.insert(row.id()) {
                bail!("row id '{}' appears twice; give one of them an `id`", row.id());
            }
        }
        for c in &self.claims {
            for id in [&c.better, &c.worse] {
                if !ids.contains(id.as_str()) {
                    bail!("claim {} vs {}: no row with id '{id}'", c.better, c.worse);
                }
            }
        }
        if let Some(fig) = &self.k_figure {
            for id in &fig.rows {
                if !ids.contains(id.as_str()) {
                    bail!("k_figure: no row with id '{id}'");
                }
            }
            if let Some([lo, hi]) = fig.paper_range.filter(|[lo, hi]| !(lo < hi)) {
                bail!("k_figure: paper_range = [{lo}, {hi}] must be [low, high] with low < high");
            }
        }
        Ok(())
    }

    /// The dataset as the trainer knows it (CIFAR-10 is resolved to its binary or image-folder
    /// form from the path at run time).
    pub fn dataset_kind(&self) -> Result<crate::data::DatasetKind> {
        self.dataset.parse().with_context(|| format!("field `dataset` = '{}'", self.dataset))
    }

    /// The recipe of `row`.
    pub fn row_preset(&self, row: &Row) -> Preset {
        // Validated in `validate`.
        parse_preset(row.preset.as_deref().unwrap_or(&self.preset)).unwrap_or(Preset::PaperCifar10)
    }

    pub fn row(&self, id: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.id() == id)
    }
}

/// A preset by its command-line name (`paper-cifar10`, …).
pub fn parse_preset(name: &str) -> Result<Preset> {
    // Serde's kebab-case names are `--preset`'s (clap's ValueEnum), and its error lists them.
    serde_json::from_value(serde_json::Value::String(name.to_ascii_lowercase()))
        .map_err(|e| anyhow::anyhow!("unknown preset '{name}': {e}"))
}
