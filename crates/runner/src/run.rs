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
//! [`train_prepared`] talks to the store as it goes (live per-epoch curves). The deferred flow
//! splits the same run for a caller that wants no tracking call on its training thread (a sweep
//! of short trials): [`start_deferred`] checks the run, [`DeferredStart::open`] starts it in the
//! store (any thread), [`train_deferred`] does steps 3 to 5 without the store and returns a
//! [`PendingRun`], and [`PendingRun::publish_opened`] logs the rest and ends the run.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use vigie_data::{Label, PreparedDataset, Split};
use vigie_mlflow::{
    CreateLoggedModel, CreateModelVersion, Dataset as MlflowDataset, DatasetInput, DefaultStore,
    LoggedModelStatus, Metric, ModelOutput, Param, RunLogger, RunOptions, RunStatus, Tag,
    mlflow_tags,
};
use vigie_models::artifact::{
    FORMAT_VERSION, Manifest, SavedModel, TrainingData, ValidationScores,
};
use vigie_models::metrics::{
    self, BinaryMetrics, FamilyRecall, ScoringSpeed, ThresholdChoice, plots,
};
use vigie_models::spec::TrainedModel;
use vigie_models::{LabelledTexts, Scorer, TrainData, TrainObserver};

use crate::adversarial;
use crate::augment;
use crate::config::{DataConfig, DataSource, RunConfig};
use crate::error::{Result, RunError};
use crate::feedback::{self, FeedbackMetrics};
use crate::field::{self, FieldMetrics};
use crate::pyfunc::{self, PythonFlavor};
use crate::robust::{self, RobustnessMetrics};
use crate::site::{self, SiteConfig, SiteRequests, SiteSummary};
use crate::system;

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

/// Single-request latency probes per run (a deterministic sample of the test split).
const LATENCY_PROBES: usize = 1000;

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

fn metric_values(prefix: &str, m: &BinaryMetrics) -> Vec<(String, f64)> {
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

/// Loads, dedups and splits the dataset of a `[data]` table.
pub fn prepare_data(data: &DataConfig, source: &DataSource) -> Result<PreparedDataset> {
    let mut parts = Vec::new();
    for name in data.dataset_names() {
        let (def, _) = source.catalog.get(name)?;
        parts.push(vigie_data::load(&def, &source.data_dir, |_| {})?);
    }
    let dataset = if parts.len() == 1 {
        parts.remove(0)
    } else {
        vigie_data::Dataset::union(data.dataset.clone(), parts)
    };
    let mut prepared = PreparedDataset::new(dataset, &data.prepare_config())?;
    if let Some(augment_config) = &data.augment {
        let (augmented, summary) = augment::extend_training(prepared, augment_config);
        tracing::info!(
            "data.augment: {} variants of {} training attacks added",
            summary.variants,
            summary.attacks
        );
        prepared = augmented;
    }
    if let Some(site_config) = data.site.as_ref().filter(|site| site.train) {
        let base: Vec<&str> = data.dataset_names().collect();
        let site = site::requests(site_config, &base, source)?;
        prepared = site::extend_training(prepared, &site);
    }
    if let Some(feedback_config) = &data.feedback {
        let requests = feedback::load(feedback_config, source)?;
        prepared = feedback::extend_training(prepared, &requests, feedback_config.weight);
    }
    Ok(prepared)
}

/// The site traffic of a run with `[data.site]`, from the run's data source.
fn site_requests(request: &RunRequest) -> Result<Option<Arc<SiteRequests>>> {
    let data = &request.config.data;
    let Some(site_config) = &data.site else {
        return Ok(None);
    };
    let source = request
        .field_data
        .as_ref()
        .ok_or_else(|| RunError::Invalid {
            message: "a run with `[data.site]` needs its data source to read the site's traffic"
                .to_owned(),
        })?;
    let base: Vec<&str> = data.dataset_names().collect();
    site::requests(site_config, &base, source).map(Some)
}

fn labelled(prepared: &PreparedDataset, part: Split) -> LabelledTexts<'_> {
    let (texts, labels) = prepared.part(part);
    LabelledTexts::new(texts, labels)
}

/// The model on the run's feedback datasets at `threshold`, with `[data.feedback]`.
fn feedback_check(
    request: &RunRequest,
    model: &dyn vigie_models::Scorer,
    threshold: f64,
) -> Result<Option<FeedbackMetrics>> {
    let Some(config) = &request.config.data.feedback else {
        return Ok(None);
    };
    let source = request
        .field_data
        .as_ref()
        .ok_or_else(|| RunError::Invalid {
            message: "a run with `[data.feedback]` needs its data source to read the feedback"
                .to_owned(),
        })?;
    let requests = feedback::load(config, source)?;
    Ok(Some(feedback::measure(model, &requests, threshold)))
}

/// Trains, evaluates and logs one run. `progress` sees the same events as the tracker (for a
/// progress bar). The config is validated and the data loaded before the run starts in the
/// store, so a bad config or a missing file leaves no run behind.
pub fn train_run(
    request: &RunRequest,
    source: &DataSource,
    store: DefaultStore,
    progress: &mut dyn TrainObserver,
) -> Result<RunOutcome> {
    request.config.validate(&source.catalog)?;
    progress.phase("load data", None);
    let prepared = prepare_data(&request.config.data, source)?;
    train_prepared(request, &prepared, store, progress)
}

