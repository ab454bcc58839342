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
//! batch (their runs end KILLED); a SIGKILL leaves RUNNING runs that step 1 repairs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::Serialize;
use vigie_data::PreparedDataset;
use vigie_mlflow::{
    CreateRun, DefaultStore, Metric, MlflowClient, Param, Run, RunStatus, Tag, TrackingStore,
    mlflow_tags, now_millis,
};
use vigie_models::spec::Family;
use vigie_models::{ModelError, TrainObserver};
use vigie_runner::config::{DataConfig, DataSource};
use vigie_runner::{RunError, RunRequest};

use crate::champion::{self, ChampionDecision};
use crate::error::{Result, SweepError};
use crate::leaderboard::{Leaderboard, LeaderboardRow};
use crate::owner;
use crate::spec::{Direction, Pruning, Shard, SweepPlan, SweepSpec, Trial};
use crate::tags;

/// How to run a sweep (beyond what its file says).
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Run only this slice of the trials.
    pub shard: Option<Shard>,
    /// Overrides the sweep file's `max_parallel`.
    pub max_parallel: Option<usize>,
    /// The sweep's local folder: the leaderboard, and one folder per trial under `trials/`.
    pub out_dir: PathBuf,
    /// Folder of the run journals.
    pub journal_root: PathBuf,
    /// `None`: `MLFLOW_TRACKING_URI`, else the local `./mlruns` store.
    pub tracking_uri: Option<String>,
    /// How often the parent run's heartbeat tag is refreshed.
    pub heartbeat: Duration,
}

/// Where a sweep's progress is shown (a terminal, or nothing).
pub trait SweepProgress: Sync {
    /// The plan is known: how many trials, how many left to run.
    fn planned(&self, _summary: &PlanSummary) {}
    /// The observer of one trial's training (its epoch bar).
    fn trial_observer<'a>(&'a self, trial: &Trial) -> Box<dyn TrainObserver + 'a>;
    /// A trial ended.
    fn trial_done(&self, _trial: &Trial, _result: &TrialResult) {}
    /// Something worth a line.
    fn note(&self, _message: &str) {}
}

/// Shows nothing.
pub struct NoProgress;

impl SweepProgress for NoProgress {
    fn trial_observer<'a>(&'a self, _trial: &Trial) -> Box<dyn TrainObserver + 'a> {
        Box::new(vigie_models::NoObserver)
    }
}

/// The trials of this invocation, by state.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    /// Trials in the whole sweep.
    pub planned: usize,
    /// Trials in this shard (all of them without sharding).
    pub in_shard: usize,
    /// Already FINISHED (or pruned) in the store: skipped.
    pub done: usize,
    /// RUNNING in another live process: left to it.
    pub running_elsewhere: usize,
    /// RUNNING in the store but their process is gone: marked KILLED, run again.
    pub stale: usize,
    /// To run now.
    pub to_run: usize,
    /// Trials run at once, and threads per trial.
    pub parallel: usize,
    pub threads_per_trial: usize,
}

/// How one trial ended in this invocation.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TrialResult {
    Finished {
        run_id: Option<String>,
        tracking_seconds: f64,
        /// Its leaderboard row and logged model, when everything reached the store: the
        /// sweep's end ranks and crowns from these instead of reading the runs back.
        #[serde(skip)]
        stored: Option<Box<StoredTrial>>,
    },
    /// Stopped by the pruning rule (its run ends KILLED with a `vigie.pruned` tag).
    Pruned {
        reason: String,
    },
    /// Stopped by Ctrl-C.
    Killed,
    Failed {
        message: String,
    },
}

/// A finished trial as the store has it, known without reading it back.
#[derive(Debug, Clone)]
pub struct StoredTrial {
    pub row: LeaderboardRow,
    pub logged_model_id: Option<String>,
}

/// What a sweep invocation did.
#[derive(Debug, Clone, Serialize)]
pub struct SweepOutcome {
    pub sweep: String,
    pub experiment: String,
    pub parent_run_id: String,
    pub shard: String,
    pub summary: PlanSummary,
    /// This invocation's trials, by plan index.
    pub results: BTreeMap<usize, TrialResult>,
    /// Every finished trial of the sweep (all shards, all invocations), best first.
    pub leaderboard: Leaderboard,
    pub champion: Option<ChampionDecision>,
    /// Ctrl-C stopped it before every trial ran.
    pub interrupted: bool,
    pub wall_seconds: f64,
    /// Wall time the sweep waited on tracking calls: the parent's calls and the final wait for
    /// the publisher, plus the time workers spent in tracking calls divided by the number of
    /// workers (what the calls added to the wall time, CPU contention aside).
    pub tracking_seconds: f64,
    /// [`overhead_pct`] of `tracking_seconds`.
    pub tracking_overhead_pct: f64,
    /// Time the publisher thread spent sending finished trials while the workers trained.
    pub tracking_background_seconds: f64,
    pub out_dir: PathBuf,
    /// The local store the sweep ran on because its server could not be reached.
    pub offline_store: Option<PathBuf>,
}

/// The folder, in a sweep's `out_dir`, of the local store it falls back to.
const OFFLINE_STORE_DIR: &str = "offline-mlruns";

/// Crowns `best` under `name` ([`champion::crown`]); when this invocation published it, its
/// logged model is known and its run is not read back.
fn crown_best(
    client: &MlflowClient,
    name: &str,
    spec: &SweepSpec,
    best: &LeaderboardRow,
    published: &BTreeMap<usize, &StoredTrial>,
) -> Result<ChampionDecision> {
    let fresh_model_id = published
        .values()
        .find(|p| p.row.run_id == best.run_id)
        .and_then(|p| p.logged_model_id.as_deref());
    champion::crown(client, name, best, fresh_model_id, &spec.objective)
}

/// The share of the wall time spent waiting on tracking calls, in percent.
pub fn overhead_pct(waited_seconds: f64, wall_seconds: f64) -> f64 {
    100.0 * waited_seconds / wall_seconds.max(1e-9)
}

/// Where trials' tracking time went.
#[derive(Debug, Default, Clone, Copy)]
struct TrialTracking {
    /// In tracking calls on the workers' threads (live runs, waits for a busy publisher).
    on_workers: f64,
    /// In the publisher thread.
    background: f64,
    /// Waiting for the publisher after the last trial trained.
    drain: f64,
}

