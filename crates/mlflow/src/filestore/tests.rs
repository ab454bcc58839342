//! Round trips through [`TrackingStore`] on a temporary folder, and damaged files.

use std::fs;

use super::*;
use crate::error::{INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST};

fn store() -> (tempfile::TempDir, FileStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FileStore::new(dir.path().join("mlruns")).expect("store opens");
    (dir, store)
}

fn new_run(store: &FileStore, experiment: &str, name: &str) -> Run {
    let experiment_id = store.experiment_id(experiment).expect("experiment");
    store
        .create_run(&CreateRun {
            run_name: Some(name.into()),
            start_time: Some(1_700_000_000_000),
            tags: vec![Tag::new("replay.id", name)],
            user_id: Some("tester".into()),
            ..CreateRun::new(experiment_id)
        })
        .expect("run created")
}

#[test]
fn new_store_has_the_default_experiment() {
    let (_dir, store) = store();
    let experiments = store.list_experiments().expect("lists");
    assert_eq!(experiments.len(), 1);
    assert_eq!(experiments[0].experiment_id, "0");
    assert_eq!(experiments[0].name, "Default");
    assert_eq!(
        experiments[0].artifact_location,
        format!("{}/0", store.describe())
    );
    assert!(store.root().join(".trash").is_dir());
    // Opening again keeps it.
    let again = FileStore::new(store.root()).expect("reopens");
    assert_eq!(again.list_experiments().expect("lists"), experiments);
}

#[test]
fn experiments_are_found_by_name_or_created() {
    let (_dir, store) = store();
    let id = store.experiment_id("trainer: a/b #1").expect("created");
    assert!(id.parse::<u64>().is_ok_and(|n| n > 0), "{id}");
    assert_eq!(store.experiment_id("trainer: a/b #1").expect("found"), id);
    assert_eq!(store.experiment_id("Default").expect("found"), "0");
    let names: Vec<String> = store
        .list_experiments()
        .expect("lists")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"trainer: a/b #1".to_string()));
}

