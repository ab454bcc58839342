//! The scoring service: MLflow payload shapes score exactly like the engine, `/score` gives the
//! engine's verdicts, bad calls get the right 4xx with a JSON error and the service keeps
//! serving, the bearer token guards every route but `/health`, metrics count it all, and
//! reloads swap the model (or keep it when the loader fails). Requests go through the service's
//! router in process (`oneshot`, as in axum's own tests); the tests of the reload interval,
//! graceful shutdown and a body that never arrives run a real server on 127.0.0.1.
//!
//! One tiny linear SVM is trained per test binary (through `vigie_runner`, on a hand-written
//! dataset) and every test loads it into a service of its own.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Request};
use common::{Next, engine, scripted_loader, trained};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use tower::ServiceExt;
use vigie_score::service::{
    ReloadOutcome, RunningServer, Service, ServiceConfig, spawn_blocking_server,
};

/// The service loaded as `vigie serve` loads it, its model under `identity`; no socket.
fn load(config: ServiceConfig, identity: &str) -> Service {
    let script = Arc::new(Mutex::new(Next::Model(identity.to_owned())));
    load_scripted(config, &script)
}

fn load_scripted(config: ServiceConfig, script: &Arc<Mutex<Next>>) -> Service {
    Service::load(config, scripted_loader(script)).unwrap()
}

