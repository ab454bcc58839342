use vigie_test_support::{shared_datasets, workspace_root};

use crate::util::{assert_fails_with, failure, json, stdout, vigie};

#[test]
fn stats_json_reports_the_reference_counts() {
    let Some(data_dir) = shared_datasets() else {
        return;
    };
    let out_dir = tempfile::tempdir().expect("tempdir");
    let data = data_dir.to_str().expect("utf-8 path");
    let out = out_dir.path().join("fwaf");
    let out_str = out.to_str().expect("utf-8 path");
    let v = json(&vigie(
        &workspace_root(),
        &[
            "--data-dir",
            data,
            "data",
            "stats",
            "fwaf",
            "--json",
            "--out",
            out_str,
        ],
    ));
    assert_eq!(v["after_dedup"]["total"], 156_438);
    assert_eq!(v["after_dedup"]["malicious"], 44_468);
    assert_eq!(v["dedup"]["duplicate_rows_dropped"], 3_779);
    assert_eq!(v["dedup"]["conflicting_texts_dropped"], 3);
    assert_eq!(v["digest"].as_str().map(str::len), Some(64));
    for name in [
        "class_counts.csv",
        "top_scripts.csv",
        "attack_families.csv",
        "class_counts.png",
        "top_scripts.png",
    ] {
        assert!(out.join(name).is_file(), "{name} not written");
    }

    let v = json(&vigie(
        &workspace_root(),
        &[
            "--data-dir",
            data,
            "data",
            "stats",
            "csic2010",
            "--json",
            "--out",
            out_str,
        ],
    ));
    assert_eq!(v["after_dedup"]["total"], 34_596);
    assert_eq!(v["after_dedup"]["malicious"], 15_956);
}

#[test]
fn prepare_writes_splits_whose_sizes_match_the_manifest() {
    let Some(data_dir) = shared_datasets() else {
        return;
    };
    let out = tempfile::tempdir().expect("tempdir");
    let args = [
        "--data-dir",
        data_dir.to_str().expect("path"),
        "data",
        "prepare",
        "echows-urldetect",
        "--out",
    ];
    let v = json(&vigie(
        &workspace_root(),
        &[&args[..], &[out.path().to_str().expect("path"), "--json"]].concat(),
    ));
    let mut total = 0;
    for part in ["train", "valid", "test"] {
        let text =
            std::fs::read_to_string(out.path().join(format!("{part}.jsonl"))).expect("split file");
        assert_eq!(
            text.lines().count() as u64,
            v["split"][part]["total"].as_u64().expect("count"),
            "{part}"
        );
        total += text.lines().count();
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("a row")).expect("json row");
        assert!(first["text"].is_string() && first["label"].is_u64());
    }
    assert_eq!(
        total as u64,
        v["dedup"]["rows_out"].as_u64().expect("rows_out")
    );
    assert!(out.path().join("manifest.json").is_file());
}

#[test]
fn missing_files_and_unknown_datasets_get_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = vigie(
        dir.path(),
        &["--data-dir", "nowhere", "data", "stats", "fwaf"],
    );
    let err = failure(&out);
    assert!(
        err.contains("nowhere/fwaf/badqueries.txt") && err.contains("vigie data fetch fwaf"),
        "{err}"
    );

    let out = vigie(dir.path(), &["data", "show", "nope"]);
    assert_fails_with(&out, "unknown dataset \"nope\"");
}

#[test]
fn help_has_examples_and_list_reports_file_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let help = stdout(&vigie(dir.path(), &["--help"]));
    assert!(
        help.contains("Examples:") && help.contains("data stats"),
        "{help}"
    );
    let v = json(&vigie(
        dir.path(),
        &["--data-dir", "nowhere", "data", "list", "--json"],
    ));
    let names: Vec<&str> = v
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["fwaf", "csic2010", "echows-urldetect"]);
    assert_eq!(v[0]["files"][0]["status"], "missing");
}
