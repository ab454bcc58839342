//! [`MlflowClient`]: the HTTP plumbing (auth, retries, error decoding) and the experiment and
//! run endpoints. Artifacts, logged models and the registry add their methods in
//! `artifacts.rs` and `models.rs`.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Body, RequestBuilder, Response};
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::batch::{split_batch, validate_batch, validate_key, validate_param, validate_tag};
use crate::config::{Credentials, TrackingConfig};
use crate::error::{MlflowError, Result};
use crate::types::*;

const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));
/// Until a server has answered once, a request waits at most this long for it: an address
/// where nothing listens, or a listener that never answers, is reported in seconds rather than
/// after the full timeout and every retry (a training run goes on offline meanwhile).
const FIRST_CONTACT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connecting should never take long; the rest of the request timeout is for the answer.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Page size used by the follow-all-pages helpers of metric history (the server's maximum).
const METRIC_HISTORY_PAGE: u32 = 25_000;

/// A blocking client for one MLflow tracking server.
///
/// Cheap to clone (the connection pool and counters are shared). Every method maps to one REST
/// endpoint unless its documentation says otherwise; all of them retry transient failures
/// (connection errors, timeouts, 429, 5xx) with exponential backoff and full jitter, and report
/// 4xx answers at once as [`MlflowError::Api`].
#[derive(Clone)]
pub struct MlflowClient {
    http: reqwest::blocking::Client,
    config: TrackingConfig,
    counters: Arc<Counters>,
    /// Run id -> artifact URI, from the runs this client created or read: a run's artifact URI
    /// never changes, and without it every artifact upload would cost a `runs/get` first.
    artifact_uris: Arc<Mutex<HashMap<String, String>>>,
}

/// Attempts of a POST that lost an insert race on the server (see `post`).
const UNIQUE_RACE_ATTEMPTS: u32 = 3;

/// Bound of the artifact URI cache (cleared when full: it only saves requests).
const MAX_CACHED_ARTIFACT_URIS: usize = 10_000;

#[derive(Debug, Default)]
struct Counters {
    attempts: AtomicU64,
    retries: AtomicU64,
    /// Whether the server has answered at least once (any HTTP status).
    answered: AtomicBool,
}

/// How many HTTP requests a client has sent, for tests and measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestStats {
    /// HTTP attempts sent, retries included.
    pub attempts: u64,
    /// Attempts that were retries of a failed one.
    pub retries: u64,
}

impl fmt::Debug for MlflowClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlflowClient")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

/// What a request carries.
pub(crate) enum Payload<'a> {
    Empty,
    Json(Vec<u8>),
    /// A local file, streamed from disk and reopened on each attempt.
    File(&'a Path),
}

impl MlflowClient {
    /// A client for the server `config` describes.
    pub fn new(config: TrackingConfig) -> Result<Self> {
        // reqwest is built without a default TLS provider (no C build); pick ring. An error
        // only means another provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::blocking::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.request_timeout())
            .connect_timeout(config.request_timeout().min(MAX_CONNECT_TIMEOUT));
        if config.insecure_tls() {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|source| MlflowError::Transport {
            endpoint: "building the HTTP client".into(),
            source,
        })?;
        Ok(MlflowClient {
            http,
            config,
            counters: Arc::default(),
            artifact_uris: Arc::default(),
        })
    }

