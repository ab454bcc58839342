//! Integration tests of [`push_store`]: a local file store written with [`FileStore`] (directly
//! and through [`RunLogger`]) is pushed to the real MLflow server named by `MLFLOW_TRACKING_URI`
//! (start it with `scripts/mlflow-server start`; `scripts/test` does it), then pushed again.

#[path = "../support/mod.rs"]
mod support;
use support::{client as shared_client, unique};

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use vigie_mlflow::journal::CLIENT_RUN_ID_TAG;
use vigie_mlflow::push::{SOURCE_RUN_TAG, source_run_value};
use vigie_mlflow::{
    CreateRun, Dataset, DatasetInput, FileStore, Metric, MlflowClient, Param, PushOptions,
    PushReport, Run, RunLogger, RunOptions, RunStatus, Tag, TrackingStore, mlflow_tags, push_store,
};

/// Asserts that two histories hold the same points, each once: same steps and timestamps, and
/// values equal up to the last bits (a server's JSON number may shift the last bit; NaN equals
/// NaN).
fn assert_same_points(actual: &[Metric], expected: &[Metric], what: &str) {
    let sorted = |history: &[Metric]| {
        let mut points: Vec<(i64, i64, f64)> = history
            .iter()
            .map(|m| (m.step, m.timestamp, m.value))
            .collect();
        points.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
        points
    };
    let (actual, expected) = (sorted(actual), sorted(expected));
    assert_eq!(actual.len(), expected.len(), "{what}: number of points");
    for (have, want) in actual.iter().zip(&expected) {
        let same_value = (have.2.is_nan() && want.2.is_nan())
            || have.2 == want.2
            || have.2.to_bits().abs_diff(want.2.to_bits()) <= 4;
        assert!(
            have.0 == want.0 && have.1 == want.1 && same_value,
            "{what}: {have:?} on the server, {want:?} expected"
        );
    }
}

/// `count` points of `key` from step `first`, with a NaN at step 7.
fn series(key: &str, first: i64, count: i64, time: i64) -> Vec<Metric> {
    (first..first + count)
        .map(|step| {
            let value = if step == 7 {
                f64::NAN
            } else {
                1.0 / (step as f64 + 1.0)
            };
            Metric::at(key, value, step, time + step)
        })
        .collect()
}

/// Every file under `dir` with its bytes, by relative path.
fn read_tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("under dir").to_path_buf();
                files.insert(relative, fs::read(&path).expect("read file"));
            }
        }
    }
    files
}

/// The one server run of experiment `experiment` whose tag `key` is `value`.
fn server_run(client: &MlflowClient, experiment: &str, key: &str, value: &str) -> Run {
    let experiment_id = client
        .get_experiment_by_name(experiment)
        .expect("experiment lookup")
        .unwrap_or_else(|| panic!("experiment {experiment} is not on the server"))
        .experiment_id;
    let runs = client
        .find_runs_by_tag(&experiment_id, key, value)
        .expect("search runs");
    assert_eq!(
        runs.len(),
        1,
        "expected exactly one run {key}={value}: {runs:#?}"
    );
    client.get_run(&runs[0].info.run_id).expect("get run")
}

/// The local store of the test: its runs by role, and the experiment names.
struct LocalStore {
    store: FileStore,
    experiments: [String; 2],
    parent: String,
    child: String,
    logged: String,
    running: String,
    _dirs: tempfile::TempDir,
}

