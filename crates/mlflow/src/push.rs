//! Idempotent push of the runs of a local file store ([`FileStore`], `./mlruns`) into another
//! [`TrackingStore`], usually an MLflow server.
//!
//! Runs land in `./mlruns` when no tracking server is configured; [`push_store`] sends them to a
//! server later. Pushing twice, or after a push cut short by a crash, creates nothing twice:
//!
//! * each experiment goes to the target experiment of the same **name** (created when missing);
//! * a pushed run carries the tag [`SOURCE_RUN_TAG`] = `<source store URI>#<source run id>`, and
//!   is found again by it before a run is created. A run that came from a run journal already
//!   carries [`CLIENT_RUN_ID_TAG`]: that tag is its identity instead, so a run synced both from its
//!   journal and from `./mlruns` exists once;
//! * metric points are compared with the target's history (key, step, timestamp, value; NaN
//!   equal to NaN, values a few ulps apart equal, as a server's JSON may shift the last bit) and
//!   only the missing ones are sent;
//! * params already present with the same value are skipped; a different value is reported as a
//!   failure of that run (the rest of the run is still pushed);
//! * tags are set (the same value again is skipped); `mlflow.parentRunId` is rewritten to the
//!   target's id of the parent run, parents being pushed before their children. When the parent
//!   could not be pushed the source id is kept in [`SOURCE_PARENT_RUN_TAG`] instead;
//! * dataset inputs the target run lacks (by name and digest) are logged;
//! * the artifact folder is uploaded (an idempotent PUT per file), unless the target run already
//!   holds the source's final status and end time: the final status is set last, so such a run
//!   received its artifacts in an earlier push;
//! * a run that is not `RUNNING` in the source gets its status and end time on the target.
//!
//! A failing run is reported and the others are still pushed, except after the target became
//! unreachable ([`crate::sync::is_unreachable`]), where the remaining runs are listed as not tried.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::error::{MlflowError, Result};
use crate::filestore::FileStore;
use crate::journal::CLIENT_RUN_ID_TAG;
use crate::mlflow_tags;
use crate::store::TrackingStore;
use crate::sync::is_unreachable;
use crate::types::{CreateRun, DatasetInput, Metric, Param, Run, RunStatus, Tag, now_millis};

/// Tag of a pushed run on the target: `<source store URI>#<source run id>`.
pub const SOURCE_RUN_TAG: &str = "push.source_run_id";

/// Tag holding the source id of a run's parent when the parent is not on the target (it failed
/// or was left out), so the link can be restored later.
pub const SOURCE_PARENT_RUN_TAG: &str = "push.source_parent_run_id";

/// What to push.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOptions {
    /// Push only the experiments with these names (empty: all of them).
    pub experiments: Vec<String>,
    /// Do not upload artifact files.
    pub skip_artifacts: bool,
}

/// What pushing one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunPush {
    /// The experiment's name (the same in both stores).
    pub experiment: String,
    /// The run's id in the source store.
    pub source_run_id: String,
    /// The run's id in the target store.
    pub target_run_id: String,
    /// Whether this push created the run (it was not found by its identity tag).
    pub created: bool,
    /// Metric points sent.
    pub metrics_sent: usize,
    /// Metric points the target already held (or repeated in the source).
    pub metrics_skipped: usize,
    /// Params sent.
    pub params_sent: usize,
    /// Params the target already held with the same value.
    pub params_skipped: usize,
    /// Params whose value on the target differs (not sent).
    pub param_conflicts: Vec<ParamConflict>,
    /// Tags sent.
    pub tags_sent: usize,
    /// Dataset inputs logged.
    pub datasets_sent: usize,
    /// Artifact files uploaded.
    pub artifacts_uploaded: usize,
    /// The final status applied, if this push ended the run.
    pub final_status: Option<RunStatus>,
}

/// A param whose value differs between the source and the target run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamConflict {
    /// The param's key.
    pub key: String,
    /// Its value in the source store.
    pub source_value: String,
    /// Its value in the target store.
    pub target_value: String,
}

/// A run (or a whole experiment, when `source_run_id` is `None`) that could not be pushed whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushFailure {
    /// The experiment's name.
    pub experiment: String,
    /// The run's id in the source store.
    pub source_run_id: Option<String>,
    /// Why (the error chain as text).
    pub reason: String,
}

