//! [`RunLogger`]: what a trainer holds while a run goes on. It journals every operation first
//! ([`crate::journal`]), buffers metric points, and sends them to a [`TrackingStore`] in few
//! requests; when the store cannot be reached, training goes on and the journal keeps the run
//! for a later sync ([`crate::sync`]).
//!
//! # Requests
//!
//! Params, tags and metric points wait in memory (and in the journal) until a flush, which sends
//! them as one merged `log_batch` (split into requests of at most 1000 entities by the client).
//! A flush happens on [`RunLogger::flush`], on [`RunLogger::end_epoch`] when
//! [`RunOptions::flush_on_epoch`] is set, when [`RunOptions::max_buffered_metrics`] points wait,
//! when a log call comes [`RunOptions::flush_interval`] after the last flush, and at
//! [`RunLogger::finish`]. A run of 50 params and 100 epochs × 6 metrics flushed only at the end
//! costs 4 requests with an [`crate::MlflowClient`] (experiment lookup, run creation, one batch,
//! end; 2 more when the experiment must be created); flushed at each epoch it costs one
//! `log-batch` request per epoch (103 in all, measured).
//!
//! # Offline mode
//!
//! When the store is unreachable ([`crate::sync::is_unreachable`]: transport errors, 429 and 5xx
//! after the client's retries) the logger logs one warning and stops calling the store until the
//! next flush, which tries once more. A 4xx refusal is returned to the caller. Inputs and
//! artifacts are also sent at flushes; artifact files are copied into the journal when logged.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::batch::validate_batch;
use crate::error::{MlflowError, Result};
use crate::journal::{
    CLIENT_RUN_ID_TAG, JOURNAL_FORMAT_VERSION, Journal, JournalOp, copy_recursively,
};
use crate::mlflow_tags;
use crate::store::TrackingStore;
use crate::sync::{ApplyCounts, StartInfo, apply_ops, ensure_run, is_unreachable, sync_all_except};
use crate::types::{DatasetInput, Metric, Param, RunStatus, Tag, now_millis};

/// Default for [`RunOptions::max_buffered_metrics`]: one full `log-batch` request.
pub const DEFAULT_MAX_BUFFERED_METRICS: usize = 1000;
/// Default for [`RunOptions::flush_interval`].
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// How to start a run with [`RunLogger::start`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Folder of the run journals (created when missing).
    pub journal_root: PathBuf,
    /// Experiment name (created when missing).
    pub experiment: String,
    /// Run name (`None`: the store picks one).
    pub run_name: Option<String>,
    /// Tags set at creation.
    pub tags: Vec<Tag>,
    /// Parent run id, for a nested run (the `mlflow.parentRunId` tag).
    pub parent_run_id: Option<String>,
    /// Start time, ms since the epoch (`None`: now).
    pub start_time: Option<i64>,
    /// Flush when this many metric points wait.
    pub max_buffered_metrics: usize,
    /// Flush at the first log call this long after the last flush.
    pub flush_interval: Duration,
    /// Whether [`RunLogger::end_epoch`] flushes (one request per epoch) or only marks a point
    /// where a flush would be fine.
    pub flush_on_epoch: bool,
    /// Whether [`RunLogger::start`] also syncs the other pending journals of the root once it
    /// reached the store (best effort: failures are logged, not returned).
    pub sync_pending_on_start: bool,
}

impl RunOptions {
    /// Options for a run in `experiment`, journaled under `journal_root`, with the defaults:
    /// flush at each epoch, at 1000 points and every 10 s; sync other journals on start.
    pub fn new(journal_root: impl Into<PathBuf>, experiment: impl Into<String>) -> Self {
        RunOptions {
            journal_root: journal_root.into(),
            experiment: experiment.into(),
            run_name: None,
            tags: Vec::new(),
            parent_run_id: None,
            start_time: None,
            max_buffered_metrics: DEFAULT_MAX_BUFFERED_METRICS,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            flush_on_epoch: true,
            sync_pending_on_start: true,
        }
    }
}

/// What [`RunLogger::finish`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishOutcome {
    /// The journal: in `<root>/done/` when the run is fully in the store, else where it was.
    pub journal: PathBuf,
    /// The store's run id, when the run reached the store.
    pub run_id: Option<String>,
    /// Whether everything reached the store; if not, `vigie mlflow sync` or
    /// [`crate::sync::sync_all`] sends the rest later.
    pub synced: bool,
}