#[test]
fn run_round_trip() {
    let (_dir, store) = store();
    let run = new_run(&store, "exp", "first");
    let run_id = run.info.run_id.clone();
    assert_eq!(run_id.len(), 32);
    assert!(run_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(run.info.status, RunStatus::Running);
    assert_eq!(run.info.run_name, "first");
    assert_eq!(run.info.user_id, "tester");
    assert_eq!(run.info.start_time, Some(1_700_000_000_000));
    assert_eq!(run.data.tag(mlflow_tags::RUN_NAME), Some("first"));
    assert_eq!(run.data.tag(mlflow_tags::USER), Some("tester"));
    let artifacts = store.artifact_dir(&run_id).expect("artifact dir");
    assert_eq!(run.info.artifact_uri, layout::file_uri(&artifacts));

    let metrics = vec![
        Metric::at("loss", 0.5, 0, 10),
        Metric::at("loss", 0.25, 1, 11),
        Metric::at("nested/acc", f64::NAN, 0, 12),
        Metric::at("big", f64::INFINITY, 0, 13),
    ];
    let params = [Param::new("lr", "0.01"), Param::new("note", "two\nlines ")];
    let tags = [Tag::new("stage", "train")];
    let writes = store
        .log_batch(&run_id, &metrics, &params, &tags)
        .expect("logged");
    assert_eq!(writes, 2 + 3 + 1);

    let read = store.get_run(&run_id).expect("read");
    assert_eq!(read.data.param("lr"), Some("0.01"));
    assert_eq!(read.data.param("note"), Some("two\nlines "));
    assert_eq!(read.data.tag("stage"), Some("train"));
    assert_eq!(read.data.metric("loss"), Some(0.25));
    assert!(read.data.metric("nested/acc").is_some_and(f64::is_nan));
    assert_eq!(read.data.metric("big"), Some(f64::INFINITY));
    let history = store.metric_history(&run_id, "loss").expect("history");
    assert_eq!(history, metrics[..2]);
    assert!(
        store
            .metric_history(&run_id, "absent")
            .expect("empty")
            .is_empty()
    );

    // Param files hold the raw value, no newline; metric lines are "ts value step".
    let run_dir = artifacts.parent().expect("run dir");
    assert_eq!(
        fs::read_to_string(run_dir.join("params/lr")).expect("param"),
        "0.01"
    );
    assert_eq!(
        fs::read_to_string(run_dir.join("metrics/nested/acc")).expect("metric"),
        "12 nan 0\n"
    );

    store
        .end_run(&run_id, RunStatus::Failed, 1_700_000_005_000)
        .expect("ended");
    let ended = store.get_run(&run_id).expect("read");
    assert_eq!(ended.info.status, RunStatus::Failed);
    assert_eq!(ended.info.end_time, Some(1_700_000_005_000));
    let meta = fs::read_to_string(run_dir.join("meta.yaml")).expect("meta");
    assert!(meta.contains("status: 4\n"), "{meta}");
    assert!(meta.contains("source_type: 4\n"), "{meta}");
}

#[test]
fn params_are_write_once() {
    let (_dir, store) = store();
    let run_id = new_run(&store, "exp", "r").info.run_id;
    store
        .log_batch(&run_id, &[], &[Param::new("p", "1")], &[])
        .expect("first");
    // The same value again is fine and writes nothing.
    assert_eq!(
        store
            .log_batch(&run_id, &[], &[Param::new("p", "1")], &[])
            .expect("same value"),
        0
    );
    let err = store
        .log_batch(
            &run_id,
            &[Metric::at("m", 1.0, 0, 1)],
            &[Param::new("p", "2")],
            &[],
        )
        .expect_err("conflict");
    assert_eq!(err.error_code(), Some(INVALID_PARAMETER_VALUE));
    assert!(err.to_string().contains("key='p'"), "{err}");
    // Nothing of the refused batch was written.
    assert!(
        store
            .metric_history(&run_id, "m")
            .expect("history")
            .is_empty()
    );
    assert_eq!(
        store.get_run(&run_id).expect("run").data.param("p"),
        Some("1")
    );
}

#[test]
fn bad_keys_and_ids_are_refused_before_writing() {
    let (_dir, store) = store();
    let run_id = new_run(&store, "exp", "r").info.run_id;
    for key in ["../escape", "a//b", "bad*char"] {
        assert!(
            store
                .log_batch(&run_id, &[Metric::at(key, 1.0, 0, 1)], &[], &[])
                .is_err(),
            "{key}"
        );
    }
    assert!(matches!(
        store.get_run("../0"),
        Err(MlflowError::InvalidArgument { .. })
    ));
    let missing = store
        .get_run("0123456789abcdef0123456789abcdef")
        .expect_err("absent");
    assert!(missing.is_not_found());
    assert_eq!(missing.error_code(), Some(RESOURCE_DOES_NOT_EXIST));
    assert!(
        store
            .find_runs_by_tag("999", "k", "v")
            .expect_err("no such experiment")
            .is_not_found()
    );
}

#[test]
fn runs_are_found_by_tag_and_listed() {
    let (_dir, store) = store();
    let first = new_run(&store, "exp", "one");
    let second = new_run(&store, "exp", "two");
    let experiment_id = first.info.experiment_id.clone();
    let found = store
        .find_runs_by_tag(&experiment_id, "replay.id", "two")
        .expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].info.run_id, second.info.run_id);
    assert!(
        store
            .find_runs_by_tag(&experiment_id, "replay.id", "three")
            .expect("search")
            .is_empty()
    );
    let listed = store.list_runs(&experiment_id).expect("list");
    let mut ids: Vec<&str> = listed.iter().map(|r| r.info.run_id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = [first.info.run_id.as_str(), second.info.run_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert!(store.list_runs("0").expect("default").is_empty());
}

#[test]
fn run_name_tag_renames_and_conflicting_names_are_refused() {
    let (_dir, store) = store();
    let run_id = new_run(&store, "exp", "old").info.run_id;
    store
        .log_batch(&run_id, &[], &[], &[Tag::new(mlflow_tags::RUN_NAME, "new")])
        .expect("renamed");
    assert_eq!(store.get_run(&run_id).expect("run").info.run_name, "new");

    let err = store
        .create_run(&CreateRun {
            run_name: Some("a".into()),
            tags: vec![Tag::new(mlflow_tags::RUN_NAME, "b")],
            ..CreateRun::new("0")
        })
        .expect_err("conflict");
    assert_eq!(err.error_code(), Some(INVALID_PARAMETER_VALUE));
    let unnamed = store.create_run(&CreateRun::new("0")).expect("created");
    assert!(!unnamed.info.run_name.is_empty());
    assert!(!unnamed.info.user_id.is_empty());
}

#[test]
fn inputs_are_stored_like_mlflow() {
    let (_dir, store) = store();
    let run = new_run(&store, "exp", "r");
    let input = DatasetInput {
        tags: vec![Tag::new(mlflow_tags::DATASET_CONTEXT, "train")],
        dataset: Dataset {
            name: "ds".into(),
            digest: "dig".into(),
            source_type: "local".into(),
            source: r#"{"uri": "x"}"#.into(),
            schema: None,
            profile: Some(r#"{"rows": 3}"#.into()),
        },
    };
    store
        .log_inputs(&run.info.run_id, std::slice::from_ref(&input))
        .expect("logged");
    store
        .log_inputs(&run.info.run_id, std::slice::from_ref(&input))
        .expect("logged twice");
    let read = store.get_run(&run.info.run_id).expect("read");
    assert_eq!(read.inputs.dataset_inputs, vec![input]);
    let experiment_dir = store.root().join(&run.info.experiment_id);
    assert!(
        experiment_dir
            .join("datasets/79bcebb868a42de631e11eba9b08975b/meta.yaml")
            .is_file()
    );
}

#[test]
fn artifacts_are_copied_file_or_tree() {
    let (dir, store) = store();
    let run_id = new_run(&store, "exp", "r").info.run_id;
    let local = dir.path().join("out");
    fs::create_dir_all(local.join("sub/deeper")).expect("mkdir");
    fs::write(local.join("a.txt"), "a").expect("write");
    fs::write(local.join("sub/deeper/b.bin"), [0u8, 1, 2]).expect("write");
    assert_eq!(
        store
            .log_artifacts(&run_id, &local, Some("plots/"))
            .expect("tree"),
        2
    );
    assert_eq!(
        store
            .log_artifacts(&run_id, &local.join("a.txt"), None)
            .expect("file"),
        1
    );
    let artifacts = store.artifact_dir(&run_id).expect("dir");
    assert_eq!(
        fs::read(artifacts.join("plots/sub/deeper/b.bin")).expect("b"),
        [0, 1, 2]
    );
    assert_eq!(
        fs::read_to_string(artifacts.join("plots/a.txt")).expect("a"),
        "a"
    );
    assert_eq!(fs::read_to_string(artifacts.join("a.txt")).expect("a"), "a");
    assert!(store.log_artifacts(&run_id, &local, Some("../x")).is_err());
    // No temporary file is left in the run folder.
    let run_dir = artifacts.parent().expect("run dir");
    let leftovers: Vec<_> = fs::read_dir(run_dir)
        .expect("read")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn damaged_files_name_the_file_and_line() {
    let (_dir, store) = store();
    let run_id = new_run(&store, "exp", "r").info.run_id;
    store
        .log_batch(
            &run_id,
            &[Metric::at("m", 1.0, 0, 1), Metric::at("m", 2.0, 1, 2)],
            &[],
            &[],
        )
        .expect("logged");
    let run_dir = store
        .artifact_dir(&run_id)
        .expect("dir")
        .parent()
        .expect("run")
        .to_path_buf();
    let metric = run_dir.join("metrics/m");
    let mut text = fs::read_to_string(&metric).expect("read");
    text.push_str("garbage line here too\n");
    fs::write(&metric, &text).expect("write");
    let err = store.metric_history(&run_id, "m").expect_err("garbage");
    let message = err.to_string();
    assert!(
        message.contains("metrics/m") && message.contains("line 3"),
        "{message}"
    );

    fs::write(&metric, "1 1.0 0\n").expect("write");
    let meta = run_dir.join("meta.yaml");
    let full = fs::read_to_string(&meta).expect("meta");
    fs::write(&meta, &full[..full.len() / 2]).expect("truncate");
    let err = store.get_run(&run_id).expect_err("truncated meta");
    assert!(err.to_string().contains("meta.yaml"), "{err}");
    fs::write(&meta, "").expect("empty");
    assert!(store.get_run(&run_id).is_err());
}

#[test]
fn unfinished_metric_line_is_cut_before_appending() {
    let (_dir, store) = store();
    let run_id = new_run(&store, "exp", "r").info.run_id;
    store
        .log_batch(&run_id, &[Metric::at("m", 1.0, 0, 1)], &[], &[])
        .expect("logged");
    let metric = store
        .artifact_dir(&run_id)
        .expect("dir")
        .join("../metrics/m");
    let mut text = fs::read_to_string(&metric).expect("read");
    text.push_str("2 0.5"); // a write interrupted mid-line
    fs::write(&metric, text).expect("write");
    store
        .log_batch(&run_id, &[Metric::at("m", 3.0, 2, 3)], &[], &[])
        .expect("logged");
    let history = store.metric_history(&run_id, "m").expect("history");
    assert_eq!(
        history,
        vec![Metric::at("m", 1.0, 0, 1), Metric::at("m", 3.0, 2, 3)]
    );
}

/// Files exactly as MLflow 3.17's Python FileStore wrote them (PyYAML style: plain and
/// single-quoted scalars, a nested tags mapping, `nan`/`1e+300` metric values).
#[test]
fn reads_a_store_written_by_python() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("mlruns");
    let experiment = root.join("751211947527808166");
    let run = experiment.join("90c943b10bb841c5b562d1c2c374cec4");
    let files = [
        (
            root.join("0/meta.yaml"),
            "artifact_location: file:///tmp/ref/mlruns/0\ncreation_time: 1795818745690\n\
             effective_trace_archival_retention: null\nexperiment_id: '0'\n\
             last_update_time: 1795818745690\nlifecycle_stage: active\nname: Default\n\
             trace_location: null\nworkspace: default\n",
        ),
        (
            experiment.join("meta.yaml"),
            "artifact_location: file:///tmp/ref/mlruns/751211947527808166\n\
             creation_time: 1795818745699\neffective_trace_archival_retention: null\n\
             experiment_id: '751211947527808166'\nlast_update_time: 1795818745699\n\
             lifecycle_stage: active\nname: 'ex: #1 é'\ntrace_location: null\n\
             workspace: default\n",
        ),
        (
            run.join("meta.yaml"),
            "artifact_uri: file:///tmp/ref/mlruns/751211947527808166/90c943b10bb841c5b562d1c2c374cec4/artifacts\n\
             end_time: 1795818745715\nentry_point_name: ''\n\
             experiment_id: '751211947527808166'\nlifecycle_stage: active\n\
             run_id: 90c943b10bb841c5b562d1c2c374cec4\nrun_name: r1\nsource_name: ''\n\
             source_type: 4\nsource_version: ''\nstart_time: 1795818745700\nstatus: 4\n\
             tags: []\nuser_id: unknown\n",
        ),
        (run.join("params/p"), "v"),
        (run.join("tags/mlflow.runName"), "r1"),
        (run.join("tags/t"), "multi\nline"),
        (
            run.join("metrics/m"),
            "1 nan 0\n2 1e-05 1\n3 1e+300 2\n4 inf 3\n5 1.0 4\n",
        ),
        (
            run.join("inputs/a9ffb9d8b41ec506132bf931d5f76c31/meta.yaml"),
            "destination_id: 79bcebb868a42de631e11eba9b08975b\ndestination_type: RUN\n\
             source_id: 79bcebb868a42de631e11eba9b08975b\nsource_type: DATASET\ntags:\n  \
             mlflow.data.context: train\n",
        ),
        (
            experiment.join("datasets/79bcebb868a42de631e11eba9b08975b/meta.yaml"),
            "digest: dig\nname: ds\nprofile: '{\"rows\": 3}'\nschema: null\n\
             source: '{\"uri\": \"x\"}'\nsource_type: local\n",
        ),
    ];
    for (path, text) in files {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }
    let store = FileStore::new(&root).expect("opens");
    let experiments = store.list_experiments().expect("lists");
    assert_eq!(experiments.len(), 2);
    assert_eq!(experiments[1].name, "ex: #1 é");
    let runs = store.list_runs("751211947527808166").expect("runs");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.info.status, RunStatus::Failed);
    assert_eq!(run.info.user_id, "unknown");
    assert_eq!(run.info.end_time, Some(1_795_818_745_715));
    assert_eq!(run.data.param("p"), Some("v"));
    assert_eq!(run.data.tag("t"), Some("multi\nline"));
    assert_eq!(run.data.metric("m"), Some(1.0));
    let history = store
        .metric_history(&run.info.run_id, "m")
        .expect("history");
    assert!(history[0].value.is_nan());
    assert_eq!(history[2].value, 1e300);
    assert_eq!(history[3].value, f64::INFINITY);
    let input = &run.inputs.dataset_inputs[0];
    assert_eq!(input.dataset.profile.as_deref(), Some(r#"{"rows": 3}"#));
    assert_eq!(input.dataset.schema, None);
    assert_eq!(input.tags, vec![Tag::new("mlflow.data.context", "train")]);
}

#[test]
fn runs_are_listed_reopened_and_their_artifacts_copied_out() {
    let (dir, store) = store();
    assert_eq!(store.find_experiment("sweeps").expect("reads"), None);
    let run = new_run(&store, "sweeps", "trial");
    let experiment_id = store
        .find_experiment("sweeps")
        .expect("reads")
        .expect("created by new_run");
    assert_eq!(run.info.experiment_id, experiment_id);

    store
        .end_run(&run.info.run_id, RunStatus::Killed, 1_700_000_000_500)
        .expect("ends");
    store.reopen_run(&run.info.run_id).expect("reopens");
    let listed = TrackingStore::list_runs(&store, &experiment_id).expect("lists");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].info.status, RunStatus::Running);
    assert_eq!(listed[0].info.end_time, None);

    let file = dir.path().join("config.toml");
    fs::write(&file, "seed = 1\n").expect("write");
    store
        .log_artifacts(&run.info.run_id, &file, Some("configs"))
        .expect("logs");
    let copy = dir.path().join("out/copy.toml");
    store
        .download_artifact(&run.info.run_id, "configs/config.toml", &copy)
        .expect("downloads");
    assert_eq!(fs::read_to_string(&copy).expect("read"), "seed = 1\n");
    let missing = store
        .download_artifact(&run.info.run_id, "configs/absent.toml", &copy)
        .expect_err("no such artifact");
    assert!(missing.to_string().contains("absent.toml"), "{missing}");
    assert!(
        store
            .download_artifact(&run.info.run_id, "../escape", &copy)
            .is_err()
    );
}

#[test]
fn a_deleted_run_leaves_the_listings_stays_readable_and_takes_no_more_writes() {
    let (_dir, store) = store();
    let kept = new_run(&store, "e", "kept");
    let gone = new_run(&store, "e", "gone");
    let experiment_id = kept.info.experiment_id.clone();
    store.delete_run(&gone.info.run_id).expect("deletes");

    let listed: Vec<String> = TrackingStore::list_runs(&store, &experiment_id)
        .expect("lists")
        .into_iter()
        .map(|r| r.info.run_id)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&kept.info.run_id));
    assert!(
        store
            .find_runs_by_tag(&experiment_id, "replay.id", "gone")
            .expect("searches")
            .is_empty()
    );
    let read = store.get_run(&gone.info.run_id).expect("still readable");
    assert_eq!(read.info.lifecycle_stage, "deleted");
    assert_eq!(read.info.run_name, "gone");
    let meta = fs::read_to_string(
        store
            .root()
            .join(&experiment_id)
            .join(&gone.info.run_id)
            .join("meta.yaml"),
    )
    .expect("meta");
    assert!(meta.contains("deleted_time: "), "{meta}");
    assert!(meta.contains("lifecycle_stage: \"deleted\""), "{meta}");

    // Deleting again changes nothing; writes are refused; an unknown run is not found.
    store.delete_run(&gone.info.run_id).expect("idempotent");
    let refused = store
        .log_batch(&gone.info.run_id, &[Metric::new("m", 1.0, 0)], &[], &[])
        .expect_err("deleted runs take no writes");
    assert_eq!(refused.error_code(), Some(INVALID_PARAMETER_VALUE));
    let unknown = store.delete_run("0123abcd").expect_err("unknown");
    assert_eq!(unknown.error_code(), Some(RESOURCE_DOES_NOT_EXIST));
    assert!(unknown.to_string().contains("0123abcd"), "{unknown}");
    assert!(store.delete_run("../x").is_err());
}