/// One experiment of the source and where it went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExperimentPush {
    /// Its name (the same in both stores).
    pub name: String,
    /// Its id in the source store.
    pub source_id: String,
    /// Its id in the target store (`None` when it has no runs, so nothing was looked up or
    /// created, or when the lookup failed).
    pub target_id: Option<String>,
    /// Number of its active runs in the source.
    pub runs: usize,
}

/// What [`push_store`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushReport {
    /// The source store ([`TrackingStore::describe`]).
    pub source: String,
    /// The target store ([`TrackingStore::describe`]).
    pub target: String,
    /// The experiments pushed.
    pub experiments: Vec<ExperimentPush>,
    /// Runs pushed (including those with nothing left to send).
    pub runs: Vec<RunPush>,
    /// Number of runs this push created.
    pub runs_created: usize,
    /// Number of runs found on the target from an earlier push (or journal sync).
    pub runs_already_present: usize,
    /// Metric points sent, all runs together.
    pub metrics_sent: usize,
    /// Metric points skipped because the target held them, all runs together.
    pub metrics_skipped: usize,
    /// Artifact files uploaded, all runs together.
    pub artifacts_uploaded: usize,
    /// Runs and experiments that failed, with the reason.
    pub failed: Vec<PushFailure>,
    /// Source run ids not tried because the target became unreachable.
    pub not_tried: Vec<String>,
}

impl PushReport {
    /// Whether every run was pushed whole.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty() && self.not_tried.is_empty()
    }
}

/// A source run waiting to be pushed, with the name of its experiment.
struct PendingRun {
    experiment: String,
    run: Run,
}

/// Pushes the active runs of `source` into `target` (see the module docs for what makes it
/// idempotent). Only reading the source's experiment and run lists can fail the whole call;
/// anything else is recorded in the report.
pub fn push_store<T: TrackingStore + ?Sized>(
    source: &FileStore,
    target: &T,
    options: &PushOptions,
) -> Result<PushReport> {
    let source_uri = source.describe();
    let mut report = PushReport {
        source: source_uri.clone(),
        target: target.describe(),
        ..PushReport::default()
    };
    let mut pending = Vec::new();
    // Experiment name -> target id, resolved once per experiment.
    let mut target_experiments: HashMap<String, String> = HashMap::new();
    for experiment in source.list_experiments()? {
        if !options.experiments.is_empty() && !options.experiments.contains(&experiment.name) {
            continue;
        }
        let runs = source.list_runs(&experiment.experiment_id)?;
        let mut entry = ExperimentPush {
            name: experiment.name.clone(),
            source_id: experiment.experiment_id.clone(),
            target_id: None,
            runs: runs.len(),
        };
        if !runs.is_empty() {
            match target.experiment_id(&experiment.name) {
                Ok(id) => {
                    entry.target_id = Some(id.clone());
                    target_experiments.insert(experiment.name.clone(), id);
                }
                Err(error) => {
                    let unreachable = is_unreachable(&error);
                    report.failed.push(PushFailure {
                        experiment: experiment.name.clone(),
                        source_run_id: None,
                        reason: error_chain(&error),
                    });
                    report
                        .not_tried
                        .extend(runs.iter().map(|r| r.info.run_id.clone()));
                    report.experiments.push(entry);
                    if unreachable {
                        return Ok(report);
                    }
                    continue;
                }
            }
        }
        report.experiments.push(entry);
        pending.extend(runs.into_iter().map(|run| PendingRun {
            experiment: experiment.name.clone(),
            run,
        }));
    }

    // Source run id -> target run id, filled as runs are pushed; parents go first.
    let mut pushed: HashMap<String, String> = HashMap::new();
    let ordered = parents_first(pending);
    let mut ordered = ordered.into_iter();
    for item in ordered.by_ref() {
        let Some(experiment_id) = target_experiments.get(&item.experiment) else {
            continue; // Unreachable: runs are queued only for resolved experiments.
        };
        let mut run_report = RunPush {
            experiment: item.experiment.clone(),
            source_run_id: item.run.info.run_id.clone(),
            ..RunPush::default()
        };
        let result = push_run(
            source,
            target,
            &source_uri,
            experiment_id,
            &item.run,
            &pushed,
            options,
            &mut run_report,
        );
        if !run_report.target_run_id.is_empty() {
            pushed.insert(
                run_report.source_run_id.clone(),
                run_report.target_run_id.clone(),
            );
        }
        let conflicts = std::mem::take(&mut run_report.param_conflicts);
        if !conflicts.is_empty() {
            let listed: Vec<String> = conflicts
                .iter()
                .map(|c| {
                    format!(
                        "param {:?} is {:?} in the source but {:?} on the target",
                        c.key, c.source_value, c.target_value
                    )
                })
                .collect();
            report.failed.push(PushFailure {
                experiment: item.experiment.clone(),
                source_run_id: Some(run_report.source_run_id.clone()),
                reason: listed.join("; "),
            });
        }
        run_report.param_conflicts = conflicts;
        match result {
            Ok(()) => {
                if run_report.created {
                    report.runs_created += 1;
                } else {
                    report.runs_already_present += 1;
                }
                report.metrics_sent += run_report.metrics_sent;
                report.metrics_skipped += run_report.metrics_skipped;
                report.artifacts_uploaded += run_report.artifacts_uploaded;
                report.runs.push(run_report);
            }
            Err(error) => {
                let unreachable = is_unreachable(&error);
                report.failed.push(PushFailure {
                    experiment: item.experiment,
                    source_run_id: Some(run_report.source_run_id),
                    reason: error_chain(&error),
                });
                if unreachable {
                    break;
                }
            }
        }
    }
    report
        .not_tried
        .extend(ordered.map(|item| item.run.info.run_id));
    tracing::info!(
        source = %report.source,
        target = %report.target,
        runs_created = report.runs_created,
        runs_already_present = report.runs_already_present,
        metrics_sent = report.metrics_sent,
        failed = report.failed.len(),
        "local store pushed"
    );
    Ok(report)
}