/// Logs one run: journal first, then the store, in batches. See the [module docs](self).
///
/// Dropped without [`RunLogger::finish`], it journals the run as `FAILED` (while panicking) or
/// `KILLED` and tries to send that, best effort.
pub struct RunLogger<S: TrackingStore> {
    store: S,
    journal: Option<Journal>,
    start: StartInfo,
    run_id: Option<String>,
    /// Operations journaled but not acknowledged, in order.
    pending: Vec<JournalOp>,
    buffered_metrics: usize,
    online: bool,
    /// Whether a store call failed since the last success: pending operations may have
    /// reached the store, so the next apply compares metric points with the history.
    uncertain: bool,
    /// Whether the store refused operations (4xx): they stay unacknowledged in the journal,
    /// which is then never marked done, so a sync reports them instead of hiding them.
    refused: bool,
    /// Params logged so far: a different value for a key is refused at the call, before it is
    /// journaled, since the store would refuse the whole merged batch.
    params: HashMap<String, String>,
    last_flush: Instant,
    /// When the store last failed to answer: while offline, flushes wait
    /// [`OFFLINE_RETRY_INTERVAL`] after it before trying again, so that a dead store costs the
    /// trainer one attempt a minute at most.
    last_unreachable: Option<Instant>,
    options: RunOptions,
}

/// How long an offline logger journals without trying the store again (the run's end always
/// tries once more).
const OFFLINE_RETRY_INTERVAL: Duration = Duration::from_secs(60);

impl<S: TrackingStore> std::fmt::Debug for RunLogger<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLogger")
            .field("store", &self.store.describe())
            .field("client_run_id", &self.start.client_run_id)
            .field("run_id", &self.run_id)
            .field("pending", &self.pending.len())
            .field("online", &self.online)
            .finish()
    }
}

impl<S: TrackingStore> RunLogger<S> {
    /// Starts a run: journals it (fsync'ed), creates it in the store and, when
    /// [`RunOptions::sync_pending_on_start`], syncs older pending journals of the root. An
    /// unreachable store is not an error: the run starts offline.
    pub fn start(store: S, options: RunOptions) -> Result<Self> {
        let client_run_id = new_client_run_id();
        let mut tags = options.tags.clone();
        tags.push(Tag::new(CLIENT_RUN_ID_TAG, &client_run_id));
        if let Some(parent) = &options.parent_run_id {
            tags.push(Tag::new(mlflow_tags::PARENT_RUN_ID, parent));
        }
        validate_batch(&[], &[], &tags)?;
        let start = StartInfo {
            client_run_id: client_run_id.clone(),
            experiment: options.experiment.clone(),
            run_name: options.run_name.clone(),
            tags,
            start_time: options.start_time.unwrap_or_else(now_millis),
        };
        let mut journal = Journal::create(&options.journal_root, &client_run_id)?;
        let seq = journal.take_seq();
        journal.append_op(&JournalOp::Start {
            seq,
            version: JOURNAL_FORMAT_VERSION,
            client_run_id: start.client_run_id.clone(),
            experiment: start.experiment.clone(),
            run_name: start.run_name.clone(),
            tags: start.tags.clone(),
            start_time: start.start_time,
        })?;
        journal.sync()?;
        let mut logger = RunLogger {
            store,
            journal: Some(journal),
            start,
            run_id: None,
            pending: Vec::new(),
            buffered_metrics: 0,
            online: true,
            uncertain: false,
            refused: false,
            params: HashMap::new(),
            last_flush: Instant::now(),
            last_unreachable: None,
            options,
        };
        logger.ensure_run()?;
        if logger.online && logger.options.sync_pending_on_start {
            logger.sync_other_journals();
        }
        Ok(logger)
    }

    /// The client-side run id (the journal's name and the [`CLIENT_RUN_ID_TAG`] tag).
    pub fn client_run_id(&self) -> &str {
        &self.start.client_run_id
    }

