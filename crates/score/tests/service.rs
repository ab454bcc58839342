//! The scoring service over real HTTP on 127.0.0.1: MLflow payload shapes score exactly like
//! the engine, `/score` gives the engine's verdicts, bad calls get the right 4xx with a JSON
//! error and the service keeps serving, the bearer token guards every route but `/health`,
//! metrics count it all, and reloads swap the model (or keep it when the loader fails).
//!
//! One tiny linear SVM is trained per test binary (through `vigie_runner`, on a hand-written
//! dataset) and every test loads it into a server of its own.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Next, engine, scripted_loader, trained};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use vigie_score::service::{ReloadOutcome, RunningServer, ServiceConfig, spawn_blocking_server};

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

/// POSTs `body` with `content_type`; the status and the body parsed as JSON.
fn post(
    client: &Client,
    server: &RunningServer,
    route: &str,
    content_type: &str,
    body: impl Into<reqwest::blocking::Body>,
) -> (u16, Value) {
    let response = client
        .post(format!("{}{route}", server.url()))
        .header("content-type", content_type)
        .body(body)
        .send()
        .unwrap();
    status_and_json(response)
}

fn post_json(client: &Client, server: &RunningServer, route: &str, body: &Value) -> (u16, Value) {
    post(client, server, route, "application/json", body.to_string())
}

fn get(client: &Client, server: &RunningServer, route: &str) -> (u16, Value) {
    status_and_json(
        client
            .get(format!("{}{route}", server.url()))
            .send()
            .unwrap(),
    )
}

fn status_and_json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().unwrap();
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "status {status}: {text}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