/// Orders runs so that a parent comes before its children (when both are in `runs`), keeping
/// the source order otherwise. A parent cycle (a corrupt store) is broken in source order.
fn parents_first(runs: Vec<PendingRun>) -> Vec<PendingRun> {
    let ids: HashSet<String> = runs.iter().map(|r| r.run.info.run_id.clone()).collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut waiting = runs;
    let mut ordered = Vec::with_capacity(waiting.len());
    while !waiting.is_empty() {
        let (ready, rest): (Vec<PendingRun>, Vec<PendingRun>) =
            waiting.into_iter().partition(|item| {
                item.run
                    .data
                    .tag(mlflow_tags::PARENT_RUN_ID)
                    .is_none_or(|parent| !ids.contains(parent) || done.contains(parent))
            });
        if ready.is_empty() {
            // Only a cycle can leave every waiting run blocked: release them as they are.
            ordered.extend(rest);
            break;
        }
        done.extend(ready.iter().map(|item| item.run.info.run_id.clone()));
        ordered.extend(ready);
        waiting = rest;
    }
    ordered
}

/// The tag that identifies `run` on the target: its journal's client run id when it has one,
/// else [`SOURCE_RUN_TAG`].
fn identity(run: &Run, source_uri: &str) -> Tag {
    match run.data.tag(CLIENT_RUN_ID_TAG) {
        Some(client_run_id) => Tag::new(CLIENT_RUN_ID_TAG, client_run_id),
        None => Tag::new(
            SOURCE_RUN_TAG,
            source_run_value(source_uri, &run.info.run_id),
        ),
    }
}

/// The value of [`SOURCE_RUN_TAG`] for a run of a store.
pub fn source_run_value(source_uri: &str, run_id: &str) -> String {
    format!("{source_uri}#{run_id}")
}