/// [`train_run`] on a dataset already loaded and split with the config's `[data]` table (a
/// sweep loads each dataset once for all its trials). The config must be validated.
pub fn train_prepared(
    request: &RunRequest,
    prepared: &PreparedDataset,
    store: DefaultStore,
    progress: &mut dyn TrainObserver,
) -> Result<RunOutcome> {
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

/// A run trained, measured and written to its folder by [`train_deferred`], not yet complete
/// in the tracking store. It holds the per-epoch metrics with their original timestamps, so the
/// published run reads as if it had been logged live. Dropped unpublished, it leaves its run
/// (if [`DeferredStart::open`] created one) RUNNING, which a sweep's resume repairs.
#[derive(Debug)]
pub struct PendingRun {
    request: RunRequest,
    start: DeferredStart,
    epochs: Vec<Metric>,
    late_tags: Vec<Tag>,
    trained: Result<Trained>,
}

/// The start of a deferred run: its tags, params and inputs, ready to be opened in a store
/// (by another thread, while the model trains).
#[derive(Debug, Clone)]
pub struct DeferredStart(RunStart);

/// A run started in the store by [`DeferredStart::open`].
#[derive(Debug)]
pub struct OpenedRun {
    run: OpenRun,
    seconds: f64,
}

impl OpenedRun {
    /// Logs per-epoch metrics that a [`train_deferred_forwarding`] run forwarded, and hands
    /// them to the logger's background sender now (the run's publishing then has less to
    /// send). A refusal by the store of what was sent before fails here (or at the run's end);
    /// a store that cannot be reached leaves them in the run's journal, for its end or a sync.
    pub fn log_epochs(&mut self, epochs: &[Metric]) -> Result<()> {
        let started = Instant::now();
        let logged = self
            .run
            .logger
            .log_metrics(epochs)
            .and_then(|()| self.run.logger.flush());
        self.seconds += started.elapsed().as_secs_f64();
        Ok(logged?)
    }
}

impl DeferredStart {
    /// Starts the run in `store` (RUNNING, with its params, inputs and start files).
    pub fn open(&self, store: DefaultStore) -> Result<OpenedRun> {
        let started = Instant::now();
        let run = self.0.open(store)?;
        Ok(OpenedRun {
            run,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Checks a run of `prepared` and creates its output folder, for [`train_deferred`]. Errors
/// here leave nothing behind (no run, no folder).
pub fn start_deferred(request: &RunRequest, prepared: &PreparedDataset) -> Result<DeferredStart> {
    checked_splits(request, prepared)?;
    prepare_out_dir(&request.out_dir)?;
    write_start_files(request)?;
    Ok(DeferredStart(RunStart::new(request, prepared)?))
}

/// Trains and writes a run like [`train_prepared`], without touching the tracking store; see
/// [`PendingRun`]. A failed or stopped fit is published as a FAILED or KILLED run.
pub fn train_deferred(
    request: &RunRequest,
    prepared: &PreparedDataset,
    start: DeferredStart,
    progress: &mut dyn TrainObserver,
) -> Result<PendingRun> {
    train_deferred_into(
        request,
        prepared,
        start,
        progress,
        EpochSink::Recorded(Vec::new()),
    )
}

/// [`train_deferred`], handing each epoch's metrics to `forward` as they come instead of
/// keeping them in the [`PendingRun`] (to send them while the model trains, e.g. with
/// [`OpenedRun::log_epochs`]); [`PendingRun::add_epochs`] takes back any not sent.
pub fn train_deferred_forwarding(
    request: &RunRequest,
    prepared: &PreparedDataset,
    start: DeferredStart,
    progress: &mut dyn TrainObserver,
    forward: &mut (dyn FnMut(Vec<Metric>) + Send),
) -> Result<PendingRun> {
    train_deferred_into(
        request,
        prepared,
        start,
        progress,
        EpochSink::Forwarded(forward),
    )
}

fn train_deferred_into(
    request: &RunRequest,
    prepared: &PreparedDataset,
    start: DeferredStart,
    progress: &mut dyn TrainObserver,
    sink: EpochSink<'_>,
) -> Result<PendingRun> {
    let splits = checked_splits(request, prepared)?;
    let mut recorder = RunObserver::new(progress, sink);
    let trained = train_and_write(request, prepared, &splits, &mut recorder);
    let epochs = match recorder.sink {
        EpochSink::Recorded(epochs) => epochs,
        EpochSink::Live(_) | EpochSink::Forwarded(_) => Vec::new(),
    };
    Ok(PendingRun {
        request: request.clone(),
        start,
        epochs,
        late_tags: Vec::new(),
        trained,
    })
}

impl PendingRun {
    /// Adds per-epoch metrics to those published with the run (forwarded ones that were not
    /// sent).
    pub fn add_epochs(&mut self, epochs: Vec<Metric>) {
        self.epochs.extend(epochs);
    }

    /// Adds tags to the run (e.g. why a sweep pruned it).
    pub fn add_tags(&mut self, tags: &[Tag]) {
        self.late_tags.extend_from_slice(tags);
    }

    /// Opens the run in `store`, then [`PendingRun::publish_opened`].
    pub fn publish(
        self,
        store: DefaultStore,
        progress: &mut dyn TrainObserver,
    ) -> Result<RunOutcome> {
        let opened = self.start.open(store);
        self.publish_opened(opened, progress)
    }

    /// Logs the recorded epochs, final metrics, artifacts and (on a server) the logged model to
    /// the run `opened` started, and ends it; after a failed training, ends it FAILED or
    /// KILLED and returns the training error. `RunOutcome::tracking_seconds` is the time spent
    /// in tracking calls, the opening included.
    pub fn publish_opened(
        self,
        opened: Result<OpenedRun>,
        progress: &mut dyn TrainObserver,
    ) -> Result<RunOutcome> {
        let OpenedRun {
            run: OpenRun { mut logger, model },
            seconds: open_seconds,
        } = opened?;
        let started = Instant::now();
        let mut logged = Ok(());
        if !self.epochs.is_empty() {
            logged = logger.log_metrics(&self.epochs);
        }
        if logged.is_ok() && !self.late_tags.is_empty() {
            logged = logger.set_tags(&self.late_tags);
        }
        let logging_seconds = started.elapsed().as_secs_f64();
        finish_run(
            &self.request,
            self.trained,
            logged,
            OpenRun { logger, model },
            progress,
            open_seconds + logging_seconds,
        )
    }
}

/// The three splits, each checked to hold both classes; and the dataset checked to be the one
/// the config asks for.
fn checked_splits<'a>(
    request: &RunRequest,
    prepared: &'a PreparedDataset,
) -> Result<[LabelledTexts<'a>; 3]> {
    let config = &request.config;
    if prepared.data.name != config.data.dataset || prepared.config != config.data.prepare_config()
    {
        return Err(RunError::Invalid {
            message: format!(
                "the dataset was prepared as {} {:?}, the config asks for {} {:?}",
                prepared.data.name,
                prepared.config,
                config.data.dataset,
                config.data.prepare_config()
            ),
        });
    }
    let splits = [
        labelled(prepared, Split::Train),
        labelled(prepared, Split::Valid),
        labelled(prepared, Split::Test),
    ];
    for (name, part) in ["train", "valid", "test"].into_iter().zip(&splits) {
        if part.class_counts().contains(&0) {
            return Err(RunError::Invalid {
                message: format!(
                    "the {name} split of {} has {:?} [benign, malicious] requests: both classes are needed (check `data.split`)",
                    config.data.dataset,
                    part.class_counts()
                ),
            });
        }
    }
    Ok(splits)
}

/// The end of both flows: a trained run whose earlier logging (`logged`) went well gets its
/// results logged; then [`close_run`] with the first error, if any.
fn finish_run(
    request: &RunRequest,
    trained: Result<Trained>,
    logged: std::result::Result<(), vigie_mlflow::MlflowError>,
    run: OpenRun,
    progress: &mut dyn TrainObserver,
    tracking_seconds: f64,
) -> Result<RunOutcome> {
    let OpenRun { mut logger, model } = run;
    let failed_model = model.as_ref().map(|m| m.model_id.clone());
    let result = match (trained, logged) {
        (Ok(trained), Ok(())) => log_results(request, trained, &mut logger, model, progress),
        (Ok(_), Err(error)) => Err(error.into()),
        (Err(error), _) => Err(error),
    };
    // A failed run's logged model (created when it started) is marked failed, not left PENDING.
    if let (Err(_), Some(model_id), DefaultStore::Server(client)) =
        (&result, failed_model, logger.store())
    {
        let _ = client.finalize_logged_model(&model_id, LoggedModelStatus::UploadFailed);
    }
    close_run(logger, result, tracking_seconds)
}

/// Ends the run: FINISHED with the outcome, or (after a note saying why) KILLED when training
/// was stopped on purpose and FAILED otherwise. `tracking_seconds` is added to the outcome's.
fn close_run(
    logger: RunLogger<DefaultStore>,
    result: Result<RunOutcome>,
    tracking_seconds: f64,
) -> Result<RunOutcome> {
    match result {
        Ok(mut outcome) => {
            let ending = Instant::now();
            let finished = logger.finish(RunStatus::Finished)?;
            let end_seconds = ending.elapsed().as_secs_f64();
            tracing::debug!(
                tracking_seconds,
                end_seconds,
                rest_seconds = outcome.tracking_seconds,
                "time in tracking calls"
            );
            outcome.tracking_seconds += tracking_seconds + end_seconds;
            outcome.run_id = finished.run_id;
            outcome.synced = finished.synced;
            outcome.journal = finished.journal;
            Ok(outcome)
        }
        Err(error) => {
            let mut logger = logger;
            let _ = logger.set_tags(&[Tag::new(
                mlflow_tags::NOTE_CONTENT,
                format!("failed: {error}"),
            )]);
            // Stopped on purpose (Ctrl-C, pruning): KILLED, as MLflow's own clients do.
            let status = match &error {
                RunError::Model(vigie_models::ModelError::Stopped(_)) => RunStatus::Killed,
                _ => RunStatus::Failed,
            };
            if let Err(finish_error) = logger.finish(status) {
                tracing::warn!(%finish_error, "could not record the failed run");
            }
            Err(error)
        }
    }
}

/// The files a run has before it trains (its resolved config and the `Cargo.lock` it was
/// built with, for reproducing it): they go to the store as the run starts, while the model
/// trains, not with the results.
const START_FILES: [&str; 2] = ["config.toml", "Cargo.lock"];

fn write_start_files(request: &RunRequest) -> Result<()> {
    let out = &request.out_dir;
    write_file(
        &out.join(START_FILES[0]),
        request.config.resolved_toml()?.as_bytes(),
    )?;
    write_file(&out.join(START_FILES[1]), system::CARGO_LOCK.as_bytes())
}

fn prepare_out_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(|e| RunError::io(dir, "cannot read", e))?;
        if entries.next().is_some() {
            return Err(RunError::Invalid {
                message: format!(
                    "the output folder {} is not empty (choose another with --out, or remove it)",
                    dir.display()
                ),
            });
        }
    }
    fs::create_dir_all(dir).map_err(|e| RunError::io(dir, "cannot create the output folder", e))
}

/// What a run starts with: its options (tags, name, parent, start time), params and inputs.
#[derive(Debug, Clone)]
struct RunStart {
    options: RunOptions,
    /// Where [`START_FILES`] were written.
    out_dir: PathBuf,
    params: Vec<Param>,
    inputs: Vec<DatasetInput>,
    /// The run's MLflow 3 logged model, but for its experiment and run ids.
    logged_model: CreateLoggedModel,
}

impl RunStart {
    fn new(request: &RunRequest, prepared: &PreparedDataset) -> Result<RunStart> {
        let config = &request.config;
        let mut run_tags = vec![
            Tag::new(mlflow_tags::USER, system::user_name()),
            Tag::new(mlflow_tags::SOURCE_NAME, "vigie train"),
            Tag::new(mlflow_tags::SOURCE_TYPE, mlflow_tags::source_type::LOCAL),
            Tag::new(tags::DATASET, &config.data.dataset),
            Tag::new(tags::DATASET_DIGEST, &prepared.digest),
            Tag::new(tags::MODEL_KIND, config.model.kind()),
            Tag::new(tags::MODEL_FAMILY, config.model.family().name()),
            Tag::new(tags::BACKEND, config.model.backend()),
            Tag::new(tags::VERSION, env!("CARGO_PKG_VERSION")),
            Tag::new(tags::RUSTC, system::RUSTC_VERSION),
            Tag::new(tags::SEED, config.seed.to_string()),
        ];
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        match system::git_state(&cwd) {
            Some((commit, dirty)) => {
                run_tags.push(Tag::new(mlflow_tags::SOURCE_GIT_COMMIT, commit));
                run_tags.push(Tag::new(tags::GIT_DIRTY, dirty.to_string()));
            }
            None => run_tags.push(Tag::new(tags::GIT_DIRTY, "unknown")),
        }
        run_tags.extend(request.extra_tags.iter().cloned());
        let mut options = RunOptions::new(&request.journal_root, config.experiment());
        options.run_name = Some(config.run_name());
        options.tags = run_tags;
        options.parent_run_id = request.parent_run_id.clone();
        options.start_time = Some(vigie_mlflow::now_millis());
        // A network's epoch takes seconds to minutes: flush each one, so the MLflow UI shows
        // live curves. A linear solver's passes take milliseconds: one fsync and write per
        // pass would cost more than the fit, so they go with the logger's size and time bounds.
        options.flush_on_epoch = config.model.family() == vigie_models::spec::Family::Network;

        let mut params: Vec<Param> = config
            .flattened()?
            .into_iter()
            .map(|(key, value)| Param::new(key, value))
            .collect();
        let counts = prepared.split_counts();
        for (part, [benign, malicious]) in Split::ALL.iter().zip(counts) {
            params.push(Param::new(
                format!("data.{}_benign", part.name()),
                benign.to_string(),
            ));
            params.push(Param::new(
                format!("data.{}_malicious", part.name()),
                malicious.to_string(),
            ));
        }
        Ok(RunStart {
            options,
            out_dir: request.out_dir.clone(),
            logged_model: logged_model_request(config, &params, &prepared.digest),
            params,
            inputs: vec![dataset_input(config, prepared)],
        })
    }

    /// Starts the run in `store` with its params, inputs and [`START_FILES`] and, on a server,
    /// its MLflow 3 logged model (PENDING until its files go up): that is done while the model
    /// trains rather than after.
    fn open(&self, store: DefaultStore) -> Result<OpenRun> {
        let mut logger = RunLogger::start(store, self.options.clone())?;
        logger.log_params(&self.params)?;
        logger.log_inputs(&self.inputs)?;
        for file in START_FILES {
            logger.log_artifact(&self.out_dir.join(file), None)?;
        }
        logger.flush()?;
        let model = match (logger.run_id(), logger.store()) {
            (Some(run_id), DefaultStore::Server(client)) => {
                match create_logged_model(client, &self.logged_model, run_id) {
                    Ok(model) => Some(model),
                    Err(error) => {
                        // Tried again once the model is trained.
                        tracing::warn!(%error, "could not create the MLflow 3 logged model");
                        None
                    }
                }
            }
            _ => None,
        };
        Ok(OpenRun { logger, model })
    }
}

/// A run started in the store, with its logged model when one was created.
#[derive(Debug)]
struct OpenRun {
    logger: RunLogger<DefaultStore>,
    model: Option<PendingModel>,
}

/// An MLflow 3 logged model created (PENDING) for a run, waiting for its files.
#[derive(Debug, Clone)]
struct PendingModel {
    model_id: String,
    artifact_uri: String,
}

fn dataset_input(config: &RunConfig, prepared: &PreparedDataset) -> DatasetInput {
    let counts = prepared.split_counts();
    let profile = serde_json::json!({
        "requests": prepared.data.texts.len(),
        "split": config.data.split,
        "dedup": config.data.dedup,
        "train": {"benign": counts[0][0], "malicious": counts[0][1]},
        "valid": {"benign": counts[1][0], "malicious": counts[1][1]},
        "test": {"benign": counts[2][0], "malicious": counts[2][1]},
    });
    DatasetInput {
        tags: vec![Tag::new(mlflow_tags::DATASET_CONTEXT, "training")],
        dataset: MlflowDataset {
            name: config.data.dataset.clone(),
            digest: prepared.digest.chars().take(36).collect(),
            source_type: "local".to_owned(),
            source: serde_json::json!({"dataset": config.data.dataset, "full_digest": prepared.digest}).to_string(),
            schema: Some(r#"{"mlflow_colspec": [{"type": "string", "name": "text"}, {"type": "long", "name": "label"}]}"#.to_owned()),
            profile: Some(profile.to_string()),
        },
    }
}

/// Where a run's per-epoch metrics go.
enum EpochSink<'l> {
    /// Logged to the run as they come.
    Live(&'l mut RunLogger<DefaultStore>),
    /// Kept (timestamped now) for a [`PendingRun`].
    Recorded(Vec<Metric>),
    /// Handed (timestamped now) to a caller that sends them.
    Forwarded(&'l mut (dyn FnMut(Vec<Metric>) + Send)),
}

/// Forwards every event to the progress display, sends epochs to the sink and keeps the last
/// step (the final metrics' step).
struct RunObserver<'l, 'p> {
    progress: &'p mut dyn TrainObserver,
    sink: EpochSink<'l>,
    last_step: u64,
    /// The first logging failure: training goes on (the journal has what was logged) and the
    /// run reports it at the end.
    error: Option<vigie_mlflow::MlflowError>,
    tracking_seconds: f64,
}

impl<'l, 'p> RunObserver<'l, 'p> {
    fn new(progress: &'p mut dyn TrainObserver, sink: EpochSink<'l>) -> Self {
        RunObserver {
            progress,
            sink,
            last_step: 0,
            error: None,
            tracking_seconds: 0.0,
        }
    }
}

impl TrainObserver for RunObserver<'_, '_> {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.progress.phase(name, total);
    }

    fn advance(&mut self, units: u64) {
        self.progress.advance(units);
    }

    fn epoch(&mut self, step: u64, metrics: &[(&str, f64)]) {
        self.progress.epoch(step, metrics);
        self.last_step = self.last_step.max(step);
        let points = epoch_points(step, metrics);
        match &mut self.sink {
            EpochSink::Recorded(epochs) => epochs.extend(points),
            EpochSink::Forwarded(forward) => forward(points),
            EpochSink::Live(logger) => {
                let logging = Instant::now();
                let result = logger
                    .log_metrics(&points)
                    .and_then(|()| logger.end_epoch());
                self.tracking_seconds += logging.elapsed().as_secs_f64();
                if let Err(error) = result
                    && self.error.is_none()
                {
                    self.error = Some(error);
                }
            }
        }
    }

    fn note(&mut self, message: &str) {
        self.progress.note(message);
    }

    fn stop_requested(&mut self) -> Option<String> {
        self.progress.stop_requested()
    }
}

fn epoch_points(step: u64, metrics: &[(&str, f64)]) -> Vec<Metric> {
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    metrics
        .iter()
        .map(|(key, value)| Metric::new(*key, *value, step))
        .collect()
}

/// A model trained and measured, its files written: what is left is logging it.
#[derive(Debug)]
struct Trained {
    /// Without run ids or tracking time yet.
    outcome: RunOutcome,
    manifest: Manifest,
    /// `threshold`, `final_valid_*`, `test_*`, timings, memory: logged at `last_step`.
    final_metrics: Vec<(String, f64)>,
    last_step: u64,
}

/// The observer of a refit on train + valid: its per-pass metrics are named `refit_*`, so that
/// they do not mix with the first fit's curves.
struct RefitObserver<'o, 'l, 'p>(&'o mut RunObserver<'l, 'p>);

impl TrainObserver for RefitObserver<'_, '_, '_> {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.0.phase(&format!("refit: {name}"), total);
    }

    fn advance(&mut self, units: u64) {
        self.0.advance(units);
    }

    fn epoch(&mut self, step: u64, metrics: &[(&str, f64)]) {
        let named: Vec<(String, f64)> = metrics
            .iter()
            .map(|(key, value)| (format!("refit_{key}"), *value))
            .collect();
        let named: Vec<(&str, f64)> = named.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        self.0.epoch(step, &named);
    }

    fn note(&mut self, message: &str) {
        self.0.note(message);
    }

    fn stop_requested(&mut self) -> Option<String> {
        self.0.stop_requested()
    }
}

