//! Idempotent replay of run journals ([`crate::journal`]) into a [`TrackingStore`].
//!
//! [`sync_journal`] sends what a journal holds that the store has not acknowledged, and
//! [`sync_all`] does it for every pending journal of a root. Replaying twice, or replaying a
//! journal whose operations were applied before a crash without their acknowledgement, creates
//! nothing twice:
//!
//! * the run is found again by its [`CLIENT_RUN_ID_TAG`] tag before one is created;
//! * metric points of unacknowledged batches are compared with the store's history
//!   (key, step, timestamp, value) and only the missing ones are sent;
//! * params and tags are re-sent as they are (the same param value again is accepted);
//! * artifacts are uploaded again (an idempotent PUT) and the final status set again, unless the
//!   store holds the run as ended already (a sweep's resume ended a dead writer's run KILLED):
//!   that end is kept.
//!
//! A journal whose writer is gone without a `finish` record (a killed process) is finished as
//! [`RunStatus::Killed`]. A fully synced journal moves to `<root>/done/`. A journal still locked
//! by a live writer is skipped.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{MlflowError, Result};
use crate::journal::{self, CLIENT_RUN_ID_TAG, Journal, JournalContents, JournalOp};
use crate::store::TrackingStore;
use crate::types::{CreateRun, Metric, Param, RunStatus, Tag, now_millis};

/// Whether an error means the store could not be reached (connection errors, timeouts, 429 and
/// 5xx answers, once the client's own retries are spent): the operation may succeed later. Any
/// other error (a 4xx refusal, a bad argument, a local file) is real and retrying cannot fix it.
pub fn is_unreachable(error: &MlflowError) -> bool {
    match error {
        MlflowError::Transport { .. } => true,
        MlflowError::Api { status, .. } => {
            status.is_server_error() || *status == reqwest::StatusCode::TOO_MANY_REQUESTS
        }
        _ => false,
    }
}

/// What replaying one journal did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JournalSync {
    /// The journal (its path before a move to `done/`).
    pub journal: PathBuf,
    /// The client-side run id.
    pub client_run_id: String,
    /// The store's run id.
    pub run_id: String,
    /// Whether this replay created the run (it was not found by its client id tag).
    pub created_run: bool,
    /// Metric points sent.
    pub metrics_sent: usize,
    /// Metric points of unacknowledged batches that the store already held.
    pub metrics_already_present: usize,
    /// Params sent (again, for those already present with the same value).
    pub params_sent: usize,
    /// Artifact operations uploaded.
    pub artifacts_uploaded: usize,
    /// The final status applied, if the run was ended by this replay.
    pub final_status: Option<RunStatus>,
    /// Whether the journal is complete and moved to `done/`.
    pub done: bool,
}

/// A journal that could not be synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncFailure {
    /// The journal.
    pub journal: PathBuf,
    /// Why (the error chain as text).
    pub error: String,
}

/// What [`sync_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// The store synced to ([`TrackingStore::describe`]).
    pub store: String,
    /// Journals replayed (including those with nothing left to send but not yet done).
    pub synced: Vec<JournalSync>,
    /// Journals skipped because a live writer holds them.
    pub busy: Vec<PathBuf>,
    /// Journals that failed.
    pub failed: Vec<SyncFailure>,
    /// Journals not tried because the store became unreachable.
    pub not_tried: Vec<PathBuf>,
}

impl SyncReport {
    /// Whether every journal tried is done and none failed.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty() && self.not_tried.is_empty()
    }

    /// Logs a warning per journal that failed, for the callers that sync in passing (a run's
    /// start, a sweep's resume) and go on whatever happened.
    pub fn warn_failures(&self) {
        for failure in &self.failed {
            tracing::warn!(
                journal = %failure.journal.display(),
                "could not sync a pending run journal: {}",
                failure.error
            );
        }
    }
}

/// Replays the pending journals under `root` (not those in `done/`), oldest name first. A failing
/// journal is reported and the others are still tried, except after an unreachable store, where
/// the rest are listed as not tried. Only listing `root` can fail the whole call.
pub fn sync_all<S: TrackingStore + ?Sized>(root: &Path, store: &S) -> Result<SyncReport> {
    sync_all_except(root, store, None)
}