impl SweepOutcome {
    pub fn failed(&self) -> usize {
        self.results
            .values()
            .filter(|r| matches!(r, TrialResult::Failed { .. }))
            .count()
    }
}

/// Where a trial stands in the store before this invocation.
#[derive(Debug, Clone, PartialEq)]
enum Prior {
    Done,
    RunningElsewhere,
    /// To run; these RUNNING runs of it are stale and get marked KILLED first.
    Run {
        stale: Vec<String>,
    },
}

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

/// The store the sweep runs on: its tracking URI's; or, when that is a server that cannot be
/// reached at all, a local store in the sweep's folder (every trial still runs, and
/// `vigie mlflow sync --from-store` sends the whole sweep once the server is back), said once.
fn reachable_store(
    spec: &SweepSpec,
    options: &SweepOptions,
) -> Result<(DefaultStore, Option<PathBuf>)> {
    let store = DefaultStore::from_uri(options.tracking_uri.as_deref())?;
    let DefaultStore::Server(client) = &store else {
        return Ok((store, None));
    };
    match client.get_experiment_by_name(&spec.experiment) {
        Err(error) if vigie_mlflow::sync::is_unreachable(&error) => {
            let dir = std::path::absolute(options.out_dir.join(OFFLINE_STORE_DIR))
                .unwrap_or_else(|_| options.out_dir.join(OFFLINE_STORE_DIR));
            let message = format!(
                "cannot reach the tracking server {} ({error}): the sweep runs on the local store {} \
                 (resume, shards and the champion need the server); `vigie mlflow sync --to {} \
                 --from-store {}` sends it when the server is back",
                client.tracking_uri(),
                dir.display(),
                client.tracking_uri(),
                dir.display()
            );
            tracing::warn!("{message}");
            Ok((
                DefaultStore::from_uri(Some(&dir.display().to_string()))?,
                Some(dir),
            ))
        }
        _ => Ok((store, None)),
    }
}

/// Where a trial stands, from its runs in the store.
fn prior_of(runs: &[&Run], is_stale: &dyn Fn(&Run) -> bool) -> Prior {
    let done = runs.iter().any(|r| {
        r.info.status == RunStatus::Finished
            || (r.info.status == RunStatus::Killed && r.data.tag(tags::PRUNED).is_some())
    });
    if done {
        return Prior::Done;
    }
    let running: Vec<&&Run> = runs
        .iter()
        .filter(|r| r.info.status == RunStatus::Running)
        .collect();
    if running.iter().any(|r| !is_stale(r)) {
        return Prior::RunningElsewhere;
    }
    Prior::Run {
        stale: running.iter().map(|r| r.info.run_id.clone()).collect(),
    }
}

/// A RUNNING run is stale when its owner ran on this host and is gone, or when the heartbeat
/// of its sweep's parent run (its own start time, for a parent or without one) is older than
/// `stale_after`.
fn stale(
    run: &Run,
    runs: &HashMap<&str, &Run>,
    host: &str,
    stale_after: Duration,
    now: i64,
) -> bool {
    let pid = run
        .data
        .tag(tags::OWNER_PID)
        .and_then(|p| p.parse::<u32>().ok());
    if run.data.tag(tags::OWNER_HOST) == Some(host)
        && let Some(pid) = pid
        && pid != std::process::id()
        && !owner::process_alive(pid)
    {
        return true;
    }
    let heartbeat_run = match run.data.tag(tags::ROLE) {
        Some(tags::ROLE_PARENT) => Some(run),
        _ => run
            .data
            .tag(mlflow_tags::PARENT_RUN_ID)
            .and_then(|id| runs.get(id).copied()),
    };
    let last_sign_of_life = heartbeat_run
        .and_then(|p| p.data.tag(tags::HEARTBEAT))
        .and_then(|ms| ms.parse::<i64>().ok())
        .or(run.info.start_time);
    match last_sign_of_life {
        Some(ms) => {
            now.saturating_sub(ms) > i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX)
        }
        None => true,
    }
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

/// Every trial of the sweep's plan with a FINISHED run (its latest), ranked.
pub fn sweep_leaderboard(
    store: &DefaultStore,
    spec: &SweepSpec,
    plan: &SweepPlan,
    experiment_id: &str,
) -> Result<Leaderboard> {
    let runs = store.find_runs_by_tag(experiment_id, tags::SWEEP, &spec.name)?;
    Ok(rank_trials(spec, plan, &runs, &BTreeMap::new()))
}

/// Ranks every trial of the plan that finished: by the row this invocation kept when it
/// published the trial (`published`, by plan index), else by its latest FINISHED run among
/// `runs`.
fn rank_trials(
    spec: &SweepSpec,
    plan: &SweepPlan,
    runs: &[Run],
    published: &BTreeMap<usize, &StoredTrial>,
) -> Leaderboard {
    let planned: HashMap<&str, usize> = plan
        .trials
        .iter()
        .map(|t| (t.id.as_str(), t.index))
        .collect();
    let mut latest: BTreeMap<usize, &Run> = BTreeMap::new();
    for run in runs {
        if run.info.status != RunStatus::Finished
            || run.data.tag(tags::ROLE) != Some(tags::ROLE_TRIAL)
        {
            continue;
        }
        let Some(index) = run.data.tag(tags::TRIAL_ID).and_then(|id| planned.get(id)) else {
            continue;
        };
        let newer = latest
            .get(index)
            .is_none_or(|seen| run.info.start_time > seen.info.start_time);
        if newer {
            latest.insert(*index, run);
        }
    }
    let metric = &spec.objective.metric;
    let mut rows: BTreeMap<usize, (i64, LeaderboardRow)> = latest
        .into_iter()
        .map(|(index, run)| {
            let start = run.info.start_time.unwrap_or(0);
            (index, (start, LeaderboardRow::of_run(run, metric)))
        })
        .collect();
    for (index, trial) in published {
        // Published by this invocation: started after every run read before it.
        rows.insert(*index, (i64::MAX, trial.row.clone()));
    }
    Leaderboard::rank_rows(
        &format!(
            "Sweep {}: {} of {} trials finished, ranked by {}",
            spec.name,
            rows.len(),
            plan.trials.len(),
            metric
        ),
        rows.into_values().collect(),
        metric,
        spec.objective.direction,
    )
}