/// The threshold rule's choice raised, when the site's alert rate asks for it, to let at most
/// that share of the site's adaptation requests through; the validation metrics at the
/// threshold finally kept; and what the site did.
fn adapt_threshold(
    model: &TrainedModel,
    site: &SiteRequests,
    config: &SiteConfig,
    mut choice: ThresholdChoice,
    valid_scores: &[f64],
    valid: &LabelledTexts<'_>,
) -> (ThresholdChoice, BinaryMetrics, SiteSummary) {
    let texts: Vec<&str> = site.adapt.iter().map(String::as_str).collect();
    let adapt_scores = model.score_batch(&texts);
    let site_threshold = config
        .alert_rate
        .map(|rate| site::alert_threshold(&adapt_scores, rate));
    let malicious: Vec<f64> = valid_scores
        .iter()
        .zip(&valid.labels)
        .filter(|(_, label)| **label == Label::Malicious)
        .map(|(score, _)| *score)
        .collect();
    let recall_floor =
        site::recall_floor_threshold(&malicious, choice.threshold, config.max_recall_loss);
    let recall_capped = site_threshold.is_some_and(|t| t > recall_floor);
    let site_bound = site_threshold.map(|t| t.min(recall_floor));
    let raised = site_bound.is_some_and(|t| t > choice.threshold);
    if let Some(bound) = site_bound.filter(|_| raised) {
        choice.threshold = bound;
        choice.rule = format!("{}+site_alert_rate", choice.rule);
    }
    let valid_metrics = metrics::evaluate(valid_scores, &valid.labels, choice.threshold);
    if raised {
        choice.valid_f1 = valid_metrics.f1;
        choice.valid_fpr = valid_metrics.fpr;
        choice.valid_tpr = valid_metrics.recall;
    }
    let adapt_alerts = adapt_scores
        .iter()
        .filter(|&&s| s >= choice.threshold)
        .count() as u64;
    let summary = SiteSummary {
        traffic: site.name.clone(),
        sha256: site.sha256.clone(),
        adapt_requests: site.adapt.len() as u64,
        added_to_training: if config.train {
            site.adapt.len() as u64
        } else {
            0
        },
        quarantined: site.quarantined.len() as u64,
        holdout_requests: site.holdout.texts.len() as u64,
        alert_rate: config.alert_rate,
        site_threshold,
        threshold_raised: raised,
        recall_capped,
        adapt_alerts,
    };
    (choice, valid_metrics, summary)
}