/// Pushes one run, filling `report` as it goes (so a failure still says how far it got).
#[allow(clippy::too_many_arguments)] // Private; a struct would only rename the same values.
fn push_run<T: TrackingStore + ?Sized>(
    source: &FileStore,
    target: &T,
    source_uri: &str,
    experiment_id: &str,
    run: &Run,
    pushed: &HashMap<String, String>,
    options: &PushOptions,
    report: &mut RunPush,
) -> Result<()> {
    let info = &run.info;
    let identity = identity(run, source_uri);
    let found = target.find_runs_by_tag(experiment_id, &identity.key, &identity.value)?;
    let target_run = match found.into_iter().next() {
        Some(found) => target.get_run(&found.info.run_id)?,
        None => {
            let created = target.create_run(&CreateRun {
                experiment_id: experiment_id.to_owned(),
                run_name: Some(info.run_name.clone()).filter(|n| !n.is_empty()),
                start_time: info.start_time,
                tags: vec![identity.clone()],
                user_id: Some(info.user_id.clone()).filter(|u| !u.is_empty()),
            })?;
            report.created = true;
            created
        }
    };
    let target_run_id = target_run.info.run_id.clone();
    report.target_run_id.clone_from(&target_run_id);

    // Params: same value skipped, a different one reported and not sent.
    let mut params: Vec<Param> = Vec::new();
    for param in &run.data.params {
        match target_run.data.param(&param.key) {
            Some(value) if value == param.value => report.params_skipped += 1,
            Some(value) => report.param_conflicts.push(ParamConflict {
                key: param.key.clone(),
                source_value: param.value.clone(),
                target_value: value.to_owned(),
            }),
            None => params.push(param.clone()),
        }
    }

    let tags: Vec<Tag> = target_tags(run, source_uri, pushed)
        .into_iter()
        .filter(|tag| target_run.data.tag(&tag.key) != Some(tag.value.as_str()))
        .collect();

    // Metrics: every point of every key, less those the target holds.
    let mut metrics: Vec<Metric> = Vec::new();
    for latest in &run.data.metrics {
        let history = source.metric_history(&info.run_id, &latest.key)?;
        let mut present = if report.created {
            PointSet::default() // A run created just now holds nothing.
        } else {
            PointSet::from_points(&target.metric_history(&target_run_id, &latest.key)?)
        };
        for point in history {
            // `insert` is false for points on the target and repeats within the source.
            if present.insert(&point) {
                metrics.push(point);
            } else {
                report.metrics_skipped += 1;
            }
        }
    }

    if !(metrics.is_empty() && params.is_empty() && tags.is_empty()) {
        target.log_batch(&target_run_id, &metrics, &params, &tags)?;
    }
    report.metrics_sent = metrics.len();
    report.params_sent = params.len();
    report.tags_sent = tags.len();

    let datasets: Vec<DatasetInput> = run
        .inputs
        .dataset_inputs
        .iter()
        .filter(|input| {
            !target_run.inputs.dataset_inputs.iter().any(|have| {
                have.dataset.name == input.dataset.name
                    && have.dataset.digest == input.dataset.digest
            })
        })
        .cloned()
        .collect();
    if !datasets.is_empty() {
        target.log_inputs(&target_run_id, &datasets)?;
        report.datasets_sent = datasets.len();
    }

    let finished = info.status != RunStatus::Running && info.status != RunStatus::Unknown;
    let end_time = info.end_time.unwrap_or_else(now_millis);
    // The final status is set last, so a target run that has it got its artifacts before.
    // A source run without an end time got "now" from an earlier push: any end time matches.
    let already_ended = finished
        && target_run.info.status == info.status
        && info
            .end_time
            .is_none_or(|end| target_run.info.end_time == Some(end));
    if !options.skip_artifacts && !already_ended {
        let artifact_dir = source.artifact_dir(&info.run_id)?;
        if has_files(&artifact_dir)? {
            report.artifacts_uploaded =
                target.log_artifacts(&target_run_id, &artifact_dir, None)?;
        }
    }
    if finished && !already_ended {
        target.end_run(&target_run_id, info.status, end_time)?;
        report.final_status = Some(info.status);
    }
    Ok(())
}

/// The tags a run should have on the target: the source's, with the parent link remapped, plus
/// [`SOURCE_RUN_TAG`].
fn target_tags(run: &Run, source_uri: &str, pushed: &HashMap<String, String>) -> Vec<Tag> {
    let mut tags = Vec::with_capacity(run.data.tags.len() + 1);
    for tag in &run.data.tags {
        if tag.key == mlflow_tags::PARENT_RUN_ID {
            match pushed.get(&tag.value) {
                Some(target_parent) => tags.push(Tag::new(&tag.key, target_parent.as_str())),
                None => tags.push(Tag::new(SOURCE_PARENT_RUN_TAG, tag.value.as_str())),
            }
        } else if tag.key != SOURCE_RUN_TAG {
            tags.push(tag.clone());
        }
    }
    tags.push(Tag::new(
        SOURCE_RUN_TAG,
        source_run_value(source_uri, &run.info.run_id),
    ));
    tags
}

/// Whether `dir` exists and holds at least one entry.
fn has_files(dir: &std::path::Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(MlflowError::io(dir, e)),
    }
}

/// The points of one metric key, by (step, timestamp), to tell which source points a store
/// already holds.
#[derive(Default)]
struct PointSet {
    values: HashMap<(i64, i64), Vec<f64>>,
}

impl PointSet {
    fn from_points(points: &[Metric]) -> PointSet {
        let mut set = PointSet::default();
        for point in points {
            set.insert(point);
        }
        set
    }