/// Writes two experiments: a FINISHED parent with an artifact tree and a dataset, its FAILED
/// child (direct [`FileStore`] writes), a run logged through [`RunLogger`] and a RUNNING run.
fn write_local_store() -> LocalStore {
    let dirs = tempfile::tempdir().expect("temp dir");
    let store = FileStore::new(dirs.path().join("mlruns")).expect("file store");
    let experiments = [unique("a"), unique("b")];
    let first = store.experiment_id(&experiments[0]).expect("experiment a");
    let start = 1_700_000_000_000;

    let parent = store
        .create_run(&CreateRun {
            run_name: Some("parent".into()),
            start_time: Some(start),
            tags: vec![Tag::new("team", "detectors")],
            ..CreateRun::new(&first)
        })
        .expect("parent run")
        .info
        .run_id;
    let mut metrics = series("loss", 0, 300, start);
    metrics.extend(series("accuracy", 0, 50, start));
    store
        .log_batch(
            &parent,
            &metrics,
            &[Param::new("lr", "0.01"), Param::new("model/kind", "tfidf")],
            &[Tag::new("phase", "search")],
        )
        .expect("parent batch");
    let files = dirs.path().join("artifacts");
    fs::create_dir_all(files.join("nested/deeper")).expect("artifact dirs");
    fs::write(files.join("report.txt"), "scores\n").expect("write");
    fs::write(
        files.join("nested/weights.bin"),
        (0..=255u8).collect::<Vec<_>>(),
    )
    .expect("write");
    fs::write(files.join("nested/deeper/empty.json"), "").expect("write");
    store
        .log_artifacts(&parent, &files, None)
        .expect("artifact tree");
    store
        .log_artifacts(&parent, &files.join("report.txt"), Some("plots"))
        .expect("one artifact");
    store
        .log_inputs(
            &parent,
            &[DatasetInput {
                tags: vec![Tag::new(mlflow_tags::DATASET_CONTEXT, "train")],
                dataset: Dataset {
                    name: "csic".into(),
                    digest: "abc123".into(),
                    source_type: "local".into(),
                    source: r#"{"uri": "data/csic.csv"}"#.into(),
                    schema: None,
                    profile: None,
                },
            }],
        )
        .expect("dataset");
    store
        .end_run(&parent, RunStatus::Finished, start + 10_000)
        .expect("end parent");

    let child = store
        .create_run(&CreateRun {
            run_name: Some("child".into()),
            start_time: Some(start + 100),
            tags: vec![Tag::new(mlflow_tags::PARENT_RUN_ID, parent.as_str())],
            ..CreateRun::new(&first)
        })
        .expect("child run")
        .info
        .run_id;
    store
        .log_batch(
            &child,
            &series("fold_loss", 0, 20, start),
            &[Param::new("fold", "3")],
            &[],
        )
        .expect("child batch");
    store
        .end_run(&child, RunStatus::Failed, start + 5_000)
        .expect("end child");

    let mut options = RunOptions::new(dirs.path().join("journal"), experiments[1].as_str());
    options.run_name = Some("logged".into());
    options.sync_pending_on_start = false;
    let mut logger = RunLogger::start(store.clone(), options).expect("logger");
    logger
        .log_params(&[Param::new("epochs", "12")])
        .expect("logger params");
    logger
        .set_tags(&[Tag::new("via", "logger")])
        .expect("logger tags");
    for step in 0..12 {
        logger
            .log_metric("valid_loss", 1.0 / (step as f64 + 2.0), step)
            .expect("logger metric");
        logger.end_epoch().expect("epoch");
    }
    let logged = logger.run_id().expect("logger run id").to_owned();
    logger.finish(RunStatus::Finished).expect("finish");

    let second = store.experiment_id(&experiments[1]).expect("experiment b");
    let running = store
        .create_run(&CreateRun {
            run_name: Some("still-running".into()),
            ..CreateRun::new(&second)
        })
        .expect("running run")
        .info
        .run_id;
    store
        .log_batch(&running, &series("live", 0, 5, start), &[], &[])
        .expect("running batch");

    LocalStore {
        store,
        experiments,
        parent,
        child,
        logged,
        running,
        _dirs: dirs,
    }
}

/// The server run of a local run: found by its journal id when it has one, else by its source
/// tag.
fn pushed_run(client: &MlflowClient, local: &LocalStore, run_id: &str) -> Run {
    let source = local.store.get_run(run_id).expect("local run");
    let experiment = local
        .store
        .list_experiments()
        .expect("experiments")
        .into_iter()
        .find(|e| e.experiment_id == source.info.experiment_id)
        .expect("local experiment")
        .name;
    match source.data.tag(CLIENT_RUN_ID_TAG) {
        Some(client_run_id) => server_run(client, &experiment, CLIENT_RUN_ID_TAG, client_run_id),
        None => server_run(
            client,
            &experiment,
            SOURCE_RUN_TAG,
            &source_run_value(&local.store.describe(), run_id),
        ),
    }
}