/// Fits the model (events to `observer`), chooses the threshold, measures the test split and
/// writes the run's files: everything but the tracking store.
fn train_and_write(
    request: &RunRequest,
    prepared: &PreparedDataset,
    [train, valid, test]: &[LabelledTexts<'_>; 3],
    observer: &mut RunObserver<'_, '_>,
) -> Result<Trained> {
    let config = &request.config;
    let data = TrainData {
        train: train.clone(),
        valid: valid.clone(),
        seed: config.seed,
        threads: config.threads,
    };
    let started = Instant::now();
    let mut model = config.model.fit(&data, observer)?;
    let mut adversarial = None;
    if let Some(augment) = config.data.augment.as_ref()
        && augment.adversarial_rounds > 0
    {
        observer.phase("adversarial rounds", None);
        let (hardened, summary) = adversarial::harden(
            &config.model,
            &config.threshold,
            augment,
            &data,
            observer,
            model,
        )?;
        model = hardened;
        adversarial = Some(summary);
    }
    let mut train_seconds = started.elapsed().as_secs_f64();
    // Families that do not ask during training (the linear solvers, Isolation Forest) are
    // stopped here, before the evaluation and the artifacts.
    if let Some(reason) = observer.stop_requested() {
        return Err(vigie_models::ModelError::Stopped(reason).into());
    }

    observer.phase("evaluate", None);
    let valid_scores = model.score_batch(&valid.texts);
    let threshold = metrics::choose_threshold(
        &valid_scores,
        &valid.labels,
        &config.threshold,
        model.default_threshold(),
    )?;
    let valid_metrics = metrics::evaluate(&valid_scores, &valid.labels, threshold.threshold);
    let model = if config.model.refits_with_valid() {
        observer.phase("refit on train + valid", None);
        let started = Instant::now();
        let refit = model.refit(valid, config.seed, &mut RefitObserver(observer))?;
        train_seconds += started.elapsed().as_secs_f64();
        if let Some(reason) = observer.stop_requested() {
            return Err(vigie_models::ModelError::Stopped(reason).into());
        }
        refit
    } else {
        model
    };
    let last_step = observer.last_step;
    let progress = &mut *observer.progress;
    let site = site_requests(request)?;
    let (threshold, valid_metrics, site_summary) = match (&site, &config.data.site) {
        (Some(site), Some(site_config)) => {
            progress.phase("site threshold", None);
            let adapted =
                adapt_threshold(&model, site, site_config, threshold, &valid_scores, valid);
            (adapted.0, adapted.1, Some(adapted.2))
        }
        _ => (threshold, valid_metrics, None),
    };
    let test_scores = model.score_batch(&test.texts);
    let test_metrics = metrics::evaluate(&test_scores, &test.labels, threshold.threshold);
    let by_family =
        metrics::recall_by_family(&test.texts, &test_scores, &test.labels, threshold.threshold);
    progress.phase("field check", None);
    let field = match &site {
        // Adapted to a site: measured on its traffic held out of adaptation.
        Some(site) => Some(field::measure(&model, &site.holdout, threshold.threshold)),
        None => field::check(
            &config.data,
            request.field_data.as_ref(),
            &model,
            threshold.threshold,
        ),
    };
    let robustness = match &config.robustness {
        Some(robustness) => {
            progress.phase("robustness check", None);
            Some(robust::check(
                robustness,
                &model,
                valid,
                threshold.threshold,
            )?)
        }
        None => None,
    };
    let feedback = feedback_check(request, &model, threshold.threshold)?;
    progress.phase("time scoring", None);
    let scoring = metrics::scoring_speed(&model, &test.texts, LATENCY_PROBES);

    // Files: the model first (the most expensive thing to lose), then the rest.
    let out = &request.out_dir;
    let model_dir = out.join("model");
    let mut saved = SavedModel {
        manifest: Manifest {
            format: vigie_models::artifact::FORMAT_NAME.to_owned(),
            format_version: FORMAT_VERSION,
            kind: config.model.kind().to_owned(),
            family: config.model.family(),
            spec: config.model.clone(),
            threshold: threshold.threshold,
            threshold_choice: threshold.clone(),
            training_data: TrainingData {
                dataset: config.data.dataset.clone(),
                digest: prepared.digest.clone(),
                train_counts: train.class_counts(),
                valid_counts: valid.class_counts(),
            },
            seed: config.seed,
            vigie_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at_ms: u64::try_from(vigie_mlflow::now_millis()).unwrap_or(0),
            files: Default::default(),
        },
        model,
        validation: Some(ValidationScores::new(&valid_scores, &valid.labels)),
    };
    let decode = pyfunc::training_decode(config, request.field_data.as_ref());
    saved.save_with_files(&model_dir, &pyfunc::folder_files(&config.model, &decode)?)?;
    let plots_dir = out.join("plots");
    fs::create_dir_all(&plots_dir).map_err(|e| RunError::io(&plots_dir, "cannot create", e))?;
    draw_charts(
        &plots_dir,
        &test_scores,
        &test.labels,
        &test_metrics,
        &config.run_name(),
    )?;
    write_extra_artifacts(
        &saved,
        out,
        &test.texts,
        &test_scores,
        threshold.threshold,
        config.seed,
    )?;

    let peak_rss_bytes = system::peak_rss_bytes();
    let mut final_metrics: Vec<(String, f64)> = vec![("threshold".into(), threshold.threshold)];
    // `final_valid_*`: the validation split at the chosen threshold, kept apart from the
    // families' per-epoch `valid_*` curves.
    final_metrics.extend(
        metric_values("final_valid", &valid_metrics)
            .into_iter()
            .chain(metric_values("test", &test_metrics)),
    );
    for family in &by_family {
        final_metrics.push((format!("test_recall_{}", family.family), family.recall));
    }
    if let Some(field) = &field {
        final_metrics.extend(field.metric_values());
    }
    if let Some(site) = &site_summary {
        final_metrics.extend(site.metric_values());
    }
    if let Some(robustness) = &robustness {
        final_metrics.extend(robustness.metric_values());
    }
    if let Some(adversarial) = &adversarial {
        final_metrics.extend(adversarial.metric_values());
    }
    if let Some(feedback) = &feedback {
        final_metrics.extend(feedback.metric_values());
        write_file(
            &out.join(feedback::REGRESSIONS_FILE),
            feedback.regressions_text().as_bytes(),
        )?;
    }
    final_metrics.push(("train_seconds".into(), train_seconds));
    final_metrics.push(("score_requests_per_s".into(), scoring.batch_requests_per_s));
    final_metrics.push(("score_p50_us".into(), scoring.single_p50_us));
    final_metrics.push(("score_p99_us".into(), scoring.single_p99_us));
    if let Some(bytes) = peak_rss_bytes {
        final_metrics.push(("peak_rss_mb".into(), bytes as f64 / (1024.0 * 1024.0)));
    }

    let outcome = RunOutcome {
        run_name: config.run_name(),
        experiment: config.experiment(),
        run_id: None,
        synced: false,
        journal: PathBuf::new(),
        out_dir: out.clone(),
        model_dir: model_dir.clone(),
        logged_model_id: None,
        registered_version: None,
        dataset: config.data.dataset.clone(),
        dataset_digest: prepared.digest.clone(),
        model_kind: config.model.kind().to_owned(),
        threshold,
        valid: valid_metrics,
        test: test_metrics,
        test_recall_by_family: by_family,
        field,
        site: site_summary,
        robustness,
        feedback,
        train_seconds,
        scoring,
        peak_rss_bytes,
        tracking_seconds: 0.0,
        final_metrics: Vec::new(),
    };
    let metrics_json = serde_json::to_vec_pretty(&outcome).map_err(|e| RunError::Invalid {
        message: format!("cannot serialise the metrics: {e}"),
    })?;
    write_file(&out.join("metrics.json"), &metrics_json)?;
    if let Some(site) = &site {
        // For an analyst: what the site's log holds that libinjection reads as an attack.
        let mut listed = site.quarantined.join("\n");
        listed.push('\n');
        write_file(&out.join(site::QUARANTINE_FILE), listed.as_bytes())?;
    }
    Ok(Trained {
        outcome,
        manifest: saved.manifest,
        final_metrics,
        last_step,
    })
}

/// Logs a trained run's final metrics, files and (on a server) logged model to its run.
/// `RunOutcome::tracking_seconds` is the time this took.
fn log_results(
    request: &RunRequest,
    trained: Trained,
    logger: &mut RunLogger<DefaultStore>,
    model: Option<PendingModel>,
    progress: &mut dyn TrainObserver,
) -> Result<RunOutcome> {
    let logging = Instant::now();
    let Trained {
        mut outcome,
        manifest,
        final_metrics,
        last_step,
    } = trained;
    let step = i64::try_from(last_step).unwrap_or(i64::MAX);
    let logged: Vec<Metric> = final_metrics
        .iter()
        .map(|(key, value)| Metric::new(key.clone(), *value, step))
        .collect();
    logger.log_metrics(&logged)?;
    outcome.final_metrics = final_metrics;

    // MLmodel sits beside the manifest (not covered by its checksums): the run id is known only
    // once the run reached the store.
    let out = &outcome.out_dir;
    let model_dir = &outcome.model_dir;
    let run_id = logger.run_id().map(str::to_owned);
    write_mlmodel(model_dir, &manifest, run_id.as_deref(), None, "model")?;
    // On a server, the MLflow 3 logged model (its own copy of the model's files) goes up
    // beside the run's artifacts.
    let server = match (&run_id, logger.store()) {
        (Some(run_id), DefaultStore::Server(client)) => Some((run_id.clone(), client.clone())),
        _ => None,
    };
    let logged_model = std::thread::scope(|scope| -> Result<_> {
        let logging_model = server.as_ref().map(|(run_id, client)| {
            scope
                .spawn(|| log_model_to_server(client, request, &manifest, model_dir, run_id, model))
        });
        // A folder's files are logged under its own name (`model/…`, `plots/…`). On a server
        // the model goes up once, as the logged model (MLflow 3's layout; a run id resolves
        // to it), and into the run's own artifacts only if that failed.
        if logging_model.is_none() {
            logger.log_artifact(model_dir, Some("model"))?;
        }
        for (entry, artifact_dir) in [
            ("plots", Some("plots")),
            ("metrics.json", None),
            ("clusters.json", None),
            ("clusters.md", None),
        ] {
            let path = out.join(entry);
            if path.exists() {
                logger.log_artifact(&path, artifact_dir)?;
            }
        }
        logger.flush()?;
        Ok(logging_model.map(|handle| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }))
    })?;
    match logged_model {
        Some(Ok((model_id, version))) => {
            outcome.logged_model_id = Some(model_id);
            outcome.registered_version = version;
        }
        Some(Err(error)) => {
            // The model goes to the run's artifacts instead (a run id still finds it there):
            // log the failure, do not fail a run whose training and metrics are safe.
            tracing::warn!(%error, "could not log the MLflow 3 logged model");
            progress.note(&format!(
                "warning: the logged model could not be created ({error}); the model is in the \
                 run's artifacts instead"
            ));
            logger.log_artifact(model_dir, Some("model"))?;
            logger.flush()?;
        }
        None => {}
    }
    outcome.tracking_seconds = logging.elapsed().as_secs_f64();
    Ok(outcome)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(|e| RunError::io(path, "cannot write", e))
}

