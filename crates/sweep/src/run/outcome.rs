//! What a sweep invocation reports: its plan by state, each trial's result, the outcome.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::champion::ChampionDecision;
use crate::leaderboard::{Leaderboard, LeaderboardRow};

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

impl SweepOutcome {
    pub fn failed(&self) -> usize {
        failed_count(&self.results)
    }
}

/// How many of `results` failed.
pub(super) fn failed_count(results: &BTreeMap<usize, TrialResult>) -> usize {
    results
        .values()
        .filter(|r| matches!(r, TrialResult::Failed { .. }))
        .count()
}
