//! `vigie monitor` on an access log over four days made from the shipped datasets: benign
//! requests of echows-urldetect every day, half of day three replaced by fwaf attacks. The
//! model is a small SVM trained on the other half of the same files (seconds). The shifted
//! day's PSI and alert rate stand out, only it drifts, the exit status says so (3), and calm
//! days alone exit 0. Against the MLflow server of `MLFLOW_TRACKING_URI`, the run's metrics
//! read back with MLflow's Python client hold one point per window. Skipped, with a message,
//! without the datasets (`VIGIE_DATA_DIR`) or, for the server test, without a server.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vigie_test_support::{
    lines_dataset, local_tracking_uri_or_skip, shared_datasets, unique_suffix, venv_python,
};

use crate::score_siem::score_input;
use crate::util::{stderr, stdout, vigie};

/// Requests per day in the log.
const PER_DAY: usize = 700;
/// Days in the log; the one at index [`SHIFTED_DAY`] is half attacks.
const DAYS: usize = 4;
const SHIFTED_DAY: usize = 2;
/// 2026-11-25 00:00:00 UTC, in seconds.
const FIRST_DAY_S: i64 = 1_795_564_800;
/// `vigie monitor`'s status when a window drifted.
const EXIT_DRIFT: i32 = 3;

const SVM_CONFIG: &str = "name = \"mini-svm\"\nseed = 7\n[data]\ndataset = \"mini\"\n\
    [model]\nkind = \"linear_svm\"\n[model.tfidf]\nsublinear_tf = true\n\
    [model.tfidf.tokenizer.analyzer]\nkind = \"char\"\nngram_min = 1\nngram_max = 3\n";

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The requests the log is made of, apart from those the model trains on.
struct Held {
    benign: Vec<String>,
    attacks: Vec<String>,
}

/// Trains the small model in `dir` on every other line of echows' good file and of the first
/// 6000 fwaf attacks; returns the model folder and the other lines.
fn train_model(dir: &Path, datasets: &Path) -> (PathBuf, Held) {
    let good = lines(&datasets.join("echows-urldetect/good_fromE.txt"));
    let bad: Vec<String> = lines(&datasets.join("fwaf/badqueries.txt"))
        .into_iter()
        .take(6000)
        .collect();
    let (train_good, held_good) = halves(&good);
    let (train_bad, held_bad) = halves(&bad);
    lines_dataset(dir, "mini", &train_good.join("\n"), &train_bad.join("\n"));
    fs::write(dir.join("svm.toml"), SVM_CONFIG).expect("config");
    let out = crate::train::train(dir, &dir.join("svm.toml"), "out/svm", "mlruns");
    assert!(out.status.success(), "training failed: {}", stderr(&out));
    let held = Held {
        benign: held_good,
        attacks: held_bad,
    };
    (dir.join("out/svm/model"), held)
}

fn halves(lines: &[String]) -> (Vec<String>, Vec<String>) {
    let even = lines.iter().step_by(2).cloned().collect();
    let odd = lines.iter().skip(1).step_by(2).cloned().collect();
    (even, odd)
}

/// `[25/Nov/2026:00:02:00 +0000]`: an access log's time of `epoch_s`.
fn clf_time(epoch_s: i64) -> String {
    chrono::DateTime::from_timestamp(epoch_s, 0)
        .expect("a time in chrono's range")
        .format("[%d/%b/%Y:%H:%M:%S +0000]")
        .to_string()
}

/// The log: [`PER_DAY`] requests a day, two minutes apart, half of day [`SHIFTED_DAY`]
/// attacks when `shift`; one unreadable line a day; the first lines out of order.
fn access_log(held: &Held, shift: bool) -> String {
    let mut entries: Vec<String> = Vec::new();
    for day in 0..DAYS {
        for i in 0..PER_DAY {
            let n = day * PER_DAY + i;
            let attack = shift && day == SHIFTED_DAY && i % 2 == 0;
            let target = if attack {
                &held.attacks[n % held.attacks.len()]
            } else {
                &held.benign[n % held.benign.len()]
            };
            let target = target.replace(' ', "%20").replace('"', "%22");
            let time = FIRST_DAY_S + (day * 86_400 + i * 120) as i64;
            entries.push(format!(
                "10.0.{day}.{} - - {} \"GET {target} HTTP/1.1\" 200 512 \"-\" \"test\"\n",
                i % 250,
                clf_time(time)
            ));
        }
        entries.push("this line is no access log\n".to_owned());
    }
    // Lines from two servers merged: day two's first line comes first.
    entries.swap(0, PER_DAY + 1);
    entries.concat()
}

