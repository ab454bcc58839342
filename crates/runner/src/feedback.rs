//! `[data.feedback]`: analysts' verdicts joined to a run's training and measured on its model.
//!
//! A feedback dataset (`vigie feedback add`, [`vigie_data::feedback`]) holds the alarms analysts
//! dismissed and the attacks they confirmed or found missed. A run that lists feedback datasets
//! - appends each of their requests `weight` times to its training split (a dismissed alarm as
//!   benign, a confirmed or missed attack as malicious): in the linear solvers' summed loss,
//!   `k` copies weigh a request exactly as a sample weight of `k` would. `weight = 0` trains
//!   without them and only measures;
//! - scores every feedback request at its threshold and logs `feedback_false_alarms` (dismissed
//!   alarms it raises again) and `feedback_missed` (confirmed attacks it lets through), which the
//!   sweep's champion guard reads, with the requests behind them as an artifact for analysts.

use serde::{Deserialize, Serialize};
use vigie_data::{Label, PreparedDataset};
use vigie_models::Scorer;

use crate::config::DataSource;
use crate::error::{Result, RunError};

/// The metrics a run with `[data.feedback]` logs, in [`FeedbackMetrics::metric_values`]' order.
pub const FEEDBACK_METRIC_NAMES: [&str; 4] = [
    "feedback_false_alarms",
    "feedback_missed",
    "feedback_dismissed",
    "feedback_attacks",
];

/// The largest `weight`: beyond it one verdict would outweigh whole datasets.
pub const MAX_WEIGHT: usize = 1_000;

/// Name of the artifact listing the feedback requests the model still gets wrong.
pub const REGRESSIONS_FILE: &str = "feedback_regressions.txt";

/// `[data.feedback]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackConfig {
    /// Feedback datasets by name (`vigie feedback add --to NAME` defines them).
    pub datasets: Vec<String>,
    /// Copies of each feedback request in the training split; 0: measured only.
    #[serde(default = "default_weight")]
    pub weight: usize,
}

fn default_weight() -> usize {
    5
}

impl FeedbackConfig {
    /// Checks the values and that every dataset is defined, without reading any.
    pub fn validate(&self, source: &vigie_data::Catalog) -> Result<()> {
        let invalid = |message: String| RunError::Invalid { message };
        if self.datasets.is_empty() {
            return Err(invalid(
                "`data.feedback.datasets`: name at least one feedback dataset".to_owned(),
            ));
        }
        if self.weight > MAX_WEIGHT {
            return Err(invalid(format!(
                "invalid value for `data.feedback.weight`: {} is above {MAX_WEIGHT}",
                self.weight
            )));
        }
        for name in &self.datasets {
            source
                .get(name)
                .map_err(|e| invalid(format!("`data.feedback.datasets`: {e}")))?;
        }
        Ok(())
    }
}

/// Every request of a run's feedback datasets with its verdict's class; a request given by
/// two datasets keeps the first one's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedbackRequests {
    pub texts: Vec<String>,
    pub labels: Vec<Label>,
}

impl FeedbackRequests {
    /// The identity of these verdicts (as a dataset's digest): what a run was measured on.
    pub fn digest(&self) -> String {
        let parts = vec![vigie_data::Split::Train; self.texts.len()];
        vigie_data::dataset_digest(&self.texts, &self.labels, &parts)
    }
}

impl FeedbackRequests {
    fn of(&self, label: Label) -> Vec<String> {
        self.texts
            .iter()
            .zip(&self.labels)
            .filter(|(_, l)| **l == label)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

/// Loads the feedback datasets of `config` from `source`.
pub fn load(config: &FeedbackConfig, source: &DataSource) -> Result<FeedbackRequests> {
    let mut requests = FeedbackRequests::default();
    let mut seen = std::collections::HashSet::new();
    for name in &config.datasets {
        let (def, _) = source.catalog.get(name)?;
        let dataset = vigie_data::load(&def, &source.data_dir, |_| {})?;
        for (text, label) in dataset.texts.into_iter().zip(dataset.labels) {
            if seen.insert(text.clone()) {
                requests.texts.push(text);
                requests.labels.push(label);
            }
        }
    }
    Ok(requests)
}

/// `prepared` with the feedback requests appended to its training split `weight` times each
/// (but for requests it already holds: no test request leaks into training).
pub fn extend_training(
    prepared: PreparedDataset,
    requests: &FeedbackRequests,
    weight: usize,
) -> PreparedDataset {
    if weight == 0 {
        return prepared;
    }
    let mut prepared = prepared;
    for label in [Label::Benign, Label::Malicious] {
        let texts = requests.of(label);
        let given = texts.len();
        let (extended, added) = prepared.with_training_copies(texts, label, weight);
        if added < given {
            tracing::info!(
                "data.feedback: {} {} requests already in the dataset were not added again",
                given - added,
                label.name()
            );
        }
        prepared = extended;
    }
    prepared
}

/// What the feedback says of a model at its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackMetrics {
    /// The verdicts' digest ([`FeedbackRequests::digest`]).
    pub digest: String,
    /// Alarms analysts dismissed (benign feedback requests).
    pub dismissed: u64,
    /// Attacks analysts confirmed or found missed (malicious feedback requests).
    pub attacks: u64,
    /// Dismissed alarms this model raises again.
    pub false_alarms: u64,
    /// Confirmed attacks this model lets through.
    pub missed: u64,
    /// The requests behind `false_alarms` and `missed`, for the artifact.
    #[serde(skip)]
    pub regressions: Vec<(Label, String)>,
}

impl FeedbackMetrics {
    pub fn metric_values(&self) -> Vec<(String, f64)> {
        FEEDBACK_METRIC_NAMES
            .into_iter()
            .zip([self.false_alarms, self.missed, self.dismissed, self.attacks])
            .map(|(name, value)| (name.to_owned(), value as f64))
            .collect()
    }