    /// A client configured from the `MLFLOW_*` environment variables
    /// ([`TrackingConfig::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(TrackingConfig::from_env()?)
    }

    /// The configuration in use.
    pub fn config(&self) -> &TrackingConfig {
        &self.config
    }

    /// The server's base URI.
    pub fn tracking_uri(&self) -> &str {
        self.config.tracking_uri()
    }

    /// Requests sent so far by this client and its clones.
    pub fn stats(&self) -> RequestStats {
        RequestStats {
            attempts: self.counters.attempts.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
        }
    }

    // ----- Plumbing -----

    /// `<tracking uri>/<segments...>?<query>`; each segment is percent-encoded, so ids and
    /// names cannot change the path.
    pub(crate) fn url<S: AsRef<str>>(&self, segments: &[S], query: &[(&str, &str)]) -> Result<Url> {
        let mut url = self.config.base_url().clone();
        url.path_segments_mut()
            .map_err(|()| MlflowError::invalid("tracking URI", "cannot hold a path"))?
            .pop_if_empty()
            .extend(segments.iter().map(AsRef::as_ref));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// URL of a REST API method, e.g. `api_url("runs/get", ..)` → `/api/2.0/mlflow/runs/get`.
    fn api_url(&self, method_path: &str, query: &[(&str, &str)]) -> Result<Url> {
        let segments: Vec<&str> = ["api", "2.0", "mlflow"]
            .into_iter()
            .chain(method_path.split('/'))
            .collect();
        self.url(&segments, query)
    }

    /// GET an API method with query parameters and decode its JSON answer.
    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        method_path: &str,
        query: &[(&str, &str)],
    ) -> Result<T> {
        let url = self.api_url(method_path, query)?;
        self.call_json(Method::GET, url, Payload::Empty)
    }

    /// POST a JSON body to an API method and decode its JSON answer.
    pub(crate) fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method_path: &str,
        body: &B,
    ) -> Result<T> {
        // MLflow 3.17's SQL store upserts (a dataset for `runs/log-inputs`, a model version tag,
        // ...) with a check then an insert: two clients doing the same upsert at once (parallel
        // sweep trials, shards) make one fail with 400 "UNIQUE constraint failed". Its
        // transaction was rolled back and the row exists now, so sending the same request again
        // is safe and succeeds.
        let mut attempts_left = UNIQUE_RACE_ATTEMPTS;
        loop {
            match self.send_body(Method::POST, method_path, body) {
                Err(MlflowError::Api { ref message, .. })
                    if attempts_left > 1 && message.contains("UNIQUE constraint failed") =>
                {
                    attempts_left -= 1;
                    tracing::debug!(method_path, "raced another client's insert: sending again");
                }
                result => return result,
            }
        }
    }

    pub(crate) fn send_body<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        method_path: &str,
        body: &B,
    ) -> Result<T> {
        let url = self.api_url(method_path, &[])?;
        self.call_json_body(method, url, body)
    }

    pub(crate) fn call_json_body<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: &B,
    ) -> Result<T> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| MlflowError::invalid("request body", format!("cannot serialise: {e}")))?;
        self.call_json(method, url, Payload::Json(bytes))
    }

    pub(crate) fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        payload: Payload<'_>,
    ) -> Result<T> {
        let endpoint = endpoint_name(&method, &url);
        let response = self.send(method, url, payload, self.config.request_timeout())?;
        let bytes = response.bytes().map_err(|source| MlflowError::Transport {
            endpoint: endpoint.clone(),
            source,
        })?;
        // Some methods answer with an empty body rather than `{}`.
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes).map_err(|source| MlflowError::Decode { endpoint, source })
    }

    /// Sends a request, retrying transient failures; returns the first 2xx answer, or the error
    /// of the last attempt.
    pub(crate) fn send(
        &self,
        method: Method,
        url: Url,
        payload: Payload<'_>,
        timeout: Duration,
    ) -> Result<Response> {
        let endpoint = endpoint_name(&method, &url);
        let max_retries = self.config.max_retries();
        let mut retry_index: u32 = 0;
        loop {
            let answered = self.counters.answered.load(Ordering::Relaxed);
            let timeout = attempt_timeout(timeout, answered, &payload);
            let request = self.build_request(&method, &url, &payload, timeout)?;
            self.counters.attempts.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = request.send();
            let (reason, retry_after) = match outcome {
                Ok(response) => {
                    self.counters.answered.store(true, Ordering::Relaxed);
                    let status = response.status();
                    tracing::debug!(
                        %endpoint,
                        status = status.as_u16(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "MLflow request"
                    );
                    if status.is_success() {
                        return Ok(response);
                    }
                    if !is_retryable_status(status) || retry_index >= max_retries {
                        let body = response.bytes().unwrap_or_default();
                        return Err(MlflowError::from_response(endpoint, status, &body));
                    }
                    (
                        format!("HTTP {status}"),
                        retry_after_header(response.headers()),
                    )
                }
                Err(source) => {
                    // A server that never answered is not coming back within a backoff: the
                    // caller learns it at once (a run goes offline, a read fails with the URI).
                    if !answered || !is_retryable_transport(&source) || retry_index >= max_retries {
                        return Err(MlflowError::Transport { endpoint, source });
                    }
                    (source.to_string(), None)
                }
            };
            let ceiling = backoff_ceiling(
                self.config.backoff_factor_secs(),
                retry_index,
                self.config.backoff_max(),
            );
            let delay = retry_delay(
                ceiling,
                fastrand::f64(),
                retry_after,
                self.config.backoff_max(),
            );
            tracing::warn!(
                %endpoint,
                retry = retry_index + 1,
                max_retries,
                delay_ms = delay.as_millis() as u64,
                %reason,
                "MLflow request failed, retrying"
            );
            std::thread::sleep(delay);
            retry_index += 1;
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn build_request(
        &self,
        method: &Method,
        url: &Url,
        payload: &Payload<'_>,
        timeout: Duration,
    ) -> Result<RequestBuilder> {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .timeout(timeout);
        // reqwest marks these headers sensitive, which keeps them out of its own Debug output.
        request = match self.config.credentials() {
            Some(Credentials::Basic { username, password }) => {
                request.basic_auth(username, Some(password))
            }
            Some(Credentials::Bearer { token }) => request.bearer_auth(token),
            None => request,
        };
        Ok(match payload {
            Payload::Empty => request,
            // The server refuses POSTs without this content type (400).
            Payload::Json(bytes) => request
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Payload::File(path) => {
                let file = std::fs::File::open(path).map_err(|e| MlflowError::io(*path, e))?;
                request
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(Body::from(file))
            }
        })
    }

    // ----- Experiments -----

    /// Creates an experiment; returns its id. Fails with `RESOURCE_ALREADY_EXISTS` if the name is
    /// taken (see [`MlflowClient::get_or_create_experiment`]). `artifact_location` is best left
    /// `None`: the server then picks its proxied `mlflow-artifacts:/<id>`.
    pub fn create_experiment(
        &self,
        name: &str,
        tags: &[Tag],
        artifact_location: Option<&str>,
    ) -> Result<String> {
        for tag in tags {
            validate_tag(tag)?;
        }
        let body = CreateExperimentBody {
            name,
            artifact_location,
            tags,
        };
        let response: ExperimentIdResponse = self.post("experiments/create", &body)?;
        Ok(response.experiment_id)
    }

    /// The experiment with this id.
    pub fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        let response: ExperimentResponse =
            self.get("experiments/get", &[("experiment_id", experiment_id)])?;
        Ok(response.experiment)
    }

    /// The experiment with this name (active or deleted), or `None` if there is none.
    pub fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        match self
            .get::<ExperimentResponse>("experiments/get-by-name", &[("experiment_name", name)])
        {
            Ok(response) => Ok(Some(response.experiment)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The active experiment with this name, created if needed. Safe when several processes
    /// race to create it: the loser of the race reads the winner's experiment. A deleted
    /// experiment of that name is an error (restore it or choose another name).
    pub fn get_or_create_experiment(&self, name: &str) -> Result<Experiment> {
        let existing = match self.get_experiment_by_name(name)? {
            Some(experiment) => experiment,
            None => match self.create_experiment(name, &[], None) {
                Ok(experiment_id) => return self.get_experiment(&experiment_id),
                Err(e) if e.is_already_exists() => self.get_experiment_by_name(name)?.ok_or(e)?,
                Err(e) => return Err(e),
            },
        };
        if existing.lifecycle_stage == "deleted" {
            return Err(MlflowError::invalid(
                "experiment name",
                format!(
                    "experiment {name:?} (id {}) is deleted: restore it or use another name",
                    existing.experiment_id
                ),
            ));
        }
        Ok(existing)
    }

    /// One page of experiments.
    pub fn search_experiments(&self, search: &SearchExperiments) -> Result<Page<Experiment>> {
        let response: ExperimentsPage = self.post("experiments/search", search)?;
        Ok(page(response.experiments, response.next_page_token))
    }

    /// Every experiment matching `search`, following page tokens from `search.page_token`.
    pub fn search_experiments_all(&self, search: &SearchExperiments) -> Result<Vec<Experiment>> {
        let mut request = search.clone();
        collect_pages(
            |token| {
                request.page_token = token;
                self.search_experiments(&request)
            },
            search.page_token.clone(),
        )
    }

    /// Sets (or overwrites) an experiment tag.
    pub fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<()> {
        validate_tag(&Tag::new(key, value))?;
        let body = ExperimentTagBody {
            experiment_id,
            key,
            value,
        };
        self.post::<_, IgnoredAny>("experiments/set-experiment-tag", &body)?;
        Ok(())
    }

    // ----- Runs -----

    /// Creates a run (status `RUNNING`); `start_time` defaults to now.
    pub fn create_run(&self, request: &CreateRun) -> Result<Run> {
        for tag in &request.tags {
            validate_tag(tag)?;
        }
        let mut body = request.clone();
        body.start_time = Some(request.start_time.unwrap_or_else(now_millis));
        let response: RunResponse = self.post("runs/create", &body)?;
        self.remember_artifact_uri(&response.run.info);
        Ok(response.run)
    }

    /// The run with this id, with its latest metrics, params, tags, inputs and outputs.
    pub fn get_run(&self, run_id: &str) -> Result<Run> {
        let response: RunResponse = self.get("runs/get", &[("run_id", run_id)])?;
        self.remember_artifact_uri(&response.run.info);
        Ok(response.run)
    }

    fn remember_artifact_uri(&self, info: &RunInfo) {
        if info.artifact_uri.is_empty() {
            return;
        }
        let mut cache = self
            .artifact_uris
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= MAX_CACHED_ARTIFACT_URIS {
            cache.clear();
        }
        cache.insert(info.run_id.clone(), info.artifact_uri.clone());
    }

    /// The artifact URI of a run: cached, else read with `runs/get`.
    pub(crate) fn run_artifact_uri(&self, run_id: &str) -> Result<String> {
        let cached = self
            .artifact_uris
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(run_id)
            .cloned();
        match cached {
            Some(uri) => Ok(uri),
            None => Ok(self.get_run(run_id)?.info.artifact_uri),
        }
    }

    /// Changes a run's status, end time or name; returns the updated metadata.
    pub fn update_run(&self, update: &UpdateRun) -> Result<RunInfo> {
        let response: RunInfoResponse = self.post("runs/update", update)?;
        Ok(response.run_info)
    }

    /// Ends a run now with `status` (usually [`RunStatus::Finished`] or [`RunStatus::Failed`]).
    pub fn end_run(&self, run_id: &str, status: RunStatus) -> Result<RunInfo> {
        self.update_run(&UpdateRun {
            run_id: run_id.to_string(),
            status: Some(status),
            end_time: Some(now_millis()),
            run_name: None,
        })
    }

    /// One page of runs.
    pub fn search_runs(&self, search: &SearchRuns) -> Result<Page<Run>> {
        let response: RunsPage = self.post("runs/search", search)?;
        Ok(page(response.runs, response.next_page_token))
    }

    /// Every run matching `search`, following page tokens from `search.page_token`;
    /// `search.max_results` is the page size.
    pub fn search_runs_all(&self, search: &SearchRuns) -> Result<Vec<Run>> {
        let mut request = search.clone();
        collect_pages(
            |token| {
                request.page_token = token;
                self.search_runs(&request)
            },
            search.page_token.clone(),
        )
    }

    /// Marks a run deleted (it stays restorable).
    pub fn delete_run(&self, run_id: &str) -> Result<()> {
        self.post::<_, IgnoredAny>("runs/delete", &RunIdBody { run_id })?;
        Ok(())
    }

    /// Restores a deleted run.
    pub fn restore_run(&self, run_id: &str) -> Result<()> {
        self.post::<_, IgnoredAny>("runs/restore", &RunIdBody { run_id })?;
        Ok(())
    }

    /// Sets (or overwrites) a run tag.
    pub fn set_tag(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        validate_tag(&Tag::new(key, value))?;
        self.post::<_, IgnoredAny>("runs/set-tag", &RunKeyValueBody { run_id, key, value })?;
        Ok(())
    }

    /// Removes a run tag (`RESOURCE_DOES_NOT_EXIST` if it is not set).
    pub fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        self.post::<_, IgnoredAny>("runs/delete-tag", &RunKeyBody { run_id, key })?;
        Ok(())
    }

    /// Logs one param. Logging the same value again is accepted; another value is refused by
    /// the server with `INVALID_PARAMETER_VALUE`.
    pub fn log_param(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        validate_param(&Param::new(key, value))?;
        self.post::<_, IgnoredAny>(
            "runs/log-parameter",
            &RunKeyValueBody { run_id, key, value },
        )?;
        Ok(())
    }

    /// Logs one metric value. Prefer [`MlflowClient::log_batch`] for more than a few values:
    /// each call is one round trip.
    pub fn log_metric(&self, run_id: &str, metric: &Metric) -> Result<()> {
        validate_key("metric key", &metric.key)?;
        let body = LogMetricBody {
            run_id,
            key: &metric.key,
            value: metric.value,
            timestamp: metric.timestamp,
            step: metric.step,
        };
        self.post::<_, IgnoredAny>("runs/log-metric", &body)?;
        Ok(())
    }

    /// Logs metrics, params and tags, split into as few `runs/log-batch` requests as the
    /// server's limits allow (see [`crate::batch::split_batch`]); returns how many requests it
    /// sent (0 for an empty batch).
    ///
    /// Everything is validated first ([`crate::batch::validate_batch`]): nothing is sent if a key
    /// or value is invalid or a param key repeats. If request `k` fails, requests before it
    /// have been logged; params are re-loggable with the same value, so retrying the whole call
    /// is safe for params and tags (metrics would be logged twice).
    pub fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<usize> {
        validate_batch(metrics, params, tags)?;
        let chunks = split_batch(metrics, params, tags);
        for chunk in &chunks {
            let body = LogBatchBody {
                run_id,
                metrics: chunk.metrics,
                params: chunk.params,
                tags: chunk.tags,
            };
            self.post::<_, IgnoredAny>("runs/log-batch", &body)?;
        }
        Ok(chunks.len())
    }

    /// One page of a metric's history (`max_results` at most 25000).
    pub fn get_metric_history_page(
        &self,
        run_id: &str,
        metric_key: &str,
        max_results: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<Page<Metric>> {
        let max_results = max_results.map(|n| n.to_string());
        let mut query = vec![("run_id", run_id), ("metric_key", metric_key)];
        if let Some(n) = &max_results {
            query.push(("max_results", n));
        }
        if let Some(token) = page_token {
            query.push(("page_token", token));
        }
        let response: MetricsPage = self.get("metrics/get-history", &query)?;
        Ok(page(response.metrics, response.next_page_token))
    }

    /// Every value ever logged for a metric of a run, following page tokens.
    pub fn get_metric_history(&self, run_id: &str, metric_key: &str) -> Result<Vec<Metric>> {
        collect_pages(
            |token| {
                self.get_metric_history_page(
                    run_id,
                    metric_key,
                    Some(METRIC_HISTORY_PAGE),
                    token.as_deref(),
                )
            },
            None,
        )
    }

    /// Records the datasets (and logged models) a run consumed.
    pub fn log_inputs(
        &self,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> Result<()> {
        let body = LogInputsBody {
            run_id,
            datasets,
            models,
        };
        self.post::<_, IgnoredAny>("runs/log-inputs", &body)?;
        Ok(())
    }

    /// Links logged models to the run that produced them (`runs/outputs`); they then show in
    /// `run.outputs.model_outputs` and in the UI's model list of the run.
    pub fn log_outputs(&self, run_id: &str, models: &[ModelOutput]) -> Result<()> {
        self.post::<_, IgnoredAny>("runs/outputs", &LogOutputsBody { run_id, models })?;
        Ok(())
    }
}

/// Follows page tokens until the server stops giving one. A token repeating itself would loop
/// forever, so it is reported instead.
pub(crate) fn collect_pages<T>(
    mut fetch: impl FnMut(Option<String>) -> Result<Page<T>>,
    first_token: Option<String>,
) -> Result<Vec<T>> {
    let mut items = Vec::new();
    let mut token = first_token;
    loop {
        let page = fetch(token.clone())?;
        items.extend(page.items);
        match page.next_page_token {
            Some(next) if token.as_deref() == Some(next.as_str()) => {
                return Err(MlflowError::invalid(
                    "page token",
                    "the server returned the same page token twice",
                ));
            }
            Some(next) => token = Some(next),
            None => return Ok(items),
        }
    }
}

fn endpoint_name(method: &Method, url: &Url) -> String {
    format!("{method} {url}")
}

/// Statuses worth another attempt: the server is overloaded or failing, not refusing the request.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// The timeout of one attempt: `timeout`, capped at [`FIRST_CONTACT_TIMEOUT`] until the server
/// has answered once, except for file transfers (a first upload may be large).
fn attempt_timeout(timeout: Duration, answered: bool, payload: &Payload<'_>) -> Duration {
    match payload {
        Payload::File(_) => timeout,
        _ if answered => timeout,
        _ => timeout.min(FIRST_CONTACT_TIMEOUT),
    }
}

/// Transport errors worth another attempt: the connection could not be made or the answer did
/// not come in time. Other errors (bad TLS certificate, redirect loop, body errors) would fail
/// again the same way.
pub(crate) fn is_retryable_transport(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_timeout()
}

/// The upper bound of the wait before retry `retry_index` (0-based):
/// `min(cap, factor * 2^retry_index)`.
pub(crate) fn backoff_ceiling(factor_secs: f64, retry_index: u32, cap: Duration) -> Duration {
    let exponent = i32::try_from(retry_index.min(60)).unwrap_or(60);
    let secs = factor_secs * 2f64.powi(exponent);
    Duration::try_from_secs_f64(secs).map_or(cap, |d| d.min(cap))
}

/// Full jitter: a uniform wait in `[0, ceiling)` (`unit` in `[0, 1)`), so clients that failed
/// together do not retry together. A server's `Retry-After` is honoured, within `cap`.
pub(crate) fn retry_delay(
    ceiling: Duration,
    unit: f64,
    retry_after: Option<Duration>,
    cap: Duration,
) -> Duration {
    let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
    match retry_after {
        Some(wait) => jittered.max(wait).min(cap),
        None => jittered,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and ignored).
fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttling_and_server_errors_are_retried() {
        for code in [429, 500, 502, 503, 504] {
            assert!(
                is_retryable_status(StatusCode::from_u16(code).expect("valid")),
                "{code}"
            );
        }
        for code in [200, 301, 400, 401, 403, 404, 409, 422] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(code).expect("valid")),
                "{code}"
            );
        }
    }

    #[test]
    fn a_server_never_answered_gets_a_short_wait_except_for_file_transfers() {
        let full = Duration::from_secs(120);
        let json = Payload::Json(Vec::new());
        assert_eq!(attempt_timeout(full, false, &json), FIRST_CONTACT_TIMEOUT);
        assert_eq!(
            attempt_timeout(full, false, &Payload::Empty),
            FIRST_CONTACT_TIMEOUT
        );
        assert_eq!(attempt_timeout(full, true, &json), full);
        let file = Payload::File(Path::new("model.bin"));
        assert_eq!(attempt_timeout(full, false, &file), full);
        // A shorter configured timeout is kept.
        let short = Duration::from_secs(2);
        assert_eq!(attempt_timeout(short, false, &json), short);
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let cap = Duration::from_secs(120);
        let ceilings: Vec<u64> = (0..8)
            .map(|i| backoff_ceiling(2.0, i, cap).as_secs())
            .collect();
        assert_eq!(ceilings, vec![2, 4, 8, 16, 32, 64, 120, 120]);
        assert_eq!(backoff_ceiling(0.0, 5, cap), Duration::ZERO);
        assert_eq!(backoff_ceiling(0.01, 0, cap), Duration::from_millis(10));
        assert_eq!(backoff_ceiling(1e300, u32::MAX, cap), cap);
    }

    #[test]
    fn jitter_stays_below_the_ceiling_and_honours_retry_after() {
        let ceiling = Duration::from_secs(8);
        let cap = Duration::from_secs(120);
        assert_eq!(retry_delay(ceiling, 0.0, None, cap), Duration::ZERO);
        assert_eq!(retry_delay(ceiling, 0.5, None, cap), Duration::from_secs(4));
        assert!(retry_delay(ceiling, 0.999, None, cap) < ceiling);
        assert_eq!(
            retry_delay(ceiling, 0.5, Some(Duration::from_secs(30)), cap),
            Duration::from_secs(30)
        );
        assert_eq!(
            retry_delay(ceiling, 0.5, Some(Duration::from_secs(3600)), cap),
            cap
        );
        for _ in 0..1000 {
            assert!(retry_delay(ceiling, fastrand::f64(), None, cap) < ceiling);
        }
    }

    #[test]
    fn retry_after_seconds_are_read() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after_header(&headers), None);
        headers.insert(RETRY_AFTER, "7".parse().expect("header"));
        assert_eq!(retry_after_header(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("header"),
        );
        assert_eq!(retry_after_header(&headers), None);
    }

    fn client(uri: &str) -> MlflowClient {
        MlflowClient::new(TrackingConfig::builder(uri).build().expect("config")).expect("client")
    }

    #[test]
    fn api_urls_keep_the_prefix_and_encode_segments_and_queries() {
        let c = client("http://127.0.0.1:5055/");
        let url = c.api_url("runs/get", &[("run_id", "a b&c")]).expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:5055/api/2.0/mlflow/runs/get?run_id=a+b%26c"
        );
        let c = client("https://host/mlflow");
        let url = c.api_url("registered-models/alias", &[]).expect("url");
        assert_eq!(
            url.as_str(),
            "https://host/mlflow/api/2.0/mlflow/registered-models/alias"
        );
        let url = c
            .url(
                &["api", "2.0", "mlflow", "logged-models", "m-1/../x y"],
                &[],
            )
            .expect("url");
        assert_eq!(
            url.as_str(),
            "https://host/mlflow/api/2.0/mlflow/logged-models/m-1%2F..%2Fx%20y"
        );
    }

    #[test]
    fn pages_are_followed_and_a_repeated_token_stops() {
        let pages = [
            (vec![1, 2], Some("a")),
            (vec![3], Some("b")),
            (vec![4], None),
        ];
        let mut calls = Vec::new();
        let all = collect_pages(
            |token| {
                calls.push(token.clone());
                let (items, next) = &pages[calls.len() - 1];
                Ok(Page {
                    items: items.clone(),
                    next_page_token: next.map(String::from),
                })
            },
            None,
        )
        .expect("pages");
        assert_eq!(all, vec![1, 2, 3, 4]);
        assert_eq!(
            calls,
            vec![None, Some("a".to_string()), Some("b".to_string())]
        );
        let stuck = collect_pages(
            |_| {
                Ok(Page {
                    items: vec![0],
                    next_page_token: Some("same".into()),
                })
            },
            None,
        );
        assert!(stuck.is_err());
    }

    #[test]
    fn client_debug_redacts_credentials() {
        let config = TrackingConfig::builder("http://127.0.0.1:5055")
            .basic_auth("alice", "hunter2-password")
            .build()
            .expect("config");
        let client = MlflowClient::new(config).expect("client");
        let shown = format!("{client:?}");
        assert!(!shown.contains("hunter2-password"), "{shown}");
        assert!(shown.contains("127.0.0.1:5055"));
    }
}