/// [`sync_all`], leaving out one journal (a logger's own).
pub(crate) fn sync_all_except<S: TrackingStore + ?Sized>(
    root: &Path,
    store: &S,
    except: Option<&Path>,
) -> Result<SyncReport> {
    let mut report = SyncReport {
        store: store.describe(),
        ..SyncReport::default()
    };
    let mut journals = journal::pending_journals(root)?.into_iter();
    for path in journals.by_ref() {
        if except == Some(path.as_path()) {
            continue;
        }
        match sync_journal(&path, store) {
            Ok(Some(done)) => report.synced.push(done),
            Ok(None) => report.busy.push(path),
            Err(error) => {
                let unreachable = is_unreachable(&error);
                report.failed.push(SyncFailure {
                    journal: path,
                    error: error_chain(&error),
                });
                if unreachable {
                    break;
                }
            }
        }
    }
    report.not_tried = journals
        .filter(|path| except != Some(path.as_path()))
        .collect();
    Ok(report)
}

fn error_chain(error: &MlflowError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Replays one journal. Returns `None` when a live writer holds it (nothing done).
pub fn sync_journal<S: TrackingStore + ?Sized>(
    path: &Path,
    store: &S,
) -> Result<Option<JournalSync>> {
    let Some((mut journal, contents)) = Journal::open_existing(path)? else {
        return Ok(None);
    };
    let start = StartInfo::from_contents(path, &contents)?;
    let mut report = JournalSync {
        journal: path.to_path_buf(),
        client_run_id: start.client_run_id.clone(),
        ..JournalSync::default()
    };
    let (run_id, created) = match &contents.run_id {
        Some(run_id) => (run_id.clone(), false),
        None => {
            let (run_id, created) = ensure_run(store, &start, true)?;
            journal.ack(vec![0], Some(run_id.clone()))?;
            (run_id, created)
        }
    };
    report.run_id.clone_from(&run_id);
    report.created_run = created;

    let mut pending: Vec<JournalOp> = contents
        .pending()
        .filter(|op| !matches!(op, JournalOp::Start { .. }))
        .cloned()
        .collect();
    if !contents.is_finished() {
        // The writer is gone (we hold its lock) and never finished: the run was killed.
        let finish = JournalOp::Finish {
            seq: journal.take_seq(),
            status: RunStatus::Killed,
            end_time: now_millis(),
        };
        journal.append_op(&finish)?;
        pending.push(finish);
    }
    if !created {
        keep_an_ended_run_ended(store, &mut journal, &run_id, &mut pending)?;
    }
    let mut counts = ApplyCounts::default();
    // A run this replay created holds nothing yet: no history to compare with.
    let result = apply_ops(
        store,
        &mut journal,
        &run_id,
        &mut pending,
        !created,
        &mut counts,
    );
    journal.sync()?;
    result?;
    report.metrics_sent = counts.metrics_sent;
    report.metrics_already_present = counts.metrics_already_present;
    report.params_sent = counts.params_sent;
    report.artifacts_uploaded = counts.artifacts_uploaded;
    report.final_status = counts.final_status;
    journal.mark_done()?;
    report.done = true;
    tracing::info!(
        journal = %path.display(),
        run_id = %run_id,
        metrics_sent = report.metrics_sent,
        "journal synced"
    );
    Ok(Some(report))
}

/// Leaves out the journaled end of a run that the store holds as already ended (acknowledging
/// it): whoever ended it knew more than this journal. A sweep's resume marks a dead writer's
/// RUNNING run KILLED and runs its trial again; the writer may have journaled its FINISHED
/// just before it was killed, and replaying that would leave the trial with two finished runs.
/// An end applied before a crash lost its acknowledgement is the same end: nothing is lost.
fn keep_an_ended_run_ended<S: TrackingStore + ?Sized>(
    store: &S,
    journal: &mut Journal,
    run_id: &str,
    pending: &mut Vec<JournalOp>,
) -> Result<()> {
    let Some(index) = pending
        .iter()
        .position(|op| matches!(op, JournalOp::Finish { .. }))
    else {
        return Ok(());
    };
    let status = store.get_run(run_id)?.info.status;
    if status != RunStatus::Running {
        let finish = pending.remove(index);
        journal.ack(vec![finish.seq()], None)?;
        tracing::info!(
            run_id,
            ?status,
            "the run was already ended in the store: kept as it is"
        );
    }
    Ok(())
}

/// The fields of a journal's `start` record.
#[derive(Debug, Clone)]
pub(crate) struct StartInfo {
    pub client_run_id: String,
    pub experiment: String,
    pub run_name: Option<String>,
    pub tags: Vec<Tag>,
    pub start_time: i64,
}

impl StartInfo {
    fn from_contents(path: &Path, contents: &JournalContents) -> Result<StartInfo> {
        match contents.ops.first() {
            Some(JournalOp::Start {
                client_run_id,
                experiment,
                run_name,
                tags,
                start_time,
                ..
            }) => Ok(StartInfo {
                client_run_id: client_run_id.clone(),
                experiment: experiment.clone(),
                run_name: run_name.clone(),
                tags: tags.clone(),
                start_time: *start_time,
            }),
            _ => Err(MlflowError::Journal {
                path: path.to_path_buf(),
                line: None,
                message: "does not begin with a start record".into(),
            }),
        }
    }
}

/// The store's run of `start`: found by its client id tag when it `may_exist` (an earlier
/// attempt may have created it without an acknowledgement), else created. Returns the run id and
/// whether it was created.
pub(crate) fn ensure_run<S: TrackingStore + ?Sized>(
    store: &S,
    start: &StartInfo,
    may_exist: bool,
) -> Result<(String, bool)> {
    let experiment_id = store.experiment_id(&start.experiment)?;
    if may_exist {
        let found =
            store.find_runs_by_tag(&experiment_id, CLIENT_RUN_ID_TAG, &start.client_run_id)?;
        if let Some(run) = found.into_iter().next() {
            return Ok((run.info.run_id, false));
        }
    }
    let run = store.create_run(&CreateRun {
        experiment_id,
        run_name: start.run_name.clone(),
        start_time: Some(start.start_time),
        tags: start.tags.clone(),
        user_id: None,
    })?;
    Ok((run.info.run_id, true))
}

/// Where [`apply_ops`] records what reached the store: a journal of its own (a replay) or one
/// shared with the run's logger (its background sender).
pub(crate) trait AckLog {
    /// Appends an acknowledgement of `seqs`.
    fn ack_ops(&mut self, seqs: Vec<u64>) -> Result<()>;
    /// The folder of the journal's artifact copies.
    fn artifacts_dir(&self) -> PathBuf;
}

impl AckLog for Journal {
    fn ack_ops(&mut self, seqs: Vec<u64>) -> Result<()> {
        self.ack(seqs, None)
    }

    fn artifacts_dir(&self) -> PathBuf {
        Journal::artifacts_dir(self)
    }
}

/// Counters of [`apply_ops`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ApplyCounts {
    pub metrics_sent: usize,
    pub metrics_already_present: usize,
    pub params_sent: usize,
    pub artifacts_uploaded: usize,
    pub final_status: Option<RunStatus>,
}

