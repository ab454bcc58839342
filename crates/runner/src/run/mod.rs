//! One run: a [`RunConfig`] trained, evaluated and logged as one MLflow run.
//!
//! The flow, in order (each step's output is on disk or in the run's journal before the next
//! starts, so a failure never loses what was already done):
//! 1. validate the config and load, dedup and split the dataset;
//! 2. start the run (tags, the flattened config as params, the dataset as an input);
//! 3. fit the model, logging the family's per-epoch metrics with their steps;
//! 4. choose the threshold on the validation split, measure the test split, time scoring;
//! 5. write the model folder (with MLflow's `MLmodel`), the resolved config, metrics and
//!    charts under the output folder, and log them as artifacts;
//! 6. on a tracking server, log the model as an MLflow 3 logged model instead of a run
//!    artifact (the run's artifacts get it only when that fails), and register it when the
//!    config names a registered model; end the run.
//!
//! [`Training`] is the entry point. [`Training::logged`] talks to the store as it goes (live
//! per-epoch curves). The deferred flow splits the same run for a caller that wants no
//! tracking call on its training thread (a sweep of short trials):
//! [`Training::start_deferred`] checks the run, [`DeferredStart::open`] starts it in the store
//! (any thread), [`Training::deferred`] does steps 3 to 5 without the store and returns a
//! [`PendingRun`], and [`PendingRun::publish_opened`] logs the rest and ends the run.

mod artifacts;
mod data;
mod deferred;
mod final_metrics;
mod finish;
mod logged_model;
mod observer;
mod start;
mod train;

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use vigie_data::PreparedDataset;
use vigie_mlflow::{DefaultStore, Tag};
use vigie_models::TrainObserver;
use vigie_models::metrics::{BinaryMetrics, FamilyRecall, ScoringSpeed, ThresholdChoice};

use crate::config::{DataSource, RunConfig};
use crate::error::Result;
use crate::feedback::FeedbackMetrics;
use crate::field::FieldMetrics;
use crate::robust::RobustnessMetrics;
use crate::site::SiteSummary;

pub use data::prepare_data;
pub use deferred::{DeferredStart, EpochDelivery, OpenedRun, PendingRun};
pub use final_metrics::{final_metric_names, reproducible_metrics};
pub use logged_model::write_mlmodel;

use self::data::checked_splits;
use self::finish::finish_run;
use self::observer::{EpochSink, RunObserver};
use self::start::{OpenRun, RunStart, prepare_out_dir, write_start_files};
use self::train::train_and_write;

/// Tags every run carries besides MLflow's own.
pub mod tags {
    pub const DATASET: &str = "vigie.dataset";
    pub const DATASET_DIGEST: &str = "vigie.dataset_digest";
    pub const MODEL_KIND: &str = "vigie.model_kind";
    pub const MODEL_FAMILY: &str = "vigie.model_family";
    pub const BACKEND: &str = "vigie.backend";
    pub const VERSION: &str = "vigie.version";
    pub const RUSTC: &str = "vigie.rustc_version";
    pub const GIT_DIRTY: &str = "vigie.git_dirty";
    pub const SEED: &str = "vigie.seed";
}

/// What to run and where its files go.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub config: RunConfig,
    /// The run's local folder (model, config, metrics, charts); created, must be empty.
    pub out_dir: PathBuf,
    /// Folder of the run journals.
    pub journal_root: PathBuf,
    /// For a nested run (a sweep trial).
    pub parent_run_id: Option<String>,
    /// Extra tags (e.g. a sweep's trial id).
    pub extra_tags: Vec<Tag>,
    /// Where the field check ([`crate::field`]) finds its dataset: the run's own data source,
    /// usually. `None` skips the check.
    pub field_data: Option<DataSource>,
}

