//! Where the tracking server is and how to talk to it: [`TrackingConfig`], read from the same
//! environment variables as MLflow's Python client or built in code.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

use crate::error::{MlflowError, Result};

/// Tracking server URI (`http://` or `https://`; no default: a local sqlite store is not a server).
pub const ENV_TRACKING_URI: &str = "MLFLOW_TRACKING_URI";
/// Basic-auth user name (with [`ENV_TRACKING_PASSWORD`]; wins over [`ENV_TRACKING_TOKEN`]).
pub const ENV_TRACKING_USERNAME: &str = "MLFLOW_TRACKING_USERNAME";
/// Basic-auth password.
pub const ENV_TRACKING_PASSWORD: &str = "MLFLOW_TRACKING_PASSWORD";
/// Bearer token.
pub const ENV_TRACKING_TOKEN: &str = "MLFLOW_TRACKING_TOKEN";
/// `true`/`1` accepts any TLS certificate (self-signed servers). Default false.
pub const ENV_TRACKING_INSECURE_TLS: &str = "MLFLOW_TRACKING_INSECURE_TLS";
/// Retries after the first attempt on connection errors, timeouts, 429 and 5xx. Default 7.
pub const ENV_MAX_RETRIES: &str = "MLFLOW_HTTP_REQUEST_MAX_RETRIES";
/// Seconds; the n-th retry waits up to `factor * 2^n` (capped). Default 2.
pub const ENV_BACKOFF_FACTOR: &str = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR";
/// Seconds a whole request may take. Default 120.
pub const ENV_REQUEST_TIMEOUT: &str = "MLFLOW_HTTP_REQUEST_TIMEOUT";
/// Seconds an artifact upload or download may take. Default: the request timeout.
pub const ENV_ARTIFACT_TIMEOUT: &str = "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT";
/// Experiment a trainer should log to, when it is not told otherwise.
pub const ENV_EXPERIMENT_NAME: &str = "MLFLOW_EXPERIMENT_NAME";

/// Variables the Python client knows that this client does not implement: they are reported
/// with a warning rather than silently ignored.
const UNSUPPORTED_ENV: [&str; 3] = [
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "MLFLOW_TRACKING_AUTH",
];

const DEFAULT_MAX_RETRIES: u32 = 7;
const DEFAULT_BACKOFF_FACTOR_SECS: f64 = 2.0;
/// Longest single wait between retries (urllib3's default maximum backoff, which the Python
/// client inherits).
const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(120);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

const REDACTED: &str = "<redacted>";

/// How requests authenticate. `Debug` shows only which kind: no user name, password or token.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Basic ...`.
    Basic {
        /// User name.
        username: String,
        /// Password (never shown).
        password: String,
    },
    /// `Authorization: Bearer ...`.
    Bearer {
        /// Token (never shown).
        token: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { .. } => f
                .debug_struct("Basic")
                .field("username", &REDACTED)
                .field("password", &REDACTED)
                .finish(),
            Credentials::Bearer { .. } => {
                f.debug_struct("Bearer").field("token", &REDACTED).finish()
            }
        }
    }
}

/// Everything [`crate::MlflowClient`] needs to reach a tracking server.
///
/// Build it from the environment ([`TrackingConfig::from_env`]) like MLflow's Python client
/// does, or in code with [`TrackingConfig::builder`]. `Debug` redacts credentials.
#[derive(Clone)]
pub struct TrackingConfig {
    tracking_uri: Url,
    credentials: Option<Credentials>,
    insecure_tls: bool,
    max_retries: u32,
    backoff_factor_secs: f64,
    backoff_max: Duration,
    request_timeout: Duration,
    artifact_timeout: Option<Duration>,
    experiment_name: Option<String>,
}

impl fmt::Debug for TrackingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackingConfig")
            .field("tracking_uri", &self.tracking_uri.as_str())
            .field("credentials", &self.credentials)
            .field("insecure_tls", &self.insecure_tls)
            .field("max_retries", &self.max_retries)
            .field("backoff_factor_secs", &self.backoff_factor_secs)
            .field("backoff_max", &self.backoff_max)
            .field("request_timeout", &self.request_timeout)
            .field("artifact_timeout", &self.artifact_timeout)
            .field("experiment_name", &self.experiment_name)
            .finish()
    }
}

