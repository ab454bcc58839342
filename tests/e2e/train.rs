//! `vigie train` and `vigie eval` end to end, on a tiny hand-written dataset: the run lands in
//! the local store with its params, per-epoch and final metrics, artifacts and a saved model
//! that scores on its own; the same config twice gives the same metrics; bad configs fail before
//! anything is trained or logged; against the real MLflow server (`MLFLOW_TRACKING_URI`), the
//! run gets an MLflow 3 logged model, registered as a model version.

use std::fs;
use std::path::{Path, PathBuf};

use vigie_mlflow::{FileStore, RunStatus};
use vigie_test_support::{TINY_SVM_CONFIG, local_tracking_uri, tiny_dataset, unique_suffix};

use crate::util::{json, local_runs, stderr, vigie};

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write config");
    path
}

pub(crate) fn train(dir: &Path, config: &Path, out: &str, store: &str) -> std::process::Output {
    vigie(
        dir,
        &[
            "--json",
            "--data-dir",
            "data",
            "--datasets-dir",
            "datasets",
            "train",
            config.to_str().expect("utf-8 path"),
            "--out",
            out,
            "--tracking-uri",
            store,
            "--journal-dir",
            "journal",
        ],
    )
}

/// `vigie eval --json` of `model` (a folder, or a run id or models:/ URI found in the store
/// `uri`) on the tiny dataset's test split.
pub(crate) fn eval_on_tiny(dir: &Path, model: &str, uri: &str) -> serde_json::Value {
    json(&vigie(
        dir,
        &[
            "--json",
            "--data-dir",
            "data",
            "--datasets-dir",
            "datasets",
            "eval",
            "--model",
            model,
            "--tracking-uri",
            uri,
            "--cache-dir",
            "cache",
            "--dataset",
            "tiny",
        ],
    ))
}

/// The metrics that must repeat exactly (no timings), as `key=value` lines.
fn reproducible(outcome: &serde_json::Value) -> Vec<String> {
    let mut out = vec![format!("threshold={}", outcome["threshold"]["threshold"])];
    for split in ["valid", "test"] {
        for (key, value) in outcome[split].as_object().expect("metrics object") {
            out.push(format!("{split}.{key}={value}"));
        }
    }
    out
}

#[test]
fn train_logs_a_complete_run_to_the_local_store_and_the_model_scores_on_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let config = write_config(dir.path(), "svm.toml", TINY_SVM_CONFIG);
    let outcome = json(&train(dir.path(), &config, "out/svm", "mlruns"));

    assert_eq!(outcome["model_kind"], "linear_svm");
    assert!(
        outcome["test"]["f1"].as_f64().expect("f1") > 0.95,
        "{outcome}"
    );
    assert!(outcome["synced"].as_bool().expect("synced"), "{outcome}");
    let run_id = outcome["run_id"].as_str().expect("run id").to_owned();

    // The run in the local store: finished, with the flattened config, final metrics and tags.
    let runs = local_runs(&dir.path().join("mlruns"), "vigie-tiny");
    let store = FileStore::new(dir.path().join("mlruns")).expect("store");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.info.run_id, run_id);
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.data.param("model.kind"), Some("linear_svm"));
    assert_eq!(run.data.param("model.c"), Some("1.0"));
    assert_eq!(run.data.param("seed"), Some("7"));
    for key in [
        "test_f1",
        "test_roc_auc",
        "test_tpr_at_fpr_1e3",
        "threshold",
        "train_seconds",
    ] {
        assert!(
            run.data.metrics.iter().any(|m| m.key == key),
            "no metric {key}"
        );
    }
    let tag = |key: &str| {
        run.data
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.clone())
    };
    assert_eq!(tag("vigie.dataset").as_deref(), Some("tiny"));
    assert_eq!(tag("vigie.backend").as_deref(), Some("cpu"));
    assert_eq!(
        tag("vigie.dataset_digest").as_deref(),
        outcome["dataset_digest"].as_str()
    );
    assert!(tag("vigie.rustc_version").is_some_and(|v| v.starts_with("rustc ")));

    // Its artifacts: the model folder with MLmodel, the resolved config, metrics, charts, lock.
    let artifacts = store.artifact_dir(&run_id).expect("artifact dir");
    for file in [
        "model/vigie-model.json",
        "model/MLmodel",
        "config.toml",
        "metrics.json",
        "Cargo.lock",
        "plots/roc.png",
        "plots/roc_low_fpr.png",
        "plots/precision_recall.png",
        "plots/confusion_matrix.png",
        "plots/scores.png",
    ] {
        let path = artifacts.join(file);
        assert!(path.is_file(), "missing artifact {file}");
        assert!(fs::metadata(&path).expect("meta").len() > 0, "empty {file}");
    }
    let mlmodel = fs::read_to_string(artifacts.join("model/MLmodel")).expect("MLmodel");
    assert!(mlmodel.contains("flavors:\n  vigie:"), "{mlmodel}");
    assert!(mlmodel.contains("signature:"), "{mlmodel}");
    assert!(mlmodel.contains(&format!("run_id: {run_id}")), "{mlmodel}");
    let png = fs::read(artifacts.join("plots/roc.png")).expect("png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // The logged config trains the same model again (what `vigie reproduce` builds on).
    let again = json(&train(
        dir.path(),
        &artifacts.join("config.toml"),
        "out/svm-again",
        "mlruns",
    ));
    assert_eq!(reproducible(&again), reproducible(&outcome));

    // The saved model scores a dataset on its own, with its stored threshold.
    let eval = eval_on_tiny(dir.path(), "out/svm/model", "mlruns");
    assert_eq!(eval[0]["dataset"], "tiny");
    assert_eq!(eval[0]["metrics"]["f1"], outcome["test"]["f1"]);
    assert_eq!(
        eval[0]["metrics"]["confusion"],
        outcome["test"]["confusion"]
    );
}

