//! The field numbers end to end: every run (alone or a sweep's trial) logs `field_*` metrics
//! on echows-urldetect, a site it never trained on, when that dataset's files are in the data
//! dir, and none when they are absent or when the run trains on it; `vigie eval` reports false
//! alarms per 10,000 benign requests, the headline of a benign-only set.
//!
//! The tiny dataset of `train.rs` is the training data; echows-urldetect is linked (never
//! copied) from the real datasets folder into the test's data dir. Tests that need it skip,
//! saying so, when that folder is absent.

use std::fs;
use std::path::Path;

use vigie_mlflow::{FileStore, Run};
use vigie_test_support::{TINY_SVM_CONFIG, shared_datasets, tiny_dataset};

use crate::train::train;
use crate::util::{json, stderr, stdout, vigie};

const FIELD_METRICS: [&str; 5] = [
    "field_fpr",
    "field_alerts_per_10k",
    "field_false_alarms",
    "field_sqli_recall",
    "field_requests",
];

/// Links the real echows-urldetect folder into `dir/data`, or `false` (with a message) when
/// the real datasets are absent.
fn link_echows(dir: &Path) -> bool {
    let Some(datasets) = shared_datasets() else {
        return false;
    };
    let real = datasets.join("echows-urldetect");
    if !real.is_dir() {
        eprintln!("SKIP: no echows-urldetect in {}", datasets.display());
        return false;
    }
    std::os::unix::fs::symlink(&real, dir.join("data/echows-urldetect")).expect("symlink");
    true
}

/// The run `run_id` of the local store in `dir/mlruns`, experiment `experiment`.
fn local_run(dir: &Path, experiment: &str, run_id: &str) -> Run {
    let store = FileStore::new(dir.join("mlruns")).expect("store");
    let experiment = store
        .list_experiments()
        .expect("experiments")
        .into_iter()
        .find(|e| e.name == experiment)
        .expect("experiment");
    store
        .list_runs(&experiment.experiment_id)
        .expect("runs")
        .into_iter()
        .find(|r| r.info.run_id == run_id)
        .expect("the run")
}

fn trained_run(dir: &Path, config: &str, out: &str) -> (serde_json::Value, Run) {
    let path = dir.join(format!("{out}.toml"));
    fs::write(&path, config).expect("write config");
    let outcome = json(&train(dir, &path, &format!("out/{out}"), "mlruns"));
    let run_id = outcome["run_id"].as_str().expect("run id").to_owned();
    let experiment = outcome["experiment"].as_str().expect("experiment");
    let run = local_run(dir, experiment, &run_id);
    (outcome, run)
}

fn field_keys(run: &Run) -> Vec<&str> {
    run.data
        .metrics
        .iter()
        .map(|m| m.key.as_str())
        .filter(|k| k.starts_with("field_"))
        .collect()
}

/// `vigie eval --json` of `model` on `datasets`, every request (`--all`).
fn eval_all(dir: &Path, model: &str, datasets: &[&str], json_out: bool) -> std::process::Output {
    let mut args = vec![
        "--data-dir",
        "data",
        "--datasets-dir",
        "datasets",
        "eval",
        "--model",
        model,
        "--tracking-uri",
        "mlruns",
        "--cache-dir",
        "cache",
        "--all",
    ];
    if json_out {
        args.insert(0, "--json");
    }
    for dataset in datasets {
        args.extend(["--dataset", dataset]);
    }
    vigie(dir, &args)
}