/// What every trial of one invocation shares.
struct TrialContext<'a> {
    spec: &'a SweepSpec,
    options: &'a SweepOptions,
    stop: &'a AtomicBool,
    progress: &'a dyn SweepProgress,
    pruner: Option<&'a Pruner>,
    parent_run_id: &'a str,
    experiment_id: &'a str,
    shard_label: &'a str,
    host: &'a str,
    threads_per_trial: usize,
    /// The data dir, for each trial's field check (`vigie_runner::field`).
    source: &'a DataSource,
}

/// Runs the trials on `parallel` workers, with a publisher
/// thread for the trials trained without the store; keeps the parent's heartbeat fresh
/// meanwhile.
fn run_trials(
    ctx: &TrialContext<'_>,
    trials: &[&Trial],
    datasets: &HashMap<String, PreparedDataset>,
    parallel: usize,
    log_plan: &(dyn Fn(&Path) -> f64 + Sync),
    early_crown: Option<&EarlyCrown<'_>>,
) -> Result<TrialsRun> {
    let queue: Mutex<VecDeque<&Trial>> = Mutex::new(trials.iter().copied().collect());
    let results: Mutex<BTreeMap<usize, TrialResult>> = Mutex::new(BTreeMap::new());
    let tracking = Mutex::new(TrialTracking::default());
    // Trials taken from the queue and not yet trained; `settled` wakes the early crown when a
    // trial ends training or gets its result, and when the workers are done.
    let training = AtomicUsize::new(0);
    let workers_done = AtomicBool::new(false);
    let settled = Condvar::new();
    let (queue, results, tracking) = (&queue, &results, &tracking);
    let (training, workers_done, settled) = (&training, &workers_done, &settled);
    let (stop_heartbeat, heartbeat_stopped) = mpsc::channel::<()>();
    // Room for a start and an end per worker: a worker waits only when the publisher is that
    // far behind (the wait counts as tracking time).
    let (to_publisher, inbox) = mpsc::sync_channel::<ToPublish<'_>>(2 * parallel);
    let early_decision = std::thread::scope(|scope| {
        scope.spawn(move || heartbeat(ctx, &heartbeat_stopped));
        scope.spawn(move || {
            let seconds = log_plan(&ctx.options.out_dir);
            lock(tracking).background += seconds;
        });
        let publisher = scope.spawn(move || publish_trials(ctx, inbox, results, settled, tracking));
        let crowning = early_crown.map(|crown| {
            scope.spawn(move || {
                let published = wait_for_last_trials(
                    ctx.stop,
                    trials.len(),
                    queue,
                    results,
                    training,
                    workers_done,
                    settled,
                )?;
                let started = Instant::now();
                let published_refs: BTreeMap<usize, &StoredTrial> = published
                    .iter()
                    .map(|(index, trial)| (*index, trial))
                    .collect();
                let decision = crown(&published_refs);
                let seconds = started.elapsed().as_secs_f64();
                tracing::debug!(seconds, "best trial so far crowned while the last trained");
                lock(tracking).background += seconds;
                decision
            })
        });
        let workers: Vec<_> = (0..parallel)
            .map(|_| {
                let to_publisher = to_publisher.clone();
                scope.spawn(move || {
                    loop {
                        if ctx.stop.load(Ordering::SeqCst) {
                            break;
                        }
                        // The last trials' epochs go to the store while they train: what
                        // the sweep's end waits for is then their last ones and results.
                        let (next, last) = {
                            let mut queue = lock(queue);
                            let next = queue.pop_front();
                            if next.is_some() {
                                training.fetch_add(1, Ordering::SeqCst);
                            }
                            (next, queue.len() < parallel)
                        };
                        let Some(trial) = next else { break };
                        let result = match datasets.get(&data_key(trial)) {
                            Some(prepared) => {
                                run_trial(ctx, trial, prepared, &to_publisher, tracking, last)
                            }
                            None => Some(TrialResult::Failed {
                                message: "its dataset was not loaded".to_owned(),
                            }),
                        };
                        // `None`: handed to the publisher, which reports it.
                        if let Some(result) = result {
                            ctx.progress.trial_done(trial, &result);
                            lock(results).insert(trial.index, result);
                        }
                        {
                            let _results = lock(results);
                            training.fetch_sub(1, Ordering::SeqCst);
                        }
                        settled.notify_all();
                    }
                })
            })
            .collect();
        drop(to_publisher);
        for worker in workers {
            let _ = worker.join();
        }
        {
            let _results = lock(results);
            workers_done.store(true, Ordering::SeqCst);
        }
        settled.notify_all();
        let draining = Instant::now();
        let _ = publisher.join();
        let early_decision = crowning.and_then(|handle| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        lock(tracking).drain = draining.elapsed().as_secs_f64();
        drop(stop_heartbeat);
        early_decision
    });
    let results = std::mem::take(&mut *lock(results));
    let tracking = *lock(tracking);
    Ok((results, tracking, early_decision))
}

/// Crowns the best of the trials published so far (see `run_sweep`); `None` when it has
/// nothing to do.
type EarlyCrown<'a> =
    dyn Fn(&BTreeMap<usize, &StoredTrial>) -> Option<Result<ChampionDecision>> + Sync + 'a;

/// What [`run_trials`] returns: each trial's result, where the tracking time went, and the
/// early crown's decision, if it crowned.
type TrialsRun = (
    BTreeMap<usize, TrialResult>,
    TrialTracking,
    Option<Result<ChampionDecision>>,
);

/// Waits until the queue is empty and every trial but those still training has its result,
/// then returns the published ones; `None` when no trial is left training by then (the sweep's
/// end crowns), when the sweep stops, or when a finished trial did not reach the store.
fn wait_for_last_trials(
    stop: &AtomicBool,
    total: usize,
    queue: &Mutex<VecDeque<&Trial>>,
    results: &Mutex<BTreeMap<usize, TrialResult>>,
    training: &AtomicUsize,
    workers_done: &AtomicBool,
    settled: &Condvar,
) -> Option<BTreeMap<usize, StoredTrial>> {
    let mut guard = lock(results);
    loop {
        if stop.load(Ordering::SeqCst) || workers_done.load(Ordering::SeqCst) {
            return None;
        }
        if lock(queue).is_empty() {
            let in_training = training.load(Ordering::SeqCst);
            if in_training == 0 {
                return None;
            }
            if in_training + guard.len() == total {
                break;
            }
        }
        guard = settled
            .wait(guard)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
    let mut published = BTreeMap::new();
    for (index, result) in guard.iter() {
        match result {
            TrialResult::Finished {
                stored: Some(stored),
                ..
            } => {
                published.insert(*index, stored.as_ref().clone());
            }
            TrialResult::Finished { stored: None, .. } => return None,
            _ => {}
        }
    }
    Some(published)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the workers ask of the publisher.
enum ToPublish<'a> {
    /// A trial starts training: start its run (RUNNING, with its owner tags), so the UI shows
    /// it and a resume after a SIGKILL finds it.
    Open {
        trial: &'a Trial,
        start: Box<vigie_runner::DeferredStart>,
    },
    /// Per-epoch metrics of a trial that trains: log them to its run now.
    Epochs {
        trial: &'a Trial,
        epochs: Vec<Metric>,
    },
    /// The trial trained: log everything and end its run.
    Publish {
        trial: &'a Trial,
        pending: Box<vigie_runner::PendingRun>,
        history: Vec<(u64, f64)>,
        pruned: Option<String>,
    },
}

/// The publisher: starts the runs of the trials the workers train without the store, in the
/// order asked, and completes each on a thread of its own once trained (so that the last
/// trials of a sweep are published side by side), reporting each finished trial.
fn publish_trials(
    ctx: &TrialContext<'_>,
    inbox: mpsc::Receiver<ToPublish<'_>>,
    results: &Mutex<BTreeMap<usize, TrialResult>>,
    settled: &Condvar,
    tracking: &Mutex<TrialTracking>,
) {
    let mut opened: HashMap<usize, vigie_runner::Result<vigie_runner::OpenedRun>> = HashMap::new();
    // Forwarded epochs of a run that could not be opened: they go with its publishing.
    let mut unsent: HashMap<usize, Vec<Metric>> = HashMap::new();
    let store = || DefaultStore::from_uri(ctx.options.tracking_uri.as_deref());
    std::thread::scope(|scope| {
        for job in inbox {
            match job {
                ToPublish::Open { trial, start } => {
                    let started = Instant::now();
                    let run = store()
                        .map_err(RunError::from)
                        .and_then(|store| start.open(store));
                    opened.insert(trial.index, run);
                    lock(tracking).background += started.elapsed().as_secs_f64();
                }
                ToPublish::Epochs { trial, epochs } => {
                    let started = Instant::now();
                    match opened.get_mut(&trial.index) {
                        Some(Ok(run)) => {
                            if let Err(error) = run.log_epochs(&epochs) {
                                tracing::warn!(%error, trial = trial.index, "could not log epochs");
                                ctx.progress.note(&format!(
                                    "warning: trial {}'s epochs could not be logged: {error}",
                                    trial.index
                                ));
                            }
                        }
                        _ => unsent.entry(trial.index).or_default().extend(epochs),
                    }
                    lock(tracking).background += started.elapsed().as_secs_f64();
                }
                ToPublish::Publish {
                    trial,
                    mut pending,
                    history,
                    pruned,
                } => {
                    let run = opened.remove(&trial.index);
                    if let Some(epochs) = unsent.remove(&trial.index) {
                        pending.add_epochs(epochs);
                    }
                    scope.spawn(move || {
                        let started = Instant::now();
                        let notes = &mut SweepNotes(ctx.progress);
                        let published = match run {
                            Some(run) => pending.publish_opened(run, notes),
                            None => store()
                                .map_err(RunError::from)
                                .and_then(|store| pending.publish(store, notes)),
                        };
                        let result = trial_result(ctx, trial, published, &history, pruned, None);
                        let seconds = started.elapsed().as_secs_f64();
                        tracing::debug!(trial = trial.index, seconds, "trial published");
                        lock(tracking).background += seconds;
                        ctx.progress.trial_done(trial, &result);
                        lock(results).insert(trial.index, result);
                        settled.notify_all();
                    });
                }
            }
        }
    });
}

/// Forwards a published run's notes (warnings) to the sweep's display.
struct SweepNotes<'a>(&'a dyn SweepProgress);

impl TrainObserver for SweepNotes<'_> {
    fn note(&mut self, message: &str) {
        self.0.note(message);
    }
}

