//! The shard's parent run: taken back or created with the sweep's tags and params, the plan's
//! files logged on it, and ended with the sweep's totals.

use std::path::{Path, PathBuf};
use std::time::Instant;

use vigie_mlflow::{
    CreateRun, DefaultStore, Metric, Param, Run, RunStatus, Tag, TrackingStore, mlflow_tags,
    now_millis,
};

use super::resume::{Staleness, SweepRuns};
use super::timing::overhead_pct;
use super::{Sweep, write};
use crate::error::{Result, SweepError};
use crate::leaderboard::Leaderboard;
use crate::spec::{SweepPlan, SweepSpec};
use crate::tags;

/// This shard's parent run: taken back when an earlier invocation left it (refused while a
/// live process still runs it), else created; tagged with this process either way. The
/// champion's registered model is made now too, while the data loads, rather than on the
/// sweep's last stretch (where every call is waited on).
pub(super) fn open_parent(
    store: &DefaultStore,
    spec: &SweepSpec,
    plan: &SweepPlan,
    found: &SweepRuns,
    shard_label: &str,
    staleness: &Staleness<'_>,
    host: &str,
) -> Result<String> {
    let parents: Vec<&Run> = found
        .runs
        .iter()
        .filter(|r| {
            r.data.tag(tags::ROLE) == Some(tags::ROLE_PARENT)
                && r.data.tag(tags::SHARD) == Some(shard_label)
        })
        .collect();
    if let Some(live) = parents
        .iter()
        .find(|p| p.info.status == RunStatus::Running && !staleness.is_stale(p))
    {
        return Err(SweepError::Invalid(format!(
            "shard {shard_label} of sweep {} is already running (run {}, {} pid {}); wait for it, \
             or for its heartbeat to be {} minutes old if it was killed",
            spec.name,
            live.info.run_id,
            live.data.tag(tags::OWNER_HOST).unwrap_or("?"),
            live.data.tag(tags::OWNER_PID).unwrap_or("?"),
            spec.stale_after_minutes
        )));
    }
    let owner_tags = vec![
        Tag::new(tags::OWNER_HOST, host),
        Tag::new(tags::OWNER_PID, std::process::id().to_string()),
        Tag::new(tags::HEARTBEAT, now_millis().to_string()),
    ];
    let parent_run_id = match parents.first() {
        Some(parent) => {
            store.reopen_run(&parent.info.run_id)?;
            store.log_batch(&parent.info.run_id, &[], &[], &owner_tags)?;
            parent.info.run_id.clone()
        }
        None => create_parent(
            store,
            spec,
            plan,
            &found.experiment_id,
            shard_label,
            owner_tags,
        )?,
    };
    if let (Some(name), DefaultStore::Server(client)) = (&spec.registered_model, store) {
        client.ensure_registered_model(name)?;
    }
    Ok(parent_run_id)
}

fn create_parent(
    store: &DefaultStore,
    spec: &SweepSpec,
    plan: &SweepPlan,
    experiment_id: &str,
    shard_label: &str,
    owner_tags: Vec<Tag>,
) -> Result<String> {
    let mut run_tags = vec![
        Tag::new(tags::SWEEP, &spec.name),
        Tag::new(tags::ROLE, tags::ROLE_PARENT),
        Tag::new(tags::SHARD, shard_label),
        Tag::new(mlflow_tags::SOURCE_NAME, "vigie sweep"),
        Tag::new(mlflow_tags::SOURCE_TYPE, mlflow_tags::source_type::LOCAL),
        Tag::new(mlflow_tags::USER, vigie_runner::system::user_name()),
        Tag::new(vigie_runner::run::tags::VERSION, env!("CARGO_PKG_VERSION")),
    ];
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    if let Some((commit, dirty)) = vigie_runner::system::git_state(&cwd) {
        run_tags.push(Tag::new(mlflow_tags::SOURCE_GIT_COMMIT, commit));
        run_tags.push(Tag::new(
            vigie_runner::run::tags::GIT_DIRTY,
            dirty.to_string(),
        ));
    }
    run_tags.extend(owner_tags);
    let run_name = if shard_label == "all" {
        spec.name.clone()
    } else {
        format!("{} (shard {shard_label})", spec.name)
    };
    let run = store.create_run(&CreateRun {
        experiment_id: experiment_id.to_owned(),
        run_name: Some(run_name),
        start_time: Some(now_millis()),
        tags: run_tags,
        user_id: Some(vigie_runner::system::user_name()),
    })?;
    let run_id = run.info.run_id;
    let params = vec![
        Param::new("sweep.name", &spec.name),
        Param::new("sweep.file", spec.path.display().to_string()),
        Param::new("sweep.shard", shard_label),
        Param::new("objective.metric", &spec.objective.metric),
        Param::new("objective.direction", spec.objective.direction.name()),
        Param::new(
            "sweep.duplicates_dropped",
            plan.duplicates_dropped.to_string(),
        ),
    ];
    store.log_batch(&run_id, &[], &params, &[])?;
    Ok(run_id)
}