/// Asserts that the server run of `run_id` holds exactly what the local run holds.
fn assert_same_run(client: &MlflowClient, local: &LocalStore, run_id: &str) -> Run {
    let source = local.store.get_run(run_id).expect("local run");
    let target = pushed_run(client, local, run_id);

    let params = |run: &Run| -> BTreeSet<(String, String)> {
        run.data
            .params
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect()
    };
    assert_eq!(params(&target), params(&source), "params of {run_id}");

    for tag in &source.data.tags {
        if tag.key == mlflow_tags::PARENT_RUN_ID {
            continue; // Remapped; checked by the caller.
        }
        assert_eq!(
            target.data.tag(&tag.key),
            Some(tag.value.as_str()),
            "tag {} of {run_id}",
            tag.key
        );
    }
    assert_eq!(
        target.data.tag(SOURCE_RUN_TAG),
        Some(source_run_value(&local.store.describe(), run_id).as_str())
    );

    let source_keys: BTreeSet<&str> = source.data.metrics.iter().map(|m| m.key.as_str()).collect();
    let target_keys: BTreeSet<&str> = target.data.metrics.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(target_keys, source_keys, "metric keys of {run_id}");
    for key in source_keys {
        let expected = local
            .store
            .metric_history(run_id, key)
            .expect("local history");
        let actual = client
            .get_metric_history(&target.info.run_id, key)
            .expect("server history");
        assert_same_points(&actual, &expected, &format!("metric {key} of run {run_id}"));
    }

    assert_eq!(target.info.status, source.info.status, "status of {run_id}");
    assert_eq!(target.info.start_time, source.info.start_time);
    if source.info.status != RunStatus::Running {
        assert_eq!(
            target.info.end_time, source.info.end_time,
            "end of {run_id}"
        );
    }
    assert_eq!(target.info.run_name, source.info.run_name);

    let datasets = |run: &Run| -> BTreeSet<(String, String)> {
        run.inputs
            .dataset_inputs
            .iter()
            .map(|i| (i.dataset.name.clone(), i.dataset.digest.clone()))
            .collect()
    };
    assert_eq!(datasets(&target), datasets(&source), "datasets of {run_id}");

    let local_artifacts = read_tree(&local.store.artifact_dir(run_id).expect("artifact dir"));
    let downloaded = tempfile::tempdir().expect("temp dir");
    client
        .download_dir(&target.info.run_id, None, downloaded.path())
        .expect("download artifacts");
    assert_eq!(
        read_tree(downloaded.path()),
        local_artifacts,
        "artifacts of {run_id} byte-identical"
    );
    target
}

/// Every point of every metric of every run on the server, by local run id.
fn server_histories(client: &MlflowClient, local: &LocalStore) -> BTreeMap<String, Vec<Metric>> {
    let mut all = BTreeMap::new();
    for run_id in [&local.parent, &local.child, &local.logged, &local.running] {
        let target = pushed_run(client, local, run_id);
        for latest in &target.data.metrics {
            let history = client
                .get_metric_history(&target.info.run_id, &latest.key)
                .expect("history");
            all.insert(format!("{run_id}/{}", latest.key), history);
        }
    }
    all
}

fn push(local: &LocalStore, client: &MlflowClient) -> PushReport {
    let options = PushOptions {
        experiments: local.experiments.to_vec(),
        ..PushOptions::default()
    };
    let report = push_store(&local.store, client, &options).expect("push");
    assert!(report.is_clean(), "push failed: {report:#?}");
    report
}