/// Applies pending operations (no `start`) to run `run_id`, in as few store calls as possible:
/// all batches merged into one `log_batch`, then inputs, artifacts and the finish in order. Each
/// step's acknowledgement is appended to the journal (not fsync'ed) and its operations removed
/// from `pending`, so on error `pending` holds exactly what is left.
///
/// `check_existing`: the operations may have reached the store without an acknowledgement
/// (a replay, or a retry after an error), so metric points are compared with the store's history.
pub(crate) fn apply_ops<S: TrackingStore + ?Sized>(
    store: &S,
    journal: &mut impl AckLog,
    run_id: &str,
    pending: &mut Vec<JournalOp>,
    check_existing: bool,
    counts: &mut ApplyCounts,
) -> Result<()> {
    let mut batch_seqs = Vec::new();
    let mut metrics: Vec<Metric> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    let mut tags: Vec<Tag> = Vec::new();
    for op in pending.iter() {
        if let JournalOp::Batch {
            seq,
            metrics: m,
            params: p,
            tags: t,
        } = op
        {
            batch_seqs.push(*seq);
            metrics.extend_from_slice(m);
            params.extend_from_slice(p);
            tags.extend_from_slice(t);
        }
    }
    if !batch_seqs.is_empty() {
        let params = dedup_params(params);
        let tags = dedup_tags(tags);
        if check_existing && !metrics.is_empty() {
            let before = metrics.len();
            metrics = missing_points(store, run_id, metrics)?;
            counts.metrics_already_present += before - metrics.len();
        }
        if !(metrics.is_empty() && params.is_empty() && tags.is_empty()) {
            store.log_batch(run_id, &metrics, &params, &tags)?;
        }
        counts.metrics_sent += metrics.len();
        counts.params_sent += params.len();
        journal.ack_ops(batch_seqs)?;
        pending.retain(|op| !matches!(op, JournalOp::Batch { .. }));
    }

    let artifacts_dir = journal.artifacts_dir();
    while let Some(op) = pending.first() {
        match op {
            JournalOp::Inputs { datasets, .. } => store.log_inputs(run_id, datasets)?,
            JournalOp::Artifact {
                file, artifact_dir, ..
            } => {
                store.log_artifacts(run_id, &artifacts_dir.join(file), artifact_dir.as_deref())?;
                counts.artifacts_uploaded += 1;
            }
            JournalOp::Finish {
                status, end_time, ..
            } => {
                store.end_run(run_id, *status, *end_time)?;
                counts.final_status = Some(*status);
            }
            // Batches were applied above; a start is the caller's.
            JournalOp::Batch { .. } | JournalOp::Start { .. } => {}
        }
        journal.ack_ops(vec![op.seq()])?;
        pending.remove(0);
    }
    Ok(())
}