/// The sweep file as written, its search space, and the plan (every trial's id and changes).
fn log_plan_artifacts(
    store: &DefaultStore,
    spec: &SweepSpec,
    plan: &SweepPlan,
    parent_run_id: &str,
    out_dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(out_dir).map_err(|e| SweepError::io(out_dir, "cannot create", e))?;
    let sweep_file = out_dir.join("sweep.toml");
    write(&sweep_file, spec.source_text.as_bytes())?;
    let space = out_dir.join("search_space.json");
    write(
        &space,
        serde_json::to_string_pretty(&spec.search_space_json())
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let trials: Vec<serde_json::Value> = plan
        .trials
        .iter()
        .map(|t| {
            serde_json::json!({
                "index": t.index,
                "id": t.id,
                "name": t.config.run_name(),
                "changes": t.describe(),
            })
        })
        .collect();
    let plan_path = out_dir.join("plan.json");
    write(
        &plan_path,
        serde_json::to_string_pretty(&trials)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    for path in [&sweep_file, &space, &plan_path] {
        store.log_artifacts(parent_run_id, path, None)?;
    }
    Ok(())
}

/// Logs the plan's files on the parent, from a thread beside the first trials: a failure is
/// only reported. Returns the seconds it took.
pub(super) fn log_plan_beside_trials(sweep: &Sweep<'_>, out_dir: &Path) -> f64 {
    let started = Instant::now();
    let logged = log_plan_artifacts(
        sweep.store,
        sweep.spec,
        sweep.plan,
        sweep.parent_run_id,
        out_dir,
    );
    if let Err(error) = &logged {
        tracing::warn!(%error, "could not log the sweep's plan on its parent run");
        sweep.progress.note(&format!(
            "warning: the sweep file and plan could not be logged on the parent run: {error}"
        ));
    }
    started.elapsed().as_secs_f64()
}

/// Ends the parent FAILED with the error as its note, when the sweep fails before its trials
/// ran; the sweep's own error is what gets reported, so these calls' are dropped.
pub(super) fn fail_parent(store: &DefaultStore, parent_run_id: &str, error: &SweepError) {
    let _ = store.log_batch(
        parent_run_id,
        &[],
        &[],
        &[Tag::new(
            mlflow_tags::NOTE_CONTENT,
            format!("failed: {error}"),
        )],
    );
    let _ = store.end_run(parent_run_id, RunStatus::Failed, now_millis());
}

/// The sweep's totals, logged as the parent's metrics.
pub(super) struct ParentTotals {
    pub(super) trials_planned: usize,
    /// Trials that failed in this invocation.
    pub(super) trials_failed: usize,
    pub(super) interrupted: bool,
    /// Tracking time waited on so far, and the wall time so far.
    pub(super) tracking_seconds: f64,
    pub(super) wall_seconds: f64,
    pub(super) tracking_background_seconds: f64,
}

/// Logs the totals and the best trial on the parent, and ends it: KILLED when interrupted,
/// FAILED when a trial failed, else FINISHED.
pub(super) fn finish_parent(
    store: &DefaultStore,
    spec: &SweepSpec,
    parent_run_id: &str,
    leaderboard: &Leaderboard,
    totals: &ParentTotals,
) -> Result<()> {
    let mut metrics = vec![
        Metric::new("trials_planned", totals.trials_planned as f64, 0),
        Metric::new("trials_finished", leaderboard.rows.len() as f64, 0),
        Metric::new("trials_failed_now", totals.trials_failed as f64, 0),
        Metric::new("sweep_wall_seconds", totals.wall_seconds, 0),
        Metric::new("tracking_seconds", totals.tracking_seconds, 0),
        // Against the wall time so far: it includes every call counted.
        Metric::new(
            "tracking_overhead_pct",
            overhead_pct(totals.tracking_seconds, totals.wall_seconds),
            0,
        ),
        Metric::new(
            "tracking_background_seconds",
            totals.tracking_background_seconds,
            0,
        ),
    ];
    let mut parent_tags = Vec::new();
    if let Some(best) = leaderboard.best() {
        metrics.push(Metric::new(
            format!("best_{}", spec.objective.metric),
            best.value,
            0,
        ));
        parent_tags.push(Tag::new(tags::BEST_RUN, &best.run_id));
    }
    store.log_batch(parent_run_id, &metrics, &[], &parent_tags)?;
    let status = if totals.interrupted {
        RunStatus::Killed
    } else if totals.trials_failed > 0 {
        RunStatus::Failed
    } else {
        RunStatus::Finished
    };
    store.end_run(parent_run_id, status, now_millis())?;
    Ok(())
}
