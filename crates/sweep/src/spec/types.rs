//! The sweep file's types, as parsed and checked (`parse.rs`), with their defaults and bounds.

use std::path::PathBuf;

use serde::Serialize;
use toml::{Table, Value};

/// The objective when `[objective]` names none.
pub const DEFAULT_OBJECTIVE_METRIC: &str = "final_valid_f1";
/// Minutes after which a RUNNING trial of another process counts as dead.
pub const DEFAULT_STALE_AFTER_MINUTES: u64 = 10;
/// Finished trials needed before pruning compares a trial with them.
pub const DEFAULT_PRUNING_MIN_FINISHED: usize = 2;
/// The most trials a plan may expand to: beyond it a typo (a list too long, a zero too many in
/// `samples`) would only exhaust memory.
pub const MAX_TRIALS: usize = 100_000;

/// A parsed and checked sweep file.
#[derive(Debug, Clone, Serialize)]
pub struct SweepSpec {
    /// `name`, else the file stem: the parent run's name and the trials' name prefix.
    pub name: String,
    pub path: PathBuf,
    /// The file as read, logged with the sweep so that it can be rerun.
    pub source_text: String,
    /// The base run config as a TOML table, before any override.
    pub base: Table,
    /// The base config's file when `base` names one; `None` for an inline `[base]` table.
    pub base_path: Option<PathBuf>,
    /// Every trial's experiment: `experiment`, else the base config's.
    pub experiment: String,
    /// Trials run at once; `None`: the runner decides.
    pub max_parallel: Option<usize>,
    /// The registered model the champion becomes a version of.
    pub registered_model: Option<String>,
    pub stale_after_minutes: u64,
    pub objective: Objective,
    pub search: SearchSpec,
    pub pruning: Option<Pruning>,
}

/// `[objective]`: the final metric a sweep optimises.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    /// One of `vigie_runner::run::final_metric_names()`.
    pub metric: String,
    pub direction: Direction,
    /// Guards on the champion: a trial that beats the champion on `metric` still does not take
    /// the alias when it raises one of these (`field_fpr`: more false alarms on traffic no model
    /// trains on) above the champion's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub never_raise: Vec<String>,
    /// The analysts' guard: how many dismissed alarms a trial may raise again, and confirmed
    /// attacks it may let through, and still be crowned (0 and 0 unless the file says more).
    pub feedback_allowed: FeedbackAllowance,
}

/// `allow_feedback_false_alarms` and `allow_feedback_missed` of `[objective]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FeedbackAllowance {
    pub false_alarms: u64,
    pub missed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Maximize,
    Minimize,
}

impl Direction {
    /// Whether `a` is strictly better than `b`. A NaN is never better, and any number is
    /// better than a NaN, so a failed measurement never becomes or stays the champion.
    pub fn better(self, a: f64, b: f64) -> bool {
        if a.is_nan() {
            return false;
        }
        if b.is_nan() {
            return true;
        }
        match self {
            Direction::Maximize => a > b,
            Direction::Minimize => a < b,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Direction::Maximize => "maximize",
            Direction::Minimize => "minimize",
        }
    }
}

/// `[pruning]`: stop a trial whose per-epoch metric after `after_epochs` epochs is worse than
/// the finished trials' (once `min_finished` have finished).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pruning {
    pub metric: String,
    pub after_epochs: u64,
    pub min_finished: usize,
}

/// `[search]`, parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchSpec {
    pub strategy: Strategy,
    /// Draws of a random search; `None` for a grid.
    pub samples: Option<usize>,
    /// Seed of a random search's draws (0 for a grid).
    pub seed: u64,
    /// At least one subspace (an empty one when the file has none: the base alone).
    pub space: Vec<Subspace>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Grid,
    Random,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Grid => "grid",
            Strategy::Random => "random",
        }
    }
}

/// One `[[search.space]]`: fixed overrides and the axes varied on top of them. Each list is
/// sorted by dotted path.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Subspace {
    pub label: Option<String>,
    /// Overrides applied to every trial of this subspace, before its point.
    pub set: Vec<(String, Value)>,
    /// Each path's non-empty list of values (a grid's axes; a random search's choices).
    pub grid: Vec<(String, Vec<Value>)>,
    /// Each path's distribution (random search only).
    pub random: Vec<(String, Distribution)>,
}

/// A distribution a random search draws an override from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "distribution", rename_all = "snake_case")]
pub enum Distribution {
    /// Uniform in `[low, high)`.
    Uniform { low: f64, high: f64 },
    /// `exp` of a uniform in `[ln low, ln high)`: as many draws per decade.
    LogUniform { low: f64, high: f64 },
    /// An integer in `low..=high`.
    IntUniform { low: i64, high: i64 },
    /// One of `values`, uniformly.
    Choice { values: Vec<Value> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nan_is_never_better() {
        for direction in [Direction::Maximize, Direction::Minimize] {
            assert!(!direction.better(f64::NAN, 1.0));
            assert!(!direction.better(f64::NAN, f64::NAN));
            assert!(direction.better(1.0, f64::NAN));
            assert!(!direction.better(1.0, 1.0));
        }
        assert!(Direction::Maximize.better(2.0, 1.0));
        assert!(Direction::Minimize.better(1.0, 2.0));
        assert_eq!(Direction::Minimize.name(), "minimize");
    }
}
