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
//! # A store that is slow, failing or gone
//!
//! A flush journals (fsync) and hands the operations over to the logger's background sender
//! (one thread per run): the calling thread never waits for the store, and the client's retries
//! with backoff of a server that answers 5xx or 429, or stops answering, run on the sender's
//! thread. [`RunLogger::start`] waits for the run's creation, at most
//! [`RunOptions::start_timeout`]; a server that never answered fails at once (the client does
//! not retry it), so a run against a dead server starts offline at once.
//!
//! When the store is unreachable ([`crate::sync::is_unreachable`]: transport errors, 429 and 5xx
//! after the client's retries) the sender logs one warning (once per store and process), keeps
//! what it holds and tries again a minute later. [`RunLogger::finish`] has it try once more and
//! waits while it keeps acknowledging operations, giving up after [`RunOptions::finish_timeout`]
//! without one (3 s when offline); what was not sent then stays in the journal for
//! `vigie mlflow sync`, and the outcome says so (`synced: false`). A 4xx refusal is returned by the next [`RunLogger::flush`] (also through
//! [`RunLogger::end_epoch`] and the log calls that flush) or by [`RunLogger::finish`], once.
//! Inputs and artifacts are also sent after flushes; artifact files are copied into the journal
//! when logged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::batch::validate_batch;
use crate::error::{MlflowError, Result};
use crate::journal::{
    CLIENT_RUN_ID_TAG, JOURNAL_FORMAT_VERSION, Journal, JournalOp, copy_recursively, move_to_done,
};
use crate::mlflow_tags;
use crate::sender::{Closed, Sender, SenderSetup};
use crate::store::TrackingStore;
use crate::sync::StartInfo;
use crate::types::{DatasetInput, Metric, Param, RunStatus, Tag, now_millis};

/// Default for [`RunOptions::max_buffered_metrics`]: one full `log-batch` request.
pub const DEFAULT_MAX_BUFFERED_METRICS: usize = 1000;
/// Default for [`RunOptions::flush_interval`].
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(10);
/// Default for [`RunOptions::start_timeout`]: above the client's first-contact timeout, so a
/// listener that never answers is known offline when [`RunLogger::start`] returns.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(15);
/// Default for [`RunOptions::finish_timeout`].
pub const DEFAULT_FINISH_TIMEOUT: Duration = Duration::from_secs(30);
/// The bound of [`RunOptions::finish_timeout`] for a run that is offline at its end: the last
/// try is worth a moment (the store may be back), not a listener's full timeout.
const OFFLINE_FINISH_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// How long [`RunLogger::start`] waits for the run's creation in the store (and the sync of
    /// older journals); past it the run goes on, created in the background.
    pub start_timeout: Duration,
    /// How long [`RunLogger::finish`] waits for the sender without an acknowledgement from the
    /// store before leaving what is unsent to the journal (3 s at most for a run offline at
    /// its end).
    pub finish_timeout: Duration,
}

impl RunOptions {
    /// Options for a run in `experiment`, journaled under `journal_root`, with the defaults:
    /// flush at each epoch, at 1000 points and every 10 s; sync other journals on start; wait
    /// at most 15 s for the run's creation and 30 s without progress at the run's end.
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
            start_timeout: DEFAULT_START_TIMEOUT,
            finish_timeout: DEFAULT_FINISH_TIMEOUT,
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

/// Logs one run: journal first, then the store, in batches, from a background sender. See the
/// [module docs](self).
///
/// Dropped without [`RunLogger::finish`], it journals the run as `FAILED` (while panicking) or
/// `KILLED` and tries to send that, best effort.
pub struct RunLogger<S: TrackingStore + Send + Sync + 'static> {
    store: Arc<S>,
    /// Shared with the sender, which appends the acknowledgements.
    journal: Arc<Mutex<Journal>>,
    journal_path: PathBuf,
    client_run_id: String,
    sender: Sender,
    /// Operations journaled but not handed over to the sender yet, in order.
    pending: Vec<JournalOp>,
    buffered_metrics: usize,
    /// Whether the run's end was journaled and handed over: nothing more can be logged.
    closed: bool,
    /// Params logged so far: a different value for a key is refused at the call, before it is
    /// journaled, since the store would refuse the whole merged batch.
    params: HashMap<String, String>,
    last_flush: Instant,
    options: RunOptions,
}

impl<S: TrackingStore + Send + Sync + 'static> std::fmt::Debug for RunLogger<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLogger")
            .field("store", &self.store.describe())
            .field("client_run_id", &self.client_run_id)
            .field("run_id", &self.run_id())
            .field("pending", &self.pending.len())
            .field("online", &self.is_online())
            .finish()
    }
}