#[test]
fn artifacts_are_listed_one_level_at_a_time_with_sizes() {
    let (dir, store) = store();
    let run = new_run(&store, "e", "files");
    let run_id = &run.info.run_id;
    let source = dir.path().join("model");
    fs::create_dir_all(source.join("sub")).expect("mkdir");
    fs::write(source.join("MLmodel"), "flavors: {}\n").expect("write");
    fs::write(source.join("sub/weights.bin"), [0u8; 10]).expect("write");
    store
        .log_artifacts(run_id, &source, Some("model"))
        .expect("logs");
    fs::write(dir.path().join("notes.txt"), "hi").expect("write");
    store
        .log_artifacts(run_id, &dir.path().join("notes.txt"), None)
        .expect("logs");

    let root = store.list_run_artifacts(run_id, None).expect("root");
    let shown: Vec<(&str, bool, Option<u64>)> = root
        .iter()
        .map(|f| (f.path.as_str(), f.is_dir, f.file_size))
        .collect();
    assert_eq!(
        shown,
        [("model", true, None), ("notes.txt", false, Some(2))]
    );
    let model = store
        .list_run_artifacts(run_id, Some("model"))
        .expect("model");
    let paths: Vec<&str> = model.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["model/MLmodel", "model/sub"]);
    assert!(
        store
            .list_run_artifacts(run_id, Some("absent"))
            .expect("missing lists as empty")
            .is_empty()
    );
    assert!(store.list_run_artifacts(run_id, Some("../..")).is_err());
    assert!(store.run_model_versions(run_id).expect("none").is_empty());
    assert!(store.logged_model("m-0123").expect("none").is_none());
}

