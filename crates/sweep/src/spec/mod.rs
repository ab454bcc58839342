//! The sweep file (`experiments/*.toml`): a base run config, the objective, a search space of
//! overrides (grid or random), pruning; [`SweepSpec::from_file`] parses and checks it, naming
//! any offending key as a dotted path, and [`SweepSpec::plan`] expands it into [`Trial`]s, each
//! a complete, validated [`RunConfig`](vigie_runner::RunConfig) identified by [`trial_id`], so
//! that a wrong override path fails before any trial runs.
//!
//! `types.rs` holds the file's types, `parse.rs` reads them (through `table.rs`, which names
//! keys as dotted paths), `expand.rs` turns the search space into the plan's trials,
//! `trial_id.rs` gives each its identity, `space_json.rs` writes the space logged with the
//! sweep, `shard.rs` splits a plan between processes, and `template.rs` writes the commented
//! sweep file of `vigie config template sweep`.
//!
//! Key order: the workspace's `toml` does not enable `preserve_order`, so keys are not kept in
//! the order written; every list of overrides is sorted by its dotted path instead (explicitly,
//! so enabling the feature elsewhere changes nothing). A grid is the cartesian product of its
//! lists in that order, the last key varying fastest.

mod expand;
mod parse;
mod shard;
mod space_json;
mod table;
mod template;
#[cfg(test)]
mod test_sweeps;
mod trial_id;
mod types;

pub use expand::{SweepPlan, Trial};
pub use shard::Shard;
pub use template::sweep_template;
pub use trial_id::{trial_id, trial_id_with_feedback};
pub use types::{
    DEFAULT_OBJECTIVE_METRIC, DEFAULT_PRUNING_MIN_FINISHED, DEFAULT_STALE_AFTER_MINUTES, Direction,
    Distribution, FeedbackAllowance, MAX_TRIALS, Objective, Pruning, SearchSpec, Strategy,
    Subspace, SweepSpec,
};
