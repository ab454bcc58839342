//! The file store's output is a real MLflow store: a store written by [`FileStore`] is read back
//! by the Python MLflow client (`read_store.py`: search_experiments, search_runs, get_run,
//! get_metric_history, list_artifacts, download_artifacts) and every param, metric point, tag,
//! status and artifact must come back exactly; then `mlflow migrate-filestore` imports it into
//! SQLite and the SQLite store reads back the same. A run deleted by [`FileStore`] reads as
//! deleted in Python too, and leaves its searches.
//!
//! Python runs from the project venv (`scripts/setup-python`; `VIGIE_PYTHON`), mlflow 3.17. The
//! test fails, rather than skips, without it.

#[path = "../support/mod.rs"]
mod support;
use support::python;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use vigie_mlflow::{
    CreateRun, Dataset, DatasetInput, FileStore, Metric, Param, RunStatus, Tag, TrackingStore,
    mlflow_tags,
};

const STEPS: i64 = 50;
const METRIC_KEYS: [&str; 3] = ["loss", "accuracy", "train/lr"];
const START: i64 = 1_700_000_000_000;
const ARTIFACT_PATH: &str = "reports/sub/summary.txt";
const ARTIFACT_TEXT: &str = "précision: 0.93\nsecond line\n";

/// The value of metric `key` at `step`; a few non-finite ones to check their spelling.
fn metric_value(key_index: usize, step: i64) -> f64 {
    match (key_index, step) {
        (1, 7) => f64::NAN,
        (2, 11) => f64::INFINITY,
        _ => (key_index as f64 + 1.0) / (step as f64 + 3.0) + 0.1,
    }
}

/// Python's `repr()` of a float, from the Rust value: compared as parsed f64 bits, with NaN
/// equal to NaN.
fn same_value(python_repr: &str, expected: f64) -> bool {
    match python_repr.parse::<f64>() {
        Ok(value) if value.is_nan() => expected.is_nan(),
        Ok(value) => value.to_bits() == expected.to_bits(),
        Err(_) => false,
    }
}

/// What one run should read back as.
struct ExpectedRun {
    experiment_id: String,
    name: String,
    status: &'static str,
    end_time: Option<i64>,
    params: Vec<Param>,
    tags: Vec<Tag>,
    metrics: Vec<Metric>,
    has_artifact: bool,
    has_input: bool,
}

