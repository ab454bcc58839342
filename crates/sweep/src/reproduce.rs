//! Reproducing a run: its logged resolved config trained again, and every metric that does not
//! measure time or memory compared with the original's.
//!
//! On the CPU backend the same config, seed and data give bit-identical metrics; the data
//! digest is checked first, so that "different" never hides "trained on other data".

use std::path::PathBuf;

use serde::Serialize;
use vigie_mlflow::{DefaultStore, Tag, TrackingStore};
use vigie_models::TrainObserver;
use vigie_runner::config::DataSource;
use vigie_runner::run::{reproducible_metrics, tags as run_tags};
use vigie_runner::{RunConfig, RunOutcome, RunRequest, Training};

use crate::error::{Result, SweepError};
use crate::leaderboard::latest_metric;
use crate::tags;

/// One metric, in the original run and in the reproduction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricComparison {
    pub metric: String,
    pub original: Option<f64>,
    pub reproduced: f64,
    /// Bit for bit (NaN equals NaN).
    pub identical: bool,
}

/// The reproduction of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Reproduction {
    pub original_run_id: String,
    pub original_digest: Option<String>,
    pub outcome: RunOutcome,
    pub metrics: Vec<MetricComparison>,
}

impl Reproduction {
    pub fn digest_matches(&self) -> bool {
        self.original_digest.as_deref() == Some(self.outcome.dataset_digest.as_str())
    }

    pub fn identical(&self) -> bool {
        self.digest_matches() && self.metrics.iter().all(|m| m.identical)
    }
}

/// Where the reproduction's files go.
#[derive(Debug, Clone)]
pub struct ReproduceOptions {
    pub tracking_uri: Option<String>,
    /// The reproduction run's folder; the original config is downloaded beside it.
    pub out_dir: PathBuf,
    pub journal_root: PathBuf,
}

/// Downloads `run_id`'s `config.toml`, trains it again as a new run (tagged with the run it
/// reproduces) and compares the metrics.
pub fn reproduce(
    run_id: &str,
    source: &DataSource,
    options: &ReproduceOptions,
    progress: &mut dyn TrainObserver,
) -> Result<Reproduction> {
    let store = DefaultStore::from_uri(options.tracking_uri.as_deref())?;
    let original = store.get_run(run_id)?;
    let config_path = options
        .out_dir
        .with_file_name(format!("{run_id}-config.toml"));
    store
        .download_artifact(run_id, "config.toml", &config_path)
        .map_err(|e| {
            SweepError::Invalid(format!(
                "run {run_id} has no config.toml artifact to reproduce it from: {e}"
            ))
        })?;
    let config = RunConfig::from_file(&config_path)?;
    config.validate(&source.catalog)?;
    let request = RunRequest {
        config,
        out_dir: options.out_dir.clone(),
        journal_root: options.journal_root.clone(),
        parent_run_id: None,
        extra_tags: vec![Tag::new(tags::REPRODUCES, run_id)],
        field_data: Some(source.clone()),
    };
    let outcome = Training::load(&request, source, progress)?.logged(store, progress)?;
    let metrics = reproducible_metrics(&outcome)
        .into_iter()
        .map(|(name, reproduced)| {
            // The run logs the validation metrics at the threshold as `final_valid_*`.
            let logged = match name.strip_prefix("valid_") {
                Some(rest) => format!("final_valid_{rest}"),
                None => name,
            };
            let original = latest_metric(&original, &logged);
            let identical = original.is_some_and(|o| {
                o.to_bits() == reproduced.to_bits() || (o.is_nan() && reproduced.is_nan())
            });
            MetricComparison {
                metric: logged,
                original,
                reproduced,
                identical,
            }
        })
        .collect();
    Ok(Reproduction {
        original_run_id: run_id.to_owned(),
        original_digest: original
            .data
            .tag(run_tags::DATASET_DIGEST)
            .map(str::to_owned),
        outcome,
        metrics,
    })
}
