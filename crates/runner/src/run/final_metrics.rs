//! The metrics a run logs at its end, by name: what a sweep may optimise or guard, and what
//! must repeat when the run is reproduced.

use vigie_models::metrics::{self, BinaryMetrics};

use super::RunOutcome;

/// The metrics of a finished run that must be the same when the run is repeated with the same
/// config and seed (everything but timings and memory).
pub fn reproducible_metrics(outcome: &RunOutcome) -> Vec<(String, f64)> {
    let mut out = vec![("threshold".to_owned(), outcome.threshold.threshold)];
    for (prefix, m) in [("valid", &outcome.valid), ("test", &outcome.test)] {
        out.extend(metric_values(prefix, m));
    }
    out
}

/// The names of the metrics every finished run logs once at the end (a sweep optimises one of
/// them): `threshold`, `final_valid_*` and `test_*` at the threshold, timings and memory. The
/// per-family recalls (`test_recall_<family>`) depend on the dataset and are not listed.
pub fn final_metric_names() -> Vec<String> {
    let blank = metrics::evaluate(&[], &[], 0.5);
    let mut names = vec!["threshold".to_owned()];
    for prefix in ["final_valid", "test"] {
        names.extend(metric_values(prefix, &blank).into_iter().map(|(k, _)| k));
    }
    names.extend(
        [
            "train_seconds",
            "score_requests_per_s",
            "score_p50_us",
            "score_p99_us",
            "peak_rss_mb",
        ]
        .map(str::to_owned),
    );
    names.extend(crate::field::FIELD_METRIC_NAMES.map(str::to_owned));
    names.extend(crate::robust::ROBUST_METRIC_NAMES.map(str::to_owned));
    names.extend(crate::feedback::FEEDBACK_METRIC_NAMES.map(str::to_owned));
    names
}

pub(super) fn metric_values(prefix: &str, m: &BinaryMetrics) -> Vec<(String, f64)> {
    [
        ("accuracy", m.accuracy),
        ("precision", m.precision),
        ("recall", m.recall),
        ("f1", m.f1),
        ("roc_auc", m.roc_auc),
        ("pr_auc", m.pr_auc),
        ("fpr", m.fpr),
        ("tpr_at_fpr_1e3", m.tpr_at_fpr_1e3),
        ("tpr_at_fpr_1e2", m.tpr_at_fpr_1e2),
        ("tn", m.confusion.tn as f64),
        ("fp", m.confusion.fp as f64),
        ("fn", m.confusion.fn_ as f64),
        ("tp", m.confusion.tp as f64),
    ]
    .into_iter()
    .map(|(name, value)| (format!("{prefix}_{name}"), value))
    .collect()
}