/// Everything a finished run measured, also written as `metrics.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub run_name: String,
    pub experiment: String,
    pub run_id: Option<String>,
    /// Whether everything reached the tracking store (else `vigie mlflow sync` sends the rest).
    pub synced: bool,
    pub journal: PathBuf,
    pub out_dir: PathBuf,
    pub model_dir: PathBuf,
    pub logged_model_id: Option<String>,
    pub registered_version: Option<String>,
    pub dataset: String,
    pub dataset_digest: String,
    pub model_kind: String,
    pub threshold: ThresholdChoice,
    pub valid: BinaryMetrics,
    pub test: BinaryMetrics,
    pub test_recall_by_family: Vec<FamilyRecall>,
    /// The model on echows-urldetect, a site it never saw ([`crate::field`]); `None` when its
    /// files are absent or the run trains on it.
    pub field: Option<FieldMetrics>,
    /// What `[data.site]` did, when the run adapts to a site ([`crate::site`]).
    pub site: Option<SiteSummary>,
    /// The evasion search on the model, with `[robustness]` ([`crate::robust`]).
    pub robustness: Option<RobustnessMetrics>,
    /// The model on its analysts' verdicts, with `[data.feedback]` ([`crate::feedback`]).
    pub feedback: Option<FeedbackMetrics>,
    pub train_seconds: f64,
    pub scoring: ScoringSpeed,
    pub peak_rss_bytes: Option<u64>,
    /// Wall time spent in tracking calls (params, metrics, artifacts, the logged model, the
    /// run's end): what logging costs the run.
    pub tracking_seconds: f64,
    /// The final metrics as logged (name, value), so a caller can rank runs without reading
    /// them back; metrics.json has them in its own shape.
    #[serde(skip)]
    pub final_metrics: Vec<(String, f64)>,
}

/// One run to train: the runner's entry point. Made from a config whose dataset it loads
/// ([`Training::load`]) or from a dataset already loaded and split ([`Training::on`]: a sweep
/// loads each dataset once for all its trials), then trained live in a store
/// ([`Training::logged`]) or apart from it ([`Training::start_deferred`], then
/// [`Training::deferred`] and [`PendingRun::publish_opened`]).
pub struct Training<'a> {
    request: &'a RunRequest,
    prepared: Prepared<'a>,
}

/// The run's dataset, loaded by [`Training::load`] or the caller's.
enum Prepared<'a> {
    Loaded(Box<PreparedDataset>),
    Borrowed(&'a PreparedDataset),
}

impl<'a> Training<'a> {
    /// Validates the config and loads, dedups and splits its dataset. Nothing is written or
    /// started yet, so a bad config or a missing file leaves no run behind.
    pub fn load(
        request: &'a RunRequest,
        source: &DataSource,
        progress: &mut dyn TrainObserver,
    ) -> Result<Training<'a>> {
        request.config.validate(&source.catalog)?;
        progress.phase("load data", None);
        let prepared = prepare_data(&request.config.data, source)?;
        Ok(Training {
            request,
            prepared: Prepared::Loaded(Box::new(prepared)),
        })
    }

    /// The run of `request` on `prepared`, split with the config's `[data]` table. The config
    /// must be validated.
    pub fn on(request: &'a RunRequest, prepared: &'a PreparedDataset) -> Training<'a> {
        Training {
            request,
            prepared: Prepared::Borrowed(prepared),
        }
    }

    fn prepared(&self) -> &PreparedDataset {
        match &self.prepared {
            Prepared::Loaded(prepared) => prepared,
            Prepared::Borrowed(prepared) => prepared,
        }
    }

    /// Trains, evaluates and logs the run in `store` as it goes (live per-epoch curves).
    /// `progress` sees the same events as the tracker (for a progress bar).
    pub fn logged(
        &self,
        store: DefaultStore,
        progress: &mut dyn TrainObserver,
    ) -> Result<RunOutcome> {
        let (request, prepared) = (self.request, self.prepared());
        let splits = checked_splits(request, prepared)?;
        // After the data: a missing file leaves no empty output folder behind.
        prepare_out_dir(&request.out_dir)?;
        write_start_files(request)?;
        let start = RunStart::new(request, prepared)?;
        let started = Instant::now();
        let OpenRun { mut logger, model } = start.open(store)?;
        let start_seconds = started.elapsed().as_secs_f64();
        let mut observer = RunObserver::new(progress, EpochSink::Live(&mut logger));
        let trained = train_and_write(request, prepared, &splits, &mut observer);
        let RunObserver {
            progress,
            error,
            tracking_seconds: epoch_seconds,
            ..
        } = observer;
        let logged = error.map_or(Ok(()), Err);
        finish_run(
            request,
            trained,
            logged,
            OpenRun { logger, model },
            progress,
            start_seconds + epoch_seconds,
        )
    }
}