fn draw_charts(
    dir: &Path,
    scores: &[f64],
    labels: &[Label],
    test: &BinaryMetrics,
    title: &str,
) -> Result<()> {
    let roc = metrics::roc_curve(scores, labels);
    let pr = metrics::precision_recall_curve(scores, labels);
    plots::roc_png(&dir.join("roc.png"), &[(title, &roc)])?;
    plots::roc_low_fpr_png(&dir.join("roc_low_fpr.png"), &[(title, &roc)])?;
    plots::pr_png(&dir.join("precision_recall.png"), &[(title, &pr)])?;
    plots::confusion_png(
        &dir.join("confusion_matrix.png"),
        &test.confusion,
        &format!("{title}: test split"),
    )?;
    plots::score_histogram_png(&dir.join("scores.png"), scores, labels, test.threshold)?;
    Ok(())
}

/// Family-specific artifacts: the clusters of the test requests an Isolation Forest flags
/// (`clusters.json` and `clusters.md`), for an analyst to see what kinds of anomalies it finds.
fn write_extra_artifacts(
    saved: &SavedModel,
    out: &Path,
    texts: &[&str],
    scores: &[f64],
    threshold: f64,
    seed: u64,
) -> Result<()> {
    let TrainedModel::IsolationForest(forest) = &saved.model else {
        return Ok(());
    };
    let k = forest.config().kmeans.k;
    let flagged: Vec<&str> = texts
        .iter()
        .zip(scores)
        .filter(|(_, score)| **score >= threshold)
        .map(|(text, _)| *text)
        .collect();
    if k == 0 || flagged.len() < k {
        return Ok(());
    }
    let report = vigie_models::anomaly::cluster_flagged(forest, &flagged, k, seed)?;
    let json = serde_json::to_vec_pretty(&report).map_err(|e| RunError::Invalid {
        message: format!("cannot serialise the clusters: {e}"),
    })?;
    write_file(&out.join("clusters.json"), &json)?;
    write_file(&out.join("clusters.md"), report.to_markdown().as_bytes())
}