    /// Adds a point; false when an equal one was there already.
    fn insert(&mut self, point: &Metric) -> bool {
        let values = self
            .values
            .entry((point.step, point.timestamp))
            .or_default();
        if values.iter().any(|&have| same_value(have, point.value)) {
            return false;
        }
        values.push(point.value);
        true
    }
}

/// Whether two metric values are the same point: equal, both NaN, or a few ulps apart. The
/// tolerance is needed because a value read back from a server's JSON may differ from the
/// logged one in its last bit (the JSON number parser is not always correctly rounded), and
/// such a point must not be sent again.
fn same_value(a: f64, b: f64) -> bool {
    const MAX_ULPS: u64 = 4;
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    if !a.is_finite() || !b.is_finite() || a.is_sign_negative() != b.is_sign_negative() {
        return false;
    }
    a.to_bits().abs_diff(b.to_bits()) <= MAX_ULPS
}

/// An error with its sources, joined by `: `.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str, parent: Option<&str>) -> PendingRun {
        let mut run = Run::default();
        run.info.run_id = id.into();
        if let Some(parent) = parent {
            run.data
                .tags
                .push(Tag::new(mlflow_tags::PARENT_RUN_ID, parent));
        }
        PendingRun {
            experiment: "e".into(),
            run,
        }
    }

    fn order(runs: Vec<PendingRun>) -> Vec<String> {
        parents_first(runs)
            .into_iter()
            .map(|r| r.run.info.run_id)
            .collect()
    }

    #[test]
    fn parents_come_before_children() {
        let runs = vec![
            pending("grandchild", Some("child")),
            pending("child", Some("parent")),
            pending("parent", None),
            pending("orphan", Some("elsewhere")),
        ];
        assert_eq!(order(runs), ["parent", "orphan", "child", "grandchild"]);
    }

    #[test]
    fn points_match_across_a_last_bit_difference_only() {
        let exact: f64 = 1.0 / 11.0;
        let off_by_one = f64::from_bits(exact.to_bits() + 1);
        let mut set = PointSet::from_points(&[Metric::at("m", off_by_one, 10, 5)]);
        assert!(!set.insert(&Metric::at("m", exact, 10, 5)));
        assert!(set.insert(&Metric::at("m", exact, 11, 5)), "another step");
        assert!(set.insert(&Metric::at("m", exact, 10, 6)), "another time");
        assert!(set.insert(&Metric::at("m", 0.1, 10, 5)), "another value");
        assert!(set.insert(&Metric::at("m", f64::NAN, 10, 5)));
        assert!(!set.insert(&Metric::at("m", -f64::NAN, 10, 5)));
        assert!(same_value(0.0, -0.0));
        assert!(!same_value(f64::INFINITY, f64::MAX));
    }

    #[test]
    fn a_parent_cycle_does_not_hang() {
        let runs = vec![pending("a", Some("b")), pending("b", Some("a"))];
        assert_eq!(order(runs), ["a", "b"]);
    }

    #[test]
    fn identity_prefers_the_journal_id() {
        let mut run = pending("r1", None).run;
        assert_eq!(
            identity(&run, "file:///m"),
            Tag::new(SOURCE_RUN_TAG, "file:///m#r1")
        );
        run.data.tags.push(Tag::new(CLIENT_RUN_ID_TAG, "c-1"));
        assert_eq!(
            identity(&run, "file:///m"),
            Tag::new(CLIENT_RUN_ID_TAG, "c-1")
        );
    }

    #[test]
    fn parent_link_is_remapped_or_kept_aside() {
        let mut run = pending("child", Some("parent")).run;
        run.data.tags.push(Tag::new("x", "1"));
        let mut pushed = HashMap::new();
        let tags = target_tags(&run, "file:///m", &pushed);
        assert!(tags.contains(&Tag::new(SOURCE_PARENT_RUN_TAG, "parent")));
        assert!(tags.iter().all(|t| t.key != mlflow_tags::PARENT_RUN_ID));
        pushed.insert("parent".to_owned(), "server-parent".to_owned());
        let tags = target_tags(&run, "file:///m", &pushed);
        assert!(tags.contains(&Tag::new(mlflow_tags::PARENT_RUN_ID, "server-parent")));
        assert!(tags.contains(&Tag::new(SOURCE_RUN_TAG, "file:///m#child")));
        assert!(tags.contains(&Tag::new("x", "1")));
    }
}
