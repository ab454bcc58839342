//! The one error type of `vigie-data`: every variant names the file (and line) it is about.

use std::path::PathBuf;

/// Everything that can go wrong while reading, preparing or describing a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A file could not be opened or read (permissions, truncated gzip stream, ...).
    #[error("{path}: {context}: {source}")]
    Io {
        path: PathBuf,
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A dataset file is absent from the data dir; `hint` says how to get it.
    #[error("{path}: file not found. {hint}")]
    MissingFile { path: PathBuf, hint: String },
    /// A record could not be parsed; `line` is 1-based.
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// A dataset definition (TOML) is malformed or inconsistent.
    #[error("{path}: invalid dataset definition: {message}")]
    Definition { path: PathBuf, message: String },
    /// No definition has this name.
    #[error("unknown dataset {name:?} (known: {known})")]
    UnknownDataset { name: String, known: String },
    /// A file held no request at all.
    #[error("{path}: no requests found (empty file?)")]
    Empty { path: PathBuf },
    /// A downloaded or local file does not have the checksum its definition states.
    #[error("{path}: checksum mismatch: expected {kind} {expected}, found {actual}")]
    Checksum {
        path: PathBuf,
        kind: &'static str,
        expected: String,
        actual: String,
    },
    /// Split fractions or other preparation options are invalid.
    #[error("invalid {field}: {message}")]
    InvalidOption {
        field: &'static str,
        message: String,
    },
    /// Tokeniser or vectoriser configuration errors.
    #[error(transparent)]
    Text(#[from] crate::text::TextError),
    /// A feedback file would contradict itself (a request given two verdicts).
    #[error("{path}: {message}")]
    FeedbackConflict { path: PathBuf, message: String },
    /// Writing a table or a chart failed.
    #[error("{path}: cannot write report: {message}")]
    Report { path: PathBuf, message: String },
}

impl DataError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        context: impl Into<String>,
        source: std::io::Error,
    ) -> Self {
        DataError::Io {
            path: path.into(),
            context: context.into(),
            source,
        }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, line: u64, message: impl Into<String>) -> Self {
        DataError::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
