//! The routes: handlers, the bearer-token and metrics middleware, and [`ApiError`], which
//! turns every failure (ours and axum's: unknown route, wrong method) into a status and a
//! `{"error": "..."}` body.
//!
//! Bodies are read here rather than by axum's `Json` extractor, so that every rejection
//! (missing or wrong content type, too large, not UTF-8, not JSON) gets our JSON shape and a
//! message that says what to fix.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use super::metrics::ModelInfo;
use super::payload::{self, PayloadError, Texts};
use super::{LoadedModel, MAX_TOP_FEATURES, Service, rfc3339_utc};
use crate::engine::Verdict;

/// The routes and their methods, for metrics labels and 404/405 messages.
const ROUTES: [(&str, &str); 5] = [
    ("/invocations", "POST"),
    ("/score", "POST"),
    ("/health", "GET"),
    ("/version", "GET"),
    ("/metrics", "GET"),
];

/// A body this much over the limit is still read (and dropped) before answering 413: a
/// client still sending when the connection closes would lose the answer.
const DRAIN_BEYOND_LIMIT: usize = 16 << 20;

pub(super) fn router(service: Service) -> Router {
    Router::new()
        .route("/invocations", post(invocations))
        .route("/score", post(score))
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Outermost last: metrics see every answer, 401s included.
        .layer(middleware::from_fn_with_state(
            service.clone(),
            require_bearer_token,
        ))
        .layer(middleware::from_fn_with_state(service.clone(), deadline))
        .layer(middleware::from_fn_with_state(service.clone(), track))
        .with_state(service)
}

/// A failure, answered as `{"error": message}`. Server faults are logged and answered with a
/// generic message.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error: the request could not be scored (see the service's log)",
        )
    }
}

impl From<PayloadError> for ApiError {
    fn from(error: PayloadError) -> ApiError {
        ApiError::bad_request(error.0)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(ErrorBody {
                error: &self.message,
            }),
        )
            .into_response()
    }
}

// ---- middleware ----

/// Counts every answer by route and outcome, with its duration.
async fn track(State(service): State<Service>, request: Request, next: Next) -> Response {
    let route = route_label(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    service
        .shared
        .metrics
        .record_request(route, response.status().as_u16(), started.elapsed());
    response
}

/// A call must be received and answered within [`ServiceConfig::request_timeout`]: the body is
/// read inside, so a client trickling (or withholding) its body gets 408 instead of holding
/// the connection. A scoring batch already on the blocking pool finishes there unobserved.
///
/// [`ServiceConfig::request_timeout`]: super::ServiceConfig::request_timeout
async fn deadline(State(service): State<Service>, request: Request, next: Next) -> Response {
    let limit = service.shared.config.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the call was not received and answered within {} s",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

/// A fixed label per route, `other` for the rest, so label values stay few.
fn route_label(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|(route, _)| *route == path)
        .map_or("other", |(route, _)| route)
}

/// With a token configured, everything but `/health` needs `Authorization: Bearer <token>`.
async fn require_bearer_token(
    State(service): State<Service>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = &service.shared.config.bearer_token else {
        return next.run(request).await;
    };
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let message = match presented {
        None => "missing `Authorization: Bearer <token>` header",
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => {
            return next.run(request).await;
        }
        Some(_) => "invalid bearer token",
    };
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Compares in a time that depends only on the expected token's length, so response times do
/// not reveal how much of a guess was right.
fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut difference = u8::from(presented.len() != expected.len());
    for (i, &byte) in expected.iter().enumerate() {
        difference |= byte ^ presented.get(i).copied().unwrap_or(!byte);
    }
    std::hint::black_box(difference) == 0
}

// ---- fallbacks ----

async fn not_found(method: Method, uri: Uri) -> ApiError {
    let routes = ROUTES
        .iter()
        .map(|(route, method)| format!("{method} {route}"))
        .collect::<Vec<_>>()
        .join(", ");
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route {method} {}: the routes are {routes}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let allowed = ROUTES
        .iter()
        .find(|(route, _)| *route == uri.path())
        .map_or("GET", |(_, method)| method);
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {method} not allowed on {}: use {allowed}",
            uri.path()
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(axum::http::header::ALLOW, HeaderValue::from_static(allowed));
    response
}

// ---- bodies ----

/// What a body is, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    Json,
    Csv,
}