fn data_key(trial: &Trial) -> String {
    serde_json::to_string(&trial.config.data).unwrap_or_default()
}

/// The prepared datasets of a sweep's trials (each distinct data config once), loaded on a
/// thread of their own from the start of the sweep.
struct DataLoader {
    /// `None` when the thread could not start: the data then loads when waited for.
    loading: Option<std::thread::JoinHandle<Result<(PreparedByKey, Instant)>>>,
    configs: Vec<(String, DataConfig)>,
    source: DataSource,
}

type PreparedByKey = HashMap<String, PreparedDataset>;

impl DataLoader {
    fn spawn(trials: &[&Trial], source: &DataSource) -> DataLoader {
        let mut configs: Vec<(String, DataConfig)> = Vec::new();
        for trial in trials {
            let key = data_key(trial);
            if !configs.iter().any(|(k, _)| *k == key) {
                configs.push((key, trial.config.data.clone()));
            }
        }
        let (jobs, from) = (configs.clone(), source.clone());
        let loading = std::thread::Builder::new()
            .name("vigie-sweep-data".to_owned())
            .spawn(move || Self::load(&jobs, &from))
            .map_err(|error| tracing::warn!(%error, "cannot start the data thread"))
            .ok();
        DataLoader {
            loading,
            configs,
            source: source.clone(),
        }
    }

    fn load(
        configs: &[(String, DataConfig)],
        source: &DataSource,
    ) -> Result<(PreparedByKey, Instant)> {
        let mut prepared = HashMap::new();
        for (key, data) in configs {
            prepared.insert(key.clone(), vigie_runner::run::prepare_data(data, source)?);
        }
        // The field check's data loads here too, once for every trial (kept by the runner), so
        // that the first trial to finish does not wait for it.
        if configs
            .iter()
            .any(|(_, data)| vigie_runner::field::applies_to(data))
        {
            vigie_runner::field::field_set(source);
        }
        Ok((prepared, Instant::now()))
    }

