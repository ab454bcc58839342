//! `vigie bench mlflow --json` against the MLflow server named by `MLFLOW_TRACKING_URI` (start one
//! with `scripts/mlflow-server start`), with the venv's Python client. Fails, rather than skips,
//! without a local server or the Python. Speed is measured by the command, never asserted here.

use vigie_test_support::{local_tracking_uri, venv_python, workspace_root};

use crate::util::{json, vigie};

#[test]
fn bench_mlflow_reports_vigie_and_every_python_mode() {
    let uri = local_tracking_uri();
    let python = venv_python("mlflow");
    let python = python.to_str().expect("a UTF-8 python path");
    let report = json(&vigie(
        &workspace_root(),
        &[
            "bench",
            "mlflow",
            "--json",
            "--quiet",
            "--epochs",
            "5",
            "--repeats",
            "1",
            "--tracking-uri",
            &uri,
            "--python",
            python,
        ],
    ));
    assert_eq!(report["epochs"], 5);
    assert_eq!(report["params"], 50);
    assert_eq!(report["repeats"], 1);
    let modes = report["modes"].as_array().expect("modes");
    let find = |client: &str, mode: &str| {
        modes
            .iter()
            .find(|m| m["client"] == client && m["mode"] == mode)
            .unwrap_or_else(|| panic!("no {client} {mode} row in {report}"))
    };

    let vigie_end = find("vigie", "flush_at_end");
    let requests = vigie_end["requests"].as_u64().expect("requests");
    assert!(requests <= 5, "Vigie's run took {requests} requests");
    assert_eq!(report["meets_request_target"], true);
    // Experiment lookup, run creation, at most one batch per epoch, end: the background
    // sender merges the epochs handed over while it was still sending an earlier one, and
    // this bench hands them over as fast as it can.
    let per_epoch = find("vigie", "flush_per_epoch")["requests"]
        .as_u64()
        .expect("requests");
    assert!(
        (2 + 1 + 1..=2 + 5 + 1).contains(&per_epoch),
        "Vigie's per-epoch run took {per_epoch} requests"
    );

    assert_eq!(report["python_mlflow_version"], "3.17.2");
    for mode in ["per_value", "log_batch", "per_epoch"] {
        let row = find("python", mode);
        assert!(row["requests"].as_u64().expect("requests") >= 4, "{row}");
        assert!(row["seconds"].as_f64().expect("seconds") > 0.0, "{row}");
        assert!(!row["run_id"].as_str().expect("run id").is_empty(), "{row}");
    }
    // One request per value: 50 params + 5 x 6 metrics, besides create, get and update.
    assert_eq!(find("python", "per_value")["requests"], 50 + 30 + 3);
    assert!(report["faster_than_python_best"].is_boolean());
}