fn body_format(headers: &HeaderMap, csv_allowed: bool) -> Result<BodyFormat, ApiError> {
    let accepted = if csv_allowed {
        "application/json or text/csv"
    } else {
        "application/json"
    };
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("missing Content-Type header: send {accepted}"),
        ));
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match essence.as_str() {
        "application/json" => Ok(BodyFormat::Json),
        "text/csv" if csv_allowed => Ok(BodyFormat::Csv),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {:?} is not accepted: send {accepted}",
                String::from_utf8_lossy(value.as_bytes())
            ),
        )),
    }
}

/// The whole body as UTF-8 text, at most `limit` bytes.
async fn read_text(headers: &HeaderMap, body: Body, limit: usize) -> Result<String, ApiError> {
    let bytes = read_body(headers, body, limit).await?;
    String::from_utf8(bytes.into()).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not valid UTF-8 (first invalid byte at offset {}): send JSON or CSV \
             text in UTF-8, with other bytes escaped (JSON \\u escapes)",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The body, at most `limit` bytes. A larger one is still read to its end (up to
/// [`DRAIN_BEYOND_LIMIT`] more bytes, kept nowhere) before the 413, so the client, still
/// sending, is not cut off by a reset and gets the answer.
async fn read_body(headers: &HeaderMap, mut body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::too_large(format!(
            "the body is larger than the limit of {limit} bytes: send fewer requests per call"
        ))
    };
    let drain_limit = limit.saturating_add(DRAIN_BEYOND_LIMIT);
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > drain_limit as u64) {
        return Err(too_large());
    }
    let mut buffer = Vec::with_capacity(declared.map_or(0, |d| d.min(limit as u64) as usize));
    let mut received = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame
            .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        received = received.saturating_add(data.len());
        if received <= limit {
            buffer.extend_from_slice(&data);
        } else if received > drain_limit {
            break;
        } else if !buffer.is_empty() {
            buffer = Vec::new(); // over the limit: keep draining, holding nothing
        }
    }
    if received > limit {
        return Err(too_large());
    }
    Ok(Bytes::from(buffer))
}

impl Service {
    /// 413 when a call holds too many texts or one too long, naming it.
    fn check_limits(&self, texts: &Texts) -> Result<(), ApiError> {
        let config = &self.shared.config;
        if texts.texts.len() > config.max_batch {
            return Err(ApiError::too_large(format!(
                "{} requests in one call, above the limit of {}: split the batch",
                texts.texts.len(),
                config.max_batch
            )));
        }
        if let Some((index, text)) = texts
            .texts
            .iter()
            .enumerate()
            .find(|(_, text)| text.len() > config.max_request_bytes)
        {
            return Err(ApiError::too_large(format!(
                "{}: {} bytes, above the limit of {} bytes per request",
                texts.name_of(index),
                text.len(),
                config.max_request_bytes
            )));
        }
        Ok(())
    }
}

impl Service {
    /// Runs scoring on the blocking pool, at most one call per core at a time (the rest wait
    /// here, off the runtime's threads), so the runtime keeps serving `/health` and `/metrics`
    /// and a flood of calls cannot start hundreds of scoring threads.
    async fn on_blocking_pool<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slot = Arc::clone(&self.shared.scoring_slots)
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            // Held until the work ends, even when the client has gone meanwhile.
            let _slot = slot;
            work()
        })
        .await
        .map_err(ApiError::internal)
    }
}

// ---- handlers ----

#[derive(Serialize)]
struct Predictions {
    predictions: Vec<f64>,
}