impl TrackingConfig {
    /// A builder for the server at `tracking_uri` (e.g. `http://127.0.0.1:5000`), with the
    /// Python client's defaults for everything else.
    pub fn builder(tracking_uri: impl Into<String>) -> TrackingConfigBuilder {
        TrackingConfigBuilder {
            tracking_uri: tracking_uri.into(),
            uri_origin: "",
            credentials: None,
            insecure_tls: false,
            max_retries: DEFAULT_MAX_RETRIES,
            backoff_factor_secs: DEFAULT_BACKOFF_FACTOR_SECS,
            backoff_max: DEFAULT_BACKOFF_MAX,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            artifact_timeout: None,
            experiment_name: None,
        }
    }

    /// Reads the `MLFLOW_*` environment variables (see the `ENV_*` constants of this module).
    /// `MLFLOW_TRACKING_URI` is required; an invalid value is an
    /// [`MlflowError::InvalidArgument`] naming the variable. Empty variables count as unset.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`TrackingConfig::from_env`] with the variables looked up by `lookup` instead of the
    /// process environment (for tests, or configs kept in a file).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let uri = get(ENV_TRACKING_URI).ok_or_else(|| {
            MlflowError::invalid(
                ENV_TRACKING_URI,
                "not set: export the tracking server's URI, e.g. http://127.0.0.1:5000",
            )
        })?;
        let mut builder = TrackingConfig::builder(uri);
        builder.uri_origin = ENV_TRACKING_URI;
        let username = get(ENV_TRACKING_USERNAME);
        let password = get(ENV_TRACKING_PASSWORD);
        builder.credentials = match (username, password, get(ENV_TRACKING_TOKEN)) {
            // The Python client gives Basic auth precedence over the token.
            (Some(username), Some(password), _) => Some(Credentials::Basic { username, password }),
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(MlflowError::invalid(
                    format!("{ENV_TRACKING_USERNAME}/{ENV_TRACKING_PASSWORD}"),
                    "set both or neither",
                ));
            }
            (None, None, Some(token)) => Some(Credentials::Bearer { token }),
            (None, None, None) => None,
        };
        if let Some(value) = get(ENV_TRACKING_INSECURE_TLS) {
            builder.insecure_tls = parse_bool(ENV_TRACKING_INSECURE_TLS, &value)?;
        }
        if let Some(value) = get(ENV_MAX_RETRIES) {
            builder.max_retries = value.trim().parse().map_err(|_| {
                MlflowError::invalid(
                    ENV_MAX_RETRIES,
                    format!("{value:?} is not a non-negative integer"),
                )
            })?;
        }
        if let Some(value) = get(ENV_BACKOFF_FACTOR) {
            builder.backoff_factor_secs = parse_seconds(ENV_BACKOFF_FACTOR, &value, true)?;
        }
        if let Some(value) = get(ENV_REQUEST_TIMEOUT) {
            builder.request_timeout =
                Duration::from_secs_f64(parse_seconds(ENV_REQUEST_TIMEOUT, &value, false)?);
        }
        if let Some(value) = get(ENV_ARTIFACT_TIMEOUT) {
            builder.artifact_timeout = Some(Duration::from_secs_f64(parse_seconds(
                ENV_ARTIFACT_TIMEOUT,
                &value,
                false,
            )?));
        }
        builder.experiment_name = get(ENV_EXPERIMENT_NAME);
        for name in UNSUPPORTED_ENV {
            if get(name).is_some() {
                tracing::warn!(
                    variable = name,
                    "vigie-mlflow does not support this MLflow setting; ignored"
                );
            }
        }
        builder.build()
    }

    /// The server's base URI, without a trailing slash and without user info.
    pub fn tracking_uri(&self) -> &str {
        self.tracking_uri.as_str().trim_end_matches('/')
    }

    pub(crate) fn base_url(&self) -> &Url {
        &self.tracking_uri
    }

    /// Credentials sent with every request, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Whether TLS certificates go unchecked.
    pub fn insecure_tls(&self) -> bool {
        self.insecure_tls
    }

    /// Retries after the first attempt.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Backoff factor in seconds: retry `n` (from 0) waits a random time up to
    /// `min(backoff_max, factor * 2^n)`.
    pub fn backoff_factor_secs(&self) -> f64 {
        self.backoff_factor_secs
    }

    /// Longest wait between two attempts.
    pub fn backoff_max(&self) -> Duration {
        self.backoff_max
    }

    /// Time limit of one API request (connection, upload and answer).
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Time limit of one artifact upload or download (defaults to the request timeout).
    pub fn artifact_timeout(&self) -> Duration {
        self.artifact_timeout.unwrap_or(self.request_timeout)
    }

    /// `MLFLOW_EXPERIMENT_NAME`, for trainers that pick their experiment from the environment.
    pub fn experiment_name(&self) -> Option<&str> {
        self.experiment_name.as_deref()
    }
}