#[test]
fn a_refit_model_keeps_the_first_fits_threshold_and_validation_metrics_and_sees_valid_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let plain = write_config(dir.path(), "svm.toml", TINY_SVM_CONFIG);
    let refit_config = TINY_SVM_CONFIG.replace(
        "kind = \"linear_svm\"\n",
        "kind = \"linear_svm\"\nrefit_with_valid = true\n",
    );
    assert_ne!(refit_config, TINY_SVM_CONFIG);
    let refit = write_config(dir.path(), "svm-refit.toml", &refit_config);
    let first = json(&train(dir.path(), &plain, "out/plain", "mlruns"));
    let second = json(&train(dir.path(), &refit, "out/refit", "mlruns"));

    assert_eq!(
        second["threshold"], first["threshold"],
        "chosen by the first fit"
    );
    assert_eq!(second["valid"], first["valid"], "measured on the first fit");
    // The refit's weights come from train + valid (its vocabulary is the first fit's).
    let manifest = |out: &str| -> serde_json::Value {
        let path = dir.path().join(out).join("model/linear.json");
        serde_json::from_slice(&fs::read(&path).expect("read linear.json")).expect("json")
    };
    let (plain_model, refit_model) = (manifest("out/plain"), manifest("out/refit"));
    assert_eq!(refit_model["config"]["refit_with_valid"], true);
    assert_ne!(refit_model["bias"], plain_model["bias"], "{refit_model}");
    // Its solver passes are logged apart from the first fit's.
    let store = FileStore::new(dir.path().join("mlruns")).expect("store");
    let run_id = second["run_id"].as_str().expect("run id");
    for key in ["train_objective", "refit_train_objective"] {
        let history =
            vigie_mlflow::TrackingStore::metric_history(&store, run_id, key).expect("history");
        assert!(!history.is_empty(), "{key}");
        assert_eq!(history[0].step, 1, "{key}");
    }
    // The saved (refit) model scores the test split as the run measured it.
    let eval = eval_on_tiny(dir.path(), "out/refit/model", "mlruns");
    assert_eq!(eval[0]["metrics"]["confusion"], second["test"]["confusion"]);
}

#[test]
fn the_same_network_config_and_seed_give_identical_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let config = write_config(
        dir.path(),
        "cnn.toml",
        "seed = 3\n[data]\ndataset = \"tiny\"\n[model]\nkind = \"cnn\"\nembedding_dim = 8\n\
         filters = 8\ndense = 8\n[model.sequence]\nmax_len = 64\n[model.training]\nepochs = 2\n\
         batch_size = 32\n",
    );
    let first = json(&train(dir.path(), &config, "out/a", "mlruns"));
    let second = json(&train(dir.path(), &config, "out/b", "mlruns"));
    assert_eq!(reproducible(&first), reproducible(&second));
    // Per-epoch metrics were logged with their steps.
    let store = FileStore::new(dir.path().join("mlruns")).expect("store");
    let run_id = first["run_id"].as_str().expect("run id");
    let history = vigie_mlflow::TrackingStore::metric_history(&store, run_id, "valid_roc_auc")
        .expect("history");
    let steps: Vec<i64> = history.iter().map(|m| m.step).collect();
    assert_eq!(steps, vec![1, 2], "{history:?}");
}

