//! What a rule family's configuration provides ([`RuleConfig`], one impl in the family's file),
//! and [`SchemeConfig`] (generated with the registry in `scheme/mod.rs`) dispatching to it: the
//! JSON form written into every run's `config.json`, its rules, its Dahlquist report and the
//! [`Scheme`] it builds.

use super::{FieldForm, Scheme, SchemeConfig, SchemeReport};
use crate::config_error::ConfigError;
use burn::prelude::*;

/// A family's configuration: the serde struct a `rule` of `config.json` holds.
pub trait RuleConfig {
    /// Short human name of the numerical scheme.
    fn describe(&self) -> String;

    /// Dahlquist's verdict on the rule as initialised (a learned rule: at its initial values).
    fn report(&self) -> SchemeReport;

    /// The rules [`SchemeConfig::warn_if_not_convergent`] checks: the initial rule, or the ends
    /// of a range the coefficients are drawn from.
    fn reports_to_check(&self) -> Vec<SchemeReport> {
        vec![self.report()]
    }

    /// The rules on the config's own fields; a rejection names the field as `scheme.NAME`.
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// The sub-fields the step reads where it needs more than f whole (RevNet, FractalNet):
    /// the network's branch must provide them.
    fn needs_field(&self) -> Option<FieldForm> {
        None
    }

    /// Builds the rule for a stage of `blocks` blocks of `channels` output channels. Step 0 of
    /// a stage is the Euler start, so a learned coefficient exists for steps 1 … blocks − 1.
    fn init(&self, blocks: usize, channels: usize, device: &Device) -> Scheme;
}

/// Dispatch to the family's [`RuleConfig`]. Each family's file adds its named constructors
/// (`SchemeConfig::lm_paper()`, `::ab2()`, `::rk4()`, `::polynet()`, …).
impl SchemeConfig {
    /// The `rule` tag of `config.json`, e.g. `"linear-two-step"`.
    pub fn rule(&self) -> String {
        let json = serde_json::to_value(self).unwrap_or_default();
        json["rule"].as_str().unwrap_or_default().to_string()
    }

    /// Short human name of the numerical scheme.
    pub fn describe(&self) -> String {
        each_config!(self, c => c.describe())
    }

    /// Dahlquist's verdict on the rule as initialised: for LM at the mid-point of `k_init`, for
    /// a trainable multistep rule at its configured coefficients.
    pub fn report(&self) -> SchemeReport {
        each_config!(self, c => c.report())
    }

    /// The rules on the scheme's own fields (see [`RuleConfig::validate`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        each_config!(self, c => c.validate())
    }

    /// The sub-fields the step needs from the branch (see [`RuleConfig::needs_field`]).
    pub fn needs_field(&self) -> Option<FieldForm> {
        each_config!(self, c => c.needs_field())
    }

    /// Logs a `tracing` warning when the rule (for LM: either end of `k_init`) is not
    /// convergent, not even for a rescaled time (`r·u̇ = f`, r > 0). Returns whether it warned.
    pub fn warn_if_not_convergent(&self) -> bool {
        let reports = each_config!(self, c => c.reports_to_check());
        let bad = reports.iter().find(|r| !r.convergent_up_to_rescaling());
        if let Some(r) = bad {
            tracing::warn!(
                scheme = %self.describe(),
                consistent = r.consistent,
                zero_stable = r.zero_stable,
                roots = ?r.roots,
                "the configured stepping rule is not a convergent discretisation of u' = f(u)"
            );
        }
        bad.is_some()
    }

    /// Builds the rule for a stage (see [`RuleConfig::init`]).
    pub fn init(&self, blocks: usize, channels: usize, device: &Device) -> Scheme {
        each_config!(self, c => c.init(blocks, channels, device))
    }
}