    /// The artifact's text: one request per line after its verdict.
    pub fn regressions_text(&self) -> String {
        let mut text = String::new();
        for (label, request) in &self.regressions {
            let what = match label {
                Label::Benign => "raised again (dismissed as a false alarm)",
                Label::Malicious => "let through (confirmed attack)",
            };
            text.push_str(&format!("{what}\t{request}\n"));
        }
        text
    }
}

/// Scores every feedback request with `model`, flagged iff `score >= threshold`.
pub fn measure(model: &dyn Scorer, requests: &FeedbackRequests, threshold: f64) -> FeedbackMetrics {
    let texts: Vec<&str> = requests.texts.iter().map(String::as_str).collect();
    let scores = model.score_batch(&texts);
    let mut metrics = FeedbackMetrics {
        digest: requests.digest(),
        dismissed: 0,
        attacks: 0,
        false_alarms: 0,
        missed: 0,
        regressions: Vec::new(),
    };
    for ((text, label), score) in requests.texts.iter().zip(&requests.labels).zip(scores) {
        let flagged = score >= threshold;
        let wrong = match label {
            Label::Benign => {
                metrics.dismissed += 1;
                flagged
            }
            Label::Malicious => {
                metrics.attacks += 1;
                !flagged
            }
        };
        if wrong {
            match label {
                Label::Benign => metrics.false_alarms += 1,
                Label::Malicious => metrics.missed += 1,
            }
            metrics.regressions.push((*label, text.clone()));
        }
    }
    metrics
}

#[cfg(test)]
mod tests {
    use vigie_data::{Dataset, Origin, PrepareConfig, Split};

    use super::*;
    use crate::test_support::QuoteScorer;

    /// `n` distinct requests, every other one malicious, split 70/10/20.
    fn prepared(n: usize) -> PreparedDataset {
        let label = |i: usize| [Label::Benign, Label::Malicious][i % 2];
        let dataset = Dataset {
            name: "d".to_owned(),
            texts: (0..n).map(|i| format!("/page{i}")).collect(),
            labels: (0..n).map(label).collect(),
            origins: (0..n as u64).map(|line| Origin { file: 0, line }).collect(),
            files: Vec::new(),
        };
        PreparedDataset::new(dataset, &PrepareConfig::default()).expect("split")
    }

    fn requests() -> FeedbackRequests {
        FeedbackRequests {
            texts: ["/a?q=o'brien", "/b", "/c?id=1'--", "/d?id=1 or 1=1"]
                .map(str::to_owned)
                .to_vec(),
            labels: vec![
                Label::Benign,
                Label::Benign,
                Label::Malicious,
                Label::Malicious,
            ],
        }
    }

    #[test]
    fn counts_the_dismissed_alarms_raised_again_and_the_attacks_let_through() {
        let metrics = measure(&QuoteScorer, &requests(), 0.5);
        assert_eq!(
            (
                metrics.dismissed,
                metrics.attacks,
                metrics.false_alarms,
                metrics.missed
            ),
            (2, 2, 1, 1)
        );
        let text = metrics.regressions_text();
        assert!(
            text.contains("raised again (dismissed as a false alarm)\t/a?q=o'brien"),
            "{text}"
        );
        assert!(
            text.contains("let through (confirmed attack)\t/d?id=1 or 1=1"),
            "{text}"
        );
        let names: Vec<String> = metrics
            .metric_values()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(names, FEEDBACK_METRIC_NAMES);
        let mut relabelled = requests();
        relabelled.labels[0] = Label::Malicious;
        assert_eq!(metrics.digest, requests().digest());
        assert_ne!(
            relabelled.digest(),
            requests().digest(),
            "a verdict changes the digest"
        );
    }

    #[test]
    fn feedback_joins_training_weight_times_and_never_from_other_splits() {
        let prepared = prepared(400);
        let test_text = prepared.part(Split::Test).0[0].to_owned();
        let before = prepared.part(Split::Train).0.len();
        let digest = prepared.digest.clone();
        let mut feedback = requests();
        feedback.texts.push(test_text.clone());
        feedback.labels.push(Label::Benign);
        let extended = extend_training(prepared, &feedback, 3);
        let (train, train_labels) = extended.part(Split::Train);
        assert_eq!(
            train.len(),
            before + 4 * 3,
            "four new requests, three copies each"
        );
        let copies = train.iter().filter(|t| **t == "/a?q=o'brien").count();
        assert_eq!(copies, 3);
        let index = train
            .iter()
            .position(|t| *t == "/c?id=1'--")
            .expect("added");
        assert_eq!(train_labels[index], Label::Malicious);
        assert_eq!(
            train.iter().filter(|t| **t == test_text).count(),
            0,
            "no leak"
        );
        assert_ne!(extended.digest, digest, "the digest covers the feedback");
    }

    #[test]
    fn weight_zero_only_measures() {
        let prepared = prepared(100);
        let digest = prepared.digest.clone();
        assert_eq!(extend_training(prepared, &requests(), 0).digest, digest);
    }
}