/// One request through the service's router: the status, the headers and the body.
async fn send(service: &Service, request: Request<Body>) -> (u16, HeaderMap, String) {
    let response = service.router().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

/// POSTs `body` with `content_type` (and its length, as an HTTP client sends it); the status
/// and the body parsed as JSON.
async fn post(
    service: &Service,
    route: &str,
    content_type: &str,
    body: impl Into<Vec<u8>>,
) -> (u16, Value) {
    let body = body.into();
    let request = Request::post(route)
        .header(CONTENT_TYPE, content_type)
        .header(CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap();
    status_and_json(send(service, request).await)
}

async fn post_json(service: &Service, route: &str, body: &Value) -> (u16, Value) {
    post(service, route, "application/json", body.to_string()).await
}

async fn get(service: &Service, route: &str) -> (u16, Value) {
    status_and_json(get_raw(service, route).await)
}

async fn get_raw(service: &Service, route: &str) -> (u16, HeaderMap, String) {
    let request = Request::get(route).body(Body::empty()).unwrap();
    send(service, request).await
}

fn status_and_json((status, headers, text): (u16, HeaderMap, String)) -> (u16, Value) {
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "status {status}: {text}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

/// The value of one sample of `/metrics` (0 when absent).
async fn metric(service: &Service, sample: &str) -> f64 {
    let (_, _, text) = get_raw(service, "/metrics").await;
    sample_value(&text, sample)
}

fn sample_value(metrics: &str, sample: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// A request the service must always accept, to show it still serves.
async fn assert_still_serving(service: &Service) {
    let (status, body) = post_json(
        service,
        "/invocations",
        &json!({"instances": ["/index.html"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"].as_array().unwrap().len(), 1);
}

// ---- over a socket, for the tests where the server itself matters ----

fn start(config: ServiceConfig, identity: &str) -> RunningServer {
    let script = Arc::new(Mutex::new(Next::Model(identity.to_owned())));
    start_scripted(config, &script)
}

fn start_scripted(config: ServiceConfig, script: &Arc<Mutex<Next>>) -> RunningServer {
    let config = ServiceConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..config
    };
    spawn_blocking_server(config, scripted_loader(script)).unwrap()
}

fn client() -> Client {
    trained();
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `/version` over the socket.
fn version_over_http(client: &Client, server: &RunningServer) -> Value {
    let response = client
        .get(format!("{}/version", server.url()))
        .send()
        .unwrap();
    serde_json::from_str(&response.text().unwrap()).unwrap()
}

/// [`assert_still_serving`] over the socket.
fn assert_still_serving_over_http(client: &Client, server: &RunningServer) {
    let response = client
        .post(format!("{}/invocations", server.url()))
        .header("content-type", "application/json")
        .body(json!({"instances": ["/index.html"]}).to_string())
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = serde_json::from_str(&response.text().unwrap()).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"].as_array().unwrap().len(), 1);
}

/// [`metric`] over the socket.
fn metric_over_http(client: &Client, server: &RunningServer, sample: &str) -> f64 {
    let text = client
        .get(format!("{}/metrics", server.url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    sample_value(&text, sample)
}

fn texts() -> Vec<&'static str> {
    vec![
        "/item.php?id=7' or 1=1--",
        "/images/logo_3.png",
        "/search?q=<script>alert(document.cookie)</script>",
        "/blog/2024/post-12.html?page=2",
        "/download?file=../../../../etc/passwd",
        "",
        "/été/ünïcode?q=日本",
    ]
}

fn predictions(body: &Value) -> Vec<u64> {
    body["predictions"]
        .as_array()
        .unwrap_or_else(|| panic!("no predictions: {body}"))
        .iter()
        .map(|p| p.as_f64().unwrap().to_bits())
        .collect()
}

#[tokio::test]
async fn every_mlflow_payload_shape_scores_bit_for_bit_like_the_engine() {
    let service = load(ServiceConfig::default(), "tiny");
    let texts = texts();
    let expected: Vec<u64> = engine("direct")
        .score(&texts)
        .into_iter()
        .map(f64::to_bits)
        .collect();

    let rows: Vec<Value> = texts.iter().map(|t| json!([t])).collect();
    let rows_with_id: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!([i, t]))
        .collect();
    let records: Vec<Value> = texts.iter().map(|t| json!({"text": t})).collect();
    let named_records: Vec<Value> = texts.iter().map(|t| json!({"request": t})).collect();
    for body in [
        json!({"dataframe_split": {"columns": ["text"], "data": rows}}),
        json!({"dataframe_split": {"columns": ["id", "text"], "data": rows_with_id}}),
        json!({"dataframe_split": {"columns": ["request"], "index": [0, 1, 2, 3, 4, 5, 6], "data": rows}}),
        json!({"dataframe_records": records}),
        json!({"dataframe_records": named_records}),
        json!({"instances": texts}),
        json!({"instances": records}),
        json!({"inputs": texts}),
        json!({"inputs": {"text": texts}}),
    ] {
        let (status, answer) = post_json(&service, "/invocations", &body).await;
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(predictions(&answer), expected, "{body}");
    }

    let mut csv = String::from("id,text\r\n");
    for (i, text) in texts.iter().enumerate() {
        csv.push_str(&format!("{i},\"{}\"\r\n", text.replace('"', "\"\"")));
    }
    let (status, answer) = post(&service, "/invocations", "text/csv", csv).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(predictions(&answer), expected);

    let (status, answer) = post_json(&service, "/invocations", &json!({"inputs": []})).await;
    assert_eq!((status, answer), (200, json!({"predictions": []})));
}

#[tokio::test]
async fn score_gives_the_engines_verdicts_with_features() {
    let service = load(ServiceConfig::default(), "models:/vigie-tiny/1");
    let texts = texts();
    let engine = engine("direct");

    let (status, answer) = post_json(&service, "/score", &json!({"requests": texts})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model"], "models:/vigie-tiny/1");
    assert_eq!(answer["threshold"].as_f64(), Some(engine.threshold()));
    let expected = serde_json::to_value(engine.verdicts(&texts, 5)).unwrap();
    assert_eq!(answer["results"], expected);
    assert_eq!(answer["results"][0]["malicious"], true, "{answer}");
    assert_eq!(answer["results"][0]["family"], "sqli", "{answer}");
    assert!(
        !answer["results"][0]["features"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(answer["results"][1]["malicious"], false, "{answer}");

    let (status, answer) =
        post_json(&service, "/score", &json!({"requests": texts, "top": 2})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["results"],
        serde_json::to_value(engine.verdicts(&texts, 2)).unwrap()
    );

    let (status, answer) = post_json(
        &service,
        "/score",
        &json!({"requests": texts, "explain": false}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["results"],
        serde_json::to_value(engine.verdicts(&texts, 0)).unwrap()
    );
}

#[tokio::test]
async fn bad_calls_get_a_json_error_with_the_right_status_and_the_service_keeps_serving() {
    let config = ServiceConfig {
        max_batch: 10,
        ..ServiceConfig::default()
    };
    let service = load(config, "tiny");
    let errors_before = metric(
        &service,
        "vigie_requests_total{route=\"/invocations\",outcome=\"client_error\"}",
    )
    .await;
    let ok_before = metric(
        &service,
        "vigie_requests_total{route=\"/invocations\",outcome=\"ok\"}",
    )
    .await;

    let one_megabyte = "a".repeat(1 << 20);
    let mut not_utf8 = br#"{"instances": [""#.to_vec();
    not_utf8.extend_from_slice(&[0xff, 0xfe, b'/', 0xc3]);
    not_utf8.extend_from_slice(br#""]}"#);
    let oversized = format!(r#"{{"instances": ["{}"]}}"#, "b".repeat(5 << 20));
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed JSON",
            "application/json",
            br#"{"instances": ["#.to_vec(),
            400,
            "invalid JSON",
        ),
        (
            "not an object",
            "application/json",
            b"[1, 2]".to_vec(),
            400,
            "expected a JSON object",
        ),
        (
            "a number in a text column",
            "application/json",
            br#"{"dataframe_split": {"columns": ["text"], "data": [["a"], ["b"], ["c"], [4]]}}"#
                .to_vec(),
            400,
            "dataframe_split.data[3]: expected a string in column `text`",
        ),
        (
            "no text column",
            "application/json",
            br#"{"dataframe_records": [{"a": "x", "b": "y"}]}"#.to_vec(),
            400,
            "dataframe_records[0]: no `text` field",
        ),
        (
            "unknown input key",
            "application/json",
            br#"{"data": ["a"]}"#.to_vec(),
            400,
            "unknown field `data`",
        ),
        (
            "wrong content type",
            "text/plain",
            br#"{"instances": ["a"]}"#.to_vec(),
            415,
            "Content-Type",
        ),
        (
            "not UTF-8",
            "application/json",
            not_utf8,
            400,
            "not valid UTF-8",
        ),
        (
            "oversized body",
            "application/json",
            oversized.into_bytes(),
            413,
            "larger than the limit",
        ),
        (
            "a 1 MB request",
            "application/json",
            json!({"instances": ["/a", one_megabyte, "/b"]})
                .to_string()
                .into_bytes(),
            413,
            "instances[1]: 1048576 bytes, above the limit of 65536 bytes per request",
        ),
        (
            "too large a batch",
            "application/json",
            json!({"instances": vec!["/a"; 11]})
                .to_string()
                .into_bytes(),
            413,
            "11 requests in one call, above the limit of 10",
        ),
        (
            "a bad CSV",
            "text/csv",
            b"a,b\n1,2\n".to_vec(),
            400,
            "csv header: no `text` column",
        ),
    ];
    for (what, content_type, body, status, message) in &cases {
        let (got, answer) = post(&service, "/invocations", content_type, body.clone()).await;
        assert_eq!(got, *status, "{what}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {answer}"));
        assert!(error.contains(message), "{what}: {error}");
        assert_still_serving(&service).await;
    }

    // /score's own body errors.
    for (body, message) in [
        (
            json!({"requests": ["a", 1]}),
            "requests[1]: expected a string, got a number",
        ),
        (
            json!({"requests": "a"}),
            "requests: expected a list of strings",
        ),
        (
            json!({"requests": ["a"], "top": 1000}),
            "top: 1000 features asked, at most 100",
        ),
        (json!({"texts": ["a"]}), "unknown field `texts`"),
    ] {
        let (status, answer) = post_json(&service, "/score", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(message),
            "{answer}"
        );
    }
    let (status, answer) = post(&service, "/score", "application/json", vec![b'{', 0xff]).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("UTF-8"),
        "{answer}"
    );
    let (status, answer) = post_json(
        &service,
        "/score",
        &json!({"requests": ["/a", "/b", "x".repeat(100_000)]}),
    )
    .await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(
        answer["error"],
        "requests[2]: 100000 bytes, above the limit of 65536 bytes per request"
    );
    assert_still_serving(&service).await;

    // axum's own rejections come out in the same shape.
    let (status, answer) = get(&service, "/nope").await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("no route GET /nope"),
        "{answer}"
    );
    let (status, answer) = get(&service, "/score").await;
    assert_eq!(status, 405, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("use POST"),
        "{answer}"
    );
    let (status, answer) = post_json(&service, "/health", &json!({})).await;
    assert_eq!(status, 405, "{answer}");
    assert_still_serving(&service).await;

    // Every /invocations case above was counted as a client error, every check as ok.
    let errors_after = metric(
        &service,
        "vigie_requests_total{route=\"/invocations\",outcome=\"client_error\"}",
    )
    .await;
    let ok_after = metric(
        &service,
        "vigie_requests_total{route=\"/invocations\",outcome=\"ok\"}",
    )
    .await;
    assert_eq!(errors_after - errors_before, cases.len() as f64);
    assert_eq!(ok_after - ok_before, cases.len() as f64 + 2.0);
    assert!(
        metric(
            &service,
            "vigie_requests_total{route=\"other\",outcome=\"client_error\"}"
        )
        .await
            >= 1.0
    );
    assert!(
        metric(
            &service,
            "vigie_requests_total{route=\"/score\",outcome=\"client_error\"}"
        )
        .await
            >= 6.0
    );
}

#[tokio::test]
async fn metrics_count_scores_by_verdict_and_time_each_route() {
    let service = load(ServiceConfig::default(), "tiny");
    let texts = texts();
    let verdicts = engine("direct").verdicts(&texts, 0);
    let malicious = verdicts.iter().filter(|v| v.malicious).count() as f64;
    let (status, _) = post_json(&service, "/invocations", &json!({"instances": texts})).await;
    assert_eq!(status, 200);
    let (status, _) = post_json(&service, "/score", &json!({"requests": texts})).await;
    assert_eq!(status, 200);

    let (status, headers, text) = get_raw(&service, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    for sample in [
        format!(
            "vigie_scored_requests_total{{verdict=\"malicious\"}} {}",
            2.0 * malicious
        ),
        format!(
            "vigie_scored_requests_total{{verdict=\"benign\"}} {}",
            2.0 * (texts.len() as f64 - malicious)
        ),
        format!("vigie_score_count {}", 2 * texts.len()),
        format!("vigie_score_bucket{{le=\"+Inf\"}} {}", 2 * texts.len()),
        "vigie_request_duration_seconds_count{route=\"/score\"} 1".to_owned(),
        "vigie_request_duration_seconds_bucket{route=\"/score\",le=\"+Inf\"} 1".to_owned(),
        "vigie_requests_total{route=\"/invocations\",outcome=\"ok\"} 1".to_owned(),
        "vigie_model_info{model=\"tiny\",kind=\"linear_svm\",family=\"linear\"} 1".to_owned(),
        "# TYPE vigie_request_duration_seconds histogram".to_owned(),
        "# TYPE vigie_model_reloads_total counter".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == sample),
            "{sample} missing:\n{text}"
        );
    }
}

#[tokio::test]
async fn the_bearer_token_guards_every_route_but_health() {
    let config = ServiceConfig {
        bearer_token: Some("s3cret-token".to_owned()),
        ..ServiceConfig::default()
    };
    let service = load(config, "tiny");
    let call = async |route: &str, authorization: Option<&str>| {
        let mut request = if route == "/invocations" || route == "/score" {
            let body = if route == "/score" {
                json!({"requests": ["/a"]})
            } else {
                json!({"instances": ["/a"]})
            };
            let body = body.to_string();
            Request::post(route)
                .header(CONTENT_TYPE, "application/json")
                .header(CONTENT_LENGTH, body.len())
                .body(Body::from(body))
                .unwrap()
        } else {
            Request::get(route).body(Body::empty()).unwrap()
        };
        if let Some(value) = authorization {
            request
                .headers_mut()
                .insert(AUTHORIZATION, value.parse().unwrap());
        }
        let (status, headers, text) = send(&service, request).await;
        (status, text, headers.get(WWW_AUTHENTICATE).cloned())
    };

    let (status, text, _) = call("/health", None).await;
    assert_eq!((status, text.as_str()), (200, r#"{"status":"ok"}"#));
    for route in ["/invocations", "/score", "/version", "/metrics", "/nope"] {
        for (authorization, message) in [
            (None, "missing `Authorization: Bearer <token>` header"),
            (Some("Bearer wrong"), "invalid bearer token"),
            (Some("Bearer s3cret-toke"), "invalid bearer token"),
            (Some("Bearer s3cret-token2"), "invalid bearer token"),
            (
                Some("Basic s3cret-token"),
                "missing `Authorization: Bearer <token>` header",
            ),
        ] {
            let (status, text, challenge) = call(route, authorization).await;
            assert_eq!(status, 401, "{route} {authorization:?}: {text}");
            let answer: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(answer, json!({"error": message}), "{route}");
            assert_eq!(challenge.unwrap(), "Bearer");
        }
        let (status, text, _) = call(route, Some("Bearer s3cret-token")).await;
        let expected = if route == "/nope" { 404 } else { 200 };
        assert_eq!(status, expected, "{route}: {text}");
        let (status, _, _) = call(route, Some("bearer s3cret-token")).await;
        assert_eq!(status, expected, "the scheme is case-insensitive");
    }
    let (_, text, _) = call("/metrics", Some("Bearer s3cret-token")).await;
    assert!(
        text.lines()
            .any(|l| l
                .starts_with("vigie_requests_total{route=\"/score\",outcome=\"client_error\"} ")),
        "401s are counted:\n{text}"
    );
}

#[tokio::test]
async fn version_shows_the_model_and_a_reload_swaps_it_or_keeps_it_on_failure() {
    let script = Arc::new(Mutex::new(Next::Model("models:/vigie-tiny/1".to_owned())));
    let service = load_scripted(ServiceConfig::default(), &script);
    let engine = engine("direct");
    let manifest = engine.manifest();

    let (status, version) = get(&service, "/version").await;
    assert_eq!(status, 200, "{version}");
    assert_eq!(version["vigie_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(version["model"], "models:/vigie-tiny/1");
    assert_eq!(version["kind"], "linear_svm");
    assert_eq!(version["family"], "linear");
    assert_eq!(version["threshold"].as_f64(), Some(engine.threshold()));
    assert_eq!(version["threshold_source"], "stored");
    assert_eq!(version["training_data"]["dataset"], "tiny");
    assert_eq!(
        version["training_data"]["digest"],
        manifest.training_data.digest.as_str()
    );
    assert_eq!(
        version["model_vigie_version"],
        manifest.vigie_version.as_str()
    );
    let loaded_at = version["loaded_at"].as_str().unwrap().to_owned();
    assert!(
        loaded_at.ends_with('Z') && loaded_at.contains('T'),
        "{loaded_at}"
    );

    // The same identity: nothing swapped.
    assert_eq!(
        service.reload().unwrap(),
        ReloadOutcome::Unchanged {
            identity: "models:/vigie-tiny/1".to_owned()
        }
    );

    // The alias moved: the new model serves.
    *script.lock().unwrap() = Next::Model("models:/vigie-tiny/2".to_owned());
    assert_eq!(
        service.reload().unwrap(),
        ReloadOutcome::Swapped {
            previous: "models:/vigie-tiny/1".to_owned(),
            current: "models:/vigie-tiny/2".to_owned(),
        }
    );
    let (_, version) = get(&service, "/version").await;
    assert_eq!(version["model"], "models:/vigie-tiny/2");
    let (_, answer) = post_json(&service, "/score", &json!({"requests": ["/a"]})).await;
    assert_eq!(answer["model"], "models:/vigie-tiny/2");

    // The registry fails: the old model keeps serving.
    *script.lock().unwrap() = Next::Failure;
    let error = service.reload().unwrap_err();
    assert!(
        error.to_string().contains("registry unreachable"),
        "{error}"
    );
    let (_, version) = get(&service, "/version").await;
    assert_eq!(version["model"], "models:/vigie-tiny/2");
    assert_still_serving(&service).await;

    for (result, count) in [("swapped", 1.0), ("unchanged", 1.0), ("failed", 1.0)] {
        let sample = format!("vigie_model_reloads_total{{result=\"{result}\"}}");
        assert_eq!(metric(&service, &sample).await, count, "{sample}");
    }
}

// A real server: the reload interval is a task of `Service::serve`, not of the router.
#[test]
fn the_reload_interval_picks_up_a_moved_alias() {
    let script = Arc::new(Mutex::new(Next::Model("models:/vigie-tiny/1".to_owned())));
    let config = ServiceConfig {
        reload_interval: Some(Duration::from_millis(200)),
        ..ServiceConfig::default()
    };
    let server = start_scripted(config, &script);
    let client = client();
    *script.lock().unwrap() = Next::Model("models:/vigie-tiny/2".to_owned());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let version = version_over_http(&client, &server);
        if version["model"] == "models:/vigie-tiny/2" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reload within 30 s: {version}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// A real server: concurrent connections, then the graceful shutdown closing the socket.
#[test]
fn requests_in_flight_survive_reloads_and_shutdown_is_clean() {
    let script = Arc::new(Mutex::new(Next::Model("a".to_owned())));
    let server = start_scripted(ServiceConfig::default(), &script);
    let url = server.url();
    let batch: Vec<String> = (0..1000)
        .map(|i| format!("/item.php?id={i}' or 1=1--"))
        .collect();
    let body = json!({"instances": batch}).to_string();
    let scoring = std::thread::spawn(move || {
        let client = client();
        for _ in 0..10 {
            let response = client
                .post(format!("{url}/invocations"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let answer: Value = serde_json::from_str(&response.text().unwrap()).unwrap();
            assert_eq!(answer["predictions"].as_array().unwrap().len(), 1000);
        }
    });
    for i in 0..10 {
        *script.lock().unwrap() = Next::Model(format!("v{i}"));
        assert!(matches!(
            server.reload().unwrap(),
            ReloadOutcome::Swapped { .. }
        ));
    }
    scoring.join().unwrap();

    let addr = server.addr();
    server.shutdown().unwrap();
    assert!(
        client()
            .get(format!("http://{addr}/health"))
            .send()
            .is_err(),
        "still answering after shutdown"
    );
}

// A real server: a body cut short on the TCP connection, which only a socket can do.
#[test]
fn a_call_whose_body_never_arrives_gets_408_and_the_service_keeps_serving() {
    use std::io::{Read, Write};
    let config = ServiceConfig {
        request_timeout: Duration::from_millis(500),
        ..ServiceConfig::default()
    };
    let server = start(config, "tiny");
    let client = client();
    // Headers announce 100 bytes; 15 arrive, then nothing.
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"requests\": ["
    )
    .unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    // Until the JSON error has arrived (or the server closes, or 30 s pass).
    while !String::from_utf8_lossy(&response).contains("\"}") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
        }
    }
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(
        response.contains("not received and answered within 0.5 s"),
        "{response}"
    );
    assert_still_serving_over_http(&client, &server);
    assert_eq!(
        metric_over_http(
            &client,
            &server,
            "vigie_requests_total{route=\"/score\",outcome=\"client_error\"}"
        ),
        1.0
    );
}