    /// The datasets, and when they were ready.
    fn wait(self, progress: &dyn SweepProgress) -> Result<(PreparedByKey, Instant)> {
        for (_, data) in &self.configs {
            progress.note(&format!(
                "loading {} (dedup {}, split {:?})",
                data.dataset, data.dedup, data.split
            ));
        }
        match self.loading {
            Some(loading) => loading
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => Self::load(&self.configs, &self.source),
        }
    }
}

/// How long the trials waited on the tracking calls made before them (`calls` in all, on
/// the main thread, which was ready at `main_ready`), given that the data they also needed
/// was ready at `data_ready`: the calls delayed the start only by what outlasted the loading.
fn waited_before_trials(main_ready: Instant, data_ready: Instant, calls: Duration) -> Duration {
    let start = main_ready.max(data_ready);
    let start_without_calls = main_ready
        .checked_sub(calls)
        .map_or(data_ready, |ready| ready.max(data_ready));
    start.saturating_duration_since(start_without_calls)
}

/// Refreshes the parent's heartbeat tag until `stopped` is closed. A failed refresh is only
/// logged: the trials' own runs matter more than the heartbeat.
fn heartbeat(ctx: &TrialContext<'_>, stopped: &mpsc::Receiver<()>) {
    let Ok(store) = DefaultStore::from_uri(ctx.options.tracking_uri.as_deref()) else {
        return;
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(ctx.options.heartbeat) {
        let tag = Tag::new(tags::HEARTBEAT, now_millis().to_string());
        if let Err(error) = store.log_batch(ctx.parent_run_id, &[], &[], &[tag]) {
            tracing::warn!(%error, "could not refresh the sweep's heartbeat");
        }
    }
}

/// The trial's folder under `<out>/trials/`: new, or suffixed when an earlier attempt left one.
fn trial_out_dir(out_dir: &Path, trial: &Trial) -> PathBuf {
    let base = format!("{}-{}", trial.config.run_name(), trial.id);
    let trials = out_dir.join("trials");
    let first = trials.join(&base);
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|attempt| trials.join(format!("{base}-attempt{attempt}")))
        .find(|dir| !dir.exists())
        .unwrap_or(first)
}

/// Runs one trial: live for a network, else trained without the store and handed to the
/// publisher (`None`).
fn run_trial<'t>(
    ctx: &TrialContext<'_>,
    trial: &'t Trial,
    prepared: &PreparedDataset,
    publisher: &mpsc::SyncSender<ToPublish<'t>>,
    tracking: &Mutex<TrialTracking>,
    forward_epochs: bool,
) -> Option<TrialResult> {
    let mut config = trial.config.clone();
    config.threads = ctx.threads_per_trial;
    let attempt = format!("{}-{}-{}", std::process::id(), now_millis(), trial.id);
    let live = config.model.family() == Family::Network;
    let request = RunRequest {
        config,
        out_dir: trial_out_dir(&ctx.options.out_dir, trial),
        journal_root: ctx.options.journal_root.clone(),
        parent_run_id: Some(ctx.parent_run_id.to_owned()),
        extra_tags: vec![
            Tag::new(tags::SWEEP, &ctx.spec.name),
            Tag::new(tags::ROLE, tags::ROLE_TRIAL),
            Tag::new(tags::SHARD, ctx.shard_label),
            Tag::new(tags::TRIAL_ID, &trial.id),
            Tag::new(tags::TRIAL_INDEX, trial.index.to_string()),
            Tag::new(tags::OVERRIDES, trial.describe()),
            Tag::new(tags::ATTEMPT, &attempt),
            Tag::new(tags::OWNER_HOST, ctx.host),
            Tag::new(tags::OWNER_PID, std::process::id().to_string()),
        ],
        field_data: Some(ctx.source.clone()),
    };
    let mut observer = TrialObserver {
        display: ctx.progress.trial_observer(trial),
        stop: ctx.stop,
        pruner: ctx.pruner,
        history: Vec::new(),
        pruned: None,
    };
    if !live {
        let send = |job: ToPublish<'t>| {
            let waiting = Instant::now();
            let sent = publisher.send(job);
            lock(tracking).on_workers += waiting.elapsed().as_secs_f64();
            sent.map_err(|_| TrialResult::Failed {
                message: "the publisher thread stopped".to_owned(),
            })
        };
        let trained = vigie_runner::start_deferred(&request, prepared).and_then(|start| {
            if send(ToPublish::Open {
                trial,
                start: Box::new(start.clone()),
            })
            .is_err()
            {
                tracing::warn!("the publisher thread stopped");
            }
            if !forward_epochs {
                return vigie_runner::train_deferred(&request, prepared, start, &mut observer);
            }
            let mut forwarder = EpochForwarder {
                trial,
                publisher,
                waiting: Vec::new(),
                last_sent: None,
            };
            let trained = vigie_runner::train_deferred_forwarding(
                &request,
                prepared,
                start,
                &mut observer,
                &mut |epochs| forwarder.push(epochs),
            );
            trained.map(|mut pending| {
                pending.add_epochs(forwarder.waiting);
                pending
            })
        });
        let TrialObserver {
            history, pruned, ..
        } = observer;
        let mut pending = match trained {
            Ok(pending) => pending,
            Err(error) => {
                return Some(TrialResult::Failed {
                    message: error.to_string(),
                });
            }
        };
        if let Some(reason) = &pruned {
            pending.add_tags(&[Tag::new(tags::PRUNED, reason)]);
        }
        return send(ToPublish::Publish {
            trial,
            pending: Box::new(pending),
            history,
            pruned,
        })
        .err();
    }
    let store = match DefaultStore::from_uri(ctx.options.tracking_uri.as_deref()) {
        Ok(store) => store,
        Err(error) => {
            return Some(TrialResult::Failed {
                message: error.to_string(),
            });
        }
    };
    let result = vigie_runner::train_prepared(&request, prepared, store, &mut observer);
    if let Ok(outcome) = &result {
        lock(tracking).on_workers += outcome.tracking_seconds;
    }
    let TrialObserver {
        history, pruned, ..
    } = observer;
    Some(trial_result(
        ctx,
        trial,
        result,
        &history,
        pruned,
        Some(&attempt),
    ))
}

/// How often a trial that forwards its epochs sends them to the publisher: a linear solver's
/// passes take milliseconds, so they go a few hundred at a time.
const FORWARD_EVERY: Duration = Duration::from_millis(250);

