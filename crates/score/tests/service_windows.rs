//! The service's own monitoring windows (`vigie serve --monitor-window`), over real HTTP on
//! 127.0.0.1 with windows of a second or two: a benign window then an attack-heavy one, each a
//! point of one MLflow run (read back from a local file store), the attack window's alert rate
//! and PSI higher and the drift tag set; the partial window logged at shutdown; a reload to
//! another version ends one run and starts the next; a dead tracking server changes nothing
//! for the clients and the journal keeps the run. Against the MLflow server of
//! `MLFLOW_TRACKING_URI`, the same run reads back from the server (skipped without one).
//!
//! Timings: requests are sent a fifth of a window after a window starts, and every wait is
//! generous, so a slow machine only makes the tests slower.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Next, scripted_loader, trained};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use vigie_mlflow::journal::{JournalOp, pending_journals, read_journal};
use vigie_mlflow::{DefaultStore, MlflowClient, Run, RunStatus, TrackingConfig, TrackingStore};
use vigie_score::service::{
    MonitoringConfig, RunningServer, ServiceConfig, StoreOpener, spawn_blocking_server,
};
use vigie_test_support::local_tracking_uri_or_skip;

const EXPERIMENT: &str = "vigie-serve-windows";

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Sleeps until a fifth of the way into the next window of `window_ms`; returns its start.
fn next_window(window_ms: u64) -> u64 {
    let start = (now_ms() / window_ms + 1) * window_ms;
    std::thread::sleep(Duration::from_millis(start + window_ms / 5 - now_ms()));
    start
}

fn monitoring(
    window: Duration,
    journal: &Path,
    experiment: &str,
    store: StoreOpener,
) -> MonitoringConfig {
    MonitoringConfig {
        window,
        window_text: format!("{}s", window.as_secs()),
        psi_bound: 0.2,
        alert_factor: 3.0,
        expected_alert_rate: None,
        min_requests: 50,
        experiment: experiment.to_owned(),
        journal_dir: journal.to_owned(),
        model_ref: "models:/vigie-tiny@champion".to_owned(),
        host: "test-host".to_owned(),
        store,
    }
}

fn file_store(dir: &Path) -> StoreOpener {
    let uri = dir.join("mlruns").display().to_string();
    Arc::new(move || DefaultStore::from_uri(Some(&uri)))
}

// A real server, not the router alone: the runs end (partial window logged) at its shutdown.
fn serve(monitoring: MonitoringConfig, script: &Arc<Mutex<Next>>) -> RunningServer {
    let config = ServiceConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        monitoring: Some(monitoring),
        ..ServiceConfig::default()
    };
    spawn_blocking_server(config, scripted_loader(script)).unwrap()
}

fn version(identity: &str) -> Arc<Mutex<Next>> {
    Arc::new(Mutex::new(Next::Model(identity.to_owned())))
}

fn client() -> Client {
    trained();
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Benign requests like the training data's, unseen.
fn benign(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 3 {
            0 => format!("/shop/item.php?id={}&cat={}", 1000 + i, i % 5),
            1 => format!("/images/logo_{}.png", 2000 + i),
            _ => format!("/blog/2023/post-{}.html?page={}", 3000 + i, i % 4),
        })
        .collect()
}

/// Three attacks in four requests.
fn attack_heavy(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 4 {
            0 => format!("/item.php?id={}' or 1=1--", 5000 + i),
            1 => format!("/search?q=<script>alert({i})</script>"),
            2 => format!("/item.php?id={}' union select password from users--", i),
            _ => format!("/images/logo_{}.png", 6000 + i),
        })
        .collect()
}

