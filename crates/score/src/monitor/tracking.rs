//! Monitoring windows as MLflow records them, the same for `vigie monitor` and the service's
//! own windows: one metric point per window and metric, stepped by the window's index since the
//! epoch and stamped with its start (so both the step and the time axes of the UI read as the
//! traffic's time), the drift as tags, and the rule as params.

use vigie_mlflow::{Metric, Param, Tag};

use super::window::label;
use super::{DriftRule, WindowReport};

/// `true` when any window of the run drifted.
pub const DRIFT_TAG: &str = "vigie.drift";
/// The drifted windows' starts, comma-separated.
pub const DRIFTED_WINDOWS_TAG: &str = "vigie.drifted_windows";

/// The longest `vigie.drifted_windows` tag, under MLflow's 8000 characters.
const MAX_DRIFTED_TAG_CHARS: usize = 7000;

/// The window's metrics as points (`alerts_<family>` for each of `families`).
pub fn window_metrics(window: &WindowReport, families: &[String]) -> Vec<Metric> {
    window
        .metric_values(families)
        .into_iter()
        .map(|(key, value)| Metric::at(key, value, window.step, window.start_ms))
        .collect()
}

/// `vigie.drift` and, when a window drifted, `vigie.drifted_windows`: the labels of the
/// drifted windows, cut short with a count past the tag's length.
pub fn drift_tags(drifted: &[String]) -> Vec<Tag> {
    let mut tags = vec![Tag::new(DRIFT_TAG, (!drifted.is_empty()).to_string())];
    if drifted.is_empty() {
        return tags;
    }
    let mut value = String::new();
    for (i, window) in drifted.iter().enumerate() {
        if value.len() + window.len() > MAX_DRIFTED_TAG_CHARS {
            value.push_str(&format!(" (+{} more)", drifted.len() - i));
            break;
        }
        if !value.is_empty() {
            value.push(',');
        }
        value.push_str(window);
    }
    tags.push(Tag::new(DRIFTED_WINDOWS_TAG, value));
    tags
}

/// The label of a window that drifted, as `vigie.drifted_windows` lists it.
pub fn drifted_label(window: &WindowReport, window_ms: i64) -> Option<String> {
    (!window.drift.is_empty()).then(|| label(window.start_ms, window_ms))
}

/// The window and the drift rule as params: `window` (as given), `window_ms`, `psi_bound`,
/// `alert_factor`, `expected_alert_rate`, `min_requests`, `threshold`.
pub fn rule_params(window: &str, window_ms: i64, rule: &DriftRule, threshold: f64) -> Vec<Param> {
    vec![
        Param::new("window", window),
        Param::new("window_ms", window_ms.to_string()),
        Param::new("psi_bound", rule.psi_bound.to_string()),
        Param::new("alert_factor", rule.alert_factor.to_string()),
        Param::new("expected_alert_rate", rule.expected_alert_rate.to_string()),
        Param::new("min_requests", rule.min_requests.to_string()),
        Param::new("threshold", threshold.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_tags_list_the_windows_and_stay_under_the_tag_limit() {
        let calm = drift_tags(&[]);
        assert_eq!(calm, vec![Tag::new(DRIFT_TAG, "false")]);
        let two = drift_tags(&["2000-01-01".to_owned(), "2000-01-03".to_owned()]);
        assert_eq!(two[0].value, "true");
        assert_eq!(two[1].value, "2000-01-01,2000-01-03");
        let many: Vec<String> = (0..2000).map(|i| format!("2000-01-01 00:{i:04}")).collect();
        let cut = &drift_tags(&many)[1].value;
        assert!(cut.len() < 8000, "{}", cut.len());
        assert!(cut.ends_with("more)"), "{cut}");
    }
}
