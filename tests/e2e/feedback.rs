//! The SOC loop's feedback step end to end on the tiny dataset: a site's benign requests that
//! the model flags (a security blog quoting injections in its URLs) are scored by `vigie score`,
//! marked `false_alarm` with `vigie feedback add` from the verdicts file, and the model's config
//! trained again with `[data.feedback]`. Measured only (`weight = 0`), the run raises every
//! dismissed alarm again; trained on them, it raises fewer, and fewer alarms on the blog's
//! requests nobody marked, while it still catches the test split's attacks. The feedback file
//! only grows, and a contradicting verdict is refused.

use std::fs;
use std::path::Path;

use vigie_test_support::{TINY_SVM_CONFIG, tiny_dataset};

use crate::sweep::sweep_args;
use crate::train::train;
use crate::util::{json, stderr, vigie};

/// The blog's requests: benign, shaped like the attacks the tiny dataset teaches.
fn blog_requests(range: std::ops::Range<usize>) -> String {
    range
        .map(|i| format!("/blog/sqli/why-' or 1=1--breaks-logins-part{i}.html?lang=en\n"))
        .collect()
}

/// `vigie score` of `input` with `model`: the verdicts in `output` (JSON Lines), the summary.
fn score(dir: &Path, model: &str, input: &str, output: &str) -> serde_json::Value {
    json(&vigie(
        dir,
        &[
            "--json",
            "score",
            "--model",
            model,
            "--input",
            input,
            "--input-format",
            "lines",
            "--format",
            "jsonl",
            "--output",
            output,
        ],
    ))
}

fn feedback_add(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--json",
        "--data-dir",
        "data",
        "--datasets-dir",
        "datasets",
        "feedback",
        "add",
        "--to",
        "soc",
    ];
    args.extend_from_slice(extra);
    vigie(dir, &args)
}

/// Trains the tiny SVM with `[data.feedback]` at `weight` into `out`; its `vigie train --json`.
fn train_with_feedback(dir: &Path, weight: u32, out: &str) -> serde_json::Value {
    let config = dir.join(format!("{out}.toml"));
    let text =
        format!("{TINY_SVM_CONFIG}[data.feedback]\ndatasets = [\"soc\"]\nweight = {weight}\n");
    fs::write(&config, text).expect("config");
    json(&train(dir, &config, out, "mlruns"))
}

#[test]
fn dismissed_alarms_go_back_into_training_and_are_raised_less() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    tiny_dataset(dir);
    fs::write(dir.join("svm.toml"), TINY_SVM_CONFIG).expect("config");
    let trained = train(dir, &dir.join("svm.toml"), "out/parent", "mlruns");
    assert!(trained.status.success(), "{}", stderr(&trained));
    fs::write(dir.join("week1.txt"), blog_requests(0..30)).expect("week 1");
    fs::write(dir.join("week2.txt"), blog_requests(30..60)).expect("week 2");
    let week1 = score(dir, "out/parent/model", "week1.txt", "week1.jsonl");
    let flagged = week1["malicious"].as_u64().expect("count");
    assert!(
        flagged >= 20,
        "the premise: the model flags the blog ({week1})"
    );

    let added = json(&feedback_add(
        dir,
        &[
            "--verdict",
            "false_alarm",
            "--from",
            "week1.jsonl",
            "--analyst",
            "ana",
        ],
    ));
    assert_eq!(added["added"].as_u64(), Some(flagged), "{added}");
    assert!(
        dir.join("datasets/soc.toml").is_file(),
        "the definition is written"
    );
    let file = fs::read_to_string(dir.join("data/feedback/soc.jsonl")).expect("feedback file");
    assert_eq!(file.lines().count() as u64, flagged);
    assert!(file.contains("\"analyst\":\"ana\""), "{file}");

    let again = json(&feedback_add(
        dir,
        &["--verdict", "false_alarm", "--from", "week1.jsonl"],
    ));
    assert_eq!(
        (again["added"].as_u64(), again["already_known"].as_u64()),
        (Some(0), Some(flagged))
    );
    let contradiction = feedback_add(
        dir,
        &[
            "--verdict",
            "confirmed",
            "--from",
            "week1.jsonl",
            "--ids",
            "1",
        ],
    );
    assert!(
        !contradiction.status.success(),
        "a contradicting verdict is refused"
    );
    assert!(
        stderr(&contradiction).contains("already marked false_alarm (line 1)"),
        "{}",
        stderr(&contradiction)
    );
    assert_eq!(
        fs::read_to_string(dir.join("data/feedback/soc.jsonl")).expect("read"),
        file
    );

    let measured = train_with_feedback(dir, 0, "out/measured");
    assert_eq!(measured["feedback"]["dismissed"].as_u64(), Some(flagged));
    assert_eq!(
        measured["feedback"]["false_alarms"].as_u64(),
        Some(flagged),
        "without training on them, every dismissed alarm is raised again"
    );
    let regressions = fs::read_to_string(dir.join("out/measured/feedback_regressions.txt"))
        .expect("the regressions artifact");
    assert_eq!(regressions.lines().count() as u64, flagged);

    let taught = train_with_feedback(dir, 5, "out/taught");
    let raised_again = taught["feedback"]["false_alarms"].as_u64().expect("count");
    assert!(
        raised_again < flagged / 2,
        "trained on them: {raised_again} of {flagged} raised again"
    );
    assert!(
        taught["test"]["recall"].as_f64().expect("recall") >= 0.95,
        "attacks still caught: {}",
        taught["test"]
    );
    let before = score(dir, "out/parent/model", "week2.txt", "before.jsonl");
    let after = score(dir, "out/taught/model", "week2.txt", "after.jsonl");
    let (before, after) = (before["malicious"].as_u64(), after["malicious"].as_u64());
    assert!(
        after < before,
        "week 2's false alarms: {before:?} -> {after:?}"
    );
}