#[test]
fn push_sends_a_local_store_once_then_only_new_points() {
    let client = shared_client();
    let local = write_local_store();

    // First push: everything is created.
    let report = push(&local, &client);
    assert_eq!(report.runs_created, 4, "{report:#?}");
    assert_eq!(report.runs_already_present, 0);
    assert_eq!(report.metrics_sent, 300 + 50 + 20 + 12 + 5);
    assert_eq!(report.metrics_skipped, 0);
    assert_eq!(report.artifacts_uploaded, 4);
    assert_eq!(report.experiments.len(), 2);

    let parent = assert_same_run(&client, &local, &local.parent);
    let child = assert_same_run(&client, &local, &local.child);
    assert_same_run(&client, &local, &local.logged);
    assert_same_run(&client, &local, &local.running);
    assert_eq!(
        child.data.tag(mlflow_tags::PARENT_RUN_ID),
        Some(parent.info.run_id.as_str()),
        "the child points at the server's parent"
    );
    assert_eq!(parent.info.status, RunStatus::Finished);
    assert_eq!(child.info.status, RunStatus::Failed);
    let before = server_histories(&client, &local);

    // Second push: nothing new.
    let again = push(&local, &client);
    assert_eq!(again.runs_created, 0, "{again:#?}");
    assert_eq!(again.runs_already_present, 4);
    assert_eq!(again.metrics_sent, 0);
    assert_eq!(again.metrics_skipped, report.metrics_sent);
    assert_eq!(again.artifacts_uploaded, 0);
    assert!(
        again
            .runs
            .iter()
            .all(|r| r.params_sent == 0 && r.tags_sent == 0)
    );
    assert!(again.runs.iter().all(|r| r.final_status.is_none()));
    let after = server_histories(&client, &local);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "metric keys unchanged"
    );
    for (key, history) in &after {
        assert_same_points(
            history,
            &before[key],
            &format!("{key} after the second push"),
        );
    }

    // New local points: only they arrive.
    let new_points = series("loss", 300, 10, 1_800_000_000_000);
    local
        .store
        .log_batch(&local.parent, &new_points, &[], &[])
        .expect("new points");
    let third = push(&local, &client);
    assert_eq!(third.runs_created, 0, "{third:#?}");
    assert_eq!(third.metrics_sent, 10);
    let parent_push = third
        .runs
        .iter()
        .find(|r| r.source_run_id == local.parent)
        .expect("parent in the report");
    assert_eq!(parent_push.metrics_sent, 10);
    assert_same_run(&client, &local, &local.parent);
}

#[test]
fn push_reports_a_conflicting_param_as_a_failure() {
    let client = shared_client();
    let dirs = tempfile::tempdir().expect("temp dir");
    let store = FileStore::new(dirs.path().join("mlruns")).expect("file store");
    let experiment = unique("conflict");
    let experiment_id = store.experiment_id(&experiment).expect("experiment");
    let run_id = store
        .create_run(&CreateRun::new(&experiment_id))
        .expect("run")
        .info
        .run_id;
    store
        .log_batch(
            &run_id,
            &[Metric::new("m", 1.0, 0)],
            &[Param::new("lr", "0.1"), Param::new("depth", "3")],
            &[],
        )
        .expect("batch");
    store
        .end_run(&run_id, RunStatus::Finished, 1_700_000_000_000)
        .expect("end");
    let options = PushOptions {
        experiments: vec![experiment.clone()],
        ..PushOptions::default()
    };
    let first = push_store(&store, &client, &options).expect("push");
    assert!(first.is_clean(), "{first:#?}");

    let target = server_run(
        &client,
        &experiment,
        SOURCE_RUN_TAG,
        &source_run_value(&store.describe(), &run_id),
    );
    // The local param changes behind the push's back (a param cannot change through the API).
    let param_file = store
        .artifact_dir(&run_id)
        .expect("artifact dir")
        .with_file_name("params")
        .join("lr");
    fs::write(&param_file, "0.2").expect("rewrite param");
    store
        .log_batch(&run_id, &[Metric::new("m", 2.0, 1)], &[], &[])
        .expect("new point");

    let second = push_store(&store, &client, &options).expect("push");
    assert_eq!(second.failed.len(), 1, "{second:#?}");
    assert!(
        second.failed[0].reason.contains("lr"),
        "{:?}",
        second.failed[0]
    );
    let run = &second.runs[0];
    assert_eq!(run.param_conflicts.len(), 1);
    assert_eq!(run.metrics_sent, 1, "the rest of the run is still pushed");
    let after = client.get_run(&target.info.run_id).expect("server run");
    assert_eq!(after.data.param("lr"), Some("0.1"));
    assert_eq!(after.data.param("depth"), Some("3"));
}
