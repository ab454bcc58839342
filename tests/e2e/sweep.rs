//! `vigie sweep`, `vigie runs compare` and `vigie reproduce` end to end, on the tiny dataset
//! of `train.rs`: a grid of ten trials as child runs of one parent; resume after SIGKILL;
//! two shards as two processes against the real MLflow server; the champion alias; a trial
//! reproduced with identical metrics; malformed sweep files rejected before anything runs;
//! and the shipped quickstart on the real Fwaf data.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigie_mlflow::{FileStore, Run, RunStatus, SearchRuns, TrackingStore};
use vigie_test_support::{
    TINY_SVM_CONFIG, local_tracking_uri, shared_datasets, tiny_dataset, unique_suffix,
    workspace_root,
};

use crate::util::{json, stderr, vigie};

/// Ten trials: eight linear SVMs (C x n-gram range) and two logistic regressions.
fn write_sweep(dir: &Path, extra: &str) -> usize {
    fs::write(dir.join("base.toml"), TINY_SVM_CONFIG).expect("write base");
    fs::write(
        dir.join("sweep.toml"),
        format!(
            "name = \"tiny-grid\"\nbase = \"base.toml\"\n{extra}\n\
             [objective]\nmetric = \"final_valid_f1\"\n\
             [[search.space]]\n[search.space.grid]\n\
             \"model.c\" = [0.25, 0.5, 1.0, 2.0]\n\
             \"model.tfidf.tokenizer.analyzer.ngram_max\" = [2, 3]\n\
             [[search.space]]\n[search.space.set]\n\"model.kind\" = \"logistic_regression\"\n\
             [search.space.grid]\n\"model.c\" = [1.0, 10.0]\n"
        ),
    )
    .expect("write sweep");
    10
}

/// `vigie --json sweep sweep.toml` on the data of `tiny_dataset`, into `store` and `out`.
pub(crate) fn sweep_args<'a>(store: &'a str, out: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--json",
        "--data-dir",
        "data",
        "--datasets-dir",
        "datasets",
        "sweep",
        "sweep.toml",
        "--tracking-uri",
        store,
        "--out",
        out,
        "--journal-dir",
        "journal",
    ];
    args.extend_from_slice(more);
    args
}

/// `vigie` with `args` in `dir`, in the background, its output discarded (a test kills or
/// interrupts it).
fn spawn_sweep(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn vigie sweep")
}

/// The trial runs of the tiny sweep in a local store (none while the store does not exist yet).
fn trial_runs(store_dir: &Path) -> Vec<Run> {
    let Ok(store) = FileStore::new(store_dir) else {
        return Vec::new();
    };
    let Ok(Some(experiment)) = store.find_experiment("vigie-tiny") else {
        return Vec::new();
    };
    // A run being written may be unreadable for an instant: poll again.
    FileStore::list_runs(&store, &experiment)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.data.tag("vigie.sweep_role") == Some("trial"))
        .collect()
}

/// A leaderboard without its timings and run ids: what must not change between two runs of
/// the same sweep.
fn ranking(outcome: &serde_json::Value) -> Vec<String> {
    outcome["leaderboard"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            let mut metrics = row["metrics"].as_object().expect("metrics").clone();
            metrics.remove("train_seconds");
            format!(
                "{} {} {} {} {:?}",
                row["rank"], row["run_name"], row["trial_id"], row["value"], metrics
            )
        })
        .collect()
}

