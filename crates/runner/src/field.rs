//! The field check: every run's model scored on traffic it was never trained on.
//!
//! Test splits flatter a model: they come from the same site and the same attack generator as
//! its training data. `echows-urldetect` (one day of real benign URLs of one production site,
//! and SQL injection URLs) stands for a site the model has never seen, so each run scores all
//! of its requests (deduplicated, no split) at the run's threshold and logs `field_*` metrics
//! beside the test metrics: false alarms per benign request and per 10,000, and the recall on
//! its SQL injections. Its files may be absent on a user's machine; the check is then skipped,
//! with one info line, never an error. It is skipped as well when the run trains on it.
//!
//! A sweep runs many trials in one process: the set is loaded once per data dir and shared.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use vigie_data::{Label, dedup};
use vigie_models::Scorer;
use vigie_models::metrics::Confusion;

use crate::config::{DataConfig, DataSource};

/// The dataset of the field check (a catalog name).
pub const FIELD_DATASET: &str = "echows-urldetect";

/// The requests of the field check, loaded and deduplicated once.
#[derive(Debug)]
pub struct FieldSet {
    pub dataset: String,
    pub texts: Vec<String>,
    pub labels: Vec<Label>,
}

/// The metrics a run logs from the field check, in [`FieldMetrics::metric_values`]' order.
pub const FIELD_METRIC_NAMES: [&str; 5] = [
    "field_fpr",
    "field_alerts_per_10k",
    "field_false_alarms",
    "field_sqli_recall",
    "field_requests",
];

/// What the field check measured at the run's threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldMetrics {
    pub dataset: String,
    pub requests: u64,
    pub benign: u64,
    pub malicious: u64,
    /// Benign requests flagged.
    pub false_alarms: u64,
    /// false_alarms / benign; NaN when there is no benign request (serialised as null).
    pub fpr: f64,
    /// False alarms per 10,000 benign requests: the alert load a SOC would see.
    pub alerts_per_10k: f64,
    /// Malicious requests flagged.
    pub sqli_detected: u64,
    /// sqli_detected / malicious (echows-urldetect's malicious rows are all SQL injections);
    /// NaN when there is none.
    pub sqli_recall: f64,
}

impl FieldMetrics {
    /// The metrics a run logs (MLflow and the sweep's ranking), finite values only: MLflow
    /// would store a NaN, and a missing class measures nothing.
    pub fn metric_values(&self) -> Vec<(String, f64)> {
        FIELD_METRIC_NAMES
            .into_iter()
            .zip([
                self.fpr,
                self.alerts_per_10k,
                self.false_alarms as f64,
                self.sqli_recall,
                self.requests as f64,
            ])
            .filter(|(_, value)| value.is_finite())
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }
}

/// Whether a run of `data` gets the field check: not when it trains on the field dataset
/// (alone or in a `+` union), since then the field is no longer unseen.
pub fn applies_to(data: &DataConfig) -> bool {
    !data.dataset_names().any(|name| name == FIELD_DATASET)
}

/// Scores every request of `set` with `model` and counts at `threshold` (flagged iff
/// `score >= threshold`, as everywhere).
pub fn measure(model: &dyn Scorer, set: &FieldSet, threshold: f64) -> FieldMetrics {
    let texts: Vec<&str> = set.texts.iter().map(String::as_str).collect();
    let scores = model.score_batch(&texts);
    let confusion = Confusion::at_threshold(&scores, &set.labels, threshold);
    FieldMetrics {
        dataset: set.dataset.clone(),
        requests: confusion.total(),
        benign: confusion.benign(),
        malicious: confusion.malicious(),
        false_alarms: confusion.fp,
        fpr: confusion.fpr(),
        alerts_per_10k: confusion.alerts_per_10k(),
        sqli_detected: confusion.tp,
        sqli_recall: ratio(confusion.tp, confusion.malicious()),
    }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        f64::NAN
    } else {
        numerator as f64 / denominator as f64
    }
}

/// The field set of `source`'s data dir, loaded on first use and kept for the process (`None`
/// when its files are absent or do not load: the run goes on without the check).
pub fn field_set(source: &DataSource) -> Option<Arc<FieldSet>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Option<Arc<FieldSet>>>>> = OnceLock::new();
    let cache = LOADED.get_or_init(Default::default);
    // The lock is held while loading, so that parallel trials wait for one load rather than
    // each doing it. A panic while loading leaves nothing in the map, so the data is fine.
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache
        .entry(source.data_dir.clone())
        .or_insert_with(|| load(source).map(Arc::new))
        .clone()
}

/// Loads and deduplicates the field dataset of `source`, logging why not when it cannot.
fn load(source: &DataSource) -> Option<FieldSet> {
    let data_dir = &source.data_dir;
    let def = match source.catalog.get(FIELD_DATASET) {
        Ok((def, _)) => def,
        Err(error) => {
            tracing::info!(%error, "no field check: {FIELD_DATASET} is not in the catalog");
            return None;
        }
    };
    if let Some(missing) = def.files.iter().find(|f| f.resolve(data_dir).is_none()) {
        tracing::info!(
            "no field check: {} is not in {} (`vigie data fetch {FIELD_DATASET}` gets it)",
            missing.path,
            data_dir.display()
        );
        return None;
    }
    match vigie_data::load(&def, data_dir, |_| {}) {
        Ok(dataset) => {
            let (dataset, _) = dedup(dataset);
            Some(FieldSet {
                dataset: def.name.clone(),
                texts: dataset.texts,
                labels: dataset.labels,
            })
        }
        Err(error) => {
            // The run's own data loaded; a broken copy of the field set costs only its check.
            tracing::warn!(%error, "no field check: {FIELD_DATASET} does not load");
            None
        }
    }
}

