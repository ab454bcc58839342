//! The one error type of the client. Every variant says which request, argument or file it is
//! about; none ever carries a credential (the base URL is stored without user info and the
//! `Authorization` header is never echoed).

use std::path::PathBuf;

use reqwest::StatusCode;

/// Error code the server returns for an unknown experiment, run, model, artifact...
pub const RESOURCE_DOES_NOT_EXIST: &str = "RESOURCE_DOES_NOT_EXIST";
/// Error code the server returns when a name is already taken (experiment, registered model).
pub const RESOURCE_ALREADY_EXISTS: &str = "RESOURCE_ALREADY_EXISTS";
/// Error code the server returns for a rejected argument (bad filter, param overwrite...).
pub const INVALID_PARAMETER_VALUE: &str = "INVALID_PARAMETER_VALUE";

/// Longest server message kept in [`MlflowError::Api`]: enough for the SQL error MLflow embeds
/// in some messages, not a whole HTML error page.
const MAX_MESSAGE_CHARS: usize = 2000;

/// Everything that can go wrong when talking to an MLflow tracking server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MlflowError {
    /// The server answered with an HTTP error. `error_code` is MLflow's code
    /// (`RESOURCE_DOES_NOT_EXIST`, ...) when the body was MLflow's JSON error; it is `None` for
    /// plain-text answers such as the security middleware's 403 `Invalid Host header`.
    #[error("{endpoint}: HTTP {status}{}: {message}", fmt_code(.error_code))]
    Api {
        /// Method and URL of the request, e.g. `POST http://127.0.0.1:5055/api/2.0/mlflow/runs/create`.
        endpoint: String,
        /// HTTP status of the final answer (after retries).
        status: StatusCode,
        /// MLflow's `error_code`, if the body carried one.
        error_code: Option<String>,
        /// MLflow's `message`, or the start of the plain-text body.
        message: String,
    },
    /// The request could not be sent or its answer not read (connection refused, timeout, TLS...),
    /// after the configured retries.
    #[error("{endpoint}: {source}")]
    Transport {
        /// Method and URL of the request.
        endpoint: String,
        /// What reqwest reported.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered 2xx with a body that is not the JSON this client expects.
    #[error("{endpoint}: unexpected response body: {source}")]
    Decode {
        /// Method and URL of the request.
        endpoint: String,
        /// Why the body did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// An argument was refused before anything was sent: a key too long, a param value over the
    /// server's limit (the server would silently cut it), a malformed URI, an invalid setting...
    #[error("invalid {what}: {message}")]
    InvalidArgument {
        /// Which argument, setting or environment variable.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// A local file or directory could not be read or written (artifact upload or download).
    #[error("{}: {source}", path.display())]
    Io {
        /// The local path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A run journal could not be read: a line that is not a journal record (`line`, 1-based),
    /// or a file that is not a journal at all (`line` is `None`).
    #[error("{}{}: {message}", path.display(), fmt_line(.line))]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// The offending line, 1-based.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

fn fmt_line(line: &Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

fn fmt_code(code: &Option<String>) -> String {
    code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
}

impl MlflowError {
    /// MLflow's error code, for [`MlflowError::Api`] errors that carried one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            MlflowError::Api { error_code, .. } => error_code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, for [`MlflowError::Api`] errors.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            MlflowError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the server said the resource does not exist (`RESOURCE_DOES_NOT_EXIST`, or a
    /// bare 404 without an MLflow body).
    pub fn is_not_found(&self) -> bool {
        match self {
            MlflowError::Api {
                status, error_code, ..
            } => match error_code.as_deref() {
                Some(code) => code == RESOURCE_DOES_NOT_EXIST,
                None => *status == StatusCode::NOT_FOUND,
            },
            _ => false,
        }
    }

    /// True when the server refused to create something whose name is taken.
    pub fn is_already_exists(&self) -> bool {
        self.error_code() == Some(RESOURCE_ALREADY_EXISTS)
    }

    pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        MlflowError::InvalidArgument {
            what: what.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MlflowError::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds the error for a non-2xx answer from its status and body.
    pub(crate) fn from_response(endpoint: String, status: StatusCode, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            error_code: Option<String>,
            message: Option<String>,
        }
        let parsed = serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .filter(|b| b.error_code.is_some() || b.message.is_some());
        let (error_code, message) = match parsed {
            Some(b) => (b.error_code, b.message.unwrap_or_default()),
            None => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                let message = if text.is_empty() {
                    status.canonical_reason().unwrap_or("no body").to_string()
                } else {
                    text.to_string()
                };
                (None, message)
            }
        };
        MlflowError::Api {
            endpoint,
            status,
            error_code,
            message: truncate_chars(&message, MAX_MESSAGE_CHARS),
        }
    }
}

/// Cuts `text` to at most `max` characters, marking the cut; used for messages only, never for
/// data sent to the server.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}… ({} chars)", &text[..cut], text.chars().count()),
        None => text.to_string(),
    }
}

/// Result alias of this crate.
pub type Result<T, E = MlflowError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINT: &str = "GET http://127.0.0.1:5055/api/2.0/mlflow/runs/get?run_id=0000";

    #[test]
    fn mlflow_json_error_is_parsed() {
        let body = include_bytes!("../tests/fixtures/error_run_not_found.json");
        let err = MlflowError::from_response(ENDPOINT.into(), StatusCode::NOT_FOUND, body);
        assert_eq!(err.error_code(), Some(RESOURCE_DOES_NOT_EXIST));
        assert!(err.is_not_found());
        assert!(!err.is_already_exists());
        assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
        assert_eq!(
            err.to_string(),
            format!(
                "{ENDPOINT}: HTTP 404 Not Found RESOURCE_DOES_NOT_EXIST: Run with id=0000 not found"
            )
        );
    }

    #[test]
    fn already_exists_is_recognised() {
        let body = br#"{"error_code": "RESOURCE_ALREADY_EXISTS", "message": "Experiment 'x' already exists."}"#;
        let err = MlflowError::from_response(ENDPOINT.into(), StatusCode::BAD_REQUEST, body);
        assert!(err.is_already_exists());
        assert!(!err.is_not_found());
    }

    #[test]
    fn plain_text_body_becomes_the_message() {
        let body = b"Invalid Host header - possible DNS rebinding attack detected";
        let err = MlflowError::from_response(ENDPOINT.into(), StatusCode::FORBIDDEN, body);
        assert_eq!(err.error_code(), None);
        assert!(!err.is_not_found());
        let MlflowError::Api { message, .. } = &err else {
            panic!("not an Api error: {err:?}");
        };
        assert_eq!(
            message,
            "Invalid Host header - possible DNS rebinding attack detected"
        );
        assert!(
            err.to_string()
                .contains("HTTP 403 Forbidden: Invalid Host header")
        );
    }

    #[test]
    fn bare_404_counts_as_not_found_and_empty_body_uses_reason() {
        let err = MlflowError::from_response(ENDPOINT.into(), StatusCode::NOT_FOUND, b"");
        assert!(err.is_not_found());
        assert!(err.to_string().ends_with("HTTP 404 Not Found: Not Found"));
    }

    #[test]
    fn json_without_mlflow_fields_is_kept_as_text() {
        let err = MlflowError::from_response(
            ENDPOINT.into(),
            StatusCode::BAD_GATEWAY,
            br#"{"detail": "x"}"#,
        );
        assert_eq!(err.error_code(), None);
        assert!(err.to_string().contains(r#"{"detail": "x"}"#));
    }

    #[test]
    fn long_bodies_are_cut_in_messages() {
        let body = "x".repeat(5000);
        let err =
            MlflowError::from_response(ENDPOINT.into(), StatusCode::BAD_GATEWAY, body.as_bytes());
        let text = err.to_string();
        assert!(text.len() < 2200, "{}", text.len());
        assert!(text.ends_with("… (5000 chars)"));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 10), "héllo");
        assert_eq!(truncate_chars("héllo", 2), "hé… (5 chars)");
    }
}
