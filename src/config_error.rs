//! [`ConfigError`], a configuration value that breaks a rule, and the helpers that state rules.
//! The lowest layer, so that each configuration type can state its own rules next to its fields
//! (a scheme family in its file); [`crate::validate`] checks them all in one call.

use std::fmt::Debug;

/// A configuration value that breaks a rule.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field} = {value}: {rule}")]
pub struct ConfigError {
    /// Path of the field in `config.json`, e.g. `optim.lr` or `model.widths[1]`.
    pub field: String,
    /// The offending value, as written in JSON.
    pub value: String,
    /// What the value must satisfy.
    pub rule: String,
}

/// `Err` naming `field`, `value` and `rule` unless `ok`.
pub(crate) fn check(ok: bool, field: impl Into<String>, value: impl Debug, rule: &str) -> Result<(), ConfigError> {
    if ok {
        return Ok(());
    }
    let value = format!("{value:?}");
    Err(ConfigError { field: field.into(), value, rule: rule.into() })
}

pub(crate) fn positive(field: impl Into<String>, value: usize) -> Result<(), ConfigError> {
    check(value >= 1, field, value, "must be at least 1")
}