/// Identity of a metric point: key, step, timestamp and value (NaN equal to NaN, -0 to 0).
fn point_id(metric: &Metric) -> (String, i64, i64, u64) {
    let value = if metric.value.is_nan() {
        f64::NAN.to_bits()
    } else if metric.value == 0.0 {
        0.0f64.to_bits()
    } else {
        metric.value.to_bits()
    };
    (metric.key.clone(), metric.step, metric.timestamp, value)
}

/// The points of `metrics` the store does not hold yet (one history read per key), each once.
fn missing_points<S: TrackingStore + ?Sized>(
    store: &S,
    run_id: &str,
    metrics: Vec<Metric>,
) -> Result<Vec<Metric>> {
    let mut present: HashMap<String, HashSet<(String, i64, i64, u64)>> = HashMap::new();
    let mut seen = HashSet::new();
    let mut missing = Vec::with_capacity(metrics.len());
    for metric in metrics {
        if !present.contains_key(&metric.key) {
            let history = store.metric_history(run_id, &metric.key)?;
            present.insert(metric.key.clone(), history.iter().map(point_id).collect());
        }
        let id = point_id(&metric);
        let already = present
            .get(&metric.key)
            .is_some_and(|ids| ids.contains(&id));
        if !already && seen.insert(id) {
            missing.push(metric);
        }
    }
    Ok(missing)
}

/// Params with repeats of the same key and value dropped (a different value is kept, so the
/// store or the batch validation reports it).
fn dedup_params(params: Vec<Param>) -> Vec<Param> {
    let mut seen = HashSet::new();
    params
        .into_iter()
        .filter(|p| seen.insert((p.key.clone(), p.value.clone())))
        .collect()
}

/// Tags with one entry per key, the last value winning, in order of first appearance.
fn dedup_tags(tags: Vec<Tag>) -> Vec<Tag> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Tag> = Vec::new();
    for tag in tags {
        match index.get(&tag.key) {
            Some(&i) => out[i].value = tag.value,
            None => {
                index.insert(tag.key.clone(), out.len());
                out.push(tag);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_errors_are_transport_and_5xx_only() {
        let api = |status: u16| {
            MlflowError::from_response(
                "POST x".into(),
                reqwest::StatusCode::from_u16(status).unwrap(),
                b"",
            )
        };
        assert!(is_unreachable(&api(503)));
        assert!(is_unreachable(&api(500)));
        assert!(is_unreachable(&api(429)));
        assert!(!is_unreachable(&api(400)));
        assert!(!is_unreachable(&api(404)));
        assert!(!is_unreachable(&MlflowError::invalid("x", "y")));
    }

    #[test]
    fn point_identity_treats_nan_and_signed_zero_as_equal() {
        assert_eq!(
            point_id(&Metric::at("a", f64::NAN, 1, 2)),
            point_id(&Metric::at("a", -f64::NAN, 1, 2))
        );
        assert_eq!(
            point_id(&Metric::at("a", -0.0, 1, 2)),
            point_id(&Metric::at("a", 0.0, 1, 2))
        );
        assert_ne!(
            point_id(&Metric::at("a", 1.0, 1, 2)),
            point_id(&Metric::at("a", 1.0, 1, 3))
        );
    }

    #[test]
    fn params_and_tags_are_deduplicated() {
        let params = dedup_params(vec![
            Param::new("a", "1"),
            Param::new("a", "1"),
            Param::new("a", "2"),
        ]);
        assert_eq!(params, vec![Param::new("a", "1"), Param::new("a", "2")]);
        let tags = dedup_tags(vec![
            Tag::new("x", "1"),
            Tag::new("y", "1"),
            Tag::new("x", "2"),
        ]);
        assert_eq!(tags, vec![Tag::new("x", "2"), Tag::new("y", "1")]);
    }
}