    /// The store's run id, once the run reached the store.
    pub fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }

    /// Whether the last store call succeeded.
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// The journal file.
    pub fn journal_path(&self) -> Option<&Path> {
        self.journal.as_ref().map(Journal::path)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Logs params (sent at the next flush). Keys and values are validated now.
    /// Logging a param again with the same value is a no-op for the store; another value is an
    /// [`MlflowError::InvalidArgument`] (params are immutable in MLflow).
    pub fn log_params(&mut self, params: &[Param]) -> Result<()> {
        validate_batch(&[], params, &[])?;
        for param in params {
            if let Some(previous) = self.params.get(&param.key)
                && *previous != param.value
            {
                return Err(MlflowError::invalid(
                    format!("param {:?}", param.key),
                    format!(
                        "already logged as {previous:?}, cannot change to {:?}",
                        param.value
                    ),
                ));
            }
        }
        for param in params {
            self.params.insert(param.key.clone(), param.value.clone());
        }
        self.journal_batch(Vec::new(), params.to_vec(), Vec::new())
    }

    /// Sets tags (sent at the next flush).
    pub fn set_tags(&mut self, tags: &[Tag]) -> Result<()> {
        self.journal_batch(Vec::new(), Vec::new(), tags.to_vec())
    }

    /// Logs one metric point, timestamped now (sent at the next flush).
    pub fn log_metric(&mut self, key: &str, value: f64, step: i64) -> Result<()> {
        self.log_metrics(&[Metric::new(key, value, step)])
    }

    /// Logs metric points (sent at the next flush).
    pub fn log_metrics(&mut self, metrics: &[Metric]) -> Result<()> {
        self.buffered_metrics += metrics.len();
        self.journal_batch(metrics.to_vec(), Vec::new(), Vec::new())
    }

    /// Records the datasets the run used (sent at the next flush).
    pub fn log_inputs(&mut self, datasets: &[DatasetInput]) -> Result<()> {
        let journal = self.journal_mut()?;
        let op = JournalOp::Inputs {
            seq: journal.take_seq(),
            datasets: datasets.to_vec(),
        };
        journal.append_op(&op)?;
        self.pending.push(op);
        self.maybe_flush()
    }

    /// Logs a file, or a folder's files, as artifacts under `artifact_dir` (`None`: the root).
    /// It is copied into the journal now, so deleting the original cannot lose it, and uploaded
    /// at the next flush.
    pub fn log_artifact(&mut self, local: &Path, artifact_dir: Option<&str>) -> Result<()> {
        let name = local
            .file_name()
            .ok_or_else(|| MlflowError::invalid("artifact path", "has no file name"))?
            .to_string_lossy()
            .into_owned();
        let journal = self.journal_mut()?;
        let seq = journal.take_seq();
        let file = format!("{seq}/{name}");
        copy_recursively(local, &journal.artifacts_dir().join(&file))?;
        let op = JournalOp::Artifact {
            seq,
            file,
            artifact_dir: artifact_dir.map(str::to_owned),
        };
        journal.append_op(&op)?;
        self.pending.push(op);
        self.maybe_flush()
    }

    /// Marks the end of an epoch: flushes when [`RunOptions::flush_on_epoch`] is set, else
    /// only applies the size and time bounds.
    pub fn end_epoch(&mut self) -> Result<()> {
        if self.options.flush_on_epoch {
            self.flush()
        } else {
            self.maybe_flush()
        }
    }

    /// Fsyncs the journal and sends everything pending to the store (once, also when offline).
    /// Only a refusal by the store (4xx) or a local error is returned; an unreachable store
    /// switches the logger offline.
    pub fn flush(&mut self) -> Result<()> {
        self.flush_with(Retry::AfterInterval)
    }

    fn flush_with(&mut self, retry: Retry) -> Result<()> {
        self.last_flush = Instant::now();
        self.buffered_metrics = 0;
        self.journal_mut()?.sync()?;
        let resting = !self.online
            && retry == Retry::AfterInterval
            && self
                .last_unreachable
                .is_some_and(|at| at.elapsed() < OFFLINE_RETRY_INTERVAL);
        if resting {
            return Ok(());
        }
        if self.run_id.is_none() {
            self.ensure_run()?;
        }
        let Some(run_id) = self.run_id.clone() else {
            return Ok(());
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        let Some(journal) = self.journal.as_mut() else {
            return Ok(());
        };
        let mut counts = ApplyCounts::default();
        let result = apply_ops(
            &self.store,
            journal,
            &run_id,
            &mut self.pending,
            self.uncertain,
            &mut counts,
        );
        journal.sync()?;
        match result {
            Ok(()) => {
                self.uncertain = false;
                self.back_online();
                Ok(())
            }
            Err(error) => {
                self.uncertain = true;
                if is_unreachable(&error) {
                    self.go_offline(&error);
                    Ok(())
                } else {
                    // The refused operations stay in the journal (a sync reports them again) but
                    // are not retried by this logger.
                    self.pending.clear();
                    self.refused = true;
                    Err(error)
                }
            }
        }
    }

    /// Ends the run with `status`: journals it, flushes, and moves the journal to `done/` when
    /// everything reached the store.
    pub fn finish(mut self, status: RunStatus) -> Result<FinishOutcome> {
        self.journal_finish(status)?;
        if let Err(error) = self.flush_with(Retry::Now) {
            // The finish is journaled: closing the journal here keeps `Drop` from journaling
            // another one; a sync applies (or reports) what is left.
            self.journal = None;
            return Err(error);
        }
        let journal = self
            .journal
            .take()
            .ok_or_else(|| MlflowError::invalid("run logger", "already finished"))?;
        let synced =
            self.online && self.run_id.is_some() && self.pending.is_empty() && !self.refused;
        let path = if synced {
            journal.mark_done()?
        } else {
            tracing::warn!(
                journal = %journal.path().display(),
                "run finished with operations not in the store: its journal waits for a sync"
            );
            journal.path().to_path_buf()
        };
        Ok(FinishOutcome {
            journal: path,
            run_id: self.run_id.clone(),
            synced,
        })
    }

    fn journal_finish(&mut self, status: RunStatus) -> Result<()> {
        let journal = self.journal_mut()?;
        let op = JournalOp::Finish {
            seq: journal.take_seq(),
            status,
            end_time: now_millis(),
        };
        journal.append_op(&op)?;
        self.pending.push(op);
        Ok(())
    }

    fn journal_mut(&mut self) -> Result<&mut Journal> {
        self.journal
            .as_mut()
            .ok_or_else(|| MlflowError::invalid("run logger", "already finished"))
    }

    fn journal_batch(
        &mut self,
        metrics: Vec<Metric>,
        params: Vec<Param>,
        tags: Vec<Tag>,
    ) -> Result<()> {
        validate_batch(&metrics, &params, &tags)?;
        let journal = self.journal_mut()?;
        let op = JournalOp::Batch {
            seq: journal.take_seq(),
            metrics,
            params,
            tags,
        };
        journal.append_op(&op)?;
        self.pending.push(op);
        self.maybe_flush()
    }

    fn maybe_flush(&mut self) -> Result<()> {
        if self.buffered_metrics >= self.options.max_buffered_metrics
            || self.last_flush.elapsed() >= self.options.flush_interval
        {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Creates the run in the store (or finds it again after a failed attempt) and acknowledges
    /// the start; an unreachable store switches the logger offline.
    fn ensure_run(&mut self) -> Result<()> {
        match ensure_run(&self.store, &self.start, self.uncertain) {
            Ok((run_id, _)) => {
                if let Some(journal) = self.journal.as_mut() {
                    journal.ack(vec![0], Some(run_id.clone()))?;
                    journal.sync()?;
                }
                self.run_id = Some(run_id);
                self.back_online();
                Ok(())
            }
            Err(error) if is_unreachable(&error) => {
                // The run may have been created before the answer was lost.
                self.uncertain = true;
                self.go_offline(&error);
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    fn back_online(&mut self) {
        if !self.online {
            tracing::info!(store = %self.store.describe(), "tracking store reachable again");
        }
        self.online = true;
    }

    fn go_offline(&mut self, error: &MlflowError) {
        self.last_unreachable = Some(Instant::now());
        if self.online {
            let store = self.store.describe();
            // Once per store and process: a sweep's trials all go offline together.
            if first_time_unreachable(&store) {
                tracing::warn!(
                    store = %store,
                    journal_root = %self.options.journal_root.display(),
                    "cannot reach the tracking store: runs are journaled and training goes on; \
                     `vigie mlflow sync` sends them later (tried again at most once a minute): \
                     {error}"
                );
            } else {
                tracing::debug!(store = %store, "tracking store still unreachable: {error}");
            }
        }
        self.online = false;
    }

    fn sync_other_journals(&self) {
        let own = self.journal_path();
        match sync_all_except(&self.options.journal_root, &self.store, own) {
            Ok(report) => {
                for failure in &report.failed {
                    tracing::warn!(
                        journal = %failure.journal.display(),
                        "could not sync a pending run journal: {}",
                        failure.error
                    );
                }
                if !report.synced.is_empty() {
                    tracing::info!(runs = report.synced.len(), "synced pending run journals");
                }
            }
            Err(error) => tracing::warn!("could not list the pending run journals: {error}"),
        }
    }
}

impl<S: TrackingStore> Drop for RunLogger<S> {
    fn drop(&mut self) {
        if self.journal.is_none() {
            return;
        }
        let status = if std::thread::panicking() {
            RunStatus::Failed
        } else {
            RunStatus::Killed
        };
        if let Err(error) = self.journal_finish(status) {
            tracing::warn!("could not journal the end of an unfinished run: {error}");
            return;
        }
        if !self.online {
            // Do not hold a failing process on retries: the journal keeps the run.
            if let Some(journal) = &self.journal {
                let _ = journal.sync();
            }
            return;
        }
        match self.flush() {
            Ok(()) if self.online && self.pending.is_empty() && !self.refused => {
                if let Some(journal) = self.journal.take() {
                    let _ = journal.mark_done();
                }
            }
            Ok(()) => {}
            Err(error) => tracing::warn!("could not send the end of an unfinished run: {error}"),
        }
    }
}

/// Whether to try the store when an offline logger flushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Only once [`OFFLINE_RETRY_INTERVAL`] has passed since it last failed.
    AfterInterval,
    /// Now (the run's end).
    Now,
}

/// `true` the first time `store` is reported unreachable in this process.
fn first_time_unreachable(store: &str) -> bool {
    static REPORTED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    REPORTED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(store.to_owned())
}

/// A new client-side run id: time in ms and 64 random bits, hex (sortable by start time).
fn new_client_run_id() -> String {
    format!("{:012x}{:016x}", now_millis(), fastrand::u64(..))
}
