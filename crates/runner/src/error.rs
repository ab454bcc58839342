//! The errors of a run.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RunError {
    /// The config file does not parse (syntax, unknown key, wrong type).
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    /// A config key is unknown or has the wrong type: the key, and its line when the file
    /// holds it (not when `--set` wrote it).
    #[error("{path}{}: {error}{}", at_line(*.line), if *.from_set { " (from --set)" } else { "" })]
    ConfigKey {
        path: PathBuf,
        line: Option<usize>,
        from_set: bool,
        error: crate::config_error::KeyError,
    },

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

/// `:LINE`, or nothing.
fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!(":{line}")).unwrap_or_default()
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
