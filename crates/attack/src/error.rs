//! The errors of an evasion search and of writing its results.

use std::path::PathBuf;

pub type Result<T, E = AttackError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// A search setting out of range (rounds, candidates, beam width, operators).
    #[error("invalid search setting: {0}")]
    Invalid(String),
    /// The model returned another number of scores than texts it was given.
    #[error("the model returned {got} scores for {expected} texts")]
    ScoreCount { expected: usize, got: usize },
    /// An operator name that does not exist.
    #[error("unknown operator {name:?} (expected one of: {known})")]
    UnknownOperator { name: String, known: String },
    #[error("{message} {path}: {source}")]
    Io {
        path: PathBuf,
        message: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("drawing the chart {path}: {message}")]
    Plot { path: PathBuf, message: String },
}

impl AttackError {
    pub fn io(path: impl Into<PathBuf>, message: &'static str, source: std::io::Error) -> Self {
        AttackError::Io {
            path: path.into(),
            message,
            source,
        }
    }
}