/// The field check of a run: `None` when it does not apply or its data is absent.
pub fn check(
    data: &DataConfig,
    source: Option<&DataSource>,
    model: &dyn Scorer,
    threshold: f64,
) -> Option<FieldMetrics> {
    if !applies_to(data) {
        return None;
    }
    let set = field_set(source?)?;
    Some(measure(model, &set, threshold))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use vigie_data::Catalog;

    use super::*;
    use crate::RunConfig;
    use crate::test_support::QuoteScorer;

    fn data(dataset: &str) -> DataConfig {
        let text = format!("[data]\ndataset = \"{dataset}\"\n[model]\nkind = \"linear_svm\"\n");
        RunConfig::from_toml(&text, Path::new("c.toml"))
            .expect("config")
            .data
    }

    #[test]
    fn a_run_that_trains_on_the_field_dataset_gets_no_field_check() {
        assert!(applies_to(&data("fwaf")));
        assert!(applies_to(&data("fwaf+csic2010")));
        assert!(!applies_to(&data("echows-urldetect")));
        assert!(!applies_to(&data("fwaf+echows-urldetect")));
        assert!(!applies_to(&data("fwaf + echows-urldetect")));
    }

    #[test]
    fn false_alarms_and_recall_are_counted_at_the_threshold() {
        let set = FieldSet {
            dataset: FIELD_DATASET.to_owned(),
            texts: ["/a", "/b'", "/c", "/d", "/e?id=1'--", "/f?id=1 or 1=1"]
                .map(str::to_owned)
                .to_vec(),
            labels: vec![
                Label::Benign,
                Label::Benign,
                Label::Benign,
                Label::Benign,
                Label::Malicious,
                Label::Malicious,
            ],
        };
        let field = measure(&QuoteScorer, &set, 0.5);
        assert_eq!((field.requests, field.benign, field.malicious), (6, 4, 2));
        assert_eq!((field.false_alarms, field.sqli_detected), (1, 1));
        assert_eq!(field.fpr, 0.25);
        assert_eq!(field.alerts_per_10k, 2_500.0);
        assert_eq!(field.sqli_recall, 0.5);
        let names: Vec<String> = field.metric_values().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "field_fpr",
                "field_alerts_per_10k",
                "field_false_alarms",
                "field_sqli_recall",
                "field_requests"
            ]
        );
        // Above every score: nothing flagged.
        let quiet = measure(&QuoteScorer, &set, 2.0);
        assert_eq!((quiet.false_alarms, quiet.sqli_recall), (0, 0.0));
    }

    #[test]
    fn a_benign_only_field_set_logs_no_recall_rather_than_nan() {
        let set = FieldSet {
            dataset: FIELD_DATASET.to_owned(),
            texts: vec!["/a".to_owned(), "/b'".to_owned()],
            labels: vec![Label::Benign, Label::Benign],
        };
        let field = measure(&QuoteScorer, &set, 0.5);
        assert!(field.sqli_recall.is_nan());
        let names: Vec<String> = field.metric_values().into_iter().map(|(k, _)| k).collect();
        assert!(!names.iter().any(|n| n == "field_sqli_recall"), "{names:?}");
        assert!(names.iter().any(|n| n == "field_alerts_per_10k"));
    }

    #[test]
    fn absent_files_skip_the_check() {
        let empty = tempfile::tempdir().expect("tempdir");
        let source = DataSource {
            catalog: Catalog::builtin().expect("catalog"),
            data_dir: empty.path().to_owned(),
        };
        assert!(field_set(&source).is_none());
        assert!(check(&data("fwaf"), Some(&source), &QuoteScorer, 0.5).is_none());
        assert!(check(&data("fwaf"), None, &QuoteScorer, 0.5).is_none());
    }

    #[test]
    fn the_shared_field_set_is_every_deduplicated_request_loaded_once() {
        let dir = std::env::var_os("VIGIE_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
            });
        if !dir.join("echows-urldetect").is_dir() {
            eprintln!(
                "SKIP: no echows-urldetect under {} (set VIGIE_DATA_DIR)",
                dir.display()
            );
            return;
        }
        let source = DataSource {
            catalog: Catalog::builtin().expect("catalog"),
            data_dir: dir,
        };
        let first = field_set(&source).expect("the field set loads");
        let [benign, malicious] = [Label::Benign, Label::Malicious]
            .map(|label| first.labels.iter().filter(|l| **l == label).count());
        // The counts of the table: 27,190 distinct benign URLs, 1,027 SQLi ones.
        assert_eq!((benign, malicious), (27_190, 1_027));
        let second = field_set(&source).expect("cached");
        assert!(Arc::ptr_eq(&first, &second), "loaded once per data dir");
        let field = check(&data("fwaf"), Some(&source), &QuoteScorer, 0.5).expect("checked");
        assert_eq!(field.requests, 28_217);
        assert!(check(&data("echows-urldetect"), Some(&source), &QuoteScorer, 0.5).is_none());
    }
}