#[test]
fn a_run_logs_field_metrics_when_echows_is_in_the_data_dir_and_none_when_absent() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());

    // Absent: the run goes on, with no field metric anywhere.
    let (outcome, run) = trained_run(dir.path(), TINY_SVM_CONFIG, "without");
    assert!(outcome["field"].is_null(), "{}", outcome["field"]);
    assert_eq!(field_keys(&run), Vec::<&str>::new());
    assert!(run.data.metric("test_f1").is_some());

    if !link_echows(dir.path()) {
        return;
    }
    let (outcome, run) = trained_run(dir.path(), TINY_SVM_CONFIG, "with");
    let field = &outcome["field"];
    assert_eq!(field["dataset"], "echows-urldetect", "{outcome}");
    for key in FIELD_METRICS {
        assert!(run.data.metric(key).is_some(), "no metric {key}");
    }
    // Every deduplicated request, not a split: the 27,190 benign and 1,027 SQLi.
    assert_eq!(run.data.metric("field_requests"), Some(28_217.0));
    assert_eq!(field["benign"], 27_190);
    assert_eq!(field["malicious"], 1_027);
    let false_alarms = run.data.metric("field_false_alarms").expect("false alarms");
    assert_eq!(field["false_alarms"].as_f64(), Some(false_alarms));
    assert!(
        false_alarms > 0.0,
        "the tiny model flags some of a real site's URLs"
    );
    assert_eq!(
        run.data.metric("field_alerts_per_10k"),
        Some(false_alarms * 10_000.0 / 27_190.0)
    );
    assert_eq!(run.data.metric("field_fpr"), Some(false_alarms / 27_190.0));
    let recall = run.data.metric("field_sqli_recall").expect("recall");
    assert!((0.0..=1.0).contains(&recall), "{recall}");

    // The same model, the same requests, the same threshold: `vigie eval --all` agrees.
    let eval = json(&eval_all(
        dir.path(),
        "out/with/model",
        &["echows-urldetect"],
        true,
    ));
    let confusion = &eval[0]["metrics"]["confusion"];
    assert_eq!(confusion["fp"].as_f64(), Some(false_alarms), "{eval}");
    assert_eq!(
        confusion["tp"].as_f64(),
        Some((recall * 1_027.0).round()),
        "{eval}"
    );

    // A run that trains on echows-urldetect (here in a union) has no field left to check.
    let union =
        TINY_SVM_CONFIG.replace("dataset = \"tiny\"", "dataset = \"tiny+echows-urldetect\"");
    assert_ne!(union, TINY_SVM_CONFIG);
    let (outcome, run) = trained_run(dir.path(), &union, "union");
    assert!(outcome["field"].is_null(), "{}", outcome["field"]);
    assert_eq!(field_keys(&run), Vec::<&str>::new());

    // The summary on stderr names the field.
    let path = dir.path().join("with.toml");
    let out = vigie(
        dir.path(),
        &[
            "--data-dir",
            "data",
            "--datasets-dir",
            "datasets",
            "train",
            path.to_str().expect("utf-8"),
            "--out",
            "out/summary",
            "--tracking-uri",
            "mlruns",
            "--journal-dir",
            "journal",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let count = (false_alarms as u64).to_string();
    let grouped = match count.len() {
        4..=6 => format!(
            "{},{}",
            &count[..count.len() - 3],
            &count[count.len() - 3..]
        ),
        _ => count,
    };
    let line =
        format!("field (echows-urldetect, never trained on): {grouped} false alarms of 27,190");
    assert!(stderr(&out).contains(&line), "{}", stderr(&out));
}

#[test]
fn every_trial_of_a_sweep_logs_the_field_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    if !link_echows(dir.path()) {
        return;
    }
    fs::write(dir.path().join("base.toml"), TINY_SVM_CONFIG).expect("write base");
    fs::write(
        dir.path().join("sweep.toml"),
        "name = \"tiny-field\"\nbase = \"base.toml\"\nmax_parallel = 2\n\
         [[search.space]]\n[search.space.grid]\n\"model.c\" = [0.5, 1.0, 2.0]\n",
    )
    .expect("write sweep");
    let outcome = json(&vigie(
        dir.path(),
        &[
            "--json",
            "--data-dir",
            "data",
            "--datasets-dir",
            "datasets",
            "sweep",
            "sweep.toml",
            "--tracking-uri",
            "mlruns",
            "--out",
            "out/sweep",
            "--journal-dir",
            "journal",
        ],
    ));
    let rows = outcome["leaderboard"]["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3, "{outcome}");
    for row in rows {
        let run_id = row["run_id"].as_str().expect("run id");
        let run = local_run(dir.path(), "vigie-tiny", run_id);
        for key in FIELD_METRICS {
            assert!(run.data.metric(key).is_some(), "trial {run_id}: no {key}");
        }
        assert_eq!(run.data.metric("field_requests"), Some(28_217.0));
        assert_eq!(
            row["metrics"]["field_fpr"].as_f64(),
            run.data.metric("field_fpr"),
            "the leaderboard shows the trial's field FPR"
        );
    }
}

#[test]
fn eval_reports_alerts_per_10k_and_no_nan_on_a_benign_only_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let (_, _) = trained_run(dir.path(), TINY_SVM_CONFIG, "svm");
    // A benign-only set of 400 requests, 8 of which look like the attacks the model learnt.
    fs::create_dir_all(dir.path().join("data/quiet")).expect("mkdir");
    let mut text = String::new();
    for i in 0..392 {
        text.push_str(&format!("/docs/page-{i}.html?lang=en\n"));
    }
    for i in 0..8 {
        text.push_str(&format!("/search?q=<script>alert({i})</script>\n"));
    }
    fs::write(dir.path().join("data/quiet/good.txt"), text).expect("write");
    fs::write(
        dir.path().join("datasets/quiet.toml"),
        "name = \"quiet\"\n[format]\nkind = \"lines\"\n\
         [[files]]\npath = \"quiet/good.txt\"\nlabel = \"benign\"\n",
    )
    .expect("write");

    let eval = json(&eval_all(
        dir.path(),
        "out/svm/model",
        &["tiny", "quiet"],
        true,
    ));
    for result in eval.as_array().expect("results") {
        let m = &result["metrics"];
        let fp = m["confusion"]["fp"].as_f64().expect("fp");
        let benign = fp + m["confusion"]["tn"].as_f64().expect("tn");
        assert_eq!(
            m["alerts_per_10k"].as_f64(),
            Some(fp * 10_000.0 / benign),
            "{result}"
        );
    }
    let quiet = &eval[1]["metrics"];
    assert_eq!(eval[1]["dataset"], "quiet");
    assert_eq!(quiet["n_malicious"], 0);
    assert_eq!(quiet["confusion"]["fp"], 8, "{quiet}");
    assert_eq!(quiet["alerts_per_10k"], 200.0);
    assert!(quiet["roc_auc"].is_null(), "undefined, not a number");

    let table = eval_all(dir.path(), "out/svm/model", &["tiny", "quiet"], false);
    assert!(table.status.success(), "{}", stderr(&table));
    let table = stdout(&table);
    assert!(table.contains("alerts per 10k"), "{table}");
    assert!(!table.contains("NaN"), "{table}");
    let quiet_row = table
        .lines()
        .find(|l| l.starts_with("| quiet |"))
        .expect("the quiet row");
    assert!(quiet_row.contains("| 200.0 |"), "{quiet_row}");
}
