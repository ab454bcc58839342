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
//!    `cores / parallel` threads of its own. Networks log live (`vigie_runner::Training::logged`:
//!    their curves show in the UI while they train, and their epochs dwarf the tracking calls);
//!    the other families train without the store (`Training::deferred`) and a
//!    publisher thread sends each finished trial while the workers go on with the next ones
//!    (the last trials forward their epochs to it as they train, and the best trial so far
//!    is crowned meanwhile, so that the sweep's end waits for little);
//! 4. rank every finished trial of the sweep (all shards) into a leaderboard, log it on the
//!    parent, and crown the best trial's model champion when it beats the current one.
//!
//! Ctrl-C (the `stop` flag) stops handing out trials and stops running networks at their next
//! batch (their runs end KILLED); a SIGKILL leaves RUNNING runs that step 1 repairs.
//!
//! This file holds the flow, each step a named function; the others one job each:
//! `options.rs` and `outcome.rs` what goes in and comes out, `store.rs` the store (or its
//! offline fallback), `resume.rs` step 1's rules, `parent.rs` the parent run, `data.rs` the
//! datasets' loading, `pool.rs` the workers (where a trial is scheduled), `trial.rs` one trial,
//! `publish.rs` the publisher, `heartbeat.rs` the parent's heartbeat, `prune.rs` the pruning
//! rule, `rank.rs` and `crown.rs` step 4, `timing.rs` the tracking time's accounts.

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
use std::time::Instant;

use vigie_mlflow::DefaultStore;
use vigie_runner::config::DataSource;

use crate::error::{Result, SweepError};
use crate::owner;
use crate::spec::{Shard, SweepPlan, SweepSpec, Trial};
use crown::{crown_so_far, early_registry, upload_and_crown};
use data::DataLoader;
use outcome::failed_count;
use parent::{ParentTotals, fail_parent, finish_parent, log_plan_beside_trials, open_parent};
use pool::{EarlyCrown, TrialsRun, run_trials};
use prune::load_pruner;
use rank::{published_trials, rank_sweep, seen_whole_sweep, write_leaderboard};
use resume::{
    Prior, Staleness, SweepRuns, end_stale_runs, priors_of, sync_pending_journals, trials_to_run,
};
use store::{on_offline_store, reachable_store};
use timing::TrackingClock;
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
    let mut waited = TrackingClock::default();
    let (store, offline_store) = reachable_store(spec, options)?;
    let options = &on_offline_store(options, offline_store.as_deref());
    let host = owner::host_name();
    let (shard_label, selected) = this_shard(plan, options.shard.as_ref());
    // The data loads while the store is read and the parent opened.
    let loader = DataLoader::spawn(&selected, source);

    // 1 and 2: where each trial stands, the parent run, the stale runs ended.
    let killed_by_sync = waited.time(|| sync_pending_journals(&store, &options.journal_root));
    let found = waited.time(|| SweepRuns::read(&store, spec))?;
    let staleness = Staleness::new(&found.runs, &host, spec.stale_after_minutes);
    let priors = priors_of(&selected, &found.runs, &staleness);
    let parent_run_id =
        waited.time(|| open_parent(&store, spec, plan, &found, &shard_label, &staleness, &host))?;
    let stale = waited.time(|| end_stale_runs(&store, &priors, &host))?
        + found.trials_among(&killed_by_sync);
    let to_run = trials_to_run(&priors);
    let summary = plan_summary(spec, plan, options, &selected, &priors, stale, to_run.len());
    progress.planned(&summary);
    let pruner = waited.time(|| load_pruner(spec, &store, &found.runs))?;

    // 3: the trials, once their data is ready.
    let sweep = Sweep {
        spec,
        plan,
        options,
        store: &store,
        progress,
        parent_run_id: &parent_run_id,
        found: &found,
        source,
    };
    let ctx = TrialContext {
        spec,
        options,
        stop,
        progress,
        pruner: pruner.as_ref(),
        parent_run_id: &parent_run_id,
        experiment_id: &found.experiment_id,
        shard_label: &shard_label,
        host: &host,
        threads_per_trial: summary.threads_per_trial,
        source,
    };
    let trials = train_trials(
        &sweep,
        &ctx,
        &to_run,
        loader,
        &summary,
        &mut waited,
        started,
    )
    .inspect_err(|error| fail_parent(&store, &parent_run_id, error))?;
    let interrupted = stop.load(Ordering::SeqCst);

    // 4: the whole sweep ranked, the champion crowned, the parent ended.
    let published = published_trials(&trials.results);
    let whole = seen_whole_sweep(options, &summary, &trials.results);
    let leaderboard = rank_sweep(&sweep, &published, whole, &mut waited)?;
    let files = write_leaderboard(&options.out_dir, &leaderboard)?;
    let early = trials.early_decision;
    let champion = waited
        .time(|| upload_and_crown(&sweep, &files, &leaderboard, early, interrupted, &published))?;
    if let Some(decision) = &champion {
        progress.note(&decision.summary());
    }
    let totals = ParentTotals {
        trials_planned: plan.trials.len(),
        trials_failed: failed_count(&trials.results),
        interrupted,
        tracking_seconds: trials
            .tracking
            .waited_seconds(waited.total(), summary.parallel),
        wall_seconds: started.elapsed().as_secs_f64(),
        tracking_background_seconds: trials.tracking.background,
    };
    waited.time(|| finish_parent(&store, spec, &parent_run_id, &leaderboard, &totals))?;
    tracing::debug!(parent_total = waited.total().as_secs_f64(), "tracking time");
    let tracking_seconds = trials
        .tracking
        .waited_seconds(waited.total(), summary.parallel);
    // The whole invocation, the parent's last calls included (a resume with nothing left to
    // run is almost only those).
    let wall_seconds = started.elapsed().as_secs_f64();

    Ok(SweepOutcome {
        sweep: spec.name.clone(),
        experiment: spec.experiment.clone(),
        parent_run_id,
        shard: shard_label,
        summary,
        results: trials.results,
        leaderboard,
        champion,
        interrupted,
        wall_seconds,
        tracking_seconds,
        tracking_overhead_pct: overhead_pct(tracking_seconds, wall_seconds),
        tracking_background_seconds: trials.tracking.background,
        out_dir: options.out_dir.clone(),
        offline_store,
    })
}

