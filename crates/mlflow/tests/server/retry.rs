//! Retries, headers and secret hygiene, against scripted servers on 127.0.0.1 only.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigie_mlflow::{CreateRun, MlflowClient, MlflowError, TrackingConfig};

use crate::fake_server::{Answer, FakeServer};

const EXPERIMENT: &str = r#"{"experiment": {"experiment_id": "7", "name": "scripted", "artifact_location": "mlflow-artifacts:/7", "lifecycle_stage": "active", "tags": []}}"#;

/// Retries with a tiny backoff, so the tests take milliseconds.
fn fast_client(uri: &str, max_retries: u32) -> MlflowClient {
    let config = TrackingConfig::builder(uri)
        .max_retries(max_retries)
        .backoff_factor_secs(0.001)
        .build()
        .expect("config");
    MlflowClient::new(config).expect("client")
}

#[test]
fn server_errors_are_retried_until_success() {
    let server = FakeServer::start(vec![
        Answer::new(503, "busy"),
        Answer::new(503, "busy"),
        Answer::new(200, EXPERIMENT),
    ]);
    let client = fast_client(&server.uri, 7);
    let experiment = client.get_experiment("7").expect("third attempt succeeds");
    assert_eq!(experiment.name, "scripted");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r.target == "/api/2.0/mlflow/experiments/get?experiment_id=7")
    );
    let stats = client.stats();
    assert_eq!((stats.attempts, stats.retries), (3, 2));
}

#[test]
fn throttling_is_retried_and_retry_after_is_honoured() {
    let server = FakeServer::start(vec![
        Answer::new(429, "slow down").with_header("Retry-After", "1"),
        Answer::new(200, EXPERIMENT),
    ]);
    let client = fast_client(&server.uri, 3);
    let started = Instant::now();
    client.get_experiment("7").expect("second attempt succeeds");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(client.stats().retries, 1);
}

#[test]
fn client_errors_are_reported_at_once() {
    let body = r#"{"error_code": "INVALID_PARAMETER_VALUE", "message": "Missing value for required parameter 'experiment_id'."}"#;
    let server = FakeServer::start(vec![Answer::new(400, body), Answer::new(200, EXPERIMENT)]);
    let client = fast_client(&server.uri, 7);
    let err = client.get_experiment("7").expect_err("400 is final");
    assert_eq!(err.error_code(), Some("INVALID_PARAMETER_VALUE"));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(client.stats().retries, 0);
}

#[test]
fn retries_stop_at_the_limit_with_the_last_answer() {
    let server = FakeServer::start(vec![Answer::new(502, "bad gateway")]);
    let client = fast_client(&server.uri, 2);
    let err = client.get_experiment("7").expect_err("always 502");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(502));
    assert!(err.to_string().contains("bad gateway"), "{err}");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_server_that_never_answered_is_reported_at_once() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let client = fast_client(&format!("http://127.0.0.1:{port}"), 7);
    let started = Instant::now();
    let err = client.get_experiment("7").expect_err("nothing listens");
    assert!(matches!(err, MlflowError::Transport { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert_eq!((client.stats().attempts, client.stats().retries), (1, 0));
    // Generous: it used to retry for minutes.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_listener_that_never_answers_is_reported_within_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let uri = format!("http://{}", listener.local_addr().expect("addr"));
    // Accepts every connection and holds it open, silent.
    let held = Arc::new(Mutex::new(Vec::new()));
    let holder = Arc::clone(&held);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            holder.lock().expect("lock").push(stream);
        }
    });
    let config = TrackingConfig::builder(&uri)
        .max_retries(7)
        .backoff_factor_secs(0.001)
        .request_timeout(Duration::from_secs(1))
        .build()
        .expect("config");
    let client = MlflowClient::new(config).expect("client");
    let started = Instant::now();
    let err = client.get_experiment("7").expect_err("no answer");
    assert!(matches!(err, MlflowError::Transport { .. }), "{err:?}");
    assert_eq!(client.stats().retries, 0);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_that_answered_once_is_retried_when_it_goes_away() {
    // Answers one request, then stops listening (a server restarting).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let uri = format!("http://{}", listener.local_addr().expect("addr"));
    let served = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("one connection");
        let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut reader, &mut line).expect("read") > 2 {
            line.clear();
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{EXPERIMENT}",
            EXPERIMENT.len()
        );
        stream.write_all(answer.as_bytes()).expect("answer");
    });
    let client = fast_client(&uri, 2);
    client.get_experiment("7").expect("answered");
    served.join().expect("server thread");
    let err = client.get_experiment("7").expect_err("gone");
    assert!(matches!(err, MlflowError::Transport { .. }), "{err:?}");
    assert_eq!(client.stats().retries, 2);
}

