//! `vigie attack` end to end: the tiny dataset's char SVM attacked with a file of payloads; the
//! JSON summary's shape, evading payloads that `vigie score` scores under the threshold too, the
//! same output for the same seed, and the search as a run in the local store with its
//! `evasion_rate` per round.

use std::fs;
use std::path::Path;

use vigie_mlflow::{FileStore, RunStatus, TrackingStore};
use vigie_test_support::{TINY_SVM_CONFIG, tiny_dataset};

use crate::train::train;
use crate::util::{assert_fails_with, json, vigie};

const PAYLOADS: &str = "/item.php?id=5' or 1=1--\n\
    /item.php?id=7' union select 1,2,3--\n\
    /search?q=<script>alert(3)</script>\n\
    /search?q=<img src=x onerror=alert(4)>\n\
    ' or 'a'='a\n";

const ROUNDS: usize = 12;

fn attack(dir: &Path, out: &str, extra: &[&str]) -> serde_json::Value {
    let rounds = ROUNDS.to_string();
    let mut args = vec![
        "--json",
        "--datasets-dir",
        "datasets",
        "attack",
        "--model",
        "out/svm/model",
        "--input",
        "payloads.txt",
        "--rounds",
        &rounds,
        "--candidates",
        "8",
        "--seed",
        "11",
        "--out",
        out,
        "--tracking-uri",
        "mlruns",
        "--journal-dir",
        "journal",
    ];
    args.extend(extra);
    json(&vigie(dir, &args))
}

#[test]
fn attack_finds_evasions_that_score_under_the_threshold_and_is_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let config = dir.path().join("svm.toml");
    fs::write(&config, TINY_SVM_CONFIG).expect("config");
    json(&train(dir.path(), &config, "out/svm", "mlruns"));
    fs::write(dir.path().join("payloads.txt"), PAYLOADS).expect("payloads");

    let first = attack(dir.path(), "out/attack-1", &[]);
    assert_eq!(first["payloads"], 5);
    let detected = first["detected"].as_u64().expect("detected");
    let evaded = first["evaded"].as_u64().expect("evaded");
    assert!(detected >= 4, "{first}");
    assert!(evaded <= detected);
    let rounds = first["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), ROUNDS);
    assert_eq!(rounds[0]["round"], 1);
    for round in rounds {
        assert!(round["evasion_rate"].as_f64().is_some());
        assert!(round["by_family"]["sqli"].as_f64().is_some(), "{round}");
        assert!(round["by_family"]["xss"].as_f64().is_some(), "{round}");
    }
    let families: Vec<&str> = first["families"]
        .as_array()
        .expect("families")
        .iter()
        .map(|f| f["family"].as_str().expect("family"))
        .collect();
    assert_eq!(families, ["sqli", "xss"]);
    assert!(first["operators_helped"].is_array());
    let threshold = first["threshold"].as_f64().expect("threshold");

    // libinjection beside it, the same payloads and search: it reads `' or 'a'='a`, the union
    // and both scripts as attacks, and its rate is a share of what it flagged.
    let peer = &first["libinjection"];
    let peer_detected = peer["detected"].as_u64().expect("libinjection detected");
    assert!((1..=5).contains(&peer_detected), "{peer}");
    let peer_rate = peer["evasion_rate"].as_f64().expect("libinjection rate");
    let peer_evaded = peer["evaded"].as_u64().expect("libinjection evaded");
    assert!((peer_rate - peer_evaded as f64 / peer_detected as f64).abs() < 1e-12);

    // The evading payloads, re-scored by `vigie score`: under the threshold.
    let evasions_text =
        fs::read_to_string(dir.path().join("out/attack-1/evasions.jsonl")).expect("evasions");
    let evasions: Vec<serde_json::Value> = evasions_text
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(evasions.len() as u64, evaded);
    assert!(
        !evasions.is_empty(),
        "the tiny SVM should fall to the search: {first}"
    );
    for evasion in &evasions {
        let evading = evasion["evading"].as_str().expect("evading");
        assert_ne!(Some(evading), evasion["original"].as_str());
        assert!(
            !evasion["operators"]
                .as_array()
                .expect("operators")
                .is_empty()
        );
        let verdicts = json(&vigie(
            dir.path(),
            &[
                "--json",
                "--datasets-dir",
                "datasets",
                "score",
                "--model",
                "out/svm/model",
                evading,
            ],
        ));
        let score = verdicts[0]["score"].as_f64().expect("score");
        assert!(score < threshold, "{evading}: {score} >= {threshold}");
        assert_eq!(Some(score), evasion["score"].as_f64());
    }
    assert!(dir.path().join("out/attack-1/evasion.png").is_file());

    // The same seed, the same search.
    let second = attack(dir.path(), "out/attack-2", &["--no-track"]);
    for key in [
        "detected",
        "evaded",
        "rounds",
        "families",
        "operators_helped",
        "libinjection",
    ] {
        assert_eq!(first[key], second[key], "{key}");
    }
    let again = fs::read_to_string(dir.path().join("out/attack-2/evasions.jsonl")).expect("again");
    assert_eq!(evasions_text, again);
    assert!(second["run_id"].is_null(), "--no-track logs nothing");

    // The run in the local store, with the evasion rate of every round.
    let run_id = first["run_id"].as_str().expect("run id");
    let store = FileStore::new(dir.path().join("mlruns")).expect("store");
    let run = store.get_run(run_id).expect("run");
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.data.param("rounds"), Some("12"));
    assert_eq!(run.data.param("seed"), Some("11"));
    assert!(
        run.data
            .param("operators")
            .is_some_and(|o| o.contains("case_swap"))
    );
    let history = store
        .metric_history(run_id, "evasion_rate")
        .expect("history");
    let mut steps: Vec<i64> = history.iter().map(|m| m.step).collect();
    steps.sort_unstable();
    assert_eq!(steps, (0..=ROUNDS as i64).collect::<Vec<_>>());
    assert!(run.data.metric("evasion_rate_sqli").is_some());
    assert_eq!(
        run.data.metric("libinjection_evasion_rate"),
        Some(peer_rate),
        "the peer's rate is logged beside the model's"
    );
    let artifacts = store.artifact_dir(run_id).expect("artifacts");
    assert!(artifacts.join("evasions.jsonl").is_file());
    assert!(artifacts.join("evasion.png").is_file());
}

#[test]
fn attack_refuses_bad_settings_before_scoring() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (args, message) in [
        (vec!["--operators", "nope"], "unknown operator"),
        (vec!["--family", "sqlx"], "unknown attack family"),
        (vec!["--candidates", "0"], "candidates"),
    ] {
        let mut all = vec!["attack", "--model", "no/model", "--input", "payloads.txt"];
        all.extend(args);
        let out = vigie(dir.path(), &all);
        assert_fails_with(&out, message);
    }
}
