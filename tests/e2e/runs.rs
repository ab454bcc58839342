//! `vigie runs list|show|delete`, `vigie runs compare`'s columns, `vigie experiments list` and
//! `vigie completions`, on the real MLflow server of `MLFLOW_TRACKING_URI` and on a local file
//! store, with runs written through `vigie-mlflow` (no training needed).

use std::fs;
use std::path::Path;
use std::process::Command;

use vigie_mlflow::{
    CreateLoggedModel, CreateModelVersion, CreateRun, FileStore, LoggedModelStatus, Metric,
    ModelOutput, Param, RunStatus, Tag, TrackingStore,
};
use vigie_test_support::{local_tracking_uri, unique_suffix};

use crate::mlflow::client;
use crate::util::{failure, json, stderr, stdout, vigie};

const START: i64 = 1_796_418_353_677; // 2026-12-04 21:05:53 UTC

/// Two runs in a fresh experiment: `best` (FINISHED, params, metrics, a tag, `notes.txt` and a
/// `model/` folder) and `broken` (FAILED, started later). Returns their ids.
fn write_runs(store: &dyn TrackingStore, experiment: &str, files: &Path) -> (String, String) {
    let experiment_id = store.experiment_id(experiment).expect("experiment");
    let best = store
        .create_run(&CreateRun {
            run_name: Some("best".into()),
            start_time: Some(START),
            ..CreateRun::new(&experiment_id)
        })
        .expect("run");
    let best_id = best.info.run_id;
    store
        .log_batch(
            &best_id,
            &[
                Metric::new("test_f1", 0.25, 0),
                Metric::new("test_f1", 0.9875, 1),
                Metric::new("field_fpr", 0.0015, 0),
            ],
            &[Param::new("model.c", "2.0")],
            &[Tag::new("vigie.model_kind", "linear_svm")],
        )
        .expect("batch");
    fs::create_dir_all(files.join("model")).expect("mkdir");
    fs::write(files.join("notes.txt"), "hello").expect("write");
    fs::write(files.join("model/MLmodel"), "flavors: {}\n").expect("write");
    store
        .log_artifacts(&best_id, &files.join("notes.txt"), None)
        .expect("artifact");
    store
        .log_artifacts(&best_id, &files.join("model"), Some("model"))
        .expect("artifact");
    store
        .end_run(&best_id, RunStatus::Finished, START + 83_000)
        .expect("end");
    let broken = store
        .create_run(&CreateRun {
            run_name: Some("broken".into()),
            start_time: Some(START + 100_000),
            ..CreateRun::new(&experiment_id)
        })
        .expect("run");
    store
        .end_run(&broken.info.run_id, RunStatus::Failed, START + 101_000)
        .expect("end");
    (best_id, broken.info.run_id)
}

/// `vigie ARGS --tracking-uri URI` in `dir`.
fn run_vigie(dir: &Path, uri: &str, args: &[&str]) -> std::process::Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--tracking-uri", uri]);
    vigie(dir, &all)
}