/// The `MLmodel` file of MLflow's model format, with the `vigie` flavor, the `python_function`
/// flavor when the model has a Python scorer ([`pyfunc`]), and a signature: one string column
/// in, one score out.
pub fn write_mlmodel(
    dir: &Path,
    manifest: &Manifest,
    run_id: Option<&str>,
    model_id: Option<&str>,
    artifact_path: &str,
) -> Result<()> {
    let mut text = String::new();
    text.push_str(&format!("artifact_path: {artifact_path}\n"));
    text.push_str("flavors:\n");
    text.push_str(&flavor_lines(dir, manifest));
    if let Some(model_id) = model_id {
        text.push_str(&format!("model_id: {model_id}\nmodel_uuid: {model_id}\n"));
    }
    if let Some(run_id) = run_id {
        text.push_str(&format!("run_id: {run_id}\n"));
    }
    text.push_str("signature:\n");
    text.push_str("  inputs: '[{\"type\": \"string\", \"name\": \"text\", \"required\": true}]'\n");
    text.push_str(
        "  outputs: '[{\"type\": \"double\", \"name\": \"score\", \"required\": true}]'\n",
    );
    text.push_str("  params: null\n");
    let created = i64::try_from(manifest.created_at_ms).unwrap_or(0);
    text.push_str(&format!(
        "utc_time_created: '{}'\n",
        system::utc_timestamp(created)
    ));
    write_file(&dir.join("MLmodel"), text.as_bytes())
}

