//! A tracking server that cannot be reached never holds a run: against a closed port and
//! against a listener that accepts and never answers (both on 127.0.0.1), `vigie train` trains
//! at once, journals the run, says so once, and `vigie mlflow sync` later sends it to the real
//! server; read-only commands (`runs`, `reproduce`, `score --model models:/…`) fail within
//! seconds naming the URI and the cause.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use vigie_test_support::{TINY_SVM_CONFIG, local_tracking_uri, tiny_dataset};

use crate::mlflow::client;
use crate::train::train;
use crate::util::{json, stderr, vigie};

/// Bounds far above an offline run (about a second here) and far below the minutes of retries
/// these commands used to spend: not timings, a hang detector.
const GENEROUS: Duration = Duration::from_secs(60);

fn closed_port_uri() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    format!("http://127.0.0.1:{port}")
}

/// A listener that accepts every connection and never answers, for the test's lifetime.
fn blackhole_uri() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let uri = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    uri
}

fn train_against(dir: &Path, uri: &str, out: &str) -> (serde_json::Value, String, Duration) {
    let config = dir.join("c.toml");
    std::fs::write(&config, TINY_SVM_CONFIG).expect("write config");
    let started = Instant::now();
    let output = train(dir, &config, out, uri);
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", stderr(&output));
    (json(&output), stderr(&output), elapsed)
}

#[test]
fn training_goes_on_at_once_when_the_server_is_unreachable_and_syncs_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    tiny_dataset(dir);
    for (uri, out) in [
        (closed_port_uri(), "out/closed"),
        (blackhole_uri(), "out/blackhole"),
    ] {
        let (outcome, log, elapsed) = train_against(dir, &uri, out);
        assert!(elapsed < GENEROUS, "{uri}: {elapsed:?}");
        assert_eq!(outcome["synced"], false, "{outcome}");
        assert!(outcome["test"]["f1"].as_f64().is_some(), "{outcome}");
        let journal = dir.join(outcome["journal"].as_str().expect("journal path"));
        assert!(journal.is_file(), "{}", journal.display());
        assert_eq!(
            log.matches("cannot reach the tracking store").count(),
            1,
            "said once: {log}"
        );
    }

    // The real server, later: both runs arrive.
    let real = local_tracking_uri();
    let synced = vigie(
        dir,
        &[
            "--json",
            "mlflow",
            "sync",
            "--to",
            &real,
            "--journal-dir",
            "journal",
        ],
    );
    assert!(synced.status.success(), "{}", stderr(&synced));
    let report = json(&synced);
    assert_eq!(
        report["journals"]["synced"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    let client = client(&real);
    for entry in report["journals"]["synced"].as_array().expect("synced") {
        let run_id = entry["run_id"].as_str().expect("run id");
        let run = client.get_run(run_id).expect("the run is on the server");
        assert!(run.data.metric("test_f1").is_some(), "{run_id}");
    }
}

#[test]
fn read_only_commands_fail_within_seconds_naming_the_server_and_the_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let commands: [&[&str]; 3] = [
        &["runs", "compare", "vigie-tiny"],
        &["reproduce", "0123456789abcdef0123456789abcdef"],
        &["score", "--model", "models:/vigie-tiny@champion", "GET /"],
    ];
    for (uri, cause) in [
        (closed_port_uri(), "Connection refused"),
        (blackhole_uri(), "timed out"),
    ] {
        for command in commands {
            let args = [command, &["--tracking-uri", &uri]].concat();
            let started = Instant::now();
            let out = vigie(dir.path(), &args);
            let elapsed = started.elapsed();
            assert!(elapsed < GENEROUS, "{args:?}: {elapsed:?}");
            assert!(!out.status.success(), "{args:?}");
            let port = uri.rsplit(':').next().expect("port");
            let message = stderr(&out);
            assert!(
                message.contains(&format!("127.0.0.1:{port}")),
                "{args:?}: {message}"
            );
            assert!(message.contains(cause), "{args:?}: {message}");
        }
    }
}

#[test]
fn a_sweep_against_an_unreachable_server_runs_on_a_local_store_that_syncs_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    tiny_dataset(dir);
    std::fs::write(dir.join("base.toml"), TINY_SVM_CONFIG).expect("write base");
    std::fs::write(
        dir.join("sweep.toml"),
        "base = \"base.toml\"\n[[search.space]]\n[search.space.grid]\n\"model.c\" = [0.5, 2.0]\n",
    )
    .expect("write sweep");
    let started = Instant::now();
    let out = vigie(
        dir,
        &[
            "--json",
            "--data-dir",
            "data",
            "--datasets-dir",
            "datasets",
            "sweep",
            "sweep.toml",
            "--tracking-uri",
            &closed_port_uri(),
            "--out",
            "out/sweep",
            "--journal-dir",
            "journal",
        ],
    );
    assert!(started.elapsed() < GENEROUS, "{:?}", started.elapsed());
    assert!(out.status.success(), "{}", stderr(&out));
    let outcome = json(&out);
    assert_eq!(
        outcome["leaderboard"]["rows"].as_array().map(Vec::len),
        Some(2)
    );
    let store = outcome["offline_store"].as_str().expect("offline store");
    assert!(Path::new(store).is_dir(), "{store}");
    assert_eq!(
        stderr(&out)
            .matches("cannot reach the tracking server")
            .count(),
        1,
        "{}",
        stderr(&out)
    );

    let real = local_tracking_uri();
    let synced = vigie(
        dir,
        &[
            "--json",
            "mlflow",
            "sync",
            "--to",
            &real,
            "--from-store",
            store,
            "--journal-dir",
            "journal",
        ],
    );
    assert!(synced.status.success(), "{}", stderr(&synced));
    let report = json(&synced);
    // The parent and its two trials.
    assert_eq!(report["local_store"]["runs_created"], 3, "{report}");
}