/// This shard's label (`I/N`, or `all`) and its trials, in plan order.
fn this_shard<'p>(plan: &'p SweepPlan, shard: Option<&Shard>) -> (String, Vec<&'p Trial>) {
    match shard {
        Some(shard) => (shard.to_string(), shard.select(&plan.trials)),
        None => ("all".to_owned(), plan.trials.iter().collect()),
    }
}

/// What the steps of one invocation share once its parent run is open.
struct Sweep<'a> {
    spec: &'a SweepSpec,
    plan: &'a SweepPlan,
    options: &'a SweepOptions,
    store: &'a DefaultStore,
    progress: &'a dyn SweepProgress,
    parent_run_id: &'a str,
    /// The sweep's runs as read at the start.
    found: &'a SweepRuns,
    /// The catalog and data dir (the champion is measured on the trials' feedback).
    source: &'a DataSource,
}

/// The plan by state, and how many trials run at once: `max_parallel` (the option, else the
/// file's), else one per core, never more than there are trials to run; each trial gets an
/// equal share of the cores.
fn plan_summary(
    spec: &SweepSpec,
    plan: &SweepPlan,
    options: &SweepOptions,
    selected: &[&Trial],
    priors: &[(&Trial, Prior)],
    stale: usize,
    to_run: usize,
) -> PlanSummary {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let parallel = options
        .max_parallel
        .or(spec.max_parallel)
        .unwrap_or(cores)
        .clamp(1, to_run.max(1));
    let count = |state: &Prior| priors.iter().filter(|(_, p)| p == state).count();
    PlanSummary {
        planned: plan.trials.len(),
        in_shard: selected.len(),
        done: count(&Prior::Done),
        running_elsewhere: count(&Prior::RunningElsewhere),
        stale,
        to_run,
        parallel,
        threads_per_trial: (cores / parallel).max(1),
    }
}

/// Step 3: waits for the data (not at all when nothing is left to run: the loader then
/// finishes in the background), then runs the trials, while the plan's files go up and, when
/// this invocation sees the whole sweep, the best trial so far is crowned as the last train.
fn train_trials(
    sweep: &Sweep<'_>,
    ctx: &TrialContext<'_>,
    to_run: &[&Trial],
    loader: DataLoader,
    summary: &PlanSummary,
    waited: &mut TrackingClock,
    started: Instant,
) -> Result<TrialsRun> {
    let log_plan = |out: &Path| log_plan_beside_trials(sweep, out);
    let registry = early_registry(sweep, summary);
    let crown_early =
        |published: &BTreeMap<usize, &StoredTrial>| crown_so_far(sweep, registry?, published);
    let early_crown: Option<&EarlyCrown<'_>> = registry.is_some().then_some(&crown_early);
    // Trials start once the data is ready: the store's calls so far were waited on only for
    // as long as they outlasted the loading.
    let main_ready = Instant::now();
    let (datasets, data_ready) = if to_run.is_empty() {
        (HashMap::new(), started)
    } else {
        loader.wait(sweep.progress)?
    };
    waited.overlap_with_loading(main_ready, data_ready);
    let trials = run_trials(
        ctx,
        to_run,
        &datasets,
        summary.parallel,
        &log_plan,
        early_crown,
    )?;
    tracing::debug!(
        parent_before_trials = waited.total().as_secs_f64(),
        on_workers = trials.tracking.on_workers,
        drain = trials.tracking.drain,
        background = trials.tracking.background,
        "tracking time"
    );
    Ok(trials)
}

/// Locks `mutex`, taking it over when a panicking thread poisoned it: the results and
/// timings it guards stay usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes a file of the sweep's folder, naming it in the error.
fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| SweepError::io(path, "cannot write", e))
}