/// The flavors' lines of `MLmodel`: `vigie`, then `python_function` when the folder has a
/// Python scorer (else the `vigie` flavor says why there is none).
fn flavor_lines(dir: &Path, manifest: &Manifest) -> String {
    let mut text = String::from("  vigie:\n");
    text.push_str(&format!("    format: {}\n", manifest.format));
    text.push_str(&format!(
        "    format_version: {}\n",
        manifest.format_version
    ));
    text.push_str(&format!(
        "    manifest: {}\n",
        vigie_models::artifact::MANIFEST_FILE
    ));
    text.push_str(&format!("    model_kind: {}\n", manifest.kind));
    text.push_str(&format!("    threshold: {}\n", manifest.threshold));
    text.push_str(&format!("    vigie_version: {}\n", manifest.vigie_version));
    match pyfunc::python_flavor(dir, &manifest.spec) {
        PythonFlavor::Lines(lines) => text.push_str(&lines),
        PythonFlavor::Unavailable(reason) => text.push_str(&pyfunc::unavailable_line(reason)),
    }
    text
}

/// What creating a run's MLflow 3 logged model sends, but for its experiment and run ids:
/// the run's name and model kind, the `model.*` params of `params`, the dataset and digest.
fn logged_model_request(config: &RunConfig, params: &[Param], digest: &str) -> CreateLoggedModel {
    CreateLoggedModel {
        name: Some(config.run_name()),
        model_type: Some(config.model.kind().to_owned()),
        params: params
            .iter()
            .filter(|param| param.key.starts_with("model."))
            .cloned()
            .collect(),
        tags: vec![
            Tag::new(tags::DATASET, &config.data.dataset),
            Tag::new(tags::DATASET_DIGEST, digest),
        ],
        ..CreateLoggedModel::default()
    }
}

