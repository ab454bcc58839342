//! Integration tests of the run journal, [`RunLogger`] and the replay, against real MLflow
//! servers: the one named by `MLFLOW_TRACKING_URI` (start it with `scripts/mlflow-server start`;
//! `scripts/test` does it), and, for the fault test, a private server this test starts, kills
//! and restarts on its own database.

mod failing_store;
mod proxy;
#[path = "../support/mod.rs"]
mod support;
use support::{client as shared_client, unique};

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigie_mlflow::journal::{
    CLIENT_RUN_ID_TAG, JOURNAL_FORMAT_VERSION, Journal, JournalOp, pending_journals,
};
use vigie_mlflow::{
    CreateRun, Metric, MlflowClient, Param, Run, RunLogger, RunOptions, RunStatus, Tag,
    TrackingConfig, TrackingStore, sync_all, sync_journal,
};

const METRIC_KEYS: [&str; 6] = [
    "train_loss",
    "valid_loss",
    "accuracy",
    "precision",
    "recall",
    "f1",
];

/// The only run of `experiment` tagged with `client_run_id`.
fn run_by_client_id(client: &MlflowClient, experiment: &str, client_run_id: &str) -> Run {
    let experiment_id = client
        .get_experiment_by_name(experiment)
        .expect("experiment lookup")
        .expect("experiment exists")
        .experiment_id;
    let runs = client
        .find_runs_by_tag(&experiment_id, CLIENT_RUN_ID_TAG, client_run_id)
        .expect("search runs");
    assert_eq!(runs.len(), 1, "expected exactly one run: {runs:#?}");
    client
        .get_run(&runs[0].info.run_id)
        .expect("get the found run")
}

/// Asserts that `key` holds exactly the points of `steps`, each once.
fn assert_history(client: &MlflowClient, run_id: &str, key: &str, steps: std::ops::Range<i64>) {
    let history = client.get_metric_history(run_id, key).expect("history");
    let mut got: Vec<i64> = history.iter().map(|m| m.step).collect();
    got.sort_unstable();
    let expected: Vec<i64> = steps.collect();
    assert_eq!(got, expected, "metric {key}: every step exactly once");
}

fn metric_value(key_index: usize, step: i64) -> f64 {
    1.0 / (step as f64 + 1.0) + key_index as f64
}

// ----- (1) a long run in a handful of requests -----

#[test]
fn journal_logger_sends_a_long_run_in_few_requests() {
    let client = shared_client();
    let root = tempfile::tempdir().expect("temp dir");
    let experiment = unique("long");
    let params: Vec<Param> = (0..50)
        .map(|i| Param::new(format!("param_{i:02}"), format!("value-{i}")))
        .collect();
    // Trainers log into an existing experiment; creating one costs 2 more requests
    // (get-by-name 404, create, re-read), counted in none of the numbers below.
    client
        .get_or_create_experiment(&experiment)
        .expect("experiment");

    let log_run = |flush_on_epoch: bool| {
        let options = RunOptions {
            run_name: Some(format!("flush-on-epoch-{flush_on_epoch}")),
            flush_on_epoch,
            flush_interval: Duration::from_secs(3600),
            ..RunOptions::new(root.path(), &experiment)
        };
        let before = client.stats().attempts;
        let mut logger = RunLogger::start(client.clone(), options).expect("start");
        logger.log_params(&params).expect("params");
        for epoch in 0..100 {
            for (k, key) in METRIC_KEYS.iter().enumerate() {
                logger
                    .log_metric(key, metric_value(k, epoch), epoch)
                    .expect("metric");
            }
            logger.end_epoch().expect("end epoch");
        }
        let client_run_id = logger.client_run_id().to_owned();
        let outcome = logger.finish(RunStatus::Finished).expect("finish");
        let requests = client.stats().attempts - before;
        assert!(outcome.synced, "{outcome:?}");
        assert!(outcome.journal.starts_with(root.path().join("done")));
        (client_run_id, outcome.run_id.expect("run id"), requests)
    };

    let (client_run_id, run_id, requests_at_end) = log_run(false);
    eprintln!("50 params + 100 epochs x 6 metrics, flushed at the end: {requests_at_end} requests");
    // Experiment lookup, run creation, one log-batch, end.
    assert!(requests_at_end <= 5, "{requests_at_end} requests");

    let run = run_by_client_id(&client, &experiment, &client_run_id);
    assert_eq!(run.info.run_id, run_id);
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.data.params.len(), 50);
    for param in &params {
        assert_eq!(run.data.param(&param.key), Some(param.value.as_str()));
    }
    for (k, key) in METRIC_KEYS.iter().enumerate() {
        assert_history(&client, &run_id, key, 0..100);
        assert_eq!(run.data.metric(key), Some(metric_value(k, 99)));
    }

    let (_, per_epoch_run, requests_per_epoch) = log_run(true);
    eprintln!("the same run flushed at each epoch: {requests_per_epoch} requests");
    // One log-batch per epoch instead of one in all.
    assert!(requests_per_epoch <= 104, "{requests_per_epoch} requests");
    assert_history(&client, &per_epoch_run, "f1", 0..100);
    assert!(pending_journals(root.path()).expect("list").is_empty());
}

