//! Sweeps: a sweep file (`experiments/*.toml`) expanded into trials, each a run config, run in
//! parallel as child runs of one MLflow parent run, resumable and shardable.
//!
//! [`spec`] parses and checks a sweep file and expands its search space (grid or random) into
//! trials, each identified by the hash of its resolved config. [`run`] runs them through
//! `vigie_runner::Training` (skipping those already finished in the tracking store),
//! ranks them in a [`leaderboard`] and crowns the best one [`champion`]. [`reproduce`] trains a
//! logged run again from its config and compares the metrics.

pub mod champion;
pub mod error;
pub mod leaderboard;
pub mod owner;
pub mod reproduce;
pub mod run;
pub mod spec;
pub mod tags;

pub use error::{Result, SweepError};
pub use leaderboard::{Leaderboard, LeaderboardRow, RunFilter};
pub use run::{
    NoProgress, PlanSummary, SweepOptions, SweepOutcome, SweepProgress, TrialResult, run_sweep,
};
pub use spec::{Direction, Shard, SweepPlan, SweepSpec, Trial};
