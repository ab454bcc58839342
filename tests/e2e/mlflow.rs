//! `vigie mlflow sync` against the real MLflow server named by `MLFLOW_TRACKING_URI` (start it
//! with `scripts/mlflow-server start`; `scripts/test` does it): the local store `./mlruns` is
//! pushed once, and a second sync finds every run already there.

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use vigie_mlflow::{CreateRun, FileStore, Metric, Param, RunStatus, TrackingStore};
use vigie_test_support::local_tracking_uri;

use crate::util::{json, stdout, vigie};

/// A client of the server at `uri`.
pub fn client(uri: &str) -> vigie_mlflow::MlflowClient {
    let config = vigie_mlflow::TrackingConfig::from_lookup(|name| match name {
        "MLFLOW_TRACKING_URI" => Some(uri.to_owned()),
        _ => None,
    })
    .expect("tracking config");
    vigie_mlflow::MlflowClient::new(config).expect("client")
}

#[test]
fn mlflow_sync_pushes_the_local_store_once() {
    let uri = local_tracking_uri();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FileStore::new(dir.path().join("mlruns")).expect("file store");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let experiment = format!("vigie-test-e2e-push-{}-{nanos}", std::process::id());
    let experiment_id = store.experiment_id(&experiment).expect("experiment");
    let run_id = store
        .create_run(&CreateRun::new(&experiment_id))
        .expect("run")
        .info
        .run_id;
    let metrics: Vec<Metric> = (0..3).map(|step| Metric::new("loss", 1.0, step)).collect();
    store
        .log_batch(&run_id, &metrics, &[Param::new("lr", "0.1")], &[])
        .expect("batch");
    let file = dir.path().join("notes.txt");
    fs::write(&file, "hello").expect("write");
    store.log_artifacts(&run_id, &file, None).expect("artifact");
    store
        .end_run(&run_id, RunStatus::Finished, 1_700_000_000_000)
        .expect("end");

    let sync = |extra: &[&str]| {
        let mut args = vec!["--json", "mlflow", "sync", "--to", uri.as_str()];
        args.extend_from_slice(extra);
        json(&vigie(dir.path(), &args))
    };
    // `--from-store` defaults to ./mlruns.
    let first = sync(&[]);
    assert!(first["journals"].is_object(), "{first}");
    assert_eq!(first["local_store"]["runs_created"], 1, "{first}");
    assert_eq!(first["local_store"]["metrics_sent"], 3, "{first}");
    assert_eq!(first["local_store"]["artifacts_uploaded"], 1, "{first}");

    let second = sync(&["--from-store", "mlruns"]);
    assert_eq!(second["local_store"]["runs_created"], 0, "{second}");
    assert_eq!(second["local_store"]["runs_already_present"], 1, "{second}");
    assert_eq!(second["local_store"]["metrics_sent"], 0, "{second}");

    // No local store: only the journals are replayed.
    let none = sync(&["--from-store", "missing"]);
    assert!(none["local_store"].is_null(), "{none}");
}

#[test]
fn mlflow_sync_help_documents_the_local_store() {
    let out = vigie(std::path::Path::new("."), &["mlflow", "sync", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    assert!(help.contains("--from-store"), "{help}");
    assert!(help.contains("mlruns"), "{help}");
}