#[test]
fn a_sweep_logs_every_trial_under_one_parent_resumes_without_rerunning_and_reproduces() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let trials = write_sweep(dir.path(), "max_parallel = 2");

    let first = json(&vigie(dir.path(), &sweep_args("mlruns", "out/sweep", &[])));
    assert_eq!(first["summary"]["to_run"], trials);
    assert_eq!(first["results"].as_object().expect("results").len(), trials);
    let rows = first["leaderboard"]["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), trials, "{first}");
    let values: Vec<f64> = rows
        .iter()
        .map(|r| r["value"].as_f64().expect("value"))
        .collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "{values:?}");
    assert!(dir.path().join("out/sweep/leaderboard.md").is_file());

    // In the store: one parent, ten children pointing at it, each with its params and files.
    let store = FileStore::new(dir.path().join("mlruns")).expect("store");
    let experiment = store
        .find_experiment("vigie-tiny")
        .expect("read")
        .expect("experiment");
    let runs = FileStore::list_runs(&store, &experiment).expect("runs");
    let parent_id = first["parent_run_id"].as_str().expect("parent");
    let parent = runs
        .iter()
        .find(|r| r.info.run_id == parent_id)
        .expect("parent run");
    assert_eq!(parent.info.status, RunStatus::Finished);
    assert_eq!(
        parent.data.param("objective.metric"),
        Some("final_valid_f1")
    );
    let parent_files = store.artifact_dir(parent_id).expect("artifacts");
    for file in [
        "sweep.toml",
        "plan.json",
        "leaderboard.md",
        "leaderboard.json",
    ] {
        assert!(parent_files.join(file).is_file(), "parent lacks {file}");
    }
    let children: Vec<&Run> = runs
        .iter()
        .filter(|r| r.data.tag("mlflow.parentRunId") == Some(parent_id))
        .collect();
    assert_eq!(children.len(), trials);
    let ids: BTreeSet<&str> = children
        .iter()
        .map(|r| r.data.tag("vigie.trial_id").expect("trial id"))
        .collect();
    assert_eq!(ids.len(), trials, "trial ids are distinct");
    for child in &children {
        assert_eq!(child.info.status, RunStatus::Finished);
        assert!(child.data.param("model.c").is_some());
        let files = store.artifact_dir(&child.info.run_id).expect("artifacts");
        assert!(files.join("config.toml").is_file());
        assert!(files.join("model/vigie-model.json").is_file());
    }

    // Run again: everything is done, nothing is rerun, the leaderboard is the same.
    let again = json(&vigie(dir.path(), &sweep_args("mlruns", "out/sweep", &[])));
    assert_eq!(again["summary"]["done"], trials);
    assert_eq!(again["summary"]["to_run"], 0);
    assert_eq!(again["parent_run_id"], first["parent_run_id"]);
    assert_eq!(ranking(&again), ranking(&first));
    assert_eq!(trial_runs(&dir.path().join("mlruns")).len(), trials);

    // The leaderboard read back from the store by `vigie runs compare`.
    let compared = json(&vigie(
        dir.path(),
        &[
            "--json",
            "runs",
            "compare",
            "vigie-tiny",
            "--sweep",
            "tiny-grid",
            "--kind",
            "logistic_regression",
            "--tracking-uri",
            "mlruns",
        ],
    ));
    assert_eq!(compared["rows"].as_array().expect("rows").len(), 2);

    // The best trial, reproduced from its logged config: identical metrics.
    let best = rows[0]["run_id"].as_str().expect("best run");
    let reproduced = json(&vigie(
        dir.path(),
        &[
            "--json",
            "--data-dir",
            "data",
            "--datasets-dir",
            "datasets",
            "reproduce",
            best,
            "--tracking-uri",
            "mlruns",
            "--out",
            "out/reproduce",
            "--journal-dir",
            "journal",
        ],
    ));
    let metrics = reproduced["metrics"].as_array().expect("metrics");
    assert!(metrics.len() > 20, "{reproduced}");
    for metric in metrics {
        assert_eq!(metric["identical"], true, "{metric}");
    }
    assert_eq!(
        reproduced["outcome"]["dataset_digest"],
        reproduced["original_digest"]
    );
}