/// The value of one sample of `/metrics` (0 when absent).
fn metric(client: &Client, server: &RunningServer, sample: &str) -> f64 {
    let text = client
        .get(format!("{}/metrics", server.url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .map_or(0.0, |value| value.parse().unwrap())
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

/// A request the service must always accept, to show it still serves.
fn assert_still_serving(client: &Client, server: &RunningServer) {
    let (status, body) = post_json(
        client,
        server,
        "/invocations",
        &json!({"instances": ["/index.html"]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"].as_array().unwrap().len(), 1);
}

fn predictions(body: &Value) -> Vec<u64> {
    body["predictions"]
        .as_array()
        .unwrap_or_else(|| panic!("no predictions: {body}"))
        .iter()
        .map(|p| p.as_f64().unwrap().to_bits())
        .collect()
}

#[test]
fn every_mlflow_payload_shape_scores_bit_for_bit_like_the_engine() {
    let server = start(ServiceConfig::default(), "tiny");
    let client = client();
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
        let (status, answer) = post_json(&client, &server, "/invocations", &body);
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(predictions(&answer), expected, "{body}");
    }

    let mut csv = String::from("id,text\r\n");
    for (i, text) in texts.iter().enumerate() {
        csv.push_str(&format!("{i},\"{}\"\r\n", text.replace('"', "\"\"")));
    }
    let (status, answer) = post(&client, &server, "/invocations", "text/csv", csv);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(predictions(&answer), expected);

    let (status, answer) = post_json(&client, &server, "/invocations", &json!({"inputs": []}));
    assert_eq!((status, answer), (200, json!({"predictions": []})));
}

#[test]
fn score_gives_the_engines_verdicts_with_features() {
    let server = start(ServiceConfig::default(), "models:/vigie-tiny/1");
    let client = client();
    let texts = texts();
    let engine = engine("direct");

    let (status, answer) = post_json(&client, &server, "/score", &json!({"requests": texts}));
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

    let (status, answer) = post_json(
        &client,
        &server,
        "/score",
        &json!({"requests": texts, "top": 2}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["results"],
        serde_json::to_value(engine.verdicts(&texts, 2)).unwrap()
    );

    let (status, answer) = post_json(
        &client,
        &server,
        "/score",
        &json!({"requests": texts, "explain": false}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["results"],
        serde_json::to_value(engine.verdicts(&texts, 0)).unwrap()
    );
}

#[test]
fn bad_calls_get_a_json_error_with_the_right_status_and_the_service_keeps_serving() {
    let config = ServiceConfig {
        max_batch: 10,
        ..ServiceConfig::default()
    };
    let server = start(config, "tiny");
    let client = client();
    let errors_before = metric(
        &client,
        &server,
        "vigie_requests_total{route=\"/invocations\",outcome=\"client_error\"}",
    );
    let ok_before = metric(
        &client,
        &server,
        "vigie_requests_total{route=\"/invocations\",outcome=\"ok\"}",
    );

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
        let (got, answer) = post(&client, &server, "/invocations", content_type, body.clone());
        assert_eq!(got, *status, "{what}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {answer}"));
        assert!(error.contains(message), "{what}: {error}");
        assert_still_serving(&client, &server);
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
        let (status, answer) = post_json(&client, &server, "/score", &body);
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(message),
            "{answer}"
        );
    }
    let (status, answer) = post(
        &client,
        &server,
        "/score",
        "application/json",
        vec![b'{', 0xff],
    );
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("UTF-8"),
        "{answer}"
    );
    let (status, answer) = post_json(
        &client,
        &server,
        "/score",
        &json!({"requests": ["/a", "/b", "x".repeat(100_000)]}),
    );
    assert_eq!(status, 413, "{answer}");
    assert_eq!(
        answer["error"],
        "requests[2]: 100000 bytes, above the limit of 65536 bytes per request"
    );
    assert_still_serving(&client, &server);

    // axum's own rejections come out in the same shape.
    let (status, answer) = get(&client, &server, "/nope");
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("no route GET /nope"),
        "{answer}"
    );
    let (status, answer) = get(&client, &server, "/score");
    assert_eq!(status, 405, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("use POST"),
        "{answer}"
    );
    let (status, answer) = post_json(&client, &server, "/health", &json!({}));
    assert_eq!(status, 405, "{answer}");
    assert_still_serving(&client, &server);

    // Every /invocations case above was counted as a client error, every check as ok.
    let errors_after = metric(
        &client,
        &server,
        "vigie_requests_total{route=\"/invocations\",outcome=\"client_error\"}",
    );
    let ok_after = metric(
        &client,
        &server,
        "vigie_requests_total{route=\"/invocations\",outcome=\"ok\"}",
    );
    assert_eq!(errors_after - errors_before, cases.len() as f64);
    assert_eq!(ok_after - ok_before, cases.len() as f64 + 2.0);
    assert!(
        metric(
            &client,
            &server,
            "vigie_requests_total{route=\"other\",outcome=\"client_error\"}"
        ) >= 1.0
    );
    assert!(
        metric(
            &client,
            &server,
            "vigie_requests_total{route=\"/score\",outcome=\"client_error\"}"
        ) >= 6.0
    );
}

#[test]
fn metrics_count_scores_by_verdict_and_time_each_route() {
    let server = start(ServiceConfig::default(), "tiny");
    let client = client();
    let texts = texts();
    let verdicts = engine("direct").verdicts(&texts, 0);
    let malicious = verdicts.iter().filter(|v| v.malicious).count() as f64;
    let (status, _) = post_json(
        &client,
        &server,
        "/invocations",
        &json!({"instances": texts}),
    );
    assert_eq!(status, 200);
    let (status, _) = post_json(&client, &server, "/score", &json!({"requests": texts}));
    assert_eq!(status, 200);

    let response = client
        .get(format!("{}/metrics", server.url()))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().unwrap();
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

#[test]
fn the_bearer_token_guards_every_route_but_health() {
    let config = ServiceConfig {
        bearer_token: Some("s3cret-token".to_owned()),
        ..ServiceConfig::default()
    };
    let server = start(config, "tiny");
    let client = client();
    let body = json!({"instances": ["/a"]}).to_string();
    let call = |route: &str, authorization: Option<&str>| {
        let mut request = if route == "/invocations" || route == "/score" {
            client
                .post(format!("{}{route}", server.url()))
                .header("content-type", "application/json")
                .body(if route == "/score" {
                    json!({"requests": ["/a"]}).to_string()
                } else {
                    body.clone()
                })
        } else {
            client.get(format!("{}{route}", server.url()))
        };
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let challenge = response.headers().get("www-authenticate").cloned();
        let text = response.text().unwrap();
        (status, text, challenge)
    };

    let (status, text, _) = call("/health", None);
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
            let (status, text, challenge) = call(route, authorization);
            assert_eq!(status, 401, "{route} {authorization:?}: {text}");
            let answer: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(answer, json!({"error": message}), "{route}");
            assert_eq!(challenge.unwrap(), "Bearer");
        }
        let (status, text, _) = call(route, Some("Bearer s3cret-token"));
        let expected = if route == "/nope" { 404 } else { 200 };
        assert_eq!(status, expected, "{route}: {text}");
        let (status, _, _) = call(route, Some("bearer s3cret-token"));
        assert_eq!(status, expected, "the scheme is case-insensitive");
    }
    let (_, text, _) = call("/metrics", Some("Bearer s3cret-token"));
    assert!(
        text.lines()
            .any(|l| l
                .starts_with("vigie_requests_total{route=\"/score\",outcome=\"client_error\"} ")),
        "401s are counted:\n{text}"
    );
}

#[test]
fn version_shows_the_model_and_a_reload_swaps_it_or_keeps_it_on_failure() {
    let script = Arc::new(Mutex::new(Next::Model("models:/vigie-tiny/1".to_owned())));
    let server = start_scripted(ServiceConfig::default(), &script);
    let client = client();
    let engine = engine("direct");
    let manifest = engine.manifest();

    let (status, version) = get(&client, &server, "/version");
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
        server.reload().unwrap(),
        ReloadOutcome::Unchanged {
            identity: "models:/vigie-tiny/1".to_owned()
        }
    );

    // The alias moved: the new model serves.
    *script.lock().unwrap() = Next::Model("models:/vigie-tiny/2".to_owned());
    assert_eq!(
        server.reload().unwrap(),
        ReloadOutcome::Swapped {
            previous: "models:/vigie-tiny/1".to_owned(),
            current: "models:/vigie-tiny/2".to_owned(),
        }
    );
    let (_, version) = get(&client, &server, "/version");
    assert_eq!(version["model"], "models:/vigie-tiny/2");
    let (_, answer) = post_json(&client, &server, "/score", &json!({"requests": ["/a"]}));
    assert_eq!(answer["model"], "models:/vigie-tiny/2");

    // The registry fails: the old model keeps serving.
    *script.lock().unwrap() = Next::Failure;
    let error = server.reload().unwrap_err();
    assert!(
        error.to_string().contains("registry unreachable"),
        "{error}"
    );
    let (_, version) = get(&client, &server, "/version");
    assert_eq!(version["model"], "models:/vigie-tiny/2");
    assert_still_serving(&client, &server);

    for (result, count) in [("swapped", 1.0), ("unchanged", 1.0), ("failed", 1.0)] {
        let sample = format!("vigie_model_reloads_total{{result=\"{result}\"}}");
        assert_eq!(metric(&client, &server, &sample), count, "{sample}");
    }
}

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
        let (_, version) = get(&client, &server, "/version");
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
    assert_still_serving(&client, &server);
    assert_eq!(
        metric(
            &client,
            &server,
            "vigie_requests_total{route=\"/score\",outcome=\"client_error\"}"
        ),
        1.0
    );
}