fn invocations(client: &Client, server: &RunningServer, texts: &[String]) {
    let response = client
        .post(format!("{}/invocations", server.url()))
        .header("content-type", "application/json")
        .body(json!({ "instances": texts }).to_string())
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

fn score(client: &Client, server: &RunningServer, texts: &[String]) -> Value {
    let response = client
        .post(format!("{}/score", server.url()))
        .header("content-type", "application/json")
        .body(json!({ "requests": texts, "explain": false }).to_string())
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    serde_json::from_str(&response.text().unwrap()).unwrap()
}

/// The runs of `experiment`, by the model they served.
fn runs_by_model(store: &dyn TrackingStore, experiment: &str) -> BTreeMap<String, Run> {
    let experiment = store.experiment_id(experiment).unwrap();
    store
        .find_runs_by_tag(&experiment, "vigie.command", "serve")
        .unwrap()
        .into_iter()
        .map(|run| {
            let model = run.data.tag("vigie.model").unwrap().to_owned();
            (model, store.get_run(&run.info.run_id).unwrap())
        })
        .collect()
}

/// A metric's points by step, checking there is one point per step.
fn history(store: &dyn TrackingStore, run: &Run, key: &str) -> BTreeMap<i64, f64> {
    let points = store.metric_history(&run.info.run_id, key).unwrap();
    let by_step: BTreeMap<i64, f64> = points.iter().map(|m| (m.step, m.value)).collect();
    assert_eq!(by_step.len(), points.len(), "{key}: two points at one step");
    by_step
}

/// The benign window then the attack-heavy window, logged while the service runs, and what
/// the run holds once it stopped.
fn windows_are_logged_and_the_attack_window_drifts(
    store: &dyn TrackingStore,
    experiment: &str,
    open: StoreOpener,
) {
    const WINDOW_MS: u64 = 2000;
    let dir = tempfile::tempdir().unwrap();
    let config = monitoring(
        Duration::from_millis(WINDOW_MS),
        dir.path(),
        experiment,
        open,
    );
    let server = serve(config, &version("models:/vigie-tiny/4"));
    let client = client();

    let calm = next_window(WINDOW_MS);
    invocations(&client, &server, &benign(300));
    let attacked = next_window(WINDOW_MS);
    let verdicts = score(&client, &server, &attack_heavy(200));
    let flagged = verdicts["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["malicious"] == true)
        .count();
    assert!(
        flagged >= 100,
        "the tiny model caught only {flagged} of 150 attacks"
    );

    // The attack window closes (its end, the grace, the recorder's write) while serving.
    let run = wait_for_step(store, experiment, step_of(attacked, WINDOW_MS));
    assert_eq!(run.info.status, RunStatus::Running);
    server.shutdown().unwrap();

    let runs = runs_by_model(store, experiment);
    let run = &runs["models:/vigie-tiny/4"];
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.info.run_name, "serve-linear_svm-test-host");
    assert_eq!(
        run.data.tag("vigie.model_ref"),
        Some("models:/vigie-tiny@champion")
    );
    assert_eq!(run.data.param("window_ms"), Some("2000"));
    let requests = history(store, run, "requests");
    let steps: Vec<i64> = requests.keys().copied().collect();
    let first = steps[0];
    assert_eq!(
        steps,
        (first..first + steps.len() as i64).collect::<Vec<_>>(),
        "one point per window, quiet ones included"
    );
    let (calm, attacked) = (step_of(calm, WINDOW_MS), step_of(attacked, WINDOW_MS));
    assert_eq!(requests[&calm], 300.0);
    assert_eq!(requests[&attacked], 200.0);
    assert_eq!(requests.values().sum::<f64>(), 500.0);
    assert!(
        *steps.last().unwrap() > attacked,
        "the partial window is logged at shutdown"
    );

    let alert_rate = history(store, run, "alert_rate");
    let psi = history(store, run, "psi");
    assert!(alert_rate[&attacked] > 0.5, "{alert_rate:?}");
    assert!(
        alert_rate[&attacked] > alert_rate[&calm] + 0.4,
        "{alert_rate:?}"
    );
    assert!(
        psi[&attacked] > 0.2 && psi[&attacked] > psi[&calm],
        "{psi:?}"
    );
    assert_eq!(history(store, run, "drift")[&attacked], 1.0);
    let sqli = history(store, run, "alerts_sqli");
    assert_eq!(
        sqli.len(),
        steps.len(),
        "a family has a point in every window"
    );
    assert!(sqli[&attacked] >= 1.0, "{sqli:?}");
    assert_eq!(run.data.tag("vigie.drift"), Some("true"));
    let drifted = run.data.tag("vigie.drifted_windows").unwrap();
    assert!(
        drifted.contains(&label(attacked * WINDOW_MS as i64)),
        "{drifted}"
    );

    // The chart, drawn when the attack window drifted and again at the end.
    let artifacts = store.list_run_artifacts(&run.info.run_id, None).unwrap();
    assert!(
        artifacts.iter().any(|a| a.path == "monitor.png"),
        "{artifacts:?}"
    );
    let chart = dir.path().join("downloaded.png");
    store
        .download_artifact(&run.info.run_id, "monitor.png", &chart)
        .unwrap();
    let png = std::fs::read(&chart).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let left_behind = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".chart-"));
    assert!(!left_behind, "the chart's scratch folder is left behind");
}

