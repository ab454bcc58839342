//! A server that answered and then fails (503s, or no answer at all) does not hold the epochs of
//! a [`RunLogger`]: the client's retries with backoff run on the logger's background sender.
//! Every point reaches the real server once the proxy in front of it recovers, or through a
//! sync; a refusal (400) still reaches the caller.

use std::time::{Duration, Instant};

use vigie_mlflow::journal::pending_journals;
use vigie_mlflow::{MlflowClient, RunLogger, RunOptions, RunStatus, TrackingConfig, sync_all};

use crate::proxy::{Mode, Proxy, RETRY_AFTER_SECS};
use crate::{METRIC_KEYS, assert_history, metric_value, run_by_client_id, shared_client, unique};

/// Retries of one failing call: at least 4 × `Retry-After` (8 s) against 503s, 5 attempts of
/// 2 s against silence. The old synchronous flush spent that on the training thread.
const MAX_RETRIES: u32 = 4;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Generous for 20 epochs of journal writes (milliseconds), well under one failing call.
const EPOCHS_BOUND: Duration = Duration::from_secs(4);
const ONLINE_EPOCHS: i64 = 5;
const EPOCHS: i64 = 25;

fn patient_client(uri: &str) -> MlflowClient {
    let config = TrackingConfig::builder(uri)
        .max_retries(MAX_RETRIES)
        .backoff_factor_secs(1.0)
        .backoff_max(Duration::from_secs(RETRY_AFTER_SECS))
        .request_timeout(REQUEST_TIMEOUT)
        .build()
        .expect("config");
    MlflowClient::new(config).expect("client")
}

fn options(root: &std::path::Path, experiment: &str, finish_timeout: Duration) -> RunOptions {
    RunOptions {
        sync_pending_on_start: false,
        finish_timeout,
        ..RunOptions::new(root, experiment)
    }
}

fn log_epochs(logger: &mut RunLogger<MlflowClient>, epochs: std::ops::Range<i64>) {
    for epoch in epochs {
        for (k, key) in METRIC_KEYS.iter().enumerate() {
            logger
                .log_metric(key, metric_value(k, epoch), epoch)
                .expect("metric");
        }
        logger
            .end_epoch()
            .expect("a failing server is not the trainer's error");
    }
}

/// Starts a run through `proxy` and logs its first epochs while the proxy forwards.
fn start_online(
    proxy: &Proxy,
    root: &std::path::Path,
    finish_timeout: Duration,
) -> RunLogger<MlflowClient> {
    let mut logger = RunLogger::start(
        patient_client(&proxy.uri),
        options(root, &unique("failing"), finish_timeout),
    )
    .expect("start");
    assert!(logger.run_id().is_some(), "created through the proxy");
    log_epochs(&mut logger, 0..ONLINE_EPOCHS);
    assert!(logger.wait_settled(Duration::from_secs(30)));
    assert!(logger.is_online());
    logger
}

/// Logs the rest of the epochs while the proxy fails as `failure`; returns how long they took.
fn epochs_while_failing(
    logger: &mut RunLogger<MlflowClient>,
    proxy: &Proxy,
    failure: Mode,
) -> Duration {
    proxy.set(failure);
    let started = Instant::now();
    log_epochs(logger, ONLINE_EPOCHS..EPOCHS);
    let elapsed = started.elapsed();
    eprintln!(
        "{failure:?}: {} epochs in {elapsed:?}",
        EPOCHS - ONLINE_EPOCHS
    );
    elapsed
}

fn assert_every_point(client: &MlflowClient, experiment: &str, client_run_id: &str) {
    let run = run_by_client_id(client, experiment, client_run_id);
    assert_eq!(run.info.status, RunStatus::Finished);
    for key in METRIC_KEYS {
        assert_history(client, &run.info.run_id, key, 0..EPOCHS);
    }
}

