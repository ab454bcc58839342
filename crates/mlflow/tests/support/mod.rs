//! Helpers shared by the integration test binaries of this crate (each folder of `tests/`
//! includes this file with `#[path = "../support/mod.rs"] mod support;`).

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use vigie_mlflow::{MlflowClient, TrackingConfig};

/// A client for the test server, configured from the environment like a real trainer. Fails
/// (rather than skips) when no server is configured, and refuses anything but a local server so
/// the tests never write junk into a real tracking server.
pub fn client() -> MlflowClient {
    let uri = std::env::var("MLFLOW_TRACKING_URI").unwrap_or_default();
    assert!(
        !uri.trim().is_empty(),
        "MLFLOW_TRACKING_URI is not set: run `export MLFLOW_TRACKING_URI=$(scripts/mlflow-server \
         start)` first (scripts/test does it)"
    );
    let config =
        TrackingConfig::from_env().unwrap_or_else(|e| panic!("invalid MLflow settings: {e}"));
    let host = host_of(config.tracking_uri());
    assert!(
        matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]"),
        "these tests only run against a local MLflow server (127.0.0.1), not {host}"
    );
    MlflowClient::new(config).unwrap_or_else(|e| panic!("cannot build the client: {e}"))
}

fn host_of(uri: &str) -> String {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_string(),
        _ => authority.to_string(),
    }
}

/// A name no other test, process or earlier run of the suite uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "vigie-test-{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The venv's Python with mlflow (`VIGIE_PYTHON`, else `<workspace>/.venv/bin/python`); panics
/// with the fix when absent.
pub fn python() -> PathBuf {
    vigie_test_support::venv_python("mlflow")
}
