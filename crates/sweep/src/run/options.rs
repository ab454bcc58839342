//! What the caller hands a sweep besides its file: the options of this invocation and where
//! its progress is shown.

use std::path::PathBuf;
use std::time::Duration;

use vigie_models::TrainObserver;

use super::outcome::{PlanSummary, TrialResult};
use crate::spec::{Shard, Trial};

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
