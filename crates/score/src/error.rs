//! The errors of scoring.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ScoreError {
    /// `--model` names nothing usable; the message says what was tried.
    #[error("model {reference:?}: {message}")]
    Model { reference: String, message: String },

    #[error(transparent)]
    Load(#[from] vigie_models::ModelError),

    #[error("tracking: {0}")]
    Tracking(#[from] vigie_mlflow::MlflowError),

    #[error("{path}: {message}: {source}")]
    Io {
        path: PathBuf,
        message: &'static str,
        source: std::io::Error,
    },

    /// A threshold option is impossible.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = ScoreError> = std::result::Result<T, E>;

impl ScoreError {
    pub fn model(reference: impl Into<String>, message: impl Into<String>) -> Self {
        ScoreError::Model {
            reference: reference.into(),
            message: message.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, message: &'static str, source: std::io::Error) -> Self {
        ScoreError::Io {
            path: path.into(),
            message,
            source,
        }
    }
}
