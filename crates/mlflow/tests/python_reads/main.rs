//! Interoperability: the Python `mlflow` client reads what this crate wrote.
//!
//! One test writes a complete run against the real server named by `MLFLOW_TRACKING_URI`
//! (params, a metric history with a NaN, system tags, a dataset input, binary and nested
//! artifacts) with [`RunLogger`], then an MLflow 3 logged model linked to the run, registered and
//! aliased `champion`, with [`MlflowClient`]. `read_run.py` (beside this file) reads all of it
//! with `mlflow.tracking.MlflowClient`, `mlflow.artifacts` and `mlflow.models.Model`, and the
//! test compares every value with what was written.
//!
//! It fails, rather than skips, when `MLFLOW_TRACKING_URI` is unset, points elsewhere than this
//! machine, or when the Python of the project's venv (`VIGIE_PYTHON`, else `.venv/bin/python`)
//! is missing.

#[path = "../support/mod.rs"]
mod support;
use support::{client, python, unique};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use vigie_mlflow::{
    CreateLoggedModel, CreateModelVersion, Dataset, DatasetInput, LoggedModelStatus, Metric,
    MlflowClient, ModelOutput, Param, RunLogger, RunOptions, RunStatus, Tag, mlflow_tags,
};

const METRIC_KEYS: [&str; 3] = ["loss", "accuracy", "val_f1"];
const STEPS: i64 = 40;
/// The step whose `val_f1` is NaN (a diverged evaluation must survive the round trip).
const NAN_STEP: i64 = 17;
const MODEL_FILE_BYTES: &[u8] = b"VIGIE-DEMO-MODEL\x00\x01\x02\xff weights";