/// Builds a [`TrackingConfig`] in code; start with [`TrackingConfig::builder`].
#[derive(Debug, Clone)]
pub struct TrackingConfigBuilder {
    tracking_uri: String,
    /// Names the source of the URI in errors: the env variable or "tracking URI".
    uri_origin: &'static str,
    credentials: Option<Credentials>,
    insecure_tls: bool,
    max_retries: u32,
    backoff_factor_secs: f64,
    backoff_max: Duration,
    request_timeout: Duration,
    artifact_timeout: Option<Duration>,
    experiment_name: Option<String>,
}

impl TrackingConfigBuilder {
    /// Authenticate with `Authorization: Basic`.
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::Basic {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// Authenticate with `Authorization: Bearer`.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::Bearer {
            token: token.into(),
        });
        self
    }

    /// Accept any TLS certificate (self-signed test servers only).
    pub fn insecure_tls(mut self, insecure: bool) -> Self {
        self.insecure_tls = insecure;
        self
    }

    /// Retries after the first attempt (0 disables retrying).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Backoff factor in seconds (see [`TrackingConfig::backoff_factor_secs`]).
    pub fn backoff_factor_secs(mut self, factor: f64) -> Self {
        self.backoff_factor_secs = factor;
        self
    }

    /// Longest wait between two attempts.
    pub fn backoff_max(mut self, max: Duration) -> Self {
        self.backoff_max = max;
        self
    }

    /// Time limit of one API request.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Time limit of one artifact upload or download.
    pub fn artifact_timeout(mut self, timeout: Duration) -> Self {
        self.artifact_timeout = Some(timeout);
        self
    }

    /// Default experiment name for trainers.
    pub fn experiment_name(mut self, name: impl Into<String>) -> Self {
        self.experiment_name = Some(name.into());
        self
    }

    /// Checks the URI and numbers. The URI must be `http(s)://host[:port][/prefix]` without
    /// user info (pass credentials separately so they never end up in logged URLs).
    pub fn build(self) -> Result<TrackingConfig> {
        let origin = if self.uri_origin.is_empty() {
            "tracking URI"
        } else {
            self.uri_origin
        };
        let tracking_uri = parse_tracking_uri(origin, &self.tracking_uri)?;
        if !(self.backoff_factor_secs.is_finite() && self.backoff_factor_secs >= 0.0) {
            return Err(MlflowError::invalid(
                "backoff factor",
                format!("{} is not a finite number >= 0", self.backoff_factor_secs),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(MlflowError::invalid("request timeout", "must be > 0"));
        }
        if self.artifact_timeout.is_some_and(|t| t.is_zero()) {
            return Err(MlflowError::invalid("artifact timeout", "must be > 0"));
        }
        Ok(TrackingConfig {
            tracking_uri,
            credentials: self.credentials,
            insecure_tls: self.insecure_tls,
            max_retries: self.max_retries,
            backoff_factor_secs: self.backoff_factor_secs,
            backoff_max: self.backoff_max,
            request_timeout: self.request_timeout,
            artifact_timeout: self.artifact_timeout,
            experiment_name: self.experiment_name,
        })
    }
}

fn parse_tracking_uri(origin: &str, raw: &str) -> Result<Url> {
    let raw = raw.trim();
    // Never echo a URI that may hold a password.
    let shown = if raw.contains('@') {
        "the URI (not shown: it contains '@')".to_string()
    } else {
        format!("{raw:?}")
    };
    let url = Url::parse(raw)
        .map_err(|e| MlflowError::invalid(origin, format!("{shown} is not a URI: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(MlflowError::invalid(
            origin,
            format!(
                "{shown}: only http:// and https:// tracking servers are supported (scheme {:?})",
                url.scheme()
            ),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(MlflowError::invalid(
            origin,
            format!(
                "{shown} contains user info: pass credentials with \
                 {ENV_TRACKING_USERNAME}/{ENV_TRACKING_PASSWORD} or the builder instead"
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(MlflowError::invalid(origin, format!("{shown} has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(MlflowError::invalid(
            origin,
            format!("{shown} must not have a query or fragment"),
        ));
    }
    Ok(url)
}

/// The Python client's booleans: `true`/`false`/`1`/`0`, any case.
fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(MlflowError::invalid(
            name,
            format!("{value:?} is not a boolean (true, false, 1 or 0)"),
        )),
    }
}

fn parse_seconds(name: &str, value: &str, zero_ok: bool) -> Result<f64> {
    let parsed: f64 = value
        .trim()
        .parse()
        .map_err(|_| MlflowError::invalid(name, format!("{value:?} is not a number of seconds")))?;
    // Durations above a century are typos, and would overflow `Duration::from_secs_f64`.
    let in_range =
        parsed.is_finite() && parsed <= 3.2e9 && if zero_ok { parsed >= 0.0 } else { parsed > 0.0 };
    if !in_range {
        let bound = if zero_ok { ">= 0" } else { "> 0" };
        return Err(MlflowError::invalid(
            name,
            format!("{value:?} must be a number of seconds {bound}"),
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from_vars(vars: &[(&str, &str)]) -> Result<TrackingConfig> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TrackingConfig::from_lookup(|name| vars.get(name).cloned())
    }

    fn invalid_what(err: MlflowError) -> String {
        match err {
            MlflowError::InvalidArgument { what, .. } => what,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_python_client() {
        let config = from_vars(&[(ENV_TRACKING_URI, "http://127.0.0.1:5055/")]).expect("valid");
        assert_eq!(config.tracking_uri(), "http://127.0.0.1:5055");
        assert_eq!(config.credentials(), None);
        assert!(!config.insecure_tls());
        assert_eq!(config.max_retries(), 7);
        assert_eq!(config.backoff_factor_secs(), 2.0);
        assert_eq!(config.request_timeout(), Duration::from_secs(120));
        assert_eq!(config.artifact_timeout(), Duration::from_secs(120));
        assert_eq!(config.experiment_name(), None);
    }

    #[test]
    fn every_variable_is_read() {
        let config = from_vars(&[
            (ENV_TRACKING_URI, "https://mlflow.example.org/prefix"),
            (ENV_TRACKING_TOKEN, "tok"),
            (ENV_TRACKING_INSECURE_TLS, "TRUE"),
            (ENV_MAX_RETRIES, "3"),
            (ENV_BACKOFF_FACTOR, "0.5"),
            (ENV_REQUEST_TIMEOUT, "30"),
            (ENV_ARTIFACT_TIMEOUT, "600"),
            (ENV_EXPERIMENT_NAME, "vigie-dev"),
        ])
        .expect("valid");
        assert_eq!(config.tracking_uri(), "https://mlflow.example.org/prefix");
        assert_eq!(
            config.credentials(),
            Some(&Credentials::Bearer {
                token: "tok".into()
            })
        );
        assert!(config.insecure_tls());
        assert_eq!(config.max_retries(), 3);
        assert_eq!(config.backoff_factor_secs(), 0.5);
        assert_eq!(config.request_timeout(), Duration::from_secs(30));
        assert_eq!(config.artifact_timeout(), Duration::from_secs(600));
        assert_eq!(config.experiment_name(), Some("vigie-dev"));
    }

    #[test]
    fn basic_auth_takes_precedence_over_the_token() {
        let config = from_vars(&[
            (ENV_TRACKING_URI, "http://127.0.0.1:5055"),
            (ENV_TRACKING_USERNAME, "alice"),
            (ENV_TRACKING_PASSWORD, "s3cret"),
            (ENV_TRACKING_TOKEN, "tok"),
        ])
        .expect("valid");
        assert_eq!(
            config.credentials(),
            Some(&Credentials::Basic {
                username: "alice".into(),
                password: "s3cret".into()
            })
        );
    }

    #[test]
    fn half_basic_auth_is_refused() {
        let err = from_vars(&[
            (ENV_TRACKING_URI, "http://h"),
            (ENV_TRACKING_USERNAME, "alice"),
        ])
        .expect_err("password missing");
        assert!(invalid_what(err).contains(ENV_TRACKING_PASSWORD));
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let uri = (ENV_TRACKING_URI, "http://127.0.0.1:5055");
        let cases = [
            (ENV_TRACKING_INSECURE_TLS, "yes"),
            (ENV_MAX_RETRIES, "-1"),
            (ENV_MAX_RETRIES, "many"),
            (ENV_BACKOFF_FACTOR, "-2"),
            (ENV_BACKOFF_FACTOR, "NaN"),
            (ENV_REQUEST_TIMEOUT, "0"),
            (ENV_REQUEST_TIMEOUT, "inf"),
            (ENV_ARTIFACT_TIMEOUT, "soon"),
        ];
        for (name, value) in cases {
            let err = from_vars(&[uri, (name, value)]).expect_err(value);
            let text = err.to_string();
            assert_eq!(invalid_what(err), name, "{text}");
        }
    }

    #[test]
    fn tracking_uri_is_required_and_must_be_http() {
        let what = invalid_what(from_vars(&[]).expect_err("unset"));
        assert_eq!(what, ENV_TRACKING_URI);
        let what = invalid_what(from_vars(&[(ENV_TRACKING_URI, "  ")]).expect_err("blank"));
        assert_eq!(what, ENV_TRACKING_URI);
        for bad in [
            "sqlite:///mlflow.db",
            "file:///tmp/mlruns",
            "databricks",
            "not a uri",
            "http://h/?q=1",
        ] {
            let err = from_vars(&[(ENV_TRACKING_URI, bad)]).expect_err(bad);
            assert_eq!(invalid_what(err), ENV_TRACKING_URI, "{bad}");
        }
        let err = TrackingConfig::builder("ftp://h").build().expect_err("ftp");
        assert_eq!(invalid_what(err), "tracking URI");
    }

    #[test]
    fn user_info_in_the_uri_is_refused_without_echoing_it() {
        let err = from_vars(&[(ENV_TRACKING_URI, "http://alice:hunter2@127.0.0.1:5055")])
            .expect_err("user info");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains(ENV_TRACKING_USERNAME), "{text}");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let basic = TrackingConfig::builder("http://127.0.0.1:5055")
            .basic_auth("alice", "hunter2-password")
            .build()
            .expect("valid");
        let bearer = TrackingConfig::builder("http://127.0.0.1:5055")
            .bearer_token("tok-abcdef-123")
            .build()
            .expect("valid");
        let builder =
            TrackingConfig::builder("http://127.0.0.1:5055").bearer_token("tok-abcdef-123");
        let shown = format!("{basic:?} {bearer:?} {builder:?} {basic:#?}");
        assert!(!shown.contains("hunter2-password"), "{shown}");
        assert!(!shown.contains("tok-abcdef-123"), "{shown}");
        assert!(!shown.contains("alice"), "{shown}");
        assert!(shown.contains("Basic") && shown.contains("Bearer") && shown.contains(REDACTED));
    }

    #[test]
    fn builder_validates_numbers() {
        let base = || TrackingConfig::builder("http://127.0.0.1:5055");
        assert!(base().backoff_factor_secs(f64::NAN).build().is_err());
        assert!(base().backoff_factor_secs(-1.0).build().is_err());
        assert!(base().request_timeout(Duration::ZERO).build().is_err());
        assert!(base().artifact_timeout(Duration::ZERO).build().is_err());
        let ok = base()
            .max_retries(0)
            .backoff_factor_secs(0.0)
            .build()
            .expect("valid");
        assert_eq!(ok.max_retries(), 0);
    }
}