fn monitor(dir: &Path, model: &Path, log: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "--json",
        "--quiet",
        "--datasets-dir",
        "datasets",
        "monitor",
        "--model",
        model.to_str().expect("utf-8"),
        "--input",
        log,
        "--window",
        "1d",
        "--journal-dir",
        "journal",
    ];
    args.extend_from_slice(extra);
    vigie(dir, &args)
}

fn outcome(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

fn field(window: &serde_json::Value, key: &str) -> f64 {
    window[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} in {window}"))
}

#[test]
fn a_day_of_attacks_stands_out_drifts_and_sets_the_exit_status() {
    let Some(datasets) = shared_datasets() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (model, held) = train_model(dir.path(), &datasets);
    fs::write(dir.path().join("access.log"), access_log(&held, true)).expect("log");
    fs::write(dir.path().join("calm.log"), access_log(&held, false)).expect("log");

    let out = monitor(
        dir.path(),
        &model,
        "access.log",
        &["--tracking-uri", "mlruns"],
    );
    assert_eq!(out.status.code(), Some(EXIT_DRIFT), "{}", stderr(&out));
    let result = outcome(&out);
    assert_eq!(result["drift"], true);
    let source = &result["sources"][0];
    let windows = source["report"]["windows"].as_array().expect("windows");
    assert_eq!(windows.len(), DAYS, "{source}");
    let starts: Vec<i64> = windows
        .iter()
        .map(|w| w["start_ms"].as_i64().expect("start"))
        .collect();
    let expected: Vec<i64> = (0..DAYS as i64)
        .map(|d| (FIRST_DAY_S + d * 86_400) * 1000)
        .collect();
    assert_eq!(starts, expected);
    assert!(
        windows.iter().all(|w| w["requests"] == PER_DAY as u64),
        "{source}"
    );
    assert!(windows.iter().all(|w| w["unreadable"] == 1), "{source}");

    let shifted = &windows[SHIFTED_DAY];
    for (day, calm) in windows
        .iter()
        .enumerate()
        .filter(|(d, _)| *d != SHIFTED_DAY)
    {
        assert!(
            field(shifted, "psi") > 5.0 * field(calm, "psi"),
            "day {day}: {shifted} vs {calm}"
        );
        assert!(
            field(shifted, "alert_rate") > 10.0 * field(calm, "alert_rate").max(0.001),
            "day {day}: {shifted} vs {calm}"
        );
        assert!(
            calm["drift"].as_array().is_some_and(Vec::is_empty),
            "day {day}: {calm}"
        );
    }
    assert!(field(shifted, "psi") > 0.2, "{shifted}");
    let reasons: Vec<&str> = shifted["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .map(|r| r["rule"].as_str().expect("rule"))
        .collect();
    assert_eq!(reasons, ["psi", "alert_rate"], "{shifted}");
    assert!(
        shifted["alerts_by_family"]
            .as_object()
            .is_some_and(|f| !f.is_empty())
    );
    assert_eq!(source["run"]["synced"], true, "{source}");
    for file in source["files"].as_array().expect("files") {
        assert!(
            dir.path().join(file.as_str().expect("path")).is_file(),
            "{file}"
        );
    }

    // The same days without the attacks: no drift, status 0.
    let calm = monitor(dir.path(), &model, "calm.log", &["--no-track"]);
    assert_eq!(calm.status.code(), Some(0), "{}", stderr(&calm));
    assert_eq!(outcome(&calm)["drift"], false);
}

/// Reads the run's `psi` and `requests` histories and tags with MLflow's Python client.
const READ_RUN: &str = "import json, sys\nfrom mlflow import MlflowClient\n\
    c = MlflowClient(sys.argv[1])\nrun = c.get_run(sys.argv[2])\n\
    h = lambda k: [[m.step, m.timestamp, m.value] for m in c.get_metric_history(sys.argv[2], k)]\n\
    print(json.dumps({'psi': h('psi'), 'requests': h('requests'), 'tags': run.data.tags,\n\
    'name': run.info.run_name, 'artifacts': [f.path for f in c.list_artifacts(sys.argv[2])]}))\n";

#[test]
fn the_run_reads_back_in_mlflow_with_one_point_per_window() {
    let (Some(datasets), Some(uri)) = (shared_datasets(), local_tracking_uri_or_skip()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (model, held) = train_model(dir.path(), &datasets);
    fs::write(dir.path().join("access.log"), access_log(&held, true)).expect("log");
    let experiment = format!("vigie-test-monitor-{}", unique_suffix());
    let out = monitor(
        dir.path(),
        &model,
        "access.log",
        &["--tracking-uri", &uri, "--experiment", &experiment],
    );
    assert_eq!(out.status.code(), Some(EXIT_DRIFT), "{}", stderr(&out));
    let result = outcome(&out);
    let run_id = result["sources"][0]["run"]["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();
    let windows = result["sources"][0]["report"]["windows"]
        .as_array()
        .expect("windows")
        .clone();

    let python = venv_python("mlflow");
    let read = Command::new(&python)
        .args(["-c", READ_RUN, &uri, &run_id])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(read.status.success(), "{}", stderr(&read));
    let read: serde_json::Value = serde_json::from_slice(&read.stdout).expect("JSON");

    for key in ["psi", "requests"] {
        let points = read[key].as_array().expect("history");
        assert_eq!(points.len(), DAYS, "{key}: {points:?}");
        for (point, window) in points.iter().zip(&windows) {
            assert_eq!(point[0], window["step"], "{key}");
            assert_eq!(point[1], window["start_ms"], "{key}");
            assert_eq!(point[2].as_f64(), window[key].as_f64(), "{key}");
        }
    }
    // Steps are the window's index since the epoch: consecutive days.
    let steps: Vec<i64> = windows
        .iter()
        .map(|w| w["step"].as_i64().expect("step"))
        .collect();
    assert_eq!(steps[3] - steps[0], 3);
    assert_eq!(read["tags"]["vigie.drift"], "true");
    assert_eq!(read["tags"]["vigie.drifted_windows"], "2026-11-27");
    assert_eq!(read["name"], "monitor-access.log-linear_svm");
    let artifacts = read["artifacts"].to_string();
    assert!(
        artifacts.contains("monitor.png") && artifacts.contains("monitor.json"),
        "{artifacts}"
    );
}

#[test]
fn score_with_monitor_writes_every_verdict_and_judges_the_same_windows_as_monitor() {
    let Some(datasets) = shared_datasets() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (model, held) = train_model(dir.path(), &datasets);
    fs::write(dir.path().join("access.log"), access_log(&held, true)).expect("log");
    let monitored = monitor(
        dir.path(),
        &model,
        "access.log",
        &["--no-track", "--out", "out/monitor"],
    );
    assert_eq!(monitored.status.code(), Some(EXIT_DRIFT));

    let scored = score_input(
        dir.path(),
        &model,
        "access.log",
        &[
            "--json",
            "--quiet",
            "--output",
            "verdicts.jsonl",
            "--format",
            "jsonl",
            "--monitor",
            "1d",
            "--monitor-out",
            "out/score-monitor",
            "--tracking-uri",
            "mlruns",
            "--journal-dir",
            "journal",
        ],
    );
    assert_eq!(
        scored.status.code(),
        Some(EXIT_DRIFT),
        "the shifted day drifts in the scoring pass too: {}",
        stderr(&scored)
    );
    let summary = outcome(&scored);
    let verdicts = lines(&dir.path().join("verdicts.jsonl"));
    assert_eq!(
        verdicts.len(),
        DAYS * PER_DAY,
        "every request has its verdict"
    );
    assert_eq!(summary["total"], (DAYS * PER_DAY) as u64, "{summary}");
    assert_eq!(summary["monitor"]["report"]["drift"], true, "{summary}");
    assert!(
        summary["monitor"]["run"]["run_id"].is_string(),
        "one monitoring run in the store: {summary}"
    );

    // One pass or two, the windows are the same numbers.
    let report = |folder: &str| -> serde_json::Value {
        let path = dir.path().join(folder).join("monitor.json");
        serde_json::from_slice(&fs::read(&path).expect("monitor.json")).expect("json")
    };
    let (alone, in_score) = (
        report("out/monitor/access.log"),
        report("out/score-monitor"),
    );
    assert_eq!(alone["windows"], in_score["windows"]);
    assert!(dir.path().join("out/score-monitor/monitor.png").is_file());
}
