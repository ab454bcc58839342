//! The errors of a run.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RunError {
    /// The config file does not parse (syntax, unknown key, wrong type).
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    /// The config parses but a value is impossible; the message names the key.
    #[error("invalid run config: {message}")]
    Invalid { message: String },

    #[error("{path}: {message}: {source}")]
    Io {
        path: PathBuf,
        message: &'static str,
        source: std::io::Error,
    },

    #[error(transparent)]
    Data(#[from] vigie_data::DataError),

    #[error(transparent)]
    Model(#[from] vigie_models::ModelError),

    #[error("tracking: {0}")]
    Tracking(#[from] vigie_mlflow::MlflowError),
}

pub type Result<T, E = RunError> = std::result::Result<T, E>;

impl RunError {
    pub fn io(path: impl Into<PathBuf>, message: &'static str, source: std::io::Error) -> Self {
        RunError::Io {
            path: path.into(),
            message,
            source,
        }
    }
}