/// Sends a training trial's per-epoch metrics to the publisher every [`FORWARD_EVERY`]; those
/// still `waiting` at the end go with the trial's publishing.
struct EpochForwarder<'s, 't> {
    trial: &'t Trial,
    publisher: &'s mpsc::SyncSender<ToPublish<'t>>,
    waiting: Vec<Metric>,
    /// `None` until the first epoch, which goes at once (the run shows it is training).
    last_sent: Option<Instant>,
}

impl EpochForwarder<'_, '_> {
    fn push(&mut self, epochs: Vec<Metric>) {
        self.waiting.extend(epochs);
        if self
            .last_sent
            .is_some_and(|sent| sent.elapsed() < FORWARD_EVERY)
        {
            return;
        }
        let job = ToPublish::Epochs {
            trial: self.trial,
            epochs: std::mem::take(&mut self.waiting),
        };
        // Never waits: with the publisher busy (or stopped) they stay for the next try, or
        // for the trial's own publishing.
        match self.publisher.try_send(job) {
            Ok(()) => self.last_sent = Some(Instant::now()),
            Err(
                mpsc::TrySendError::Full(ToPublish::Epochs { epochs, .. })
                | mpsc::TrySendError::Disconnected(ToPublish::Epochs { epochs, .. }),
            ) => self.waiting = epochs,
            Err(_) => {}
        }
    }
}

/// How a trial's run ended, as a [`TrialResult`]; a finished trial's history feeds the pruner.
/// A pruned live run (`attempt`) is tagged here; a published one carried its tag already.
fn trial_result(
    ctx: &TrialContext<'_>,
    trial: &Trial,
    result: vigie_runner::Result<vigie_runner::RunOutcome>,
    history: &[(u64, f64)],
    pruned: Option<String>,
    attempt: Option<&str>,
) -> TrialResult {
    match result {
        Ok(outcome) => {
            if let Some(pruner) = ctx.pruner {
                pruner.record(history);
            }
            let stored = match (&outcome.run_id, outcome.synced) {
                (Some(run_id), true) => Some(Box::new(StoredTrial {
                    row: LeaderboardRow::of_finished(
                        run_id,
                        &outcome.run_name,
                        &outcome.model_kind,
                        Some(&trial.id),
                        &trial.describe(),
                        &outcome.final_metrics,
                        &ctx.spec.objective.metric,
                    ),
                    logged_model_id: outcome.logged_model_id.clone(),
                })),
                _ => None,
            };
            TrialResult::Finished {
                run_id: outcome.run_id,
                tracking_seconds: outcome.tracking_seconds,
                stored,
            }
        }
        Err(RunError::Model(ModelError::Stopped(_))) => match pruned {
            Some(reason) => {
                if let Some(attempt) = attempt {
                    mark_pruned(ctx, attempt, &reason);
                }
                TrialResult::Pruned { reason }
            }
            None => TrialResult::Killed,
        },
        Err(error) => TrialResult::Failed {
            message: error.to_string(),
        },
    }
}

/// Tags the run of a pruned attempt, so that resume counts the trial as done.
fn mark_pruned(ctx: &TrialContext<'_>, attempt: &str, reason: &str) {
    let tagged = DefaultStore::from_uri(ctx.options.tracking_uri.as_deref())
        .map_err(SweepError::from)
        .and_then(|store| {
            for run in store.find_runs_by_tag(ctx.experiment_id, tags::ATTEMPT, attempt)? {
                store.log_batch(
                    &run.info.run_id,
                    &[],
                    &[],
                    &[Tag::new(tags::PRUNED, reason)],
                )?;
            }
            Ok(())
        });
    if let Err(error) = tagged {
        tracing::warn!(%error, "could not tag a pruned trial");
    }
}

/// One trial's observer: shows progress, asks to stop on Ctrl-C or when the pruning rule says
/// so, and keeps the pruning metric's history.
struct TrialObserver<'a> {
    display: Box<dyn TrainObserver + 'a>,
    stop: &'a AtomicBool,
    pruner: Option<&'a Pruner>,
    history: Vec<(u64, f64)>,
    pruned: Option<String>,
}

impl TrainObserver for TrialObserver<'_> {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.display.phase(name, total);
    }

    fn advance(&mut self, units: u64) {
        self.display.advance(units);
    }

    fn epoch(&mut self, step: u64, metrics: &[(&str, f64)]) {
        self.display.epoch(step, metrics);
        let Some(pruner) = self.pruner else { return };
        let Some((_, value)) = metrics.iter().find(|(k, _)| *k == pruner.rule.metric) else {
            return;
        };
        self.history.push((step, *value));
        if self.pruned.is_none() {
            self.pruned = pruner.verdict(step, *value);
        }
    }

    fn note(&mut self, message: &str) {
        self.display.note(message);
    }

    fn stop_requested(&mut self) -> Option<String> {
        if self.stop.load(Ordering::SeqCst) {
            return Some("interrupted".to_owned());
        }
        self.pruned.clone()
    }
}

/// The median pruning rule: a trial whose per-epoch metric, at an epoch at or after
/// `after_epochs`, is worse than the median of the finished trials at that epoch is stopped.
/// A metric whose name ends in `loss` is taken as lower-is-better; any other follows the
/// sweep's objective direction.
pub struct Pruner {
    rule: Pruning,
    lower_is_better: bool,
    finished: Mutex<BTreeMap<u64, Vec<f64>>>,
}