impl<S: TrackingStore + Send + Sync + 'static> RunLogger<S> {
    /// Starts a run: journals it (fsync'ed) and has the sender create it in the store and, when
    /// [`RunOptions::sync_pending_on_start`], sync older pending journals of the root, waiting
    /// for that at most [`RunOptions::start_timeout`]. An unreachable store is not an error: the
    /// run starts offline. A refusal of the run by the store is.
    pub fn start(store: S, options: RunOptions) -> Result<Self> {
        let start = start_info(&options)?;
        let mut journal = Journal::create(&options.journal_root, &start.client_run_id)?;
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
        let journal_path = journal.path().to_path_buf();
        let client_run_id = start.client_run_id.clone();
        let store = Arc::new(store);
        let journal = Arc::new(Mutex::new(journal));
        let sender = Sender::spawn(SenderSetup {
            store: Arc::clone(&store),
            journal: Arc::clone(&journal),
            start,
            journal_root: options.journal_root.clone(),
            sync_pending_on_start: options.sync_pending_on_start,
        })?;
        let logger = RunLogger {
            store,
            journal,
            journal_path,
            client_run_id,
            sender,
            pending: Vec::new(),
            buffered_metrics: 0,
            closed: false,
            params: HashMap::new(),
            last_flush: Instant::now(),
            options,
        };
        logger.sender.wait_for_start(logger.options.start_timeout);
        match logger.sender.take_refusal() {
            Some(refusal) => Err(refusal),
            None => Ok(logger),
        }
    }

    /// The client-side run id (the journal's name and the [`CLIENT_RUN_ID_TAG`] tag).
    pub fn client_run_id(&self) -> &str {
        &self.client_run_id
    }

    /// The store's run id, once the run reached the store.
    pub fn run_id(&self) -> Option<&str> {
        self.sender.run_id()
    }

    /// Whether the sender's last store call succeeded (`true` before its first).
    pub fn is_online(&self) -> bool {
        self.sender.is_online()
    }

    /// The journal file.
    pub fn journal_path(&self) -> Option<&Path> {
        Some(&self.journal_path)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Waits until the sender holds nothing it can send now: everything flushed reached the
    /// store, or the store is unreachable (the logger is offline) or refused it. Returns `false`
    /// when `timeout` passed first. A flush only hands operations over; this is for a caller
    /// that needs the store up to date (or [`RunLogger::is_online`] current) before going on.
    pub fn wait_settled(&self, timeout: Duration) -> bool {
        self.sender.wait_idle(timeout)
    }

    /// Logs params (sent after the next flush). Keys and values are validated now.
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

    /// Sets tags (sent after the next flush).
    pub fn set_tags(&mut self, tags: &[Tag]) -> Result<()> {
        self.journal_batch(Vec::new(), Vec::new(), tags.to_vec())
    }

    /// Logs one metric point, timestamped now (sent after the next flush).
    pub fn log_metric(&mut self, key: &str, value: f64, step: i64) -> Result<()> {
        self.log_metrics(&[Metric::new(key, value, step)])
    }

    /// Logs metric points (sent after the next flush).
    pub fn log_metrics(&mut self, metrics: &[Metric]) -> Result<()> {
        self.buffered_metrics += metrics.len();
        self.journal_batch(metrics.to_vec(), Vec::new(), Vec::new())
    }

    /// Records the datasets the run used (sent after the next flush).
    pub fn log_inputs(&mut self, datasets: &[DatasetInput]) -> Result<()> {
        self.journal_op(|seq| {
            Ok(JournalOp::Inputs {
                seq,
                datasets: datasets.to_vec(),
            })
        })?;
        self.maybe_flush()
    }

    /// Logs a file, or a folder's files, as artifacts under `artifact_dir` (`None`: the root).
    /// It is copied into the journal now, so deleting the original cannot lose it, and uploaded
    /// after the next flush.
    pub fn log_artifact(&mut self, local: &Path, artifact_dir: Option<&str>) -> Result<()> {
        let name = local
            .file_name()
            .ok_or_else(|| MlflowError::invalid("artifact path", "has no file name"))?
            .to_string_lossy()
            .into_owned();
        let artifacts = self.journal().artifacts_dir();
        self.journal_op(|seq| {
            let file = format!("{seq}/{name}");
            copy_recursively(local, &artifacts.join(&file))?;
            Ok(JournalOp::Artifact {
                seq,
                file,
                artifact_dir: artifact_dir.map(str::to_owned),
            })
        })?;
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

    /// Fsyncs the journal and hands everything pending over to the sender, which sends it in
    /// the background (also when offline, after its rest). Returns a refusal by the store (4xx)
    /// of operations handed over before, or a local error; never waits for the store.
    pub fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        self.buffered_metrics = 0;
        self.hand_over_pending()?;
        self.sender.take_refusal().map_or(Ok(()), Err)
    }

    fn hand_over_pending(&mut self) -> Result<()> {
        self.ensure_open()?;
        self.journal().sync()?;
        self.sender.hand_over(std::mem::take(&mut self.pending));
        Ok(())
    }

    /// Ends the run with `status`: journals it, waits for the sender (while the store keeps
    /// acknowledging operations, and at most [`RunOptions::finish_timeout`] without one, 3 s
    /// when offline), and moves the journal to `done/` when everything reached the store. Else the journal waits
    /// for a sync, and the outcome says so. A refusal by the store not returned yet is returned.
    pub fn finish(mut self, status: RunStatus) -> Result<FinishOutcome> {
        // The end is journaled once what came before reached the store, as when flushes were
        // synchronous: a process killed while the run's files upload leaves a journal without
        // a finish, which a sync ends KILLED, not one that would mark the run FINISHED after,
        // say, a sweep's resume ended it KILLED and ran its trial again.
        self.hand_over_pending()?;
        let settled = self.sender.settle(self.end_patience());
        self.journal_finish(status)?;
        self.close(if settled {
            self.end_patience()
        } else {
            Duration::ZERO
        })
    }

    /// How long the run's end waits for the store without progress.
    fn end_patience(&self) -> Duration {
        if self.is_online() {
            self.options.finish_timeout
        } else {
            self.options.finish_timeout.min(OFFLINE_FINISH_TIMEOUT)
        }
    }

    /// Hands the run's end over and waits for the sender, at most `patience` without progress.
    fn close(&mut self, patience: Duration) -> Result<FinishOutcome> {
        self.closed = true;
        self.journal().sync()?;
        let closed = self
            .sender
            .close(std::mem::take(&mut self.pending), patience);
        if let Some(refusal) = self.sender.take_refusal() {
            // The finish is journaled; a sync applies (or reports) what is left.
            return Err(refusal);
        }
        let synced = closed == Closed::AllSent;
        let journal = if synced {
            self.journal().sync()?;
            move_to_done(&self.journal_path)?
        } else {
            self.warn_unsent(closed, patience);
            self.journal_path.clone()
        };
        Ok(FinishOutcome {
            journal,
            run_id: self.run_id().map(str::to_owned),
            synced,
        })
    }

    fn warn_unsent(&self, closed: Closed, patience: Duration) {
        let journal = self.journal_path.display();
        if closed == Closed::StillSending {
            tracing::warn!(
                %journal,
                store = %self.store.describe(),
                "the tracking store took nothing for {patience:?} at the run's end: what it did \
                 not acknowledge waits in the run's journal for `vigie mlflow sync`"
            );
        } else if self.sender.refused() {
            tracing::warn!(%journal, "the tracking store refused operations of this run");
        } else {
            tracing::warn!(
                %journal,
                "run finished with operations not in the store: its journal waits for a sync"
            );
        }
    }

    fn journal_finish(&mut self, status: RunStatus) -> Result<()> {
        self.journal_op(|seq| {
            Ok(JournalOp::Finish {
                seq,
                status,
                end_time: now_millis(),
            })
        })
    }

    fn journal(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed {
            Err(MlflowError::invalid("run logger", "already finished"))
        } else {
            Ok(())
        }
    }

    /// Journals the operation `make` builds with the next sequence number, and keeps it
    /// pending.
    fn journal_op(&mut self, make: impl FnOnce(u64) -> Result<JournalOp>) -> Result<()> {
        self.ensure_open()?;
        let op = {
            let mut journal = self.journal();
            let op = make(journal.next_seq())?;
            journal.take_seq();
            journal.append_op(&op)?;
            op
        };
        self.pending.push(op);
        Ok(())
    }

    fn journal_batch(
        &mut self,
        metrics: Vec<Metric>,
        params: Vec<Param>,
        tags: Vec<Tag>,
    ) -> Result<()> {
        validate_batch(&metrics, &params, &tags)?;
        self.journal_op(|seq| {
            Ok(JournalOp::Batch {
                seq,
                metrics,
                params,
                tags,
            })
        })?;
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
}

impl<S: TrackingStore + Send + Sync + 'static> Drop for RunLogger<S> {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let status = if std::thread::panicking() {
            RunStatus::Failed
        } else {
            RunStatus::Killed
        };
        if let Err(error) = self.journal_finish(status) {
            tracing::warn!("could not journal the end of an unfinished run: {error}");
            self.sender.abandon();
            return;
        }
        if !self.is_online() {
            // Do not hold a failing process on retries: the journal keeps the run.
            self.closed = true;
            let _ = self.journal().sync();
            self.sender.abandon();
            return;
        }
        if let Err(error) = self.close(self.options.finish_timeout) {
            tracing::warn!("could not send the end of an unfinished run: {error}");
        }
    }
}

/// The run's `start` record: options, a new client run id and its tag, the parent's tag.
fn start_info(options: &RunOptions) -> Result<StartInfo> {
    let client_run_id = new_client_run_id();
    let mut tags = options.tags.clone();
    tags.push(Tag::new(CLIENT_RUN_ID_TAG, &client_run_id));
    if let Some(parent) = &options.parent_run_id {
        tags.push(Tag::new(mlflow_tags::PARENT_RUN_ID, parent));
    }
    validate_batch(&[], &[], &tags)?;
    Ok(StartInfo {
        client_run_id,
        experiment: options.experiment.clone(),
        run_name: options.run_name.clone(),
        tags,
        start_time: options.start_time.unwrap_or_else(now_millis),
    })
}

/// A new client-side run id: time in ms and 64 random bits, hex (sortable by start time).
fn new_client_run_id() -> String {
    format!("{:012x}{:016x}", now_millis(), fastrand::u64(..))
}