#[test]
fn a_sweep_on_feedback_trains_its_trials_again_once_analysts_add_verdicts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    tiny_dataset(dir);
    let dismiss = |request: &str| {
        let out = feedback_add(dir, &["--verdict", "false_alarm", "--request", request]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let blog = blog_requests(0..2);
    let mut blog = blog.lines();
    dismiss(blog.next().expect("a request"));
    let base = format!("{TINY_SVM_CONFIG}[data.feedback]\ndatasets = [\"soc\"]\nweight = 0\n");
    fs::write(dir.join("base.toml"), base).expect("base");
    fs::write(
        dir.join("sweep.toml"),
        "name = \"soc-grid\"\nbase = \"base.toml\"\n[objective]\nmetric = \"final_valid_f1\"\n\
         [[search.space]]\n[search.space.grid]\n\"model.c\" = [0.5, 1.0]\n",
    )
    .expect("sweep");
    let sweep = || json(&vigie(dir, &sweep_args("mlruns", "out/sweep", &[])));
    let planned = |outcome: &serde_json::Value| {
        let summary = &outcome["summary"];
        (summary["done"].as_u64(), summary["to_run"].as_u64())
    };
    let trial_ids = |outcome: &serde_json::Value| -> Vec<String> {
        let rows = outcome["leaderboard"]["rows"].as_array().expect("rows");
        rows.iter()
            .map(|row| row["trial_id"].as_str().expect("trial id").to_owned())
            .collect()
    };

    let first = sweep();
    assert_eq!(planned(&first), (Some(0), Some(2)), "{first}");
    let resumed = sweep();
    assert_eq!(
        planned(&resumed),
        (Some(2), Some(0)),
        "same verdicts: the trials are done"
    );

    dismiss(blog.next().expect("a second request"));
    let grown = sweep();
    assert_eq!(
        planned(&grown),
        (Some(0), Some(2)),
        "a new verdict: every trial trains again ({grown})"
    );
    let (before, after) = (trial_ids(&first), trial_ids(&grown));
    assert_eq!(after.len(), 2, "only the trials on today's verdicts rank");
    assert!(
        after.iter().all(|id| !before.contains(id)),
        "{before:?} {after:?}"
    );
    // Measured on both verdicts (weight 0: measured only, the blog is raised again).
    for row in grown["leaderboard"]["rows"].as_array().expect("rows") {
        assert_eq!(row["metrics"]["feedback_false_alarms"], 2.0, "{row}");
    }
    for row in first["leaderboard"]["rows"].as_array().expect("rows") {
        assert_eq!(row["metrics"]["feedback_false_alarms"], 1.0, "{row}");
    }
}