impl Pruner {
    pub fn new(rule: Pruning, objective: Direction) -> Pruner {
        let lower_is_better =
            rule.metric.ends_with("loss") || matches!(objective, Direction::Minimize);
        Pruner {
            rule,
            lower_is_better,
            finished: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes in the histories of the trials an earlier invocation finished.
    fn load_finished(&self, store: &DefaultStore, runs: &[Run]) -> Result<()> {
        for run in runs {
            if run.info.status == RunStatus::Finished
                && run.data.tag(tags::ROLE) == Some(tags::ROLE_TRIAL)
            {
                let history: Vec<(u64, f64)> = store
                    .metric_history(&run.info.run_id, &self.rule.metric)?
                    .into_iter()
                    .map(|m| (u64::try_from(m.step).unwrap_or(0), m.value))
                    .collect();
                self.record(&history);
            }
        }
        Ok(())
    }

    /// Adds a finished trial's per-epoch values.
    pub fn record(&self, history: &[(u64, f64)]) {
        let mut finished = self
            .finished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (step, value) in history {
            if value.is_finite() {
                finished.entry(*step).or_default().push(*value);
            }
        }
    }

    /// `Some(reason)` when a trial at `value` after `step` epochs should stop.
    pub fn verdict(&self, step: u64, value: f64) -> Option<String> {
        if step < self.rule.after_epochs {
            return None;
        }
        let finished = self
            .finished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let values = finished.get(&step)?;
        if values.len() < self.rule.min_finished {
            return None;
        }
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 0 {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        };
        let worse = if self.lower_is_better {
            value > median
        } else {
            value < median
        } || value.is_nan();
        worse.then(|| {
            format!(
                "pruned after epoch {step}: {} = {value:.5}, worse than the median {median:.5} of {} finished trials",
                self.rule.metric,
                sorted.len()
            )
        })
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| SweepError::io(path, "cannot write", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(run_id: &str, stored: bool) -> TrialResult {
        TrialResult::Finished {
            run_id: Some(run_id.to_owned()),
            tracking_seconds: 0.0,
            stored: stored.then(|| {
                Box::new(StoredTrial {
                    row: LeaderboardRow::of_finished(
                        run_id,
                        run_id,
                        "linear_svm",
                        None,
                        "",
                        &[("final_valid_f1".to_owned(), 0.9)],
                        "final_valid_f1",
                    ),
                    logged_model_id: Some(format!("m-{run_id}")),
                })
            }),
        }
    }

    #[test]
    fn the_early_crown_waits_until_every_trial_but_those_training_is_published() {
        let queue: Mutex<VecDeque<&Trial>> = Mutex::new(VecDeque::new());
        let results = Mutex::new(BTreeMap::from([(0, finished("run-0", true))]));
        // Trial 1 was handed to the publisher, trial 2 trains.
        let training = AtomicUsize::new(1);
        let (stop, done, settled) = (
            AtomicBool::new(false),
            AtomicBool::new(false),
            Condvar::new(),
        );
        let published = std::thread::scope(|scope| {
            let waiting = scope.spawn(|| {
                wait_for_last_trials(&stop, 3, &queue, &results, &training, &done, &settled)
            });
            std::thread::sleep(Duration::from_millis(50));
            assert!(!waiting.is_finished(), "trial 1 is not published yet");
            lock(&results).insert(1, finished("run-1", true));
            settled.notify_all();
            waiting.join().expect("no panic")
        })
        .expect("trials 0 and 1 published, trial 2 training");
        let runs: Vec<&str> = published.values().map(|t| t.row.run_id.as_str()).collect();
        assert_eq!(runs, ["run-0", "run-1"]);
    }

    #[test]
    fn the_early_crown_gives_up_when_nothing_trains_or_a_trial_missed_the_store() {
        let queue: Mutex<VecDeque<&Trial>> = Mutex::new(VecDeque::new());
        let (stop, done, settled) = (
            AtomicBool::new(false),
            AtomicBool::new(false),
            Condvar::new(),
        );
        let wait = |results: &Mutex<BTreeMap<usize, TrialResult>>, training: usize| {
            let training = AtomicUsize::new(training);
            wait_for_last_trials(&stop, 2, &queue, results, &training, &done, &settled)
        };
        let all_done = Mutex::new(BTreeMap::from([
            (0, finished("run-0", true)),
            (1, finished("run-1", true)),
        ]));
        assert!(wait(&all_done, 0).is_none(), "the sweep's end crowns");
        let offline = Mutex::new(BTreeMap::from([(0, finished("run-0", false))]));
        assert!(wait(&offline, 1).is_none(), "a trial only in the journal");
        let online = Mutex::new(BTreeMap::from([(0, finished("run-0", true))]));
        assert!(wait(&online, 1).is_some());
        stop.store(true, Ordering::SeqCst);
        assert!(wait(&online, 1).is_none(), "stopped");
    }

    fn rule(after: u64, min: usize, metric: &str) -> Pruning {
        Pruning {
            metric: metric.to_owned(),
            after_epochs: after,
            min_finished: min,
        }
    }

    #[test]
    fn calls_made_while_the_data_loads_are_waited_on_only_for_what_outlasts_the_loading() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let ms = Duration::from_millis;
        // Data ready at 500 ms, main ready at 300 ms after 200 ms of calls: nothing waited.
        assert_eq!(waited_before_trials(at(300), at(500), ms(200)), ms(0));
        // Main ready at 700 ms after 400 ms of calls, data at 500 ms: 200 ms waited.
        assert_eq!(waited_before_trials(at(700), at(500), ms(400)), ms(200));
        // Data ready first (at 100 ms): every call was waited on.
        assert_eq!(waited_before_trials(at(700), at(100), ms(400)), ms(400));
        // Calls longer than the time since t0 cannot make the wait exceed them.
        assert_eq!(waited_before_trials(at(700), at(0), ms(700)), ms(700));
    }

    #[test]
    fn the_median_rule_waits_for_enough_finished_trials_then_stops_the_worse_half() {
        let pruner = Pruner::new(rule(2, 2, "valid_roc_auc"), Direction::Maximize);
        pruner.record(&[(1, 0.90), (2, 0.95)]);
        assert_eq!(
            pruner.verdict(2, 0.5),
            None,
            "one finished trial is not enough"
        );
        pruner.record(&[(1, 0.80), (2, 0.97)]);
        assert_eq!(pruner.verdict(1, 0.1), None, "before after_epochs");
        assert!(pruner.verdict(2, 0.95).is_some(), "below the median 0.96");
        assert_eq!(pruner.verdict(2, 0.96), None);
        assert_eq!(
            pruner.verdict(3, 0.1),
            None,
            "no finished trial reached epoch 3"
        );
        let losses = Pruner::new(rule(1, 1, "valid_loss"), Direction::Maximize);
        losses.record(&[(1, 0.3)]);
        assert!(losses.verdict(1, 0.4).is_some());
        assert_eq!(losses.verdict(1, 0.2), None);
    }

    fn run_with(status: RunStatus, tags: &[(&str, &str)], start: i64) -> Run {
        let mut run = Run::default();
        run.info.run_id = format!("r{start}");
        run.info.status = status;
        run.info.start_time = Some(start);
        run.data.tags = tags.iter().map(|(k, v)| Tag::new(*k, *v)).collect();
        run
    }

    #[test]
    fn a_running_trial_is_stale_when_its_local_owner_is_gone_or_its_heartbeat_is_old() {
        let host = owner::host_name();
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id().to_string();
        child.wait().expect("wait");
        let alive = std::process::id().to_string();
        let now = 10_000_000;
        let minute = Duration::from_secs(60);
        let parent = run_with(
            RunStatus::Running,
            &[
                (tags::ROLE, tags::ROLE_PARENT),
                (tags::HEARTBEAT, "9990000"),
            ],
            1,
        );
        let runs: HashMap<&str, &Run> = [("r1", &parent)].into_iter().collect();
        let trial = |owner_host: &str, pid: &str| {
            run_with(
                RunStatus::Running,
                &[
                    (tags::OWNER_HOST, owner_host),
                    (tags::OWNER_PID, pid),
                    (mlflow_tags::PARENT_RUN_ID, "r1"),
                ],
                2,
            )
        };
        assert!(stale(&trial(&host, &dead), &runs, &host, minute, now));
        // Our own pid counts as alive; the parent's heartbeat is 10 s old: fresh.
        assert!(!stale(&trial(&host, &alive), &runs, &host, minute, now));
        assert!(!stale(
            &trial("elsewhere", &dead),
            &runs,
            &host,
            minute,
            now
        ));
        // An hour later the heartbeat is old, wherever the owner ran.
        let later = now + 3_600_000;
        assert!(stale(
            &trial("elsewhere", &dead),
            &runs,
            &host,
            minute,
            later
        ));
        // Without a parent to read, the run's own start time is the last sign of life.
        let orphan = run_with(RunStatus::Running, &[], now - 1000);
        assert!(!stale(&orphan, &HashMap::new(), &host, minute, now));
        assert!(stale(&orphan, &HashMap::new(), &host, minute, later));
    }

    /// A plan of three linear SVM trials (C = 1, 2, 3) on fwaf.
    fn three_trials() -> (SweepSpec, SweepPlan) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("base.toml"),
            "name = \"base\"\n[data]\ndataset = \"fwaf\"\n[model]\nkind = \"linear_svm\"\n",
        )
        .expect("write base");
        let path = dir.path().join("grid.toml");
        std::fs::write(
            &path,
            "base = \"base.toml\"\n[objective]\nmetric = \"final_valid_f1\"\n\
             [[search.space]]\n[search.space.grid]\n\"model.c\" = [1.0, 2.0, 3.0]\n",
        )
        .expect("write sweep");
        let spec = SweepSpec::from_file(&path).expect("spec");
        let catalog = vigie_data::Catalog::builtin().expect("catalog");
        let plan = spec.plan(&catalog).expect("plan");
        (spec, plan)
    }

    fn trial_run(trial_id: &str, status: RunStatus, value: f64, start: i64) -> Run {
        let mut run = run_with(
            status,
            &[(tags::ROLE, tags::ROLE_TRIAL), (tags::TRIAL_ID, trial_id)],
            start,
        );
        run.data.metrics = vec![Metric::new("final_valid_f1", value, 0)];
        run
    }

    #[test]
    fn a_sweep_ranks_each_trials_latest_finished_run_or_the_row_this_invocation_published() {
        let (spec, plan) = three_trials();
        let [first, second, third] = [0, 1, 2].map(|i| plan.trials[i].id.clone());
        let runs = vec![
            // The first trial finished twice: the later run counts.
            trial_run(&first, RunStatus::Finished, 0.5, 10),
            trial_run(&first, RunStatus::Finished, 0.7, 20),
            // The second failed before; this invocation published it.
            trial_run(&second, RunStatus::Failed, 0.99, 30),
            trial_run(&third, RunStatus::Finished, 0.8, 40),
            // Another sweep's trial, and a running one: not ranked.
            trial_run("not-in-the-plan", RunStatus::Finished, 1.0, 50),
            trial_run(&third, RunStatus::Running, 0.95, 60),
        ];
        let published = StoredTrial {
            row: LeaderboardRow::of_finished(
                "published-run",
                "grid-002",
                "linear_svm",
                Some(&second),
                "model.c=2.0",
                &[("final_valid_f1".to_owned(), 0.9)],
                "final_valid_f1",
            ),
            logged_model_id: Some("m-1".to_owned()),
        };
        let by_index = BTreeMap::from([(plan.trials[1].index, &published)]);
        let board = rank_trials(&spec, &plan, &runs, &by_index);
        let ranked: Vec<(&str, f64)> = board
            .rows
            .iter()
            .map(|row| (row.run_id.as_str(), row.value))
            .collect();
        assert_eq!(ranked, [("published-run", 0.9), ("r40", 0.8), ("r20", 0.7)]);
        assert!(
            board.title.contains("3 of 3 trials finished"),
            "{}",
            board.title
        );
        // Read back from the store alone, the second trial has no finished run.
        let read_back = rank_trials(&spec, &plan, &runs, &BTreeMap::new());
        assert_eq!(read_back.rows.len(), 2);
        assert_eq!(read_back.best().map(|row| row.run_id.as_str()), Some("r40"));
    }

    #[test]
    fn finished_or_pruned_trials_are_done_and_failed_ones_run_again() {
        let never_stale = |_: &Run| false;
        let always_stale = |_: &Run| true;
        let finished = run_with(RunStatus::Finished, &[], 1);
        let failed = run_with(RunStatus::Failed, &[], 2);
        let pruned = run_with(RunStatus::Killed, &[(tags::PRUNED, "x")], 3);
        let killed = run_with(RunStatus::Killed, &[], 4);
        let running = run_with(RunStatus::Running, &[], 5);
        assert_eq!(prior_of(&[&failed, &finished], &never_stale), Prior::Done);
        assert_eq!(prior_of(&[&pruned], &never_stale), Prior::Done);
        assert_eq!(
            prior_of(&[&failed, &killed], &never_stale),
            Prior::Run { stale: vec![] }
        );
        assert_eq!(prior_of(&[&running], &never_stale), Prior::RunningElsewhere);
        assert_eq!(
            prior_of(&[&failed, &running], &always_stale),
            Prior::Run {
                stale: vec!["r5".to_owned()]
            }
        );
        assert_eq!(prior_of(&[], &never_stale), Prior::Run { stale: vec![] });
    }
}
