//! The libinjection family end to end on the tiny dataset: `vigie train` records a normal run
//! (nothing learnt, threshold 0.5), the saved model scores the test split again in `vigie eval`
//! as the run measured it, `vigie eval --matrix` takes its config, and `vigie score` names the
//! flagged value with its SQLi fingerprint.

use std::fs;

use vigie_mlflow::RunStatus;
use vigie_test_support::tiny_dataset;

use crate::train::{eval_on_tiny, train};
use crate::util::{json, local_runs, vigie};

const CONFIG: &str = "name = \"tiny-libinjection\"\nseed = 7\n[data]\ndataset = \"tiny\"\n\
    [model]\nkind = \"libinjection\"\n[threshold]\nrule = \"model\"\n";

#[test]
fn libinjection_trains_as_a_run_evaluates_and_explains_its_verdicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let config = dir.path().join("libinjection.toml");
    fs::write(&config, CONFIG).expect("write config");
    let outcome = json(&train(dir.path(), &config, "out/lib", "mlruns"));

    assert_eq!(outcome["model_kind"], "libinjection");
    assert_eq!(outcome["threshold"]["threshold"], 0.5, "{outcome}");
    // SQLi and XSS are flagged, traversal and command injection are not (a third of the
    // malicious requests); no benign request is.
    let test = &outcome["test"];
    assert_eq!(test["fpr"], 0.0, "{outcome}");
    let recall = test["recall"].as_f64().expect("recall");
    assert!((0.55..0.8).contains(&recall), "{outcome}");

    let runs = local_runs(&dir.path().join("mlruns"), "vigie-tiny");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].info.status, RunStatus::Finished);
    assert_eq!(runs[0].data.param("model.kind"), Some("libinjection"));
    assert_eq!(runs[0].data.param("model.path"), Some("false"));
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(dir.path().join("out/lib/model/vigie-model.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["family"], "rules");
    assert!(
        manifest["files"]["libinjection.json"].is_string(),
        "{manifest}"
    );

    // The saved model scores the test split as the run measured it.
    let eval = eval_on_tiny(dir.path(), "out/lib/model", "mlruns");
    assert_eq!(eval[0]["metrics"]["confusion"], test["confusion"], "{eval}");

    // The transfer matrix takes the config like any other.
    let rows = json(&vigie(
        dir.path(),
        &[
            "--json",
            "--data-dir",
            "data",
            "--datasets-dir",
            "datasets",
            "eval",
            "--matrix",
            "--config",
            "libinjection.toml",
            "--train-on",
            "tiny",
            "--evaluate-on",
            "tiny",
            "--out",
            "out/matrix",
            "--tracking-uri",
            "mlruns",
            "--journal-dir",
            "journal",
        ],
    ));
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");

    // `vigie score` names the flagged value and its fingerprint.
    let verdicts = json(&vigie(
        dir.path(),
        &[
            "--json",
            "--datasets-dir",
            "datasets",
            "score",
            "--model",
            "out/lib/model",
            "/login.php?user=bob&pass=1' or '1'='1",
            "/images/logo_3.png",
        ],
    ));
    let flagged = &verdicts[0];
    assert_eq!(flagged["malicious"], true, "{verdicts}");
    assert_eq!(flagged["method"], "rules");
    assert_eq!(
        flagged["features"][0]["text"],
        "1' or '1'='1 (sqli, fingerprint s&sos)"
    );
    let text = flagged["text"].as_str().expect("text");
    let span = &flagged["features"][0]["spans"][0];
    let (start, end) = (
        span[0].as_u64().expect("start") as usize,
        span[1].as_u64().expect("end") as usize,
    );
    assert_eq!(&text[start..end], "1' or '1'='1");
    assert_eq!(verdicts[1]["malicious"], false);
    assert_eq!(verdicts[1]["score"], 0.0);
}