#[test]
fn md5_matches_rfc_1321_vectors() {
    let vectors: [(&[u8], &str); 7] = [
        (b"", "d41d8cd98f00b204e9800998ecf8427e"),
        (b"a", "0cc175b9c0f1b6a831c399e269772661"),
        (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
        (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        (
            b"abcdefghijklmnopqrstuvwxyz",
            "c3fcd3d76192e4007dfb496cca67e13b",
        ),
        (
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            "d174ab98d277d9f5a5611c2c9f419d9f",
        ),
        (
            b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "57edf4a22be3c955ac49da2e2107b67a",
        ),
    ];
    for (input, expected) in vectors {
        assert_eq!(md5_hex(&[input]), expected);
    }
    // The parts are hashed as one message.
    assert_eq!(
        md5_hex(&[
            b"1234567890123456789012345678901234567890",
            b"1234567890123456789012345678901234567890"
        ]),
        "57edf4a22be3c955ac49da2e2107b67a"
    );
}

#[test]
fn md5_names_folders_as_before_and_as_mlflow() {
    // Ids the Python FileStore wrote for dataset ("ds", "dig") and run 90c943b1….
    let dataset_id = md5_hex(&[b"ds", b"dig"]);
    assert_eq!(dataset_id, "79bcebb868a42de631e11eba9b08975b");
    assert_eq!(
        md5_hex(&[dataset_id.as_bytes(), b"90c943b10bb841c5b562d1c2c374cec4"]),
        "a9ffb9d8b41ec506132bf931d5f76c31"
    );
    // What the hand-written MD5 this replaced gave around the 64-byte block's padding edges.
    let stream: Vec<u8> = (0..300u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for (len, expected) in [
        (55, "a3b631d249d3ec4e0e881d0e52c8cf26"),
        (56, "c76f3d1f2e95fe9e6fa06b034420630d"),
        (64, "7cc0caaaf15b537426d6d4f7c84c53ae"),
        (299, "da3725bdf44843d5e3bd77d032635456"),
    ] {
        let (a, b) = stream[..len].split_at(len / 3);
        assert_eq!(md5_hex(&[a, b]), expected, "{len} bytes");
    }
}