fn step_of(start_ms: u64, window_ms: u64) -> i64 {
    i64::try_from(start_ms / window_ms).unwrap()
}

/// `YYYY-MM-DD HH:MM:SS` of a time, as the drifted-windows tag lists windows of seconds.
fn label(ms: i64) -> String {
    vigie_score::monitor::window::label(ms, 2000)
}

/// Polls until the service's run has a `requests` point at `step` (at most a minute).
fn wait_for_step(store: &dyn TrackingStore, experiment: &str, step: i64) -> Run {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(run) = runs_by_model(store, experiment).into_values().next()
            && history(store, &run, "requests").contains_key(&step)
        {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "window {step} not logged within a minute"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn each_window_is_a_point_and_the_attack_window_drifts() {
    let dir = tempfile::tempdir().unwrap();
    let open = file_store(dir.path());
    let store = open().unwrap();
    windows_are_logged_and_the_attack_window_drifts(&store, EXPERIMENT, open);
}

#[test]
fn a_reload_to_another_version_ends_one_run_and_starts_the_next() {
    const WINDOW_MS: u64 = 1000;
    let dir = tempfile::tempdir().unwrap();
    let open = file_store(dir.path());
    let script = version("models:/vigie-tiny/1");
    let server = serve(
        monitoring(
            Duration::from_secs(1),
            dir.path(),
            EXPERIMENT,
            Arc::clone(&open),
        ),
        &script,
    );
    let client = client();
    next_window(WINDOW_MS);
    invocations(&client, &server, &benign(40));
    *script.lock().unwrap() = Next::Model("models:/vigie-tiny/2".to_owned());
    server.reload().unwrap();
    score(&client, &server, &attack_heavy(60));
    next_window(WINDOW_MS);
    invocations(&client, &server, &benign(10));
    server.shutdown().unwrap();

    let store = open().unwrap();
    let runs = runs_by_model(&store, EXPERIMENT);
    assert_eq!(runs.len(), 2, "{:?}", runs.keys());
    let total = |model: &str| -> f64 {
        let run = &runs[model];
        assert_eq!(run.info.status, RunStatus::Finished, "{model}");
        history(&store, run, "requests").values().sum()
    };
    assert_eq!(total("models:/vigie-tiny/1"), 40.0);
    assert_eq!(total("models:/vigie-tiny/2"), 70.0);
}

#[test]
fn a_dead_tracking_server_changes_nothing_for_clients_and_the_journal_keeps_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let open: StoreOpener = Arc::new(move || {
        let config = TrackingConfig::builder(uri.clone())
            .max_retries(0)
            .request_timeout(Duration::from_secs(2))
            .build()?;
        Ok(DefaultStore::Server(Box::new(MlflowClient::new(config)?)))
    });
    let journal = dir.path().join("journal");
    let server = serve(
        monitoring(Duration::from_secs(1), &journal, EXPERIMENT, open),
        &version("models:/vigie-tiny/9"),
    );
    let client = client();
    let started = Instant::now();
    for _ in 0..5 {
        invocations(&client, &server, &benign(20));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "clients waited on the tracking server: {:?}",
        started.elapsed()
    );
    let stopping = Instant::now();
    server.shutdown().unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(30));

    let journals = pending_journals(&journal).unwrap();
    assert_eq!(journals.len(), 1, "{journals:?}");
    let contents = read_journal(&journals[0]).unwrap();
    assert!(contents.is_finished());
    let requests: f64 = journaled_points(&journals[0], "requests").iter().sum();
    assert_eq!(requests, 100.0);
}

/// The values of a metric's points in a journal.
fn journaled_points(journal: &Path, key: &str) -> Vec<f64> {
    read_journal(journal)
        .unwrap()
        .ops
        .iter()
        .filter_map(|op| match op {
            JournalOp::Batch { metrics, .. } => Some(metrics),
            _ => None,
        })
        .flatten()
        .filter(|m| m.key == key)
        .map(|m| m.value)
        .collect()
}

#[test]
fn the_service_windows_read_back_from_the_mlflow_server() {
    let Some(uri) = local_tracking_uri_or_skip() else {
        return;
    };
    // A fresh experiment per run of the test, on a server that keeps the older ones.
    let experiment = format!("{EXPERIMENT}-{}", now_ms());
    let open: StoreOpener = Arc::new(move || DefaultStore::from_uri(Some(&uri)));
    let store = open().unwrap();
    windows_are_logged_and_the_attack_window_drifts(&store, &experiment, open);
}
