//! `vigie adapt` end to end: a model trained on the tiny dataset meets a site whose ordinary
//! requests look like the tiny dataset's attacks (`/cgi-bin/` pages, `;` in values). Adapted to
//! half of that traffic, it raises fewer alarms on the other half, keeps its recall on the tiny
//! test split, and its run names its parent and reproduces from its own config.

use std::fs;
use std::path::Path;

use vigie_mlflow::{FileStore, TrackingStore};
use vigie_test_support::{TINY_SVM_CONFIG, tiny_dataset};

use crate::train::train;
use crate::util::{assert_fails_with, json, stderr, vigie};

/// A site's traffic: benign, but made of what the tiny dataset only shows in attacks.
fn site_traffic(dir: &Path) -> String {
    let mut lines = String::new();
    for i in 0..600 {
        lines.push_str(&format!("/cgi-bin/catalog.cgi?cat={};sort=price\n", i % 40));
        lines.push_str(&format!("/etc/news/{i}.html?cmd=list;page={}\n", i % 9));
    }
    // A real log holds attacks too: they must not be learnt as the site's habits.
    for i in 0..6 {
        lines.push_str(&format!("/item.php?id={i}' or 1=1--\n"));
    }
    let path = dir.join("site-requests.txt");
    fs::write(&path, lines).expect("write traffic");
    "site-requests.txt".to_owned()
}

fn adapt(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--json",
        "--data-dir",
        "data",
        "--datasets-dir",
        "datasets",
        "adapt",
        "--tracking-uri",
        "mlruns",
        "--journal-dir",
        "journal",
        "--cache-dir",
        "cache",
    ];
    args.extend_from_slice(extra);
    vigie(dir, &args)
}

fn parent(dir: &Path) {
    let config = dir.join("parent.toml");
    fs::write(&config, TINY_SVM_CONFIG).expect("write config");
    let out = train(dir, &config, "out/parent", "mlruns");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn adapting_to_a_site_cuts_its_false_alarms_and_keeps_the_attacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    tiny_dataset(dir);
    parent(dir);
    let traffic = site_traffic(dir);
    let adaptation = json(&adapt(
        dir,
        &[
            "--model",
            "out/parent/model",
            "--traffic",
            &traffic,
            "--out",
            "out/adapted",
        ],
    ));
    let before = &adaptation["parent_holdout"];
    let outcome = &adaptation["outcome"];
    let after = &outcome["field"];
    let benign = before["benign"].as_u64().expect("holdout size");
    let adapted_on = outcome["site"]["adapt_requests"].as_u64().expect("count");
    let quarantined = outcome["site"]["quarantined"].as_u64().expect("count");
    // The keyed split keeps about half of the 646 distinct requests out; the attacks of the
    // other half are quarantined, listed for an analyst, and still flagged.
    assert_eq!(benign + adapted_on + quarantined, 646, "{adaptation}");
    assert!(quarantined >= 1, "{adaptation}");
    let listed = fs::read_to_string(dir.join("out/adapted/site-quarantine.txt")).expect("list");
    assert_eq!(listed.lines().count() as u64, quarantined);
    assert!(
        listed.lines().all(|l| l.ends_with("' or 1=1--")),
        "{listed}"
    );
    assert_eq!(outcome["site"]["adapt_alerts"], 0, "{adaptation}");
    assert!((240..400).contains(&benign), "{adaptation}");
    assert_eq!(after["benign"].as_u64(), Some(benign));
    // The holdout's own attacks are labelled benign (the log is unlabelled) and stay flagged.
    let holdout_attacks = 6 - quarantined;
    let alarms_before = before["false_alarms"].as_u64().expect("count") - holdout_attacks;
    let alarms_after = after["false_alarms"].as_u64().expect("count") - holdout_attacks;
    assert!(
        alarms_before * 20 > benign,
        "the parent should be loud on this site: {alarms_before} of {benign}"
    );
    assert!(
        alarms_after * 10 < alarms_before,
        "adapted: {alarms_after}, parent: {alarms_before}"
    );
    let site = &outcome["site"];
    assert_eq!(site["added_to_training"], site["adapt_requests"]);
    assert!(
        outcome["test"]["recall"].as_f64().expect("recall") > 0.9,
        "{outcome}"
    );

    // The run names its parent and holds the site in its config, which reproduces it.
    let run_id = outcome["run_id"].as_str().expect("run id");
    let store = FileStore::new(dir.join("mlruns")).expect("store");
    let run = store.get_run(run_id).expect("run");
    assert!(
        run.data
            .tag("vigie.adapted_from")
            .is_some_and(|t| t.ends_with("out/parent/model")),
        "{:?}",
        run.data.tags
    );
    let config = fs::read_to_string(dir.join("out/adapted/config.toml")).expect("config");
    assert!(config.contains("[data.site]"), "{config}");
    let again = json(&train(
        dir,
        &dir.join("out/adapted/config.toml"),
        "out/again",
        "mlruns",
    ));
    assert_eq!(again["dataset_digest"], outcome["dataset_digest"]);
    assert_eq!(again["field"], outcome["field"]);
    assert_eq!(again["threshold"], outcome["threshold"]);
}

#[test]
fn threshold_only_adaptation_keeps_the_training_data_and_meets_the_alert_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    tiny_dataset(dir);
    parent(dir);
    let traffic = site_traffic(dir);
    let adaptation = json(&adapt(
        dir,
        &[
            "--model",
            "out/parent",
            "--traffic",
            &traffic,
            "--threshold-only",
            "--alert-rate",
            "0.01",
            "--out",
            "out/threshold",
        ],
    ));
    let outcome = &adaptation["outcome"];
    let site = &outcome["site"];
    assert_eq!(site["added_to_training"], 0);
    let adapt_requests = site["adapt_requests"].as_u64().expect("count");
    let allowed = (0.01 * adapt_requests as f64).floor() as u64;
    assert!(
        site["adapt_alerts"].as_u64().expect("alerts") <= allowed,
        "{site}"
    );
    assert_eq!(site["threshold_raised"], true, "{site}");
    let rule = outcome["threshold"]["rule"].as_str().expect("rule");
    assert!(rule.ends_with("+site_alert_rate"), "{rule}");
    assert!(
        outcome["threshold"]["threshold"].as_f64() > adaptation["parent_threshold"].as_f64(),
        "{adaptation}"
    );
}

#[test]
fn adapt_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    tiny_dataset(dir);
    parent(dir);
    let out = adapt(
        dir,
        &["--model", "out/parent/model", "--traffic", "no-such.txt"],
    );
    assert_fails_with(&out, "no-such.txt");

    // A model folder copied away from its run folder has no config beside it.
    fs::create_dir_all(dir.join("loose")).expect("mkdir");
    copy_dir(&dir.join("out/parent/model"), &dir.join("loose"));
    // Nor a run id to find its run's config by.
    fs::remove_file(dir.join("loose/MLmodel")).expect("no MLmodel");
    let traffic = site_traffic(dir);
    let out = adapt(dir, &["--model", "loose", "--traffic", &traffic]);
    assert_fails_with(&out, "--config");

    // A config that trained another model is refused.
    let other = TINY_SVM_CONFIG.replace("ngram_max = 3", "ngram_max = 2");
    fs::write(dir.join("other.toml"), other).expect("write");
    let out = adapt(
        dir,
        &[
            "--model",
            "loose",
            "--traffic",
            &traffic,
            "--config",
            "other.toml",
        ],
    );
    assert_fails_with(&out, "not the config");
}

/// Copies the folder `from` (files and subfolders) into `to`.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
