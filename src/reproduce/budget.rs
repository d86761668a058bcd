//! How much of the paper's protocol a reproduction runs. Every table says which budget made it,
//! so that a short-budget result is never mistaken for a full one.

use crate::train::Schedule;
use anyhow::{Result, bail};
use std::fmt;
use std::str::FromStr;

/// Fraction of the recipe's epochs to run; learning-rate milestones scale with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Budget {
    /// The paper's protocol as it is (e.g. 160 epochs, ÷10 at 80 and 120).
    Full,
    /// A tenth of the epochs (rounded up), milestones scaled.
    Short,
    /// Two epochs (so that a resume happens between them) on 20 training and 10 test images
    /// per class, batch 32: checks that every row runs end to end, says nothing about accuracy.
    Smoke,
    /// Exactly N epochs, milestones scaled by N / (the recipe's epochs).
    Epochs(usize),
}

/// What a budget does to one recipe.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaled {
    pub epochs: usize,
    pub schedule: Schedule,
    pub train_per_class: Option<usize>,
    pub test_per_class: Option<usize>,
    pub batch_size: Option<usize>,
}

impl Budget {
    /// The recipe (`epochs`, `schedule`) cut to this budget.
    pub fn apply(self, epochs: usize, schedule: &Schedule) -> Scaled {
        let target = match self {
            Budget::Full => epochs,
            Budget::Short => epochs.div_ceil(10),
            Budget::Smoke => 2,
            Budget::Epochs(n) => n,
        }
        .max(1);
        let schedule = match schedule {
            Schedule::Step { milestones, gamma } => Schedule::Step {
                milestones: milestones
                    .iter()
                    .map(|&m| ((m * target) as f64 / epochs.max(1) as f64).round() as usize)
                    .collect(),
                gamma: *gamma,
            },
            other => other.clone(),
        };
        let smoke = self == Budget::Smoke;
        Scaled {
            epochs: target,
            schedule,
            train_per_class: smoke.then_some(20),
            test_per_class: smoke.then_some(10),
            batch_size: smoke.then_some(32),
        }
    }

    pub fn is_full(self) -> bool {
        self == Budget::Full
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Budget::Full => f.write_str("full"),
            Budget::Short => f.write_str("short"),
            Budget::Smoke => f.write_str("smoke"),
            Budget::Epochs(n) => write!(f, "epochs={n}"),
        }
    }
}

impl FromStr for Budget {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "full" => Ok(Budget::Full),
            "short" => Ok(Budget::Short),
            "smoke" => Ok(Budget::Smoke),
            _ => match s.strip_prefix("epochs=").map(str::parse::<usize>) {
                Some(Ok(n)) if n > 0 => Ok(Budget::Epochs(n)),
                _ => bail!("unknown budget '{s}': use full, short, smoke or epochs=N (N ≥ 1)"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper() -> Schedule {
        Schedule::Step { milestones: vec![80, 120], gamma: 0.1 }
    }

    #[test]
    fn full_is_the_recipe_and_short_a_tenth_with_scaled_milestones() {
        let full = Budget::Full.apply(160, &paper());
        assert_eq!((full.epochs, full.schedule), (160, paper()));
        let short = Budget::Short.apply(160, &paper());
        assert_eq!(short.epochs, 16);
        assert_eq!(short.schedule, Schedule::Step { milestones: vec![8, 12], gamma: 0.1 });
        let four = Budget::Epochs(4).apply(160, &paper());
        assert_eq!(four.schedule, Schedule::Step { milestones: vec![2, 3], gamma: 0.1 });
        let smoke = Budget::Smoke.apply(160, &paper());
        assert_eq!((smoke.epochs, smoke.train_per_class, smoke.batch_size), (2, Some(20), Some(32)));
        assert_eq!(smoke.schedule, Schedule::Step { milestones: vec![1, 2], gamma: 0.1 });
    }

    #[test]
    fn budgets_parse_and_print_back() {
        for s in ["full", "short", "smoke", "epochs=3"] {
            assert_eq!(s.parse::<Budget>().unwrap().to_string(), s);
        }
        for bad in ["", "long", "epochs=0", "epochs=x"] {
            assert!(bad.parse::<Budget>().is_err(), "{bad}");
        }
    }
}