#[test]
fn a_sweep_killed_halfway_resumes_to_exactly_one_finished_run_per_trial_and_the_same_ranking() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let trials = write_sweep(dir.path(), "max_parallel = 1");
    // Kill it while a trial's run is RUNNING, with some trials finished and some not started.
    // Between two trials nothing is RUNNING for a moment (the publisher ends one run, then
    // starts the next): a kill landing there leaves nothing to repair, so the test tries
    // again in a new store until a kill leaves a RUNNING run behind.
    let mut attempt = 0;
    let (store_name, out_name, at_kill) = loop {
        attempt += 1;
        assert!(attempt <= 10, "no kill left a RUNNING trial in 10 attempts");
        let store_name = format!("killed{attempt}");
        let out_name = format!("out/killed{attempt}");
        let store_dir = dir.path().join(&store_name);
        let mut child = spawn_sweep(dir.path(), &sweep_args(&store_name, &out_name, &[]));
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut in_time = true;
        loop {
            let runs = trial_runs(&store_dir);
            let finished = runs
                .iter()
                .filter(|r| r.info.status == RunStatus::Finished)
                .count();
            let running = runs.iter().any(|r| r.info.status == RunStatus::Running);
            if finished >= 3 && running {
                break;
            }
            if child.try_wait().expect("wait").is_some() {
                // It ended before it could be killed: try again.
                in_time = false;
                break;
            }
            assert!(Instant::now() < deadline, "no progress in 300 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        child.wait().expect("reap");
        let at_kill = trial_runs(&store_dir);
        if in_time && at_kill.iter().any(|r| r.info.status == RunStatus::Running) {
            break (store_name, out_name, at_kill);
        }
    };
    let store_dir = dir.path().join(&store_name);
    let finished_at_kill = at_kill
        .iter()
        .filter(|r| r.info.status == RunStatus::Finished)
        .count();
    let running_at_kill = at_kill
        .iter()
        .filter(|r| r.info.status == RunStatus::Running)
        .count();
    assert!(finished_at_kill < trials, "{finished_at_kill} finished");

    // A run RUNNING in the store at the kill either had its end journaled (the sender thread
    // died before sending it: the resume syncs it first and counts the trial done) or is
    // stale (ended KILLED and run again). Either way none is lost or left RUNNING.
    let resumed = json(&vigie(dir.path(), &sweep_args(&store_name, &out_name, &[])));
    let count = |key: &str| {
        usize::try_from(resumed["summary"][key].as_u64().expect(key)).expect("fits usize")
    };
    let (done, stale) = (count("done"), count("stale"));
    assert!(
        (finished_at_kill..=finished_at_kill + running_at_kill).contains(&done),
        "{finished_at_kill} finished and {running_at_kill} running at the kill: {resumed}"
    );
    assert!(
        done + stale >= finished_at_kill + running_at_kill,
        "{finished_at_kill} finished and {running_at_kill} running at the kill: {resumed}"
    );
    let runs = trial_runs(&store_dir);
    let mut finished_per_trial: BTreeMap<&str, usize> = BTreeMap::new();
    for run in &runs {
        assert_ne!(run.info.status, RunStatus::Running, "nothing left RUNNING");
        if run.info.status == RunStatus::Finished {
            *finished_per_trial
                .entry(run.data.tag("vigie.trial_id").expect("trial id"))
                .or_default() += 1;
        }
    }
    assert_eq!(finished_per_trial.len(), trials);
    assert!(
        finished_per_trial.values().all(|&n| n == 1),
        "{finished_per_trial:?}"
    );

    let uninterrupted = json(&vigie(dir.path(), &sweep_args("clean", "out/clean", &[])));
    assert_eq!(ranking(&resumed), ranking(&uninterrupted));
}

#[test]
fn two_shards_against_the_server_run_exactly_the_trials_of_one_sweep_and_crown_a_champion() {
    let uri = local_tracking_uri();
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let suffix = unique_suffix();
    let experiment = format!("vigie-test-sweep-{suffix}");
    let model_name = format!("vigie-test-champion-{suffix}");
    let trials = write_sweep(
        dir.path(),
        &format!(
            "experiment = \"{experiment}\"\nregistered_model = \"{model_name}\"\nmax_parallel = 1"
        ),
    );
    let planned = json(&vigie(
        dir.path(),
        &[
            "--json",
            "--datasets-dir",
            "datasets",
            "sweep",
            "sweep.toml",
            "--dry-run",
        ],
    ));
    let planned: BTreeSet<String> = planned
        .as_array()
        .expect("trials")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(planned.len(), trials);

    let shards: Vec<_> = ["1/2", "2/2"]
        .into_iter()
        .map(|shard| {
            Command::new(env!("CARGO_BIN_EXE_vigie"))
                .args(sweep_args(
                    &uri,
                    &format!("out/shard{}", &shard[..1]),
                    &["--shard", shard],
                ))
                .current_dir(dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a shard")
        })
        .collect();
    for shard in shards {
        let output = shard.wait_with_output().expect("shard");
        assert!(output.status.success(), "shard failed: {}", stderr(&output));
    }

    let client = crate::mlflow::client(&uri);
    let experiment_id = client
        .get_experiment_by_name(&experiment)
        .expect("read")
        .expect("experiment")
        .experiment_id;
    let search = |filter: &str| {
        client
            .search_runs_all(&SearchRuns {
                experiment_ids: vec![experiment_id.clone()],
                filter: Some(filter.to_owned()),
                ..Default::default()
            })
            .expect("search")
    };
    let parents = search("tags.`vigie.sweep_role` = 'parent'");
    assert_eq!(parents.len(), 2, "one parent per shard");
    let parent_ids: BTreeSet<&str> = parents.iter().map(|p| p.info.run_id.as_str()).collect();
    let children = search("tags.`vigie.sweep_role` = 'trial'");
    assert_eq!(children.len(), trials, "each trial ran once, in one shard");
    let ran: BTreeSet<String> = children
        .iter()
        .map(|r| r.data.tag("vigie.trial_id").expect("trial id").to_owned())
        .collect();
    assert_eq!(ran, planned);
    for child in &children {
        assert_eq!(child.info.status, RunStatus::Finished);
        assert!(parent_ids.contains(child.data.tag("mlflow.parentRunId").expect("parent")));
        assert!(child.data.param("model.c").is_some());
        // Per-epoch metrics (the solver's passes) with their steps, and the run's files.
        let history = client
            .get_metric_history(&child.info.run_id, "train_objective")
            .expect("history");
        assert!(!history.is_empty());
        assert_each_pass_once(&history);
        let files = client
            .list_artifacts(&child.info.artifact_uri, None)
            .expect("artifacts");
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert!(
            names.contains(&"config.toml") && names.contains(&"plots"),
            "{names:?}"
        );
        // The model is the run's logged model.
        assert_eq!(child.outputs.model_outputs.len(), 1, "{:?}", child.outputs);
    }

    // The unsharded sweep afterwards finds everything done; the champion holds the best value.
    let whole = json(&vigie(dir.path(), &sweep_args(&uri, "out/whole", &[])));
    assert_eq!(whole["summary"]["done"], trials);
    assert_eq!(whole["summary"]["to_run"], 0);
    let best_value = whole["leaderboard"]["rows"][0]["value"]
        .as_f64()
        .expect("best value");
    let champion = client
        .get_model_version_by_alias(&model_name, "champion")
        .expect("champion alias");
    let champion_run = client
        .get_run(champion.run_id.as_deref().expect("run id"))
        .expect("champion run");
    assert_eq!(champion_run.data.metric("final_valid_f1"), Some(best_value));
    assert_eq!(
        champion_run.data.tag("vigie.sweep"),
        Some("tiny-grid"),
        "the champion is a trial of the sweep"
    );
}

/// The champion step's decisions, one sweep after another against one registered model: a
/// first champion, a later sweep's best compared with it (alias moved only when better, the
/// comparison written on the new version), and a resumed sweep that registers nothing again.
#[test]
fn the_champion_moves_only_when_beaten_and_every_decision_is_written_on_its_version() {
    let uri = local_tracking_uri();
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    fs::write(dir.path().join("base.toml"), TINY_SVM_CONFIG).expect("write base");
    let suffix = unique_suffix();
    let model_name = format!("vigie-test-crown-{suffix}");
    let write = |name: &str, cs: &str| {
        fs::write(
            dir.path().join(format!("{name}.toml")),
            format!(
                "name = \"{name}\"\nbase = \"base.toml\"\nexperiment = \"vigie-test-crown-{suffix}\"\n\
                 registered_model = \"{model_name}\"\nmax_parallel = 1\n\
                 [objective]\nmetric = \"final_valid_f1\"\n\
                 [[search.space]]\n[search.space.grid]\n\"model.c\" = [{cs}]\n"
            ),
        )
        .expect("write sweep");
    };
    write("crown-a", "0.5, 1.0");
    write("crown-b", "0.01");
    let sweep = |name: &str| {
        let file = format!("{name}.toml");
        let out = format!("out/{name}");
        let mut args = sweep_args(&uri, &out, &[]);
        let at = args
            .iter()
            .position(|arg| *arg == "sweep.toml")
            .expect("the sweep file argument");
        args[at] = &file;
        json(&vigie(dir.path(), &args))
    };
    let client = crate::mlflow::client(&uri);

    let first = sweep("crown-a");
    assert_eq!(first["champion"]["reason"], "first champion", "{first}");
    let first_value = first["leaderboard"]["rows"][0]["value"]
        .as_f64()
        .expect("value");
    let v1 = client
        .get_model_version(&model_name, "1")
        .expect("version 1");
    assert_eq!(
        v1.run_id.as_deref(),
        first["leaderboard"]["rows"][0]["run_id"].as_str()
    );
    assert_eq!(v1.tag("vigie.champion_decision"), Some("first champion"));
    assert_eq!(v1.tag("vigie.champion_metric"), Some("final_valid_f1"));
    assert_eq!(
        v1.tag("vigie.champion_value")
            .and_then(|v| v.parse::<f64>().ok()),
        Some(first_value)
    );
    let logged = client
        .get_logged_model(
            v1.source
                .strip_prefix("models:/")
                .expect("a logged model source"),
        )
        .expect("logged model");
    assert_eq!(logged.info.status, vigie_mlflow::LoggedModelStatus::Ready);
    let best_run = client
        .get_run(v1.run_id.as_deref().expect("run"))
        .expect("run");
    assert_eq!(
        best_run.data.tag("vigie.registered_version"),
        Some(format!("{model_name}/1").as_str())
    );

    // Another sweep on the same registered model: its best is compared with version 1.
    let second = sweep("crown-b");
    let second_value = second["leaderboard"]["rows"][0]["value"]
        .as_f64()
        .expect("value");
    let v2 = client
        .get_model_version(&model_name, "2")
        .expect("version 2");
    let decision = v2.tag("vigie.champion_decision").expect("decision tag");
    assert_eq!(
        v2.tag("vigie.previous_champion"),
        Some(format!("{model_name}/1 final_valid_f1={first_value}").as_str())
    );
    let holder = client
        .get_model_version_by_alias(&model_name, "champion")
        .expect("alias");
    if second_value > first_value {
        assert!(decision.starts_with("beats the champion"), "{decision}");
        assert_eq!(holder.version, "2");
    } else {
        assert!(
            decision.starts_with("not better than the champion"),
            "{decision}"
        );
        assert_eq!(
            holder.version, "1",
            "a champion is never demoted by a worse model"
        );
    }
    assert_eq!(second["champion"]["reason"].as_str(), Some(decision));

    // The first sweep again: everything is done; its best is version 1 already.
    let again = sweep("crown-a");
    assert_eq!(again["summary"]["to_run"], 0);
    assert_eq!(again["champion"]["version"], "1");
    assert!(
        client.get_model_version(&model_name, "3").is_err(),
        "nothing registered twice"
    );
    let v1_again = client
        .get_model_version(&model_name, "1")
        .expect("version 1");
    if holder.version == "1" {
        assert_eq!(again["champion"]["reason"], "already the champion");
        assert_eq!(
            v1_again.tag("vigie.champion_decision"),
            Some("first champion"),
            "why it became champion is kept"
        );
    }
}

#[test]
fn malformed_sweep_files_fail_before_any_trial_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    fs::write(dir.path().join("base.toml"), TINY_SVM_CONFIG).expect("write base");
    for (text, key) in [
        ("base = \"base.toml\"\ncolour = 1\n", "colour"),
        (
            "base = \"base.toml\"\n[[search.space]]\n[search.space.grid]\n\"model.c\" = []\n",
            "model.c",
        ),
        (
            "base = \"base.toml\"\n[search]\nstrategy = \"random\"\nsamples = 2\n[[search.space]]\n\
             [search.space.random]\n\"model.c\" = { distribution = \"gaussian\", low = 1, high = 2 }\n",
            "distribution",
        ),
        (
            "base = \"base.toml\"\n[objective]\nmetric = \"accuracy_of_vibes\"\n",
            "objective.metric",
        ),
        (
            "base = \"base.toml\"\n[[search.space]]\n[search.space.grid]\n\"model.cc\" = [1.0]\n",
            "cc",
        ),
    ] {
        fs::write(dir.path().join("sweep.toml"), text).expect("write");
        let out = vigie(dir.path(), &sweep_args("mlruns", "out/bad", &[]));
        assert!(!out.status.success(), "{key}: accepted");
        let message = stderr(&out);
        assert!(
            message.contains(key) && message.contains("sweep.toml"),
            "{key}: {message}"
        );
        assert!(
            !dir.path().join("mlruns").exists(),
            "{key}: a store was created"
        );
        assert!(
            !dir.path().join("out/bad").exists(),
            "{key}: files were written"
        );
    }
}

/// The shipped quickstart on the real data, on the local store and on the real server (where a
/// REST search finds its parent and children and the champion alias resolves); its best trial
/// meets the field targets on echows-urldetect, which it never trained on.
#[test]
fn the_quickstart_sweep_runs_on_the_local_store_and_on_the_server() {
    let Some(datasets) = shared_datasets() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = workspace_root();
    let uri = local_tracking_uri();
    let suffix = unique_suffix();
    let quickstart = fs::read_to_string(root.join("experiments/quickstart.toml")).expect("read");
    let base = root.join("configs/fwaf-csic2010-request-svm.toml");
    let experiment = format!("vigie-test-quickstart-{suffix}");
    let model_name = format!("vigie-test-quickstart-{suffix}");
    let on_server = quickstart
        .replace(
            "base = \"../configs/fwaf-csic2010-request-svm.toml\"",
            &format!("base = {:?}", base.to_str().expect("utf-8")),
        )
        .replace("vigie-quickstart", &experiment)
        .replace("\"vigie-field\"", &format!("{model_name:?}"));
    assert_ne!(on_server, quickstart);
    fs::write(dir.path().join("quickstart-server.toml"), on_server).expect("write");
    let data_dir = datasets.to_str().expect("utf-8");
    let run = |sweep: &str, store: &str, out: &str| {
        json(&vigie(
            dir.path(),
            &[
                "--json",
                "--data-dir",
                data_dir,
                "sweep",
                sweep,
                "--tracking-uri",
                store,
                "--out",
                out,
                "--journal-dir",
                "journal",
            ],
        ))
    };

    let local = run(
        root.join("experiments/quickstart.toml")
            .to_str()
            .expect("utf-8"),
        "mlruns",
        "out/local",
    );
    let rows = local["leaderboard"]["rows"].as_array().expect("rows");
    let planned = local["summary"]["planned"].as_u64().expect("n") as usize;
    assert_eq!(rows.len(), planned);
    let best = &rows[0]["metrics"];
    let field_fpr = best["field_fpr"].as_f64().expect("field_fpr");
    let field_recall = best["field_sqli_recall"]
        .as_f64()
        .expect("field_sqli_recall");
    assert!(
        field_fpr <= 0.001 && field_recall >= 0.95,
        "the champion on echows-urldetect: FPR {field_fpr}, SQLi recall {field_recall}"
    );
    let pct = local["tracking_overhead_pct"].as_f64().expect("overhead");
    assert!(pct > 0.0 && pct < 100.0, "{pct}");
    eprintln!("quickstart: tracking calls took {pct:.2} % of the workers' time");

    let server = run("quickstart-server.toml", &uri, "out/server");
    assert_eq!(
        ranking(&server),
        ranking(&local),
        "same trials, same metrics"
    );
    let client = crate::mlflow::client(&uri);
    let experiment_id = client
        .get_experiment_by_name(&experiment)
        .expect("read")
        .expect("experiment")
        .experiment_id;
    let runs = client
        .search_runs_all(&SearchRuns {
            experiment_ids: vec![experiment_id],
            filter: Some("tags.`vigie.sweep` = 'quickstart'".to_owned()),
            ..Default::default()
        })
        .expect("search");
    let parent_id = server["parent_run_id"].as_str().expect("parent");
    assert!(runs.iter().any(|r| r.info.run_id == parent_id));
    let children: Vec<&Run> = runs
        .iter()
        .filter(|r| r.data.tag("mlflow.parentRunId") == Some(parent_id))
        .collect();
    assert_eq!(children.len(), planned);
    for child in &children {
        assert!(child.data.param("model.c").is_some());
        assert!(child.data.metric("test_f1").is_some());
        let passes = client
            .get_metric_history(&child.info.run_id, "train_objective")
            .expect("history");
        assert!(passes.len() > 1, "per-pass metrics with steps");
        assert_each_pass_once(&passes);
        let files = client
            .list_artifacts(&child.info.artifact_uri, Some("plots"))
            .expect("artifacts");
        assert!(files.iter().any(|f| f.path == "plots/roc.png"), "{files:?}");
    }
    let champion = client
        .get_model_version_by_alias(&model_name, "champion")
        .expect("champion alias");
    assert_eq!(
        champion.run_id.as_deref(),
        server["leaderboard"]["rows"][0]["run_id"].as_str(),
        "a new registered model's champion is the best trial"
    );
}

#[test]
fn ctrl_c_ends_the_sweep_cleanly_and_a_second_run_completes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let trials = write_sweep(dir.path(), "max_parallel = 1");
    let store_dir = dir.path().join("mlruns");
    let mut child = spawn_sweep(dir.path(), &sweep_args("mlruns", "out/sweep", &[]));
    let deadline = Instant::now() + Duration::from_secs(300);
    while !trial_runs(&store_dir)
        .iter()
        .any(|r| r.info.status == RunStatus::Running)
    {
        assert!(child.try_wait().expect("wait").is_none(), "ended too soon");
        assert!(Instant::now() < deadline, "no trial started in 300 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    let interrupt = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(interrupt.success());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "interrupted sweeps exit with 130");

    let runs = trial_runs(&store_dir);
    assert!(runs.len() < trials, "no trial started after Ctrl-C");
    assert!(
        runs.iter().all(|r| r.info.status != RunStatus::Running),
        "nothing is left RUNNING"
    );
    let store = FileStore::new(&store_dir).expect("store");
    let experiment = store
        .find_experiment("vigie-tiny")
        .expect("read")
        .expect("experiment");
    let parent = FileStore::list_runs(&store, &experiment)
        .expect("runs")
        .into_iter()
        .find(|r| r.data.tag("vigie.sweep_role") == Some("parent"))
        .expect("parent");
    assert_eq!(parent.info.status, RunStatus::Killed);

    let resumed = json(&vigie(dir.path(), &sweep_args("mlruns", "out/sweep", &[])));
    assert_eq!(
        resumed["leaderboard"]["rows"]
            .as_array()
            .expect("rows")
            .len(),
        trials
    );
    assert_eq!(resumed["interrupted"], false);
}

/// The best trial so far is crowned while the last one trains; when the last one does better,
/// the sweep's end crowns it over that early pick, which its version names as the previous
/// champion. Fwaf's trials train for a second or more, longer than the first trial's
/// publishing, so the early crown happens before the last trial ends.
#[test]
fn a_last_trial_that_beats_the_early_pick_is_crowned_over_it() {
    let Some(datasets) = shared_datasets() else {
        return;
    };
    let uri = local_tracking_uri();
    let dir = tempfile::tempdir().expect("tempdir");
    let suffix = unique_suffix();
    let model_name = format!("vigie-test-last-wins-{suffix}");
    let base = workspace_root().join("configs/fwaf-linear-svm.toml");
    fs::write(
        dir.path().join("last-wins.toml"),
        format!(
            "name = \"last-wins\"\nbase = {:?}\nexperiment = \"vigie-test-last-wins-{suffix}\"\n\
             registered_model = \"{model_name}\"\nmax_parallel = 1\n\
             [objective]\nmetric = \"final_valid_f1\"\n\
             [[search.space]]\n[search.space.grid]\n\"model.c\" = [0.001, 5.0]\n",
            base.to_str().expect("utf-8")
        ),
    )
    .expect("write sweep");
    let outcome = json(&vigie(
        dir.path(),
        &[
            "--json",
            "--data-dir",
            datasets.to_str().expect("utf-8"),
            "sweep",
            "last-wins.toml",
            "--tracking-uri",
            &uri,
            "--out",
            "out",
            "--journal-dir",
            "journal",
        ],
    ));
    let rows = outcome["leaderboard"]["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{outcome}");
    let (best, other) = (&rows[0], &rows[1]);
    assert!(
        best["overrides"]
            .as_str()
            .is_some_and(|c| c.contains("model.c=5")),
        "C = 5 should beat C = 0.001 on fwaf: {outcome}"
    );
    assert!(
        best["value"].as_f64() > other["value"].as_f64(),
        "{outcome}"
    );

    let client = crate::mlflow::client(&uri);
    let early = client
        .get_model_version(&model_name, "1")
        .expect("version 1");
    assert_eq!(
        early.run_id.as_deref(),
        other["run_id"].as_str(),
        "the first trial was crowned while the second trained"
    );
    assert_eq!(early.tag("vigie.champion_decision"), Some("first champion"));
    let last = client
        .get_model_version(&model_name, "2")
        .expect("version 2");
    assert_eq!(last.run_id.as_deref(), best["run_id"].as_str());
    let decision = last.tag("vigie.champion_decision").expect("decision");
    assert!(decision.starts_with("beats the champion"), "{decision}");
    let other_value = other["value"].as_f64().expect("value");
    assert_eq!(
        last.tag("vigie.previous_champion"),
        Some(format!("{model_name}/1 final_valid_f1={other_value}").as_str())
    );
    let holder = client
        .get_model_version_by_alias(&model_name, "champion")
        .expect("alias");
    assert_eq!(holder.version, "2");
    assert_eq!(outcome["champion"]["version"], "2", "{outcome}");
}

/// A solver's per-pass metric has one point per pass, 1..=n: whether the sweep's publisher sent
/// them with the run's results or (the last trials) while it trained, none is lost or doubled.
fn assert_each_pass_once(history: &[vigie_mlflow::Metric]) {
    let mut steps: Vec<i64> = history.iter().map(|m| m.step).collect();
    steps.sort_unstable();
    let expected: Vec<i64> = (1..=steps.len() as i64).collect();
    assert_eq!(steps, expected, "one point per pass");
}
