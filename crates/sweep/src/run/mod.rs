//! Running a sweep: its trials as child runs of one parent run, in parallel, resumable and
//! shardable.
//!
//! The flow of [`run_sweep`]:
//! 1. read the sweep's runs from the store and sort this shard's trials into done (FINISHED,
//!    or pruned), running elsewhere (RUNNING with a live owner), and to run (new, FAILED,
//!    KILLED, or RUNNING with a dead owner: those are marked KILLED first);
//! 2. take back this shard's parent run (or create it), tag it with this process and keep a
//!    heartbeat on it;
//! 3. load each dataset once, then run the trials on `parallel` worker threads, each trial with
//!    `cores / parallel` threads of its own. Networks log live (`vigie_runner::train_prepared`:
//!    their curves show in the UI while they train, and their epochs dwarf the tracking calls);
//!    the other families train without the store (`vigie_runner::train_deferred`) and a
//!    publisher thread sends each finished trial while the workers go on with the next ones
//!    (the last trials forward their epochs to it as they train, and the best trial so far
//!    is crowned meanwhile, so that the sweep's end waits for little);
//! 4. rank every finished trial of the sweep (all shards) into a leaderboard, log it on the
//!    parent, and crown the best trial's model champion when it beats the current one.
//!
//! Ctrl-C (the `stop` flag) stops handing out trials and stops running networks at their next
//!
//! Files: `options.rs` and `outcome.rs` hold what goes in and comes out; `store.rs` the store
//! (or its offline fallback); `resume.rs` step 1's rules; `parent.rs` the parent run; `data.rs`
//! the datasets' loading; `pool.rs` the workers, `trial.rs` one trial, `publish.rs` the
//! publisher, `heartbeat.rs` the parent's heartbeat, `prune.rs` the pruning rule; `rank.rs`
//! and `crown.rs` step 4; `timing.rs` the tracking time's accounts.

mod crown;
mod data;
mod heartbeat;
mod options;
mod outcome;
mod parent;
mod pool;
mod prune;
mod publish;
mod rank;
mod resume;
mod store;
#[cfg(test)]
mod test_runs;
mod timing;
mod trial;

pub use options::{NoProgress, SweepOptions, SweepProgress};
pub use outcome::{PlanSummary, StoredTrial, SweepOutcome, TrialResult};
pub use prune::Pruner;
pub use rank::sweep_leaderboard;
pub use timing::overhead_pct;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vigie_mlflow::{
    DefaultStore, Metric, Run, RunStatus, Tag, TrackingStore, mlflow_tags, now_millis,
};
use vigie_runner::config::DataSource;

use crate::champion;
use crate::error::{Result, SweepError};
use crate::spec::{SweepPlan, SweepSpec, Trial};
use crate::{owner, tags};
use crown::crown_best;
use data::DataLoader;
use parent::{create_parent, log_plan_artifacts};
use pool::{EarlyCrown, run_trials};
use rank::rank_trials;
use resume::{Prior, prior_of, stale};
use store::reachable_store;
use timing::waited_before_trials;
use trial::TrialContext;

