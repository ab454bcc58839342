//! Robustness under attack: how many of the attacks a Vigie model flags still pass once an
//! attacker rewrites them without changing what they do.
//!
//! [`operators`] holds the rewrites (SQL keyword case, separators, comments, integer and
//! operator spellings, logical invariants, double percent-encoding, padding with ordinary words;
//! tag and attribute spelling for XSS), each meaning-preserving and applied only to payloads of
//! its language, inside their injected values ([`spans`]). [`search`] runs the greedy (or beam)
//! search on a model's score, one batch per round, deterministic for a seed. [`report`] writes
//! the evading payloads as JSON Lines and the chart of evasion against rounds. [`variants`]
//! draws random operator chains without a model, for training data. The `vigie attack`
//! command (crates/cli) resolves the model, reads the payloads and logs the search as an MLflow
//! run.

pub mod error;
pub mod operators;
pub mod report;
pub mod search;
pub mod spans;
pub mod variants;

pub use error::{AttackError, Result};
pub use operators::{Operator, Scope};
pub use search::{
    AttackOutcome, DecodedTarget, FamilyStats, OperatorUse, Payload, PayloadOutcome, RoundStats,
    SearchConfig, Target, as_scored, keep_families, run_search,
};
pub use variants::random_variant;
