//! The median pruning rule, fed the finished trials' per-epoch histories.

use std::collections::BTreeMap;
use std::sync::Mutex;

use vigie_mlflow::{DefaultStore, Run, RunStatus, TrackingStore};

use crate::error::Result;
use crate::spec::{Direction, Pruning, SweepSpec};
use crate::tags;

/// The sweep's pruner when its file asks for pruning, fed the trials an earlier invocation
/// finished (`runs`: the sweep's runs).
pub(super) fn load_pruner(
    spec: &SweepSpec,
    store: &DefaultStore,
    runs: &[Run],
) -> Result<Option<Pruner>> {
    let Some(rule) = &spec.pruning else {
        return Ok(None);
    };
    let pruner = Pruner::new(rule.clone(), spec.objective.direction);
    pruner.load_finished(store, runs)?;
    Ok(Some(pruner))
}

/// The median pruning rule: a trial whose per-epoch metric, at an epoch at or after
/// `after_epochs`, is worse than the median of the finished trials at that epoch is stopped.
/// A metric whose name ends in `loss` is taken as lower-is-better; any other follows the
/// sweep's objective direction.
pub struct Pruner {
    rule: Pruning,
    lower_is_better: bool,
    finished: Mutex<BTreeMap<u64, Vec<f64>>>,
}

impl Pruner {
    pub fn new(rule: Pruning, objective: Direction) -> Pruner {
        let lower_is_better =
            rule.metric.ends_with("loss") || matches!(objective, Direction::Minimize);
        Pruner {
            rule,
            lower_is_better,
            finished: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes in the histories of the trials an earlier invocation finished.
    fn load_finished(&self, store: &DefaultStore, runs: &[Run]) -> Result<()> {
        for run in runs {
            if run.info.status == RunStatus::Finished
                && run.data.tag(tags::ROLE) == Some(tags::ROLE_TRIAL)
            {
                let history: Vec<(u64, f64)> = store
                    .metric_history(&run.info.run_id, &self.rule.metric)?
                    .into_iter()
                    .map(|m| (u64::try_from(m.step).unwrap_or(0), m.value))
                    .collect();
                self.record(&history);
            }
        }
        Ok(())
    }

    /// The per-epoch metric the rule compares.
    pub(super) fn metric(&self) -> &str {
        &self.rule.metric
    }

    /// Adds a finished trial's per-epoch values.
    pub fn record(&self, history: &[(u64, f64)]) {
        let mut finished = self
            .finished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (step, value) in history {
            if value.is_finite() {
                finished.entry(*step).or_default().push(*value);
            }
        }
    }

    /// `Some(reason)` when a trial at `value` after `step` epochs should stop.
    pub fn verdict(&self, step: u64, value: f64) -> Option<String> {
        if step < self.rule.after_epochs {
            return None;
        }
        let finished = self
            .finished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let values = finished.get(&step)?;
        if values.len() < self.rule.min_finished {
            return None;
        }
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 0 {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        };
        let worse = if self.lower_is_better {
            value > median
        } else {
            value < median
        } || value.is_nan();
        worse.then(|| {
            format!(
                "pruned after epoch {step}: {} = {value:.5}, worse than the median {median:.5} of {} finished trials",
                self.rule.metric,
                sorted.len()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(after: u64, min: usize, metric: &str) -> Pruning {
        Pruning {
            metric: metric.to_owned(),
            after_epochs: after,
            min_finished: min,
        }
    }

    #[test]
    fn the_median_rule_waits_for_enough_finished_trials_then_stops_the_worse_half() {
        let pruner = Pruner::new(rule(2, 2, "valid_roc_auc"), Direction::Maximize);
        pruner.record(&[(1, 0.90), (2, 0.95)]);
        assert_eq!(
            pruner.verdict(2, 0.5),
            None,
            "one finished trial is not enough"
        );
        pruner.record(&[(1, 0.80), (2, 0.97)]);
        assert_eq!(pruner.verdict(1, 0.1), None, "before after_epochs");
        assert!(pruner.verdict(2, 0.95).is_some(), "below the median 0.96");
        assert_eq!(pruner.verdict(2, 0.96), None);
        assert_eq!(
            pruner.verdict(3, 0.1),
            None,
            "no finished trial reached epoch 3"
        );
        let losses = Pruner::new(rule(1, 1, "valid_loss"), Direction::Maximize);
        losses.record(&[(1, 0.3)]);
        assert!(losses.verdict(1, 0.4).is_some());
        assert_eq!(losses.verdict(1, 0.2), None);
    }
}