/// Runs the trials of `plan` (this shard's) that are not done yet, then ranks the sweep.
pub fn run_sweep(
    spec: &SweepSpec,
    plan: &SweepPlan,
    source: &DataSource,
    options: &SweepOptions,
    stop: &AtomicBool,
    progress: &dyn SweepProgress,
) -> Result<SweepOutcome> {
    let started = Instant::now();
    let mut tracking = Duration::ZERO;
    let timed = |tracking: &mut Duration, since: Instant| *tracking += since.elapsed();
    let (store, offline_store) = reachable_store(spec, options)?;
    let offline_options;
    let options = match &offline_store {
        Some(dir) => {
            offline_options = SweepOptions {
                tracking_uri: Some(dir.display().to_string()),
                ..options.clone()
            };
            &offline_options
        }
        None => options,
    };
    let host = owner::host_name();
    let pid = std::process::id();
    let shard_label = options
        .shard
        .as_ref()
        .map_or_else(|| "all".to_owned(), ToString::to_string);

    let selected: Vec<&Trial> = match &options.shard {
        Some(shard) => shard.select(&plan.trials),
        None => plan.trials.iter().collect(),
    };
    // The data loads while the store is read and the parent opened.
    let loader = DataLoader::spawn(&selected, source);

    let t = Instant::now();
    let experiment_id = store.experiment_id(&spec.experiment)?;
    let existing = store.find_runs_by_tag(&experiment_id, tags::SWEEP, &spec.name)?;
    timed(&mut tracking, t);
    let by_id: HashMap<&str, &Run> = existing
        .iter()
        .map(|run| (run.info.run_id.as_str(), run))
        .collect();
    let stale_after = Duration::from_secs(spec.stale_after_minutes.saturating_mul(60));
    let now = now_millis();
    let is_stale = |run: &Run| stale(run, &by_id, &host, stale_after, now);

    let mut priors: Vec<(&Trial, Prior)> = Vec::new();
    for trial in &selected {
        let runs: Vec<&Run> = existing
            .iter()
            .filter(|r| {
                r.data.tag(tags::ROLE) == Some(tags::ROLE_TRIAL)
                    && r.data.tag(tags::TRIAL_ID) == Some(trial.id.as_str())
            })
            .collect();
        priors.push((trial, prior_of(&runs, &is_stale)));
    }

    // The parent: this shard's, taken back when an earlier invocation left it.
    let parents: Vec<&Run> = existing
        .iter()
        .filter(|r| {
            r.data.tag(tags::ROLE) == Some(tags::ROLE_PARENT)
                && r.data.tag(tags::SHARD) == Some(shard_label.as_str())
        })
        .collect();
    if let Some(live) = parents
        .iter()
        .find(|p| p.info.status == RunStatus::Running && !is_stale(p))
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
        Tag::new(tags::OWNER_HOST, &host),
        Tag::new(tags::OWNER_PID, pid.to_string()),
        Tag::new(tags::HEARTBEAT, now_millis().to_string()),
    ];
    let t = Instant::now();
    let parent_run_id = match parents.first() {
        Some(parent) => {
            store.reopen_run(&parent.info.run_id)?;
            store.log_batch(&parent.info.run_id, &[], &[], &owner_tags)?;
            parent.info.run_id.clone()
        }
        None => create_parent(&store, spec, plan, &experiment_id, &shard_label, owner_tags)?,
    };
    // The champion's registered model is made now, while the data loads, rather than on the
    // sweep's last stretch (where every call is waited on).
    if let (Some(name), DefaultStore::Server(client)) = (&spec.registered_model, &store) {
        champion::ensure_registered_model(client, name)?;
    }
    timed(&mut tracking, t);

    // Stale runs end KILLED before their trial runs again, so each trial has at most one
    // RUNNING run and, in the end, exactly one FINISHED one.
    let mut stale_count = 0;
    for (_, prior) in &priors {
        if let Prior::Run { stale } = prior {
            for run_id in stale {
                let t = Instant::now();
                store.log_batch(
                    run_id,
                    &[],
                    &[],
                    &[Tag::new(
                        mlflow_tags::NOTE_CONTENT,
                        format!(
                            "stale: its process was gone; marked KILLED by {host} pid {pid} and run again"
                        ),
                    )],
                )?;
                store.end_run(run_id, RunStatus::Killed, now_millis())?;
                timed(&mut tracking, t);
                stale_count += 1;
            }
        }
    }

    let to_run: Vec<&Trial> = priors
        .iter()
        .filter(|(_, p)| matches!(p, Prior::Run { .. }))
        .map(|(t, _)| *t)
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let parallel = options
        .max_parallel
        .or(spec.max_parallel)
        .unwrap_or(cores)
        .clamp(1, to_run.len().max(1));
    let summary = PlanSummary {
        planned: plan.trials.len(),
        in_shard: selected.len(),
        done: priors.iter().filter(|(_, p)| *p == Prior::Done).count(),
        running_elsewhere: priors
            .iter()
            .filter(|(_, p)| *p == Prior::RunningElsewhere)
            .count(),
        stale: stale_count,
        to_run: to_run.len(),
        parallel,
        threads_per_trial: (cores / parallel).max(1),
    };
    progress.planned(&summary);

    let pruner = spec
        .pruning
        .as_ref()
        .map(|rule| Pruner::new(rule.clone(), spec.objective.direction));
    if let Some(pruner) = &pruner {
        let t = Instant::now();
        pruner.load_finished(&store, &existing)?;
        timed(&mut tracking, t);
    }

    // The plan's files go up while the first trials train.
    let plan_logger = |out: &Path| {
        let started = Instant::now();
        let logged = log_plan_artifacts(&store, spec, plan, &parent_run_id, out);
        if let Err(error) = &logged {
            tracing::warn!(%error, "could not log the sweep's plan on its parent run");
            progress.note(&format!(
                "warning: the sweep file and plan could not be logged on the parent run: {error}"
            ));
        }
        started.elapsed().as_secs_f64()
    };
    // While the last trials train, the best trial so far is crowned (when it beats the current
    // champion), so that the sweep's end has a crown to make only when one of them wins. Only
    // when this invocation sees the whole sweep (as for ranking without reading it back).
    let early_registry = match (&spec.registered_model, &store) {
        (Some(name), DefaultStore::Server(client))
            if options.shard.is_none() && summary.running_elsewhere == 0 =>
        {
            Some((name.as_str(), client))
        }
        _ => None,
    };
    let crown_early = |published: &BTreeMap<usize, &StoredTrial>| {
        let (name, client) = early_registry?;
        let leaderboard = rank_trials(spec, plan, &existing, published);
        let best = leaderboard.best()?;
        Some(crown_best(client, name, spec, best, published))
    };
    let early_crown: Option<&EarlyCrown<'_>> = early_registry.is_some().then_some(&crown_early);
    // Trials start once the data is ready: the store's calls so far were waited on only for
    // as long as they outlasted the loading. A resume with nothing to run does not wait for
    // the data at all (the loader is left to finish in the background).
    let main_ready = Instant::now();
    let loaded = if to_run.is_empty() {
        Ok((HashMap::new(), started))
    } else {
        loader.wait(progress)
    };
    let result = loaded.and_then(|(datasets, data_ready)| {
        let calls = tracking;
        tracking = waited_before_trials(main_ready, data_ready, calls);
        tracing::debug!(
            calls = calls.as_secs_f64(),
            waited = tracking.as_secs_f64(),
            "tracking before the trials (the data loaded meanwhile)"
        );
        run_trials(
            &TrialContext {
                spec,
                options,
                stop,
                progress,
                pruner: pruner.as_ref(),
                parent_run_id: &parent_run_id,
                experiment_id: &experiment_id,
                shard_label: &shard_label,
                host: &host,
                threads_per_trial: summary.threads_per_trial,
                source,
            },
            &to_run,
            &datasets,
            parallel,
            &plan_logger,
            early_crown,
        )
    });
    let (results, trial_tracking, early_decision) = match result {
        Ok(done) => done,
        Err(error) => {
            let _ = store.log_batch(
                &parent_run_id,
                &[],
                &[],
                &[Tag::new(
                    mlflow_tags::NOTE_CONTENT,
                    format!("failed: {error}"),
                )],
            );
            let _ = store.end_run(&parent_run_id, RunStatus::Failed, now_millis());
            return Err(error);
        }
    };
    let interrupted = stop.load(Ordering::SeqCst);
    tracing::debug!(
        parent_before_trials = tracking.as_secs_f64(),
        on_workers = trial_tracking.on_workers,
        drain = trial_tracking.drain,
        background = trial_tracking.background,
        "tracking time"
    );

    // The leaderboard covers the whole sweep, whoever ran each trial. When this invocation
    // ran every unfinished trial itself and each reached the store, the runs read at the
    // start and the trials it published are the whole sweep: no need to read it all back.
    let published: BTreeMap<usize, &StoredTrial> = results
        .iter()
        .filter_map(|(index, result)| match result {
            TrialResult::Finished {
                stored: Some(stored),
                ..
            } => Some((*index, stored.as_ref())),
            _ => None,
        })
        .collect();
    let seen_whole_sweep = options.shard.is_none()
        && summary.running_elsewhere == 0
        && results
            .values()
            .all(|r| !matches!(r, TrialResult::Finished { stored: None, .. }));
    let leaderboard = if seen_whole_sweep {
        rank_trials(spec, plan, &existing, &published)
    } else {
        let t = Instant::now();
        let leaderboard = sweep_leaderboard(&store, spec, plan, &experiment_id)?;
        tracing::debug!(seconds = t.elapsed().as_secs_f64(), "leaderboard read");
        timed(&mut tracking, t);
        leaderboard
    };
    std::fs::create_dir_all(&options.out_dir)
        .map_err(|e| SweepError::io(&options.out_dir, "cannot create", e))?;
    let markdown_path = options.out_dir.join("leaderboard.md");
    let json_path = options.out_dir.join("leaderboard.json");
    write(&markdown_path, leaderboard.to_markdown().as_bytes())?;
    let json = serde_json::to_vec_pretty(&leaderboard)
        .map_err(|e| SweepError::Invalid(format!("cannot serialise the leaderboard: {e}")))?;
    write(&json_path, &json)?;

    // The leaderboard's files go up while the champion is crowned.
    let t = Instant::now();
    let (uploaded, crowned) = std::thread::scope(|scope| {
        let upload = scope.spawn(|| {
            store
                .log_artifacts(&parent_run_id, &markdown_path, None)
                .and_then(|_| store.log_artifacts(&parent_run_id, &json_path, None))
        });
        let early_decision = match early_decision {
            Some(Err(error)) => {
                tracing::warn!(%error, "could not crown the best trial while the last trained");
                None
            }
            Some(Ok(decision)) => Some(decision),
            None => None,
        };
        let crowned = match (&spec.registered_model, leaderboard.best(), interrupted) {
            // Crowned while the last trials trained, none of which did better.
            (Some(_), Some(best), false)
                if early_decision
                    .as_ref()
                    .is_some_and(|early| early.run_id == best.run_id) =>
            {
                Ok(early_decision)
            }
            // Interrupted after the early crown: it stands (it beat the champion it replaced).
            (Some(_), _, true) if early_decision.is_some() => Ok(early_decision),
            (Some(name), Some(best), false) => match &store {
                DefaultStore::Server(client) => {
                    let t = Instant::now();
                    let decision = crown_best(client, name, spec, best, &published);
                    tracing::debug!(seconds = t.elapsed().as_secs_f64(), "champion crowned");
                    decision.map(Some)
                }
                DefaultStore::Local(_) => {
                    progress.note(&format!(
                        "champion: the local store has no model registry; the best trial is {} \
                         (run {}); sweep against an MLflow server to register it as {name}",
                        best.run_name, best.run_id
                    ));
                    Ok(None)
                }
            },
            _ => Ok(None),
        };
        let uploaded = upload
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (uploaded, crowned)
    });
    timed(&mut tracking, t);
    uploaded?;
    let champion_decision = crowned?;
    if let Some(decision) = &champion_decision {
        progress.note(&decision.summary());
    }

    let finished_trials = leaderboard.rows.len();
    let failed = results
        .values()
        .filter(|r| matches!(r, TrialResult::Failed { .. }))
        .count();
    let waited = |tracking: Duration| {
        tracking.as_secs_f64() + trial_tracking.drain + trial_tracking.on_workers / parallel as f64
    };
    let tracking_seconds = waited(tracking);
    let wall_seconds = started.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut metrics = vec![
        Metric::new("trials_planned", plan.trials.len() as f64, 0),
        Metric::new("trials_finished", finished_trials as f64, 0),
        Metric::new("trials_failed_now", failed as f64, 0),
        Metric::new("sweep_wall_seconds", wall_seconds, 0),
        Metric::new("tracking_seconds", tracking_seconds, 0),
        // Against the wall time so far: it includes every call counted.
        Metric::new(
            "tracking_overhead_pct",
            overhead_pct(tracking_seconds, wall_seconds),
            0,
        ),
        Metric::new("tracking_background_seconds", trial_tracking.background, 0),
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
    store.log_batch(&parent_run_id, &metrics, &[], &parent_tags)?;
    let status = if interrupted {
        RunStatus::Killed
    } else if failed > 0 {
        RunStatus::Failed
    } else {
        RunStatus::Finished
    };
    store.end_run(&parent_run_id, status, now_millis())?;
    timed(&mut tracking, t);
    let tracking_seconds = waited(tracking);
    tracing::debug!(parent_total = tracking.as_secs_f64(), "tracking time");
    // The whole invocation, the parent's last calls included (a resume with nothing left to
    // run is almost only those).
    let wall_seconds = started.elapsed().as_secs_f64();

    Ok(SweepOutcome {
        sweep: spec.name.clone(),
        experiment: spec.experiment.clone(),
        parent_run_id,
        shard: shard_label,
        summary,
        results,
        leaderboard,
        champion: champion_decision,
        interrupted,
        wall_seconds,
        tracking_seconds,
        tracking_overhead_pct: overhead_pct(tracking_seconds, wall_seconds),
        tracking_background_seconds: trial_tracking.background,
        out_dir: options.out_dir.clone(),
        offline_store,
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| SweepError::io(path, "cannot write", e))
}
