//! The errors of a sweep.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SweepError {
    /// The sweep file does not parse or a value in it is impossible; the message names the key.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },

    /// A value given on the command line (a shard, a run id) is impossible.
    #[error("{0}")]
    Invalid(String),

    #[error("{path}: {message}: {source}")]
    Io {
        path: PathBuf,
        message: &'static str,
        source: std::io::Error,
    },

    #[error(transparent)]
    Run(#[from] vigie_runner::RunError),

    #[error("tracking: {0}")]
    Tracking(#[from] vigie_mlflow::MlflowError),
}

pub type Result<T, E = SweepError> = std::result::Result<T, E>;

impl SweepError {
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        SweepError::File {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, message: &'static str, source: std::io::Error) -> Self {
        SweepError::Io {
            path: path.into(),
            message,
            source,
        }
    }
}