/// Creates the run's MLflow 3 logged model (PENDING) from `request` and names it as the run's
/// output.
fn create_logged_model(
    client: &vigie_mlflow::MlflowClient,
    request: &CreateLoggedModel,
    run_id: &str,
) -> Result<PendingModel> {
    let run = client.get_run(run_id)?;
    let model = client.create_logged_model(&CreateLoggedModel {
        experiment_id: run.info.experiment_id.clone(),
        source_run_id: Some(run_id.to_owned()),
        ..request.clone()
    })?;
    client.log_outputs(
        run_id,
        &[ModelOutput {
            model_id: model.info.model_id.clone(),
            step: 0,
        }],
    )?;
    Ok(PendingModel {
        model_id: model.info.model_id,
        artifact_uri: model.info.artifact_uri,
    })
}

/// The run's MLflow 3 logged model (`created` when the run started, else created now):
/// its files uploaded, marked ready; then registered when the config names a registered
/// model.
fn log_model_to_server(
    client: &vigie_mlflow::MlflowClient,
    request: &RunRequest,
    manifest: &Manifest,
    model_dir: &Path,
    run_id: &str,
    created: Option<PendingModel>,
) -> Result<(String, Option<String>)> {
    let config = &request.config;
    let model = match created {
        Some(model) => model,
        None => {
            let params: Vec<Param> = config
                .flattened()?
                .into_iter()
                .map(|(key, value)| Param::new(key, value))
                .collect();
            let logged_model =
                logged_model_request(config, &params, &manifest.training_data.digest);
            create_logged_model(client, &logged_model, run_id)?
        }
    };
    let model_id = model.model_id.clone();
    // The logged model's own MLmodel names it; the copy in the run artifacts keeps `model`.
    let staging = model_dir.with_file_name("logged-model-staging");
    let upload = (|| -> Result<()> {
        copy_dir(model_dir, &staging)?;
        write_mlmodel(
            &staging,
            manifest,
            Some(run_id),
            Some(&model_id),
            &model.artifact_uri,
        )?;
        client.upload_dir(&model.artifact_uri, &staging, None)?;
        Ok(())
    })();
    let _ = fs::remove_dir_all(&staging);
    if let Err(error) = upload {
        let _ = client.finalize_logged_model(&model_id, LoggedModelStatus::UploadFailed);
        return Err(error);
    }
    client.finalize_logged_model(&model_id, LoggedModelStatus::Ready)?;

    let mut version = None;
    if let Some(name) = &config.tracking.registered_model {
        if let Err(error) = client.create_registered_model(name, None, &[])
            && !error.is_already_exists()
        {
            return Err(error.into());
        }
        let created = client.create_model_version(&CreateModelVersion {
            name: name.clone(),
            source: format!("models:/{model_id}"),
            run_id: Some(run_id.to_owned()),
            model_id: Some(model_id.clone()),
            ..CreateModelVersion::default()
        })?;
        version = Some(created.version);
    }
    Ok((model_id, version))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| RunError::io(to, "cannot create", e))?;
    for entry in fs::read_dir(from).map_err(|e| RunError::io(from, "cannot read", e))? {
        let entry = entry.map_err(|e| RunError::io(from, "cannot read", e))?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target).map_err(|e| RunError::io(&target, "cannot copy", e))?;
        }
    }
    Ok(())
}