#[test]
fn journal_logger_dropped_without_finish_marks_the_run_killed() {
    let client = shared_client();
    let root = tempfile::tempdir().expect("temp dir");
    let experiment = unique("dropped");
    let mut logger =
        RunLogger::start(client.clone(), RunOptions::new(root.path(), &experiment)).expect("start");
    logger.log_metric("loss", 0.5, 0).expect("metric");
    let client_run_id = logger.client_run_id().to_owned();
    drop(logger);
    let run = run_by_client_id(&client, &experiment, &client_run_id);
    assert_eq!(run.info.status, RunStatus::Killed);
    assert_history(&client, &run.info.run_id, "loss", 0..1);
    assert!(pending_journals(root.path()).expect("list").is_empty());
}

// ----- (2) the fault test: the server dies mid-run and comes back -----

/// A private MLflow server on its own port, database and artifacts folder, killed (with its
/// whole process group) on drop.
struct PrivateServer {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl PrivateServer {
    fn start(dir: &Path, port: u16) -> PrivateServer {
        let mlflow = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/mlflow");
        assert!(
            mlflow.exists(),
            "{} is missing: run scripts/setup-python",
            mlflow.display()
        );
        fs::create_dir_all(dir.join("artifacts")).expect("server dir");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("server log");
        let child = Command::new(&mlflow)
            .arg("server")
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
            .arg("--artifacts-destination")
            .arg(dir.join("artifacts"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--workers", "1"])
            .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            // Its own process group, so killing it kills the workers too.
            .process_group(0)
            .spawn()
            .expect("spawn mlflow server");
        let mut server = PrivateServer {
            dir: dir.to_path_buf(),
            port,
            child: Some(child),
        };
        server.wait_healthy();
        server
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if health_ok(self.port) {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("mlflow server exited ({status}):\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("mlflow server did not answer /health:\n{}", self.log_tail());
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGKILL the whole process group, and reap the child.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `GET /health` answers 200 (plain HTTP/1.0 over a socket: no client setup needed).
fn health_ok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A client that gives up quickly, so offline flushes do not slow the test.
fn impatient_client(uri: &str) -> MlflowClient {
    let config = TrackingConfig::builder(uri)
        .max_retries(1)
        .backoff_factor_secs(0.1)
        .backoff_max(Duration::from_millis(200))
        .request_timeout(Duration::from_secs(10))
        .build()
        .expect("config");
    MlflowClient::new(config).expect("client")
}

#[test]
fn journal_fault_server_killed_mid_run_then_synced_exactly_once() {
    let work = tempfile::tempdir().expect("temp dir");
    let server_dir = work.path().join("server");
    let root = work.path().join("journal");
    let port = free_port();
    let mut server = PrivateServer::start(&server_dir, port);
    let client = impatient_client(&server.uri());
    let experiment = unique("fault");

    let artifact_a = work.path().join("a.txt");
    let artifact_b = work.path().join("b.txt");
    fs::write(&artifact_a, "before the crash").expect("write a");
    fs::write(&artifact_b, "during the outage").expect("write b");

    let mut logger =
        RunLogger::start(client.clone(), RunOptions::new(&root, &experiment)).expect("start");
    let client_run_id = logger.client_run_id().to_owned();
    let params: Vec<Param> = (0..20)
        .map(|i| Param::new(format!("p{i}"), i.to_string()))
        .collect();
    logger.log_params(&params[..10]).expect("params online");
    logger
        .log_artifact(&artifact_a, Some("plots"))
        .expect("artifact a");
    let keys = &METRIC_KEYS[..3];
    for epoch in 0..30 {
        for (k, key) in keys.iter().enumerate() {
            logger
                .log_metric(key, metric_value(k, epoch), epoch)
                .expect("metric online");
        }
        logger.end_epoch().expect("flush online");
    }
    assert!(logger.is_online());

    server.kill();
    logger.log_params(&params[10..]).expect("params offline");
    logger
        .set_tags(&[Tag::new("phase", "outage")])
        .expect("tag offline");
    logger.log_artifact(&artifact_b, None).expect("artifact b");
    fs::remove_file(&artifact_b).expect("delete the original");
    for epoch in 30..60 {
        for (k, key) in keys.iter().enumerate() {
            logger
                .log_metric(key, metric_value(k, epoch), epoch)
                .expect("metric offline");
        }
        logger
            .end_epoch()
            .expect("an unreachable server is not an error");
    }
    // The background sender meets the outage; the epochs did not wait for it.
    assert!(logger.wait_settled(Duration::from_secs(30)));
    assert!(!logger.is_online(), "the logger noticed the outage");
    let outcome = logger.finish(RunStatus::Finished).expect("finish offline");
    assert!(!outcome.synced);
    assert_eq!(pending_journals(&root).expect("list").len(), 1);

    let server = PrivateServer::start(&server_dir, port);
    let report = sync_all(&root, &client).expect("sync");
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.synced.len(), 1, "{report:#?}");
    let synced = &report.synced[0];
    assert!(synced.done);
    assert!(!synced.created_run, "the run existed before the outage");
    assert_eq!(synced.final_status, Some(RunStatus::Finished));

    let run = run_by_client_id(&client, &experiment, &client_run_id);
    let run_id = run.info.run_id.clone();
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.data.params.len(), 20);
    for param in &params {
        assert_eq!(run.data.param(&param.key), Some(param.value.as_str()));
    }
    assert_eq!(run.data.tag("phase"), Some("outage"));
    for key in keys {
        assert_history(&client, &run_id, key, 0..60);
    }
    let plots = client
        .list_artifacts(&run.info.artifact_uri, Some("plots"))
        .expect("list plots");
    assert!(plots.iter().any(|f| f.path == "plots/a.txt"), "{plots:?}");
    let root_files = client
        .list_artifacts(&run.info.artifact_uri, None)
        .expect("list root");
    assert!(
        root_files.iter().any(|f| f.path == "b.txt"),
        "{root_files:?}"
    );
    let downloaded = work.path().join("b.downloaded");
    client
        .download_file(&run.info.artifact_uri, "b.txt", &downloaded)
        .expect("download b");
    assert_eq!(
        fs::read_to_string(&downloaded).expect("read b"),
        "during the outage"
    );

    // A second sync finds nothing to do and changes nothing.
    let again = sync_all(&root, &client).expect("second sync");
    assert!(again.synced.is_empty() && again.is_clean(), "{again:#?}");
    for key in keys {
        assert_history(&client, &run_id, key, 0..60);
    }
    drop(server);
}

// ----- (3) a crash between an apply and its ack -----

#[test]
fn journal_replay_after_crash_between_apply_and_ack_sends_no_duplicates() {
    let client = shared_client();
    let root = tempfile::tempdir().expect("temp dir");
    let experiment = unique("crash");
    let client_run_id = "crash-between-apply-and-ack".to_owned() + &unique("id")[19..];
    let tags = vec![Tag::new(CLIENT_RUN_ID_TAG, &client_run_id)];
    let start_time = vigie_mlflow::now_millis();

    // The journal as a crashed writer left it: the run and a first batch reached the server,
    // but neither acknowledgement was written; a second batch and the finish never left.
    let mut journal = Journal::create(root.path(), &client_run_id).expect("journal");
    let seq = journal.take_seq();
    journal
        .append_op(&JournalOp::Start {
            seq,
            version: JOURNAL_FORMAT_VERSION,
            client_run_id: client_run_id.clone(),
            experiment: experiment.clone(),
            run_name: Some("crashed".into()),
            tags: tags.clone(),
            start_time,
        })
        .expect("start");
    let experiment_id = client.experiment_id(&experiment).expect("experiment");
    let run = client
        .create_run(&CreateRun {
            tags,
            start_time: Some(start_time),
            ..CreateRun::new(&experiment_id)
        })
        .expect("run applied before the crash");
    let points = |steps: std::ops::Range<i64>| -> Vec<Metric> {
        steps
            .flat_map(|step| {
                METRIC_KEYS.iter().enumerate().map(move |(k, key)| {
                    Metric::at(*key, metric_value(k, step), step, start_time + step)
                })
            })
            .collect()
    };
    let first = points(0..10);
    let params = vec![Param::new("lr", "0.01")];
    let seq = journal.take_seq();
    journal
        .append_op(&JournalOp::Batch {
            seq,
            metrics: first.clone(),
            params: params.clone(),
            tags: vec![],
        })
        .expect("batch 1");
    client
        .log_batch(&run.info.run_id, &first, &params, &[])
        .expect("batch applied before the crash");
    let seq = journal.take_seq();
    journal
        .append_op(&JournalOp::Batch {
            seq,
            metrics: points(10..20),
            params: vec![],
            tags: vec![],
        })
        .expect("batch 2");
    let seq = journal.take_seq();
    journal
        .append_op(&JournalOp::Finish {
            seq,
            status: RunStatus::Finished,
            end_time: start_time + 100,
        })
        .expect("finish");
    let path = journal.path().to_path_buf();
    drop(journal);
    // And the killed writer's half line.
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    file.write_all(br#"{"ack":[1"#).expect("torn line");
    drop(file);

    let synced = sync_journal(&path, &client)
        .expect("replay")
        .expect("not locked");
    assert_eq!(synced.run_id, run.info.run_id);
    assert!(!synced.created_run);
    assert_eq!(synced.metrics_already_present, 60);
    assert_eq!(synced.metrics_sent, 60);
    assert!(synced.done);
    for key in METRIC_KEYS {
        assert_history(&client, &run.info.run_id, key, 0..20);
    }
    let run = client.get_run(&run.info.run_id).expect("run");
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.data.param("lr"), Some("0.01"));
    assert!(!path.exists());
    assert!(
        root.path()
            .join("done")
            .join(path.file_name().expect("name"))
            .exists()
    );
}

#[test]
fn journal_replay_keeps_the_end_of_a_run_the_store_holds_as_ended() {
    let client = shared_client();
    let root = tempfile::tempdir().expect("temp dir");
    let experiment = unique("ended");
    let client_run_id = format!("ended-{}", &unique("id")[19..]);
    let tags = vec![Tag::new(CLIENT_RUN_ID_TAG, &client_run_id)];
    // A writer killed right after journaling its FINISHED, before sending it; meanwhile a
    // sweep's resume found its run RUNNING, its process gone, ended it KILLED and ran the
    // trial again.
    let experiment_id = client.experiment_id(&experiment).expect("experiment");
    let run = client
        .create_run(&CreateRun {
            tags: tags.clone(),
            ..CreateRun::new(&experiment_id)
        })
        .expect("run");
    let run_id = run.info.run_id;
    let mut journal = Journal::create(root.path(), &client_run_id).expect("journal");
    for op in [
        JournalOp::Start {
            seq: 0,
            version: JOURNAL_FORMAT_VERSION,
            client_run_id: client_run_id.clone(),
            experiment: experiment.clone(),
            run_name: None,
            tags,
            start_time: vigie_mlflow::now_millis(),
        },
        JournalOp::Batch {
            seq: 1,
            metrics: vec![Metric::new("loss", 0.5, 0)],
            params: vec![],
            tags: vec![],
        },
        JournalOp::Finish {
            seq: 2,
            status: RunStatus::Finished,
            end_time: vigie_mlflow::now_millis(),
        },
    ] {
        journal.append_op(&op).expect("append");
    }
    journal.ack(vec![0], Some(run_id.clone())).expect("ack");
    let path = journal.path().to_path_buf();
    drop(journal);
    client
        .end_run(&run_id, RunStatus::Killed)
        .expect("the resume ends it");

    let synced = sync_journal(&path, &client)
        .expect("replay")
        .expect("not locked");
    assert!(synced.done, "{synced:?}");
    assert_eq!(synced.final_status, None, "{synced:?}");
    let run = client.get_run(&run_id).expect("run");
    assert_eq!(
        run.info.status,
        RunStatus::Killed,
        "the resume's end is kept"
    );
    assert_history(&client, &run_id, "loss", 0..1);
}

// ----- starting offline, automatic sync on start, refused params -----

#[test]
fn journal_logger_started_offline_is_synced_later() {
    let shared = shared_client();
    let root = tempfile::tempdir().expect("temp dir");
    let experiment = unique("offline-start");
    // Nothing listens on this port: the run starts and ends offline.
    let dead = impatient_client(&format!("http://127.0.0.1:{}", free_port()));
    let mut logger = RunLogger::start(dead, RunOptions::new(root.path(), &experiment))
        .expect("an unreachable store is not an error");
    assert!(!logger.is_online());
    assert_eq!(logger.run_id(), None);
    logger
        .log_params(&[Param::new("lr", "0.1")])
        .expect("param");
    for step in 0..5 {
        logger
            .log_metric("loss", 1.0 / (step as f64 + 1.0), step)
            .expect("metric");
        logger.end_epoch().expect("offline flush");
    }
    let client_run_id = logger.client_run_id().to_owned();
    let outcome = logger.finish(RunStatus::Finished).expect("finish");
    assert!(!outcome.synced && outcome.run_id.is_none(), "{outcome:?}");

    let report = sync_all(root.path(), &shared).expect("sync");
    assert!(report.is_clean() && report.synced.len() == 1, "{report:#?}");
    assert!(report.synced[0].created_run);
    let run = run_by_client_id(&shared, &experiment, &client_run_id);
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.data.param("lr"), Some("0.1"));
    assert_history(&shared, &run.info.run_id, "loss", 0..5);
}

#[test]
fn journal_logger_start_syncs_older_pending_journals() {
    let client = shared_client();
    let root = tempfile::tempdir().expect("temp dir");
    let experiment = unique("auto-sync");
    // A run whose process died before it reached the server: start and one batch, no finish.
    let older_id = format!("older-{}", &unique("id")[19..]);
    let mut journal = Journal::create(root.path(), &older_id).expect("journal");
    for op in [
        JournalOp::Start {
            seq: 0,
            version: JOURNAL_FORMAT_VERSION,
            client_run_id: older_id.clone(),
            experiment: experiment.clone(),
            run_name: None,
            tags: vec![Tag::new(CLIENT_RUN_ID_TAG, &older_id)],
            start_time: vigie_mlflow::now_millis(),
        },
        JournalOp::Batch {
            seq: 1,
            metrics: vec![Metric::new("loss", 0.25, 0)],
            params: vec![],
            tags: vec![],
        },
    ] {
        journal.append_op(&op).expect("append");
    }
    drop(journal);

    let logger =
        RunLogger::start(client.clone(), RunOptions::new(root.path(), &experiment)).expect("start");
    let older = run_by_client_id(&client, &experiment, &older_id);
    assert_eq!(
        older.info.status,
        RunStatus::Killed,
        "a dead writer's run ends KILLED"
    );
    assert_history(&client, &older.info.run_id, "loss", 0..1);
    // Only the live logger's own journal is pending.
    let pending = pending_journals(root.path()).expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(Some(pending[0].as_path()), logger.journal_path());
    logger.finish(RunStatus::Finished).expect("finish");
}

#[test]
fn journal_logger_refuses_changing_a_param() {
    let client = shared_client();
    let root = tempfile::tempdir().expect("temp dir");
    let mut logger =
        RunLogger::start(client, RunOptions::new(root.path(), unique("param"))).expect("start");
    logger
        .log_params(&[Param::new("lr", "0.1")])
        .expect("param");
    logger
        .log_params(&[Param::new("lr", "0.1")])
        .expect("the same value again");
    let err = logger
        .log_params(&[Param::new("lr", "0.2")])
        .expect_err("a changed param");
    assert!(err.to_string().contains("lr"), "{err}");
    let outcome = logger.finish(RunStatus::Finished).expect("finish");
    assert!(outcome.synced, "{outcome:?}");
}
