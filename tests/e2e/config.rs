//! Run configs from the command line: `vigie config template` and `vigie init` write configs
//! that train and sweeps that plan; `--set` overrides reach the run's params and its resolved
//! `config.toml`, and a wrong one is refused naming its key; a missing file's OS error is
//! printed once.

use std::fs;
use std::path::Path;

use vigie_test_support::{TINY_SVM_CONFIG, tiny_dataset};

use crate::train::train;
use crate::util::{assert_fails_with, failure, json, local_runs, stderr, stdout, vigie};

#[test]
fn a_missing_file_names_the_file_and_its_os_error_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        ["train", "does-not-exist.toml"],
        ["sweep", "does-not-exist.toml"],
    ] {
        let out = vigie(dir.path(), &args);
        let message = failure(&out);
        assert_eq!(
            message.matches("does-not-exist.toml").count(),
            1,
            "{message}"
        );
        assert_eq!(message.matches("No such file").count(), 1, "{message}");
        assert_eq!(message.lines().count(), 1, "{message}");
    }
}

#[test]
fn a_wrong_type_in_the_model_table_is_reported_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    fs::write(
        &config,
        "[data]\ndataset = \"fwaf\"\n[model]\nkind = \"linear_svm\"\nc = \"ten\"\n",
    )
    .expect("write");
    let out = vigie(dir.path(), &["train", "c.toml"]);
    assert_eq!(
        stderr(&out).trim(),
        "error: c.toml:5: model.c: invalid type: string \"ten\", expected f64"
    );
}

#[test]
fn set_overrides_are_trained_logged_and_resolved_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let config = dir.path().join("svm.toml");
    fs::write(&config, TINY_SVM_CONFIG).expect("write");
    let with_set = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "--data-dir",
            "data",
            "--datasets-dir",
            "datasets",
            "train",
            "svm.toml",
            "--tracking-uri",
            "mlruns",
            "--journal-dir",
            "journal",
        ];
        args.extend_from_slice(extra);
        vigie(dir.path(), &args)
    };
    let out = with_set(&["--set", "model.cc=2"]);
    assert_fails_with(&out, "model.cc: unknown field `cc`");
    assert!(
        !dir.path().join("mlruns").exists(),
        "a refused --set created a run"
    );

    let outcome = json(&with_set(&[
        "--out",
        "out/set",
        "--set",
        "model.c=2",
        "--set",
        "data.split.seed=9",
        "--set",
        "threshold.rule=target_fpr",
        "--set",
        "threshold.fpr=0.05",
    ]));
    let resolved = fs::read_to_string(dir.path().join("out/set/config.toml")).expect("config");
    let again = vigie_runner::RunConfig::from_toml(&resolved, Path::new("config.toml"))
        .expect("resolved config");
    assert_eq!(again.data.split.seed, 9);
    assert_eq!(again.threshold.name(), "target_fpr");
    assert_eq!(outcome["threshold"]["rule"], "target_fpr");
    let runs = local_runs(&dir.path().join("mlruns"), "vigie-tiny");
    let run = runs
        .iter()
        .find(|r| Some(r.info.run_id.as_str()) == outcome["run_id"].as_str())
        .expect("the run");
    let param = |key: &str| run.data.param(key).map(str::to_owned);
    assert_eq!(param("model.c").as_deref(), Some("2.0"));
    assert_eq!(param("data.split.seed").as_deref(), Some("9"));
    assert_eq!(param("threshold.fpr").as_deref(), Some("0.05"));
}

#[test]
fn every_template_kind_prints_and_init_writes_a_config_that_trains_and_a_sweep_that_plans() {
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in vigie_models::spec::ModelSpec::KINDS
        .iter()
        .chain(&["sweep"])
    {
        let out = vigie(dir.path(), &["config", "template", kind]);
        assert!(out.status.success(), "{kind}: {}", stderr(&out));
        assert!(stdout(&out).starts_with("# "), "{kind}");
    }
    tiny_dataset(dir.path());
    let init = vigie(dir.path(), &["init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let again = vigie(dir.path(), &["init"]);
    assert_fails_with(&again, "--force");

    let run = dir.path().join("configs/my-run.toml");
    let out = train(dir.path(), &run, "out/init", "mlruns");
    // The template trains on fwaf; the tiny dataset stands in for it through --set.
    assert!(!out.status.success());
    let out = vigie(
        dir.path(),
        &[
            "--json",
            "--data-dir",
            "data",
            "--datasets-dir",
            "datasets",
            "train",
            "configs/my-run.toml",
            "--set",
            "data.dataset=tiny",
            "--out",
            "out/init",
            "--tracking-uri",
            "mlruns",
            "--journal-dir",
            "journal",
        ],
    );
    let outcome = json(&out);
    assert_eq!(outcome["model_kind"], "linear_svm");
    let plan = vigie(
        dir.path(),
        &[
            "--json",
            "--data-dir",
            "data",
            "--datasets-dir",
            "datasets",
            "sweep",
            "experiments/my-sweep.toml",
            "--set",
            "data.dataset=tiny",
            "--dry-run",
        ],
    );
    assert!(plan.status.success(), "{}", stderr(&plan));
    assert!(stdout(&plan).contains("model.c=2.0"), "{}", stdout(&plan));
}
