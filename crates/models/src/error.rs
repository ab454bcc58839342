//! The one error type of the model zoo.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Everything that can go wrong while configuring, training, saving, loading or scoring a model.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A hyperparameter or option is out of range; `field` is its dotted config key.
    #[error("invalid value for `{field}`: {message}")]
    InvalidConfig { field: String, message: String },

    /// The training data cannot train this model (e.g. one class missing, empty split).
    #[error("cannot train on this data: {0}")]
    Data(String),

    /// Training failed (diverged, backend error).
    #[error("training failed: {0}")]
    Training(String),

    #[error("{path}: {message}: {source}")]
    Io {
        path: PathBuf,
        message: &'static str,
        source: std::io::Error,
    },

    /// A saved model is malformed, from an unknown format version, or fails its checksum.
    #[error("{path}: {message}")]
    Artifact { path: PathBuf, message: String },

    #[error(transparent)]
    Text(#[from] vigie_data::text::TextError),

    /// Training stopped early because the observer asked it to (Ctrl-C, a sweep's pruning rule).
    #[error("training stopped: {0}")]
    Stopped(String),

    #[error("cannot draw {path}: {message}")]
    Plot { path: PathBuf, message: String },
}

impl ModelError {
    pub fn io(path: &Path, message: &'static str, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.to_owned(),
            message,
            source,
        }
    }

    pub fn artifact(path: &Path, message: impl Into<String>) -> Self {
        ModelError::Artifact {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::InvalidConfig {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