#[test]
fn bad_configs_fail_before_training_naming_the_key_and_log_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let cases = [
        (
            "unknown.toml",
            TINY_SVM_CONFIG.replace("seed = 7", "seed = 7\nsede = 8"),
            "sede",
        ),
        (
            "type.toml",
            TINY_SVM_CONFIG.replace("seed = 7", "seed = \"seven\""),
            "seed",
        ),
        (
            "model-key.toml",
            TINY_SVM_CONFIG.replace("kind = \"linear_svm\"", "kind = \"linear_svm\"\ncc = 2.0"),
            "cc",
        ),
        (
            "dataset.toml",
            TINY_SVM_CONFIG.replace("dataset = \"tiny\"", "dataset = \"nope\""),
            "data.dataset",
        ),
        (
            "split.toml",
            TINY_SVM_CONFIG.replace(
                "dataset = \"tiny\"",
                "dataset = \"tiny\"\n[data.split]\ntrain = 0.8\nvalid = 0.3\ntest = 0.2",
            ),
            "split",
        ),
        (
            "value.toml",
            TINY_SVM_CONFIG.replace("[model.tfidf]", "c = -1.0\n[model.tfidf]"),
            "model.c",
        ),
    ];
    for (file, text, key) in cases {
        let config = write_config(dir.path(), file, &text);
        let out = train(dir.path(), &config, &format!("out/{file}"), "mlruns");
        assert!(!out.status.success(), "{file} should fail");
        let message = stderr(&out);
        assert!(message.contains(key), "{file}: {message}");
        assert!(!message.contains("panicked"), "{file}: {message}");
        assert!(
            !dir.path().join("out").join(file).exists(),
            "{file} wrote files"
        );
    }
    assert!(
        !dir.path().join("mlruns").exists() && !dir.path().join("journal").exists(),
        "a bad config created a run"
    );
}

#[test]
fn train_against_the_server_logs_a_registered_mlflow3_model_that_downloads_and_loads() {
    let uri = local_tracking_uri();
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let suffix = unique_suffix();
    let config = write_config(
        dir.path(),
        "server.toml",
        &format!(
            "{TINY_SVM_CONFIG}[tracking]\nexperiment = \"vigie-test-train-{suffix}\"\n\
             registered_model = \"vigie-test-tiny-{suffix}\"\n"
        ),
    );
    let outcome = json(&train(dir.path(), &config, "out/server", &uri));
    let run_id = outcome["run_id"].as_str().expect("run id");
    let model_id = outcome["logged_model_id"]
        .as_str()
        .expect("logged model id");
    assert_eq!(outcome["registered_version"], "1");

    let client = crate::mlflow::client(&uri);
    let run = client.get_run(run_id).expect("run");
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.data.param("model.kind"), Some("linear_svm"));
    assert!(run.data.metrics.iter().any(|m| m.key == "test_f1"));
    assert_eq!(run.inputs.dataset_inputs.len(), 1, "{:?}", run.inputs);
    assert!(
        run.outputs
            .model_outputs
            .iter()
            .any(|output| output.model_id == model_id)
    );
    let model = client.get_logged_model(model_id).expect("logged model");
    assert_eq!(model.info.status, vigie_mlflow::LoggedModelStatus::Ready);
    // The model's files are stored once, in the logged model, not also in the run's artifacts.
    let run_files = client
        .list_artifacts(&run.info.artifact_uri, None)
        .expect("run artifacts");
    let names: Vec<&str> = run_files.iter().map(|f| f.path.as_str()).collect();
    assert!(names.contains(&"config.toml"), "{names:?}");
    assert!(!names.contains(&"model"), "{names:?}");
    let model_files = client
        .list_artifacts(&model.info.artifact_uri, None)
        .expect("logged model artifacts");
    assert!(
        model_files.iter().any(|f| f.path == "vigie-model.json"),
        "{model_files:?}"
    );

    // The registered version downloads and loads as a Vigie model that scores like the original.
    let download = dir.path().join("downloaded");
    let files = client
        .download_model(&format!("models:/vigie-test-tiny-{suffix}/1"), &download)
        .expect("download");
    assert!(files >= 3, "{files} files");
    let mlmodel = fs::read_to_string(download.join("MLmodel")).expect("MLmodel");
    assert!(
        mlmodel.contains(&format!("model_id: {model_id}")),
        "{mlmodel}"
    );
    let eval = eval_on_tiny(dir.path(), download.to_str().expect("utf-8"), &uri);
    assert_eq!(
        eval[0]["metrics"]["confusion"],
        outcome["test"]["confusion"]
    );
    // The run id finds the same model through its logged model.
    let by_run = eval_on_tiny(dir.path(), run_id, &uri);
    assert_eq!(
        by_run[0]["metrics"]["confusion"],
        outcome["test"]["confusion"]
    );
    assert!(
        dir.path()
            .join("cache/runs")
            .join(run_id)
            .join("vigie-model.json")
            .is_file()
    );
}