fn metric_value(key: &str, step: i64) -> f64 {
    let t = step as f64;
    match key {
        "loss" => 2.5 / (t + 1.0) + 0.001 * t.sin(),
        "accuracy" => 1.0 - 0.5 / (t + 1.0),
        _ if step == NAN_STEP => f64::NAN,
        _ => 0.1 + t / 47.0,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `MLmodel` of the demo model: a custom flavor and tensor signature as MLflow 3.17 writes them.
fn mlmodel_yaml(run_id: &str, model_id: &str, artifact_uri: &str) -> String {
    format!(
        "artifact_path: {artifact_uri}\n\
         flavors:\n  rust_demo: {{model_file: model.bin, format: demo}}\n\
         mlflow_version: 3.17.2\n\
         model_id: {model_id}\n\
         model_uuid: {model_id}\n\
         run_id: {run_id}\n\
         utc_time_created: '2026-11-27 20:16:00.000000'\n\
         signature:\n  \
           inputs: '[{{\"type\": \"tensor\", \"tensor-spec\": {{\"dtype\": \"float32\", \"shape\": [-1, 4]}}}}]'\n  \
           outputs: '[{{\"type\": \"tensor\", \"tensor-spec\": {{\"dtype\": \"float32\", \"shape\": [-1, 3]}}}}]'\n  \
           params: null\n"
    )
}

/// What the test wrote, to compare with what Python read.
struct Written {
    run_id: String,
    experiment_id: String,
    model_id: String,
    model_artifact_uri: String,
    registered_name: String,
    version: String,
    params: Vec<Param>,
    tags: Vec<Tag>,
    metrics: Vec<Metric>,
    dataset: DatasetInput,
    artifacts: BTreeMap<String, Vec<u8>>,
    model_files: BTreeMap<String, Vec<u8>>,
}

fn write_run_and_model(client: &MlflowClient, scratch: &Path) -> Written {
    let experiment = unique("python-reads");
    let mut options = RunOptions::new(scratch.join("journal"), &experiment);
    options.run_name = Some("rust-written".into());
    // One flush at the end: the history must not depend on when batches were cut.
    options.flush_on_epoch = false;
    options.sync_pending_on_start = false;
    let source_tags = vec![
        Tag::new(mlflow_tags::SOURCE_NAME, "crates/mlflow/tests/python_reads"),
        Tag::new(mlflow_tags::SOURCE_TYPE, mlflow_tags::source_type::LOCAL),
        Tag::new(
            mlflow_tags::SOURCE_GIT_COMMIT,
            "0123456789abcdef0123456789abcdef01234567",
        ),
    ];
    options.tags = source_tags.clone();
    let mut logger = RunLogger::start(client.clone(), options).expect("start the run");
    let run_id = logger
        .run_id()
        .expect("the run reached the server")
        .to_owned();

    let params = vec![
        Param::new("learning_rate", "0.001"),
        Param::new("epochs", STEPS.to_string()),
        Param::new("optimizer", "adam(β1=0.9)"),
        Param::new("empty", ""),
    ];
    logger.log_params(&params).expect("params");
    let note = Tag::new(
        mlflow_tags::NOTE_CONTENT,
        "# Rust run\n\nWritten by *vigie-mlflow*.",
    );
    let custom = Tag::new("team", "détection");
    logger
        .set_tags(&[note.clone(), custom.clone()])
        .expect("tags");

    // Distinct timestamps per step, so sorting by (step, timestamp) is unambiguous.
    let base_time = vigie_mlflow::now_millis();
    let mut metrics = Vec::new();
    for step in 0..STEPS {
        let epoch: Vec<Metric> = METRIC_KEYS
            .iter()
            .map(|key| Metric::at(*key, metric_value(key, step), step, base_time + step))
            .collect();
        logger.log_metrics(&epoch).expect("metrics");
        logger.end_epoch().expect("end epoch");
        metrics.extend(epoch);
    }

    let dataset = DatasetInput {
        tags: vec![Tag::new(mlflow_tags::DATASET_CONTEXT, "train")],
        dataset: Dataset {
            name: "demo-requests".into(),
            digest: "d1g35t42".into(),
            source_type: "local".into(),
            source: r#"{"uri": "file:///data/demo.csv"}"#.into(),
            schema: Some(r#"{"mlflow_colspec": [{"type": "string", "name": "text"}]}"#.into()),
            profile: Some(r#"{"num_rows": 1234}"#.into()),
        },
    };
    logger
        .log_inputs(std::slice::from_ref(&dataset))
        .expect("inputs");

    // A PNG-ish binary file (signature, then every byte value) and a nested folder.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(0..=255u8);
    let plots = scratch.join("plots");
    std::fs::create_dir_all(&plots).expect("plots dir");
    std::fs::write(plots.join("confusion.png"), &png).expect("png");
    let report = scratch.join("report");
    std::fs::create_dir_all(report.join("per_class/deep")).expect("report dir");
    let summary = b"{\"f1\": 0.93}\n".to_vec();
    let deep = b"class,precision\nattack,0.97\nbenign,0.91\n".to_vec();
    std::fs::write(report.join("summary.json"), &summary).expect("summary");
    std::fs::write(report.join("per_class/deep/table.csv"), &deep).expect("table");
    logger
        .log_artifact(&plots.join("confusion.png"), Some("plots"))
        .expect("png artifact");
    // A folder's files go under `artifact_dir`, without the folder's own name (like MLflow).
    logger
        .log_artifact(&report, Some("report"))
        .expect("report artifact");
    logger.flush().expect("flush");
    let artifacts = BTreeMap::from([
        ("plots/confusion.png".to_owned(), png),
        ("report/summary.json".to_owned(), summary),
        ("report/per_class/deep/table.csv".to_owned(), deep),
    ]);

    // The MLflow 3 logged model, linked to the run, uploaded, finalised, registered.
    let experiment_id = client.get_run(&run_id).expect("get run").info.experiment_id;
    let model = client
        .create_logged_model(&CreateLoggedModel {
            experiment_id: experiment_id.clone(),
            name: Some("demo-model".into()),
            model_type: Some("demo".into()),
            source_run_id: Some(run_id.clone()),
            ..Default::default()
        })
        .expect("create logged model");
    let model_id = model.info.model_id.clone();
    let model_artifact_uri = model.info.artifact_uri.clone();
    client
        .log_outputs(
            &run_id,
            &[ModelOutput {
                model_id: model_id.clone(),
                step: STEPS - 1,
            }],
        )
        .expect("log outputs");
    let model_dir = scratch.join("model");
    std::fs::create_dir_all(&model_dir).expect("model dir");
    let mlmodel = mlmodel_yaml(&run_id, &model_id, &model_artifact_uri).into_bytes();
    std::fs::write(model_dir.join("MLmodel"), &mlmodel).expect("MLmodel");
    std::fs::write(model_dir.join("model.bin"), MODEL_FILE_BYTES).expect("model.bin");
    let uploaded = client
        .upload_dir(&model_artifact_uri, &model_dir, None)
        .expect("upload model");
    assert_eq!(uploaded, 2);
    client
        .finalize_logged_model(&model_id, LoggedModelStatus::Ready)
        .expect("finalize");

    let registered_name = unique("python-reads-model");
    client
        .create_registered_model(&registered_name, None, &[])
        .expect("register name");
    let version = client
        .create_model_version(&CreateModelVersion {
            name: registered_name.clone(),
            source: format!("models:/{model_id}"),
            run_id: Some(run_id.clone()),
            model_id: Some(model_id.clone()),
            ..Default::default()
        })
        .expect("model version");
    client
        .set_registered_model_alias(&registered_name, "champion", &version.version)
        .expect("alias");

    let outcome = logger.finish(RunStatus::Finished).expect("finish");
    assert!(outcome.synced, "the whole run reached the server");

    let mut tags = source_tags;
    tags.extend([note, custom]);
    Written {
        run_id,
        experiment_id,
        model_id,
        model_artifact_uri,
        registered_name,
        version: version.version,
        params,
        tags,
        metrics,
        dataset,
        artifacts,
        model_files: BTreeMap::from([
            ("MLmodel".to_owned(), mlmodel),
            ("model.bin".to_owned(), MODEL_FILE_BYTES.to_vec()),
        ]),
    }
}

fn read_with_python(written: &Written, scratch: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_reads/read_run.py");
    let work_dir = scratch.join("python");
    std::fs::create_dir_all(&work_dir).expect("python work dir");
    let output = Command::new(python())
        .arg(&script)
        .args([&written.run_id, &written.model_id, &written.registered_name])
        .arg(&work_dir)
        .output()
        .expect("run the Python reader");
    assert!(
        output.status.success(),
        "read_run.py failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "read_run.py printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A float as `read_run.py` writes it (`repr`), parsed back; NaN compares equal to NaN.
fn parse_python_float(value: &Value) -> f64 {
    let text = value.as_str().expect("floats are strings");
    text.parse()
        .unwrap_or_else(|e| panic!("not a float {text:?}: {e}"))
}

fn same_float(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(value.clone()).expect("a map of strings")
}

#[test]
fn python_reads_a_rust_written_run_and_model() {
    let client = client();
    // Fail on a missing Python before writing anything to the server.
    python();
    let scratch = tempfile::tempdir().expect("scratch dir");
    let written = write_run_and_model(&client, scratch.path());
    let read = read_with_python(&written, scratch.path());
    assert_eq!(read["mlflow_version"], "3.17.2", "the pinned Python client");

    // Run: status, params, tags (exactly the server's tag set, which includes ours).
    let run = &read["run"];
    assert_eq!(run["run_id"], written.run_id.as_str());
    assert_eq!(run["experiment_id"], written.experiment_id.as_str());
    assert_eq!(run["run_name"], "rust-written");
    assert_eq!(run["status"], "FINISHED");
    let params: BTreeMap<String, String> = written
        .params
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    assert_eq!(string_map(&run["params"]), params);
    let python_tags = string_map(&run["tags"]);
    for tag in &written.tags {
        assert_eq!(
            python_tags.get(&tag.key),
            Some(&tag.value),
            "tag {}",
            tag.key
        );
    }
    let server_tags: BTreeMap<String, String> = client
        .get_run(&written.run_id)
        .expect("get run")
        .data
        .tags
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    assert_eq!(python_tags, server_tags);

    // Dataset input and the model output link.
    let datasets = run["datasets"].as_array().expect("datasets");
    assert_eq!(datasets.len(), 1);
    let dataset = &datasets[0];
    let expected = &written.dataset.dataset;
    assert_eq!(dataset["name"], expected.name.as_str());
    assert_eq!(dataset["digest"], expected.digest.as_str());
    assert_eq!(dataset["source_type"], expected.source_type.as_str());
    assert_eq!(dataset["source"], expected.source.as_str());
    assert_eq!(dataset["schema"].as_str(), expected.schema.as_deref());
    assert_eq!(dataset["profile"].as_str(), expected.profile.as_deref());
    assert_eq!(
        string_map(&dataset["tags"]),
        BTreeMap::from([(mlflow_tags::DATASET_CONTEXT.to_owned(), "train".to_owned())])
    );
    assert_eq!(
        run["model_outputs"],
        serde_json::json!([{"model_id": written.model_id, "step": STEPS - 1}])
    );

    // Full metric histories, bit for bit (NaN included), and the latest values.
    let histories = read["metric_history"].as_object().expect("histories");
    assert_eq!(histories.len(), METRIC_KEYS.len());
    for key in METRIC_KEYS {
        let points = histories[key].as_array().expect("history");
        let expected: Vec<&Metric> = written.metrics.iter().filter(|m| m.key == key).collect();
        assert_eq!(points.len(), expected.len(), "{key}: number of points");
        for (point, metric) in points.iter().zip(expected) {
            assert_eq!(point["step"], metric.step, "{key}");
            assert_eq!(
                point["timestamp"], metric.timestamp,
                "{key} step {}",
                metric.step
            );
            let value = parse_python_float(&point["value"]);
            assert!(
                same_float(value, metric.value),
                "{key} step {}: Python read {value}, Rust wrote {}",
                metric.step,
                metric.value
            );
        }
        let latest = parse_python_float(&run["latest_metrics"][key]);
        assert!(
            same_float(latest, metric_value(key, STEPS - 1)),
            "{key} latest"
        );
    }
    assert!(
        parse_python_float(&read["metric_history"]["val_f1"][NAN_STEP as usize]["value"]).is_nan()
    );

    // Artifacts: the listing (folders and sizes) and the downloaded bytes.
    let mut listed: BTreeMap<String, (bool, Option<u64>)> = BTreeMap::new();
    for entry in read["artifacts"].as_array().expect("artifact list") {
        listed.insert(
            entry["path"].as_str().expect("path").to_owned(),
            (
                entry["is_dir"].as_bool().expect("is_dir"),
                entry["file_size"].as_u64(),
            ),
        );
    }
    let mut expected_listing: BTreeMap<String, (bool, Option<u64>)> = written
        .artifacts
        .iter()
        .map(|(path, bytes)| (path.clone(), (false, Some(bytes.len() as u64))))
        .collect();
    for dir in [
        "plots",
        "report",
        "report/per_class",
        "report/per_class/deep",
    ] {
        expected_listing.insert(dir.to_owned(), (true, None));
    }
    assert_eq!(listed, expected_listing);
    let expected_files: BTreeMap<String, String> = written
        .artifacts
        .iter()
        .map(|(path, bytes)| (path.clone(), hex(bytes)))
        .collect();
    assert_eq!(string_map(&read["artifact_files"]), expected_files);

    // The model, fetched by alias and loaded by mlflow.models.Model.
    let model = &read["model"];
    let expected_model_files: BTreeMap<String, String> = written
        .model_files
        .iter()
        .map(|(path, bytes)| (path.clone(), hex(bytes)))
        .collect();
    let mut model_files = string_map(&model["files"]);
    // The Python client writes this file itself when it downloads a `models:/NAME@ALIAS` URI.
    let registry_meta = model_files
        .remove("registered_model_meta")
        .expect("registered_model_meta written by the Python client");
    assert_eq!(
        registry_meta,
        hex(format!(
            "model_name: {}\nmodel_version: '{}'\n",
            written.registered_name, written.version
        )
        .as_bytes())
    );
    assert_eq!(model_files, expected_model_files);
    assert_eq!(
        model["flavors"],
        serde_json::json!({"rust_demo": {"model_file": "model.bin", "format": "demo"}})
    );
    assert_eq!(
        model["signature"],
        serde_json::json!({
            "inputs": r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]"#,
            "outputs": r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]"#,
            "params": null,
        })
    );
    assert_eq!(model["run_id"], written.run_id.as_str());
    assert_eq!(model["model_id"], written.model_id.as_str());
    assert_eq!(model["mlflow_version"], "3.17.2");
    assert_eq!(model["utc_time_created"], "2026-11-27 20:16:00.000000");
    assert_eq!(model["artifact_path"], written.model_artifact_uri.as_str());

    let version = &read["model_version"];
    assert_eq!(version["name"], written.registered_name.as_str());
    assert_eq!(version["version"], written.version.as_str());
    assert_eq!(version["source"], format!("models:/{}", written.model_id));
    assert_eq!(version["run_id"], written.run_id.as_str());
    // MLflow 3.17's ModelVersion proto has no model_id: the link to the logged model is the
    // `models:/<model_id>` source, so the Python entity reads None.
    assert_eq!(version["model_id"], Value::Null);
    assert_eq!(version["aliases"], serde_json::json!(["champion"]));

    let logged = &read["logged_model"];
    assert_eq!(logged["model_id"], written.model_id.as_str());
    assert_eq!(logged["name"], "demo-model");
    assert_eq!(logged["experiment_id"], written.experiment_id.as_str());
    assert_eq!(logged["status"], "READY");
    assert_eq!(logged["source_run_id"], written.run_id.as_str());
    assert_eq!(
        logged["artifact_location"],
        written.model_artifact_uri.as_str()
    );
}