fn dataset_input() -> DatasetInput {
    DatasetInput {
        tags: vec![Tag::new(mlflow_tags::DATASET_CONTEXT, "train")],
        dataset: Dataset {
            name: "requests".into(),
            digest: "d41d8cd9".into(),
            source_type: "local".into(),
            source: r#"{"uri": "/data/requests.csv"}"#.into(),
            schema: None,
            profile: Some(r#"{"num_rows": 3}"#.into()),
        },
    }
}

/// Writes two experiments and three runs; returns what each run should read back as.
fn write_store(store: &FileStore, local_files: &Path) -> BTreeMap<String, ExpectedRun> {
    let artifact_source = local_files.join("out");
    fs::create_dir_all(artifact_source.join("sub")).expect("mkdir");
    fs::write(artifact_source.join("sub/summary.txt"), ARTIFACT_TEXT).expect("artifact");

    let plans = [
        (
            "filestore-it: first",
            "finished-run",
            Some(RunStatus::Finished),
            true,
        ),
        (
            "filestore-it: first",
            "failed-run",
            Some(RunStatus::Failed),
            false,
        ),
        ("filestore-it second é", "running-run", None, false),
    ];
    let mut expected = BTreeMap::new();
    for (index, (experiment, name, status, with_files)) in plans.into_iter().enumerate() {
        let experiment_id = store.experiment_id(experiment).expect("experiment");
        let start = START + index as i64 * 1_000_000;
        let run = store
            .create_run(&CreateRun {
                run_name: Some(name.into()),
                start_time: Some(start),
                tags: vec![Tag::new(mlflow_tags::SOURCE_TYPE, "LOCAL")],
                user_id: Some("trainer".into()),
                ..CreateRun::new(&experiment_id)
            })
            .expect("run");
        let run_id = run.info.run_id.clone();

        let params = vec![
            Param::new("lr", "0.001"),
            Param::new("layers", (index + 2).to_string()),
            Param::new("note", "spaces,  a 'quote' and \"double\"\nsecond line"),
            Param::new("unicode", "dégradé ✓"),
        ];
        let tags = vec![
            Tag::new("replay.id", format!("replay-{index}")),
            Tag::new("multi", "line one\nline two"),
        ];
        let metrics: Vec<Metric> = (0..STEPS)
            .flat_map(|step| {
                METRIC_KEYS.iter().enumerate().map(move |(k, key)| {
                    Metric::at(
                        *key,
                        metric_value(k, step),
                        step,
                        start + step * 1000 + k as i64,
                    )
                })
            })
            .collect();
        // Two batches, and params logged twice with the same value (accepted).
        let (first, second) = metrics.split_at(metrics.len() / 2);
        store
            .log_batch(&run_id, first, &params, &tags)
            .expect("first batch");
        store
            .log_batch(&run_id, second, &params[..1], &[])
            .expect("second batch");
        if with_files {
            assert_eq!(
                store
                    .log_artifacts(&run_id, &artifact_source, Some("reports"))
                    .expect("artifacts"),
                1
            );
            store
                .log_inputs(&run_id, &[dataset_input()])
                .expect("inputs");
        }
        let end_time = status.map(|s| {
            let end = start + 99_000;
            store.end_run(&run_id, s, end).expect("end run");
            end
        });

        let mut all_tags = tags;
        all_tags.extend([
            Tag::new(mlflow_tags::SOURCE_TYPE, "LOCAL"),
            Tag::new(mlflow_tags::RUN_NAME, name),
            Tag::new(mlflow_tags::USER, "trainer"),
        ]);
        expected.insert(
            run_id,
            ExpectedRun {
                experiment_id,
                name: name.into(),
                status: match status {
                    Some(RunStatus::Finished) => "FINISHED",
                    Some(_) => "FAILED",
                    None => "RUNNING",
                },
                end_time,
                params,
                tags: all_tags,
                metrics,
                has_artifact: with_files,
                has_input: with_files,
            },
        );
    }
    expected
}

fn read_with_python(tracking_uri: &str, download_dir: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filestore/read_store.py");
    let output = Command::new(python())
        .arg(&script)
        .arg(tracking_uri)
        .arg(download_dir)
        .env("MLFLOW_ALLOW_FILE_STORE", "true")
        .output()
        .expect("start python");
    assert!(
        output.status.success(),
        "read_store.py failed on {tracking_uri}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("read_store.py prints JSON")
}

/// Checks what Python read against what was written. `sql_store`: a SQL store keeps ±infinity
/// as ±`f64::MAX` (MLflow 3.17), so that is what it must return for them.
fn check_python_view(view: &Value, expected: &BTreeMap<String, ExpectedRun>, sql_store: bool) {
    let stored = |value: f64| {
        if sql_store && value.is_infinite() {
            f64::MAX.copysign(value)
        } else {
            value
        }
    };
    let experiments = view["experiments"].as_array().expect("experiments");
    let names: Vec<&str> = experiments
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    for name in ["Default", "filestore-it: first", "filestore-it second é"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let runs = view["runs"].as_object().expect("runs");
    assert_eq!(runs.len(), expected.len(), "{:?}", runs.keys());

    for (run_id, want) in expected {
        let got = &runs[run_id.as_str()];
        assert_eq!(got["experiment_id"], want.experiment_id.as_str());
        assert_eq!(got["run_name"], want.name.as_str());
        assert_eq!(got["user_id"], "trainer");
        assert_eq!(got["status"], want.status, "{run_id}");
        assert_eq!(got["lifecycle_stage"], "active");
        assert_eq!(got["end_time"].as_i64(), want.end_time);
        assert!(got["start_time"].as_i64().is_some_and(|t| t >= START));

        let params = got["params"].as_object().expect("params");
        assert_eq!(params.len(), want.params.len(), "{params:?}");
        for param in &want.params {
            assert_eq!(
                params[&param.key],
                param.value.as_str(),
                "param {}",
                param.key
            );
        }
        let tags = got["tags"].as_object().expect("tags");
        for tag in &want.tags {
            assert_eq!(tags[&tag.key], tag.value.as_str(), "tag {}", tag.key);
        }

        for key in METRIC_KEYS {
            let points: Vec<&Metric> = want.metrics.iter().filter(|m| m.key == key).collect();
            let history = got["history"][key].as_array().expect("history");
            assert_eq!(history.len(), STEPS as usize, "{key}");
            for (point, metric) in history.iter().zip(&points) {
                let value = point[0].as_str().expect("repr");
                assert!(
                    same_value(value, stored(metric.value)),
                    "{key} step {}: {value} != {}",
                    metric.step,
                    metric.value
                );
                assert_eq!(point[1].as_i64(), Some(metric.step), "{key}");
                assert_eq!(point[2].as_i64(), Some(metric.timestamp), "{key}");
            }
            let last = points.last().expect("points");
            let latest = got["latest"][key].as_str().expect("latest");
            assert!(
                same_value(latest, stored(last.value)),
                "{key} latest {latest}"
            );
        }

        let contents = got["artifact_contents"].as_object().expect("contents");
        let inputs = got["dataset_inputs"].as_array().expect("inputs");
        if want.has_artifact {
            assert_eq!(contents.len(), 1, "{contents:?}");
            assert_eq!(contents[ARTIFACT_PATH], ARTIFACT_TEXT);
            let listed: Vec<&str> = got["artifacts"]
                .as_array()
                .expect("artifacts")
                .iter()
                .map(|a| a["path"].as_str().expect("path"))
                .collect();
            assert_eq!(listed, ["reports", "reports/sub", ARTIFACT_PATH]);
        } else {
            assert!(contents.is_empty(), "{contents:?}");
        }
        if want.has_input {
            let want_input = dataset_input();
            assert_eq!(inputs.len(), 1);
            assert_eq!(inputs[0]["name"], want_input.dataset.name.as_str());
            assert_eq!(inputs[0]["digest"], want_input.dataset.digest.as_str());
            assert_eq!(inputs[0]["source"], want_input.dataset.source.as_str());
            assert_eq!(inputs[0]["tags"][mlflow_tags::DATASET_CONTEXT], "train");
        } else {
            assert!(inputs.is_empty());
        }
    }
}

#[test]
fn filestore_is_read_and_migrated_by_python_mlflow() {
    let python = python();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FileStore::new(dir.path().join("mlruns")).expect("store");
    let expected = write_store(&store, dir.path());

    // The Rust side reads its own store back the same way.
    for (run_id, want) in &expected {
        let run = store.get_run(run_id).expect("get_run");
        assert_eq!(run.info.run_name, want.name);
        for key in METRIC_KEYS {
            let history = store.metric_history(run_id, key).expect("history");
            assert_eq!(history.len(), STEPS as usize);
        }
    }

    let view = read_with_python(&store.describe(), &dir.path().join("download-file"));
    check_python_view(&view, &expected, false);

    // `mlflow migrate-filestore` imports it into SQLite, and the SQLite store reads the same.
    let database = dir.path().join("migrated.db");
    let target = format!("sqlite:///{}", database.display());
    let migrate = Command::new(&python)
        .args(["-m", "mlflow", "migrate-filestore", "--source"])
        .arg(store.root())
        .args(["--target", &target])
        .env("MLFLOW_ALLOW_FILE_STORE", "true")
        .output()
        .expect("start mlflow migrate-filestore");
    assert!(
        migrate.status.success(),
        "mlflow migrate-filestore failed:\n{}\n{}",
        String::from_utf8_lossy(&migrate.stdout),
        String::from_utf8_lossy(&migrate.stderr)
    );
    let migrated = read_with_python(&target, &dir.path().join("download-sqlite"));
    check_python_view(&migrated, &expected, true);
}

#[test]
fn a_deleted_run_reads_as_deleted_in_python() {
    let python = python();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FileStore::new(dir.path().join("mlruns")).expect("store");
    let experiment_id = store.experiment_id("deleted-runs").expect("experiment");
    let kept = store
        .create_run(&CreateRun::new(&experiment_id))
        .expect("run");
    let gone = store
        .create_run(&CreateRun::new(&experiment_id))
        .expect("run");
    store.delete_run(&gone.info.run_id).expect("deleted");
    let script = "import sys\n\
        from mlflow.tracking import MlflowClient\n\
        c = MlflowClient(tracking_uri=sys.argv[1])\n\
        active = [r.info.run_id for r in c.search_runs([sys.argv[2]])]\n\
        print(' '.join(active), c.get_run(sys.argv[3]).info.lifecycle_stage)\n";
    let output = Command::new(python)
        .args([
            "-c",
            script,
            &store.describe(),
            &experiment_id,
            &gone.info.run_id,
        ])
        .env("MLFLOW_ALLOW_FILE_STORE", "true")
        .output()
        .expect("start python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(printed.trim(), format!("{} deleted", kept.info.run_id));
}