#[test]
fn a_run_pushed_from_the_local_store_scores_by_its_server_run_id_from_its_artifacts() {
    // A pushed run has no logged model: its model is found in its artifacts' model/.
    let uri = local_tracking_uri();
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let suffix = unique_suffix();
    let config = write_config(
        dir.path(),
        "pushed.toml",
        &format!("{TINY_SVM_CONFIG}[tracking]\nexperiment = \"vigie-test-pushed-{suffix}\"\n"),
    );
    let outcome = json(&train(dir.path(), &config, "out/local", "mlruns"));
    let synced = json(&vigie(
        dir.path(),
        &[
            "--json",
            "mlflow",
            "sync",
            "--to",
            &uri,
            "--from-store",
            "mlruns",
        ],
    ));
    assert_eq!(synced["local_store"]["runs_created"], 1, "{synced}");

    let client = crate::mlflow::client(&uri);
    let experiment_id = client
        .get_experiment_by_name(&format!("vigie-test-pushed-{suffix}"))
        .expect("read")
        .expect("experiment")
        .experiment_id;
    let runs = client
        .search_runs_all(&vigie_mlflow::SearchRuns {
            experiment_ids: vec![experiment_id],
            ..Default::default()
        })
        .expect("search");
    assert_eq!(runs.len(), 1, "the experiment holds the pushed run only");
    assert_eq!(
        runs[0].info.run_name,
        outcome["run_name"].as_str().unwrap_or_default()
    );
    let server_run_id = &runs[0].info.run_id;
    assert!(runs[0].outputs.model_outputs.is_empty());

    let by_run = eval_on_tiny(dir.path(), server_run_id, &uri);
    assert_eq!(
        by_run[0]["metrics"]["confusion"],
        outcome["test"]["confusion"]
    );
}

#[test]
fn the_transfer_matrix_trains_on_each_dataset_and_logs_the_table_under_a_parent_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    // A second site: the same kinds of requests under other paths.
    let definition = fs::read_to_string(dir.path().join("datasets/tiny.toml")).expect("read");
    fs::write(
        dir.path().join("datasets/other.toml"),
        definition.replace("tiny", "other"),
    )
    .expect("write");
    fs::create_dir_all(dir.path().join("data/other")).expect("mkdir");
    for file in ["good.txt", "bad.txt"] {
        let text = fs::read_to_string(dir.path().join("data/tiny").join(file)).expect("read");
        fs::write(
            dir.path().join("data/other").join(file),
            text.replace("/shop/", "/store/")
                .replace("/item.php", "/product.asp"),
        )
        .expect("write");
    }
    let config = write_config(dir.path(), "svm.toml", TINY_SVM_CONFIG);
    let rows = json(&vigie(
        dir.path(),
        &[
            "--json",
            "--data-dir",
            "data",
            "--datasets-dir",
            "datasets",
            "eval",
            "--matrix",
            "--config",
            config.to_str().expect("utf-8"),
            "--train-on",
            "tiny",
            "--train-on",
            "other",
            "--evaluate-on",
            "tiny",
            "--evaluate-on",
            "other",
            "--out",
            "out/matrix",
            "--tracking-uri",
            "mlruns",
            "--journal-dir",
            "journal",
        ],
    ));
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    for (row, trained_on) in rows.iter().zip(["tiny", "other"]) {
        assert_eq!(row["trained_on"], trained_on);
        let evaluated: Vec<&str> = row["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["dataset"].as_str().expect("name"))
            .collect();
        assert_eq!(evaluated, vec!["tiny", "other"]);
    }
    let table = fs::read_to_string(dir.path().join("out/matrix/matrix.md")).expect("matrix.md");
    assert!(table.contains("| tiny (linear_svm) |"), "{table}");

    let runs = local_runs(&dir.path().join("mlruns"), "vigie-eval-matrix");
    let store = FileStore::new(dir.path().join("mlruns")).expect("store");
    assert_eq!(runs.len(), 3, "a parent and two children");
    let parent = runs
        .iter()
        .find(|r| r.data.tags.iter().all(|t| t.key != "mlflow.parentRunId"))
        .expect("parent run");
    let children = runs
        .iter()
        .filter(|r| {
            r.data
                .tags
                .iter()
                .any(|t| t.key == "mlflow.parentRunId" && t.value == parent.info.run_id)
        })
        .count();
    assert_eq!(children, 2);
    let artifacts = store.artifact_dir(&parent.info.run_id).expect("dir");
    assert!(artifacts.join("matrix.md").is_file());
    assert!(artifacts.join("matrix.json").is_file());
}