/// What both stores must do alike.
fn check_listing_showing_and_deleting(
    dir: &Path,
    uri: &str,
    experiment: &str,
    best: &str,
    broken: &str,
) {
    // runs list: newest first, short ids, statuses, key metrics.
    let listed = json(&run_vigie(
        dir,
        uri,
        &["--json", "runs", "list", experiment],
    ));
    let runs = listed["runs"].as_array().expect("runs");
    let ids: Vec<&str> = runs
        .iter()
        .map(|r| r["run_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [broken, best], "{listed}");
    assert_eq!(runs[1]["status"], "FINISHED");
    assert_eq!(runs[1]["metrics"]["test_f1"], 0.9875, "latest step wins");
    assert_eq!(runs[1]["duration_seconds"], 83.0);
    assert_eq!(runs[0]["status"], "FAILED");
    let text = stdout(&run_vigie(dir, uri, &["runs", "list", experiment]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("id "), "{text}");
    assert!(
        lines[0].contains("test_f1") && lines[0].contains("field_fpr"),
        "{text}"
    );
    let row = lines[2];
    for part in [
        &best[..8],
        "best",
        "FINISHED",
        "2026-12-04 21:05:53",
        "1m 23s",
        "0.9875",
        "0.0015",
    ] {
        assert!(row.contains(part), "{part} missing from {row:?}");
    }
    assert!(!text.contains('\u{1b}'), "no colours into a pipe: {text:?}");

    // Every experiment when none is named.
    let everything = json(&run_vigie(dir, uri, &["--json", "runs", "list"]));
    assert!(
        everything["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .any(|r| r["run_id"] == best && r["experiment"] == experiment),
        "{everything}"
    );

    // runs show, by the short id.
    let shown = json(&run_vigie(
        dir,
        uri,
        &["--json", "runs", "show", &best[..8]],
    ));
    assert_eq!(shown["run"]["info"]["run_id"], best);
    assert_eq!(shown["experiment"], experiment);
    let artifacts: Vec<&str> = shown["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|a| a["path"].as_str().expect("path"))
        .collect();
    assert_eq!(
        artifacts,
        ["model", "model/MLmodel", "notes.txt"],
        "{shown}"
    );
    let text = stdout(&run_vigie(dir, uri, &["runs", "show", best]));
    for part in [
        format!("run {best}  best"),
        format!("experiment  {experiment} (id "),
        "model.c  2.0".to_owned(),
        "test_f1    0.9875".to_owned(),
        "vigie.model_kind  linear_svm".to_owned(),
        "notes.txt      5 B".to_owned(),
        "duration    1m 23s".to_owned(),
    ] {
        assert!(text.contains(&part), "{part:?} missing from:\n{text}");
    }

    // experiments list.
    let experiments = json(&run_vigie(dir, uri, &["--json", "experiments", "list"]));
    assert!(
        experiments["experiments"]
            .as_array()
            .expect("experiments")
            .iter()
            .any(|e| e["name"] == experiment),
        "{experiments}"
    );

    // runs compare: id, status and start time columns.
    let compared = stdout(&run_vigie(
        dir,
        uri,
        &[
            "runs", "compare", experiment, "--metric", "test_f1", "--all",
        ],
    ));
    let header = compared.lines().nth(1).expect("header");
    assert!(
        header.starts_with("rank  id        run     status    started (UTC)"),
        "{compared}"
    );
    let first = compared.lines().nth(2).expect("first row");
    assert!(
        first.starts_with(&format!(
            "1     {}  best    FINISHED  2026-12-04 21:05",
            &best[..8]
        )),
        "{compared}"
    );

    // Bad input: named in the error, never a panic.
    let unknown = run_vigie(
        dir,
        uri,
        &["runs", "show", "ffffffffffffffffffffffffffffffff"],
    );
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("no run ffffffffffffffffffffffffffffffff"),
        "{}",
        stderr(&unknown)
    );
    for args in [
        &["runs", "list", "no-such-experiment"][..],
        &["runs", "compare", "no-such-experiment"],
    ] {
        let out = run_vigie(dir, uri, args);
        let message = failure(&out);
        assert!(
            message.contains("no experiment \"no-such-experiment\""),
            "{message}"
        );
        assert!(
            message.contains("known experiments, newest first: ") && message.contains(experiment),
            "{message}"
        );
        assert!(!message.contains("panicked"), "{message}");
    }

    // runs delete: refused without a terminal or --yes, then done; soft: still readable.
    let refused = run_vigie(dir, uri, &["runs", "delete", broken]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));
    assert_eq!(
        json(&run_vigie(
            dir,
            uri,
            &["--json", "runs", "list", experiment]
        ))["runs"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let deleted = json(&run_vigie(
        dir,
        uri,
        &["--json", "runs", "delete", broken, "--yes"],
    ));
    assert_eq!(deleted["deleted_now"], true);
    let left = json(&run_vigie(
        dir,
        uri,
        &["--json", "runs", "list", experiment],
    ));
    let ids: Vec<&str> = left["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["run_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [best]);
    let shown = json(&run_vigie(dir, uri, &["--json", "runs", "show", broken]));
    assert_eq!(shown["run"]["info"]["lifecycle_stage"], "deleted");
    let again = json(&run_vigie(
        dir,
        uri,
        &["--json", "runs", "delete", broken, "--yes"],
    ));
    assert_eq!(again["deleted_now"], false);
}

#[test]
fn runs_are_listed_shown_and_deleted_in_a_local_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStore::new(dir.path().join("mlruns")).expect("store");
    let experiment = format!("vigie-test-e2e-runs-local-{}", unique_suffix());
    let (best, broken) = write_runs(&store, &experiment, &dir.path().join("files"));
    check_listing_showing_and_deleting(dir.path(), "mlruns", &experiment, &best, &broken);
    let text = stdout(&run_vigie(dir.path(), "mlruns", &["runs", "show", &best]));
    assert!(
        text.contains("in the run's artifacts: model/ (not registered)"),
        "{text}"
    );
}

#[test]
fn runs_are_listed_shown_and_deleted_on_a_server_with_the_models_aliases() {
    let uri = local_tracking_uri();
    let client = client(&uri);
    let dir = tempfile::tempdir().expect("tempdir");
    let experiment = format!("vigie-test-e2e-runs-server-{}", unique_suffix());
    let (best, broken) = write_runs(&client, &experiment, &dir.path().join("files"));

    let experiment_id = client.get_run(&best).expect("run").info.experiment_id;
    let model = client
        .create_logged_model(&CreateLoggedModel {
            experiment_id,
            name: Some("model".into()),
            source_run_id: Some(best.clone()),
            ..CreateLoggedModel::default()
        })
        .expect("logged model");
    let model_id = model.info.model_id;
    client
        .log_outputs(
            &best,
            &[ModelOutput {
                model_id: model_id.clone(),
                step: 0,
            }],
        )
        .expect("outputs");
    client
        .finalize_logged_model(&model_id, LoggedModelStatus::Ready)
        .expect("ready");
    let name = format!("vigie-test-e2e-runs-{}", unique_suffix());
    client
        .create_registered_model(&name, None, &[])
        .expect("registered");
    let version = client
        .create_model_version(&CreateModelVersion {
            name: name.clone(),
            source: format!("models:/{model_id}"),
            run_id: Some(best.clone()),
            model_id: Some(model_id.clone()),
            ..CreateModelVersion::default()
        })
        .expect("version")
        .version;
    client
        .set_registered_model_alias(&name, "champion", &version)
        .expect("alias");

    let shown = json(&run_vigie(
        dir.path(),
        &uri,
        &["--json", "runs", "show", &best],
    ));
    assert_eq!(
        shown["logged_models"][0]["info"]["model_id"],
        model_id.as_str(),
        "{shown}"
    );
    assert_eq!(shown["model_versions"][0]["name"], name.as_str());
    assert_eq!(shown["model_versions"][0]["aliases"][0], "champion");
    let text = stdout(&run_vigie(dir.path(), &uri, &["runs", "show", &best]));
    assert!(
        text.contains(&format!(
            "registered as {name} version {version}, aliases: champion"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("logged model {model_id}")), "{text}");

    check_listing_showing_and_deleting(dir.path(), &uri, &experiment, &best, &broken);
}

#[test]
fn completions_are_scripts_each_shell_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bash = vigie(dir.path(), &["completions", "bash"]);
    assert!(bash.status.success(), "{}", stderr(&bash));
    let script = dir.path().join("vigie.bash");
    fs::write(&script, &bash.stdout).expect("write");
    // Sourced by bash, it registers a completion for `vigie` that knows the new commands.
    let check = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p vigie", script.display()))
        .output()
        .expect("bash");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("vigie"));
    let text = stdout(&bash);
    for word in [
        "experiments",
        "completions",
        "compare",
        "--tracking-uri",
        "--color",
    ] {
        assert!(text.contains(word), "{word} missing from the bash script");
    }
    for shell in ["zsh", "fish"] {
        let out = vigie(dir.path(), &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains("experiments"), "{shell}");
    }
    let bad = vigie(dir.path(), &["completions", "tcsh"]);
    assert!(!bad.status.success());
}