/// MLflow's scoring protocol: `{"predictions": [score, ...]}`, one score per input in order.
async fn invocations(
    State(service): State<Service>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Predictions>, ApiError> {
    let arrival_ms = vigie_mlflow::now_millis();
    let format = body_format(&headers, true)?;
    let text = read_text(&headers, body, service.shared.config.max_body_bytes).await?;
    let texts = match format {
        BodyFormat::Json => payload::parse_invocation_json(&text)?,
        BodyFormat::Csv => payload::parse_invocation_csv(&text)?,
    };
    drop(text);
    service.check_limits(&texts)?;
    let model = service.model();
    let scoring = Arc::clone(&model);
    let inputs = texts.texts;
    let scores = service
        .on_blocking_pool(move || {
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            scoring.score(&refs, arrival_ms)
        })
        .await?;
    service
        .shared
        .metrics
        .record_scores(&scores, model.engine.threshold());
    Ok(axum::Json(Predictions {
        predictions: scores,
    }))
}

#[derive(Serialize)]
struct ScoreResponse {
    model: String,
    threshold: f64,
    results: Vec<Verdict>,
}

/// Verdicts with their features: `{"model", "threshold", "results": [...]}`.
async fn score(
    State(service): State<Service>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<ScoreResponse>, ApiError> {
    let arrival_ms = vigie_mlflow::now_millis();
    body_format(&headers, false)?;
    let text = read_text(&headers, body, service.shared.config.max_body_bytes).await?;
    let request = payload::parse_score_request(&text)?;
    drop(text);
    service.check_limits(&request.requests)?;
    let top = match (request.explain, request.top) {
        (false, _) => 0,
        (true, None) => service.shared.config.top_features,
        (true, Some(top)) if top > MAX_TOP_FEATURES => {
            return Err(ApiError::bad_request(format!(
                "top: {top} features asked, at most {MAX_TOP_FEATURES}"
            )));
        }
        (true, Some(top)) => top,
    };
    let model = service.model();
    let scoring = Arc::clone(&model);
    let inputs = request.requests.texts;
    let results = service
        .on_blocking_pool(move || {
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            scoring.verdicts(&refs, top, arrival_ms)
        })
        .await?;
    let scores: Vec<f64> = results.iter().map(|v| v.score).collect();
    service
        .shared
        .metrics
        .record_scores(&scores, model.engine.threshold());
    Ok(axum::Json(ScoreResponse {
        model: model.engine.origin().to_owned(),
        threshold: model.engine.threshold(),
        results,
    }))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn health() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

#[derive(Serialize)]
struct VersionInfo {
    /// This service's Vigie version.
    vigie_version: &'static str,
    /// The identity of the model serving (`models:/vigie-fwaf/3`, `run …`, a folder).
    model: String,
    kind: String,
    family: &'static str,
    threshold: f64,
    /// `stored` (chosen at training time) or `given` (on the command line).
    threshold_source: &'static str,
    training_data: TrainingDataInfo,
    /// The Vigie version that trained the model.
    model_vigie_version: String,
    model_created_at_ms: u64,
    loaded_at: String,
}

#[derive(Serialize)]
struct TrainingDataInfo {
    dataset: String,
    digest: String,
}

async fn version(State(service): State<Service>) -> axum::Json<VersionInfo> {
    let model = service.model();
    let manifest = model.engine.manifest();
    axum::Json(VersionInfo {
        vigie_version: env!("CARGO_PKG_VERSION"),
        model: model.engine.origin().to_owned(),
        kind: manifest.kind.clone(),
        family: manifest.family.name(),
        threshold: model.engine.threshold(),
        threshold_source: model.engine.threshold_source().name(),
        training_data: TrainingDataInfo {
            dataset: manifest.training_data.dataset.clone(),
            digest: manifest.training_data.digest.clone(),
        },
        model_vigie_version: manifest.vigie_version.clone(),
        model_created_at_ms: manifest.created_at_ms,
        loaded_at: rfc3339_utc(model.loaded_at_ms),
    })
}

async fn metrics(State(service): State<Service>) -> Response {
    let model = service.model();
    let text = service.shared.metrics.render(&model_info(&model));
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

fn model_info(model: &LoadedModel) -> ModelInfo<'_> {
    let manifest = model.engine.manifest();
    ModelInfo {
        identity: model.engine.origin(),
        kind: &manifest.kind,
        family: manifest.family.name(),
        threshold: model.engine.threshold(),
        loaded_at_ms: model.loaded_at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cres", b"s3cret"));
        assert!(!constant_time_eq(b"s3cre", b"s3cret"));
        assert!(!constant_time_eq(b"s3crett", b"s3cret"));
        assert!(!constant_time_eq(b"", b"s3cret"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn unknown_paths_share_one_metrics_label() {
        assert_eq!(route_label("/score"), "/score");
        assert_eq!(route_label("/wp-admin"), "other");
    }

    #[test]
    fn content_types_are_matched_by_essence() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            body_format(&headers, true).map_err(|e| e.status).err(),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert_eq!(body_format(&headers, false).ok(), Some(BodyFormat::Json));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        assert_eq!(body_format(&headers, true).ok(), Some(BodyFormat::Csv));
        assert!(body_format(&headers, false).is_err());
    }
}