#[test]
fn a_server_answering_503_does_not_hold_the_epochs_and_gets_every_point_once_it_recovers() {
    let real = shared_client();
    let root = tempfile::tempdir().expect("temp dir");
    let proxy = Proxy::start(real.tracking_uri());
    let mut logger = start_online(&proxy, root.path(), Duration::from_secs(60));
    let experiment = logger_experiment(&real, &logger);

    let elapsed = epochs_while_failing(&mut logger, &proxy, Mode::Unavailable);
    assert!(
        elapsed < EPOCHS_BOUND,
        "the epochs waited for retries: {elapsed:?}"
    );

    proxy.set(Mode::Forward);
    let client_run_id = logger.client_run_id().to_owned();
    let outcome = logger.finish(RunStatus::Finished).expect("finish");
    assert!(outcome.synced, "{outcome:?}");
    assert!(pending_journals(root.path()).expect("list").is_empty());
    assert_every_point(&real, &experiment, &client_run_id);
}

#[test]
fn a_server_that_stops_answering_does_not_hold_the_epochs_and_a_sync_sends_every_point() {
    let real = shared_client();
    let root = tempfile::tempdir().expect("temp dir");
    let proxy = Proxy::start(real.tracking_uri());
    let mut logger = start_online(&proxy, root.path(), Duration::from_secs(1));
    let experiment = logger_experiment(&real, &logger);

    let elapsed = epochs_while_failing(&mut logger, &proxy, Mode::Silent);
    assert!(
        elapsed < EPOCHS_BOUND,
        "the epochs waited for timeouts: {elapsed:?}"
    );

    // The end is not held either: the sender is left to its retries, the journal keeps the run.
    let client_run_id = logger.client_run_id().to_owned();
    let ending = Instant::now();
    let outcome = logger.finish(RunStatus::Finished).expect("finish");
    assert!(ending.elapsed() < EPOCHS_BOUND, "{:?}", ending.elapsed());
    assert!(!outcome.synced, "{outcome:?}");
    assert!(outcome.journal.is_file(), "{outcome:?}");

    // Once the sender's last call gave up, it lets go of the journal, and a sync to the real
    // server sends the rest, each point once.
    let deadline = Instant::now() + Duration::from_secs(90);
    let report = loop {
        let report = sync_all(root.path(), &real).expect("sync");
        if report.busy.is_empty() || Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(report.is_clean() && report.synced.len() == 1, "{report:#?}");
    assert_every_point(&real, &experiment, &client_run_id);
}

#[test]
fn a_refusal_by_the_server_reaches_the_caller_at_a_flush_or_the_finish() {
    let real = shared_client();
    let root = tempfile::tempdir().expect("temp dir");
    let proxy = Proxy::start(real.tracking_uri());
    let mut logger = start_online(&proxy, root.path(), Duration::from_secs(30));
    proxy.set(Mode::Refuse);

    logger.log_metric("loss", 0.5, 99).expect("journaled");
    // Sent in the background: the refusal comes back at the next flush.
    let handed = logger.flush();
    assert!(logger.wait_settled(Duration::from_secs(30)));
    let refused = handed.and_then(|()| logger.flush()).expect_err("refused");
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(400), "{refused}");

    logger.log_metric("loss", 0.25, 100).expect("journaled");
    let err = logger
        .finish(RunStatus::Finished)
        .expect_err("the end's refusal is returned by finish");
    assert_eq!(err.error_code(), Some("INVALID_PARAMETER_VALUE"), "{err}");
    assert_eq!(pending_journals(root.path()).expect("list").len(), 1);
}

/// The name of the logger's experiment, read back from the real server.
fn logger_experiment(real: &MlflowClient, logger: &RunLogger<MlflowClient>) -> String {
    let run_id = logger.run_id().expect("run id");
    let run = real.get_run(run_id).expect("the run is on the real server");
    real.get_experiment(&run.info.experiment_id)
        .expect("experiment")
        .name
}
