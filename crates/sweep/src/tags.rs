//! The tags a sweep puts on its runs: how resume finds its trials and how the leaderboard and
//! the MLflow UI tell parents from trials.

/// The sweep's name, on the parent and on every trial.
pub const SWEEP: &str = "vigie.sweep";
/// `parent` or `trial`.
pub const ROLE: &str = "vigie.sweep_role";
pub const ROLE_PARENT: &str = "parent";
pub const ROLE_TRIAL: &str = "trial";
/// `I/N`, or `all` for an unsharded sweep (on the parent and on its trials).
pub const SHARD: &str = "vigie.shard";
/// The hash of the trial's resolved config: a trial's identity across runs, resumes and shards.
pub const TRIAL_ID: &str = "vigie.trial_id";
/// The trial's position in the sweep's plan (from 1).
pub const TRIAL_INDEX: &str = "vigie.trial_index";
/// What the trial changed from the base config (`model.c=5.0 …`).
pub const OVERRIDES: &str = "vigie.trial_overrides";
/// One attempt at a trial (unique per process and trial), to find the run an attempt created.
pub const ATTEMPT: &str = "vigie.trial_attempt";
/// The host and process id that ran (or runs) the run.
pub const OWNER_HOST: &str = "vigie.owner_host";
pub const OWNER_PID: &str = "vigie.owner_pid";
/// On a parent run: the last time (ms) its process was alive.
pub const HEARTBEAT: &str = "vigie.heartbeat_ms";
/// On a KILLED trial stopped by the pruning rule: why (resume does not rerun it).
pub const PRUNED: &str = "vigie.pruned";
/// On a trial whose model was registered by the champion step: `NAME/VERSION`.
pub const REGISTERED_VERSION: &str = "vigie.registered_version";
/// On a parent: the best trial's run id.
pub const BEST_RUN: &str = "vigie.best_run_id";
/// On a model version: the champion decision and what it was compared with.
pub const CHAMPION_DECISION: &str = "vigie.champion_decision";
pub const CHAMPION_METRIC: &str = "vigie.champion_metric";
pub const CHAMPION_VALUE: &str = "vigie.champion_value";
pub const PREVIOUS_CHAMPION: &str = "vigie.previous_champion";
/// On a model version: the dismissed alarms its model raises again and the confirmed attacks
/// it lets through, when its run was measured on analysts' feedback.
pub const FEEDBACK_FALSE_ALARMS: &str = "vigie.feedback_false_alarms";
pub const FEEDBACK_MISSED: &str = "vigie.feedback_missed";
/// On a reproduction run: the run it reproduces.
pub const REPRODUCES: &str = "vigie.reproduces";