#[test]
fn posts_carry_json_content_type_and_user_agent() {
    let run = r#"{"run": {"info": {"run_id": "abc", "experiment_id": "7", "status": "RUNNING"}}}"#;
    let server = FakeServer::start(vec![Answer::new(200, run)]);
    let client = fast_client(&server.uri, 0);
    let created = client
        .create_run(&CreateRun {
            run_name: Some("r".into()),
            ..CreateRun::new("7")
        })
        .expect("created");
    assert_eq!(created.info.run_id, "abc");
    let request = &server.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/api/2.0/mlflow/runs/create");
    assert_eq!(
        request.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    let agent = request
        .headers
        .get("user-agent")
        .cloned()
        .unwrap_or_default();
    assert!(agent.starts_with("vigie-mlflow/"), "{agent}");
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("JSON body");
    assert_eq!(body["experiment_id"], "7");
    assert_eq!(body["run_name"], "r");
    assert!(
        body["start_time"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "{body}"
    );
}

#[test]
fn plain_text_errors_keep_their_message() {
    let server = FakeServer::start(vec![Answer::new(
        403,
        "Invalid Host header - possible DNS rebinding attack detected",
    )]);
    let client = fast_client(&server.uri, 3);
    let err = client.get_run("abc").expect_err("403");
    assert_eq!(err.error_code(), None);
    assert!(err.to_string().contains("Invalid Host header"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

/// Runs `action` with every log event of this thread, at every level, captured.
fn with_captured_logs<T>(action: impl FnOnce() -> T) -> (T, String) {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let result = tracing::subscriber::with_default(subscriber, action);
    (result, logs.text())
}

#[test]
fn credentials_are_sent_but_never_shown() {
    const PASSWORD: &str = "hunter2-secret";
    const TOKEN: &str = "tok-0123456789abcdef";
    for (config, expected_header) in [
        (
            TrackingConfig::builder("http://placeholder").basic_auth("alice", PASSWORD),
            // base64("alice:hunter2-secret")
            "Basic YWxpY2U6aHVudGVyMi1zZWNyZXQ=",
        ),
        (
            TrackingConfig::builder("http://placeholder").bearer_token(TOKEN),
            "Bearer tok-0123456789abcdef",
        ),
    ] {
        let server = FakeServer::start(vec![
            Answer::new(503, "busy"),
            Answer::new(
                401,
                r#"{"error_code": "UNAUTHENTICATED", "message": "bad credentials"}"#,
            ),
        ]);
        // Rebuild with the scripted server's URI, keeping the credentials.
        let config = rebuild_with_uri(config, &server.uri);
        let client = MlflowClient::new(config.clone()).expect("client");
        let (result, logs) = with_captured_logs(|| client.get_run("abc"));
        let err = result.expect_err("401");
        assert_eq!(err.error_code(), Some("UNAUTHENTICATED"));
        let requests = server.requests();
        assert_eq!(requests.len(), 2, "503 retried, 401 final");
        for request in &requests {
            assert_eq!(
                request.headers.get("authorization").map(String::as_str),
                Some(expected_header)
            );
        }
        assert!(logs.contains("retrying"), "the retry is logged: {logs}");
        let shown = format!("{err} {err:?} {config:?} {client:?} {logs}");
        for secret in ["alice", PASSWORD, TOKEN, "YWxpY2U6aHVudGVyMi1zZWNyZXQ="] {
            assert!(!shown.contains(secret), "secret {secret} leaked: {shown}");
        }
    }
}

fn rebuild_with_uri(builder: vigie_mlflow::TrackingConfigBuilder, uri: &str) -> TrackingConfig {
    let template = builder.build().expect("config");
    let rebuilt = TrackingConfig::builder(uri)
        .max_retries(3)
        .backoff_factor_secs(0.001);
    match template.credentials() {
        Some(vigie_mlflow::Credentials::Basic { username, password }) => {
            rebuilt.basic_auth(username, password)
        }
        Some(vigie_mlflow::Credentials::Bearer { token }) => rebuilt.bearer_token(token),
        None => rebuilt,
    }
    .build()
    .expect("config")
}
