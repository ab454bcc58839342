//! The `python_function` flavor with the real MLflow (the venv's 3.17.2): models trained by
//! `vigie train` on a sample of fwaf's raw lines load with `mlflow.pyfunc.load_model` and score
//! their dataset's test split (raw, so decoding is compared too) as `vigie score` does, within
//! 1e-6: char and char_wb TF-IDF, word TF-IDF, Isolation Forest, under fwaf's decoding and one
//! that uses every other option. `mlflow models serve` answers `/invocations` with the same
//! scores; an edited weight file is refused; a libinjection model's `MLmodel` says why it has no
//! Python scorer; the loader's xxh3 is the crate's. Skips, with a message, without the datasets
//! or the venv's Python with mlflow.

use std::collections::HashMap;
use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigie_data::text::python_strip;
use vigie_test_support::{shared_datasets, tiny_dataset, venv_python_if_present, workspace_root};

use crate::score::{get, post};
use crate::train::train;
use crate::util::{json, stderr, vigie};

/// Largest |Python - Vigie| score difference accepted.
const TOLERANCE: f64 = 1e-6;
/// Raw lines sampled from fwaf's malicious and benign files.
const BAD_LINES: usize = 3000;
const GOOD_LINES: usize = 6000;
/// Ports `mlflow models serve` may take.
const SERVE_PORTS: std::ops::RangeInclusive<u16> = 5095..=5099;

/// fwaf's own decoding, and one that takes every other option.
const FWAF_DECODE: &str = "[decode]\ncharset = \"utf-8\"\npercent_decode = true\n\
    plus_as_space = false\nlowercase = false\ntrim = true\n";
const OTHER_DECODE: &str = "[decode]\ncharset = \"latin-1\"\npercent_decode = true\n\
    plus_as_space = true\nlowercase = true\ntrim = true\n";

/// The venv's Python (`VIGIE_PYTHON`, else `.venv/bin/python`) when it imports mlflow; else
/// `None`, with a message.
fn python_with_mlflow() -> Option<PathBuf> {
    let python = venv_python_if_present().filter(|python| {
        Command::new(python)
            .args(["-c", "import mlflow, numpy, pandas"])
            .output()
            .is_ok_and(|out| out.status.success())
    });
    if python.is_none() {
        eprintln!(
            "SKIP: no Python with mlflow, numpy and pandas in the venv (run scripts/setup-python \
             or set VIGIE_PYTHON)"
        );
    }
    python
}

/// What a test needs: the datasets and the Python, or a skip.
fn prerequisites() -> Option<(PathBuf, PathBuf)> {
    Some((shared_datasets()?, python_with_mlflow()?))
}

/// Up to `count` lines spread over a file, as raw requests: `\r` and surrounding whitespace
/// dropped (so every way of reading them agrees), empty and non-UTF-8 lines skipped.
fn sample_lines(path: &Path, count: usize) -> Vec<String> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<String> = bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| std::str::from_utf8(line).ok())
        .map(|line| python_strip(line).to_owned())
        .filter(|line| !line.is_empty())
        .collect();
    let step = (lines.len() / count).max(1);
    lines.into_iter().step_by(step).take(count).collect()
}

/// A sample of fwaf's raw lines as the dataset `name` of `dir`, decoded by `decode`; returns
/// each raw line by its origin (`name/bad.txt:7`, as `vigie data prepare` writes it).
fn fwaf_sample(dir: &Path, datasets: &Path, name: &str, decode: &str) -> HashMap<String, String> {
    let fwaf = datasets.join("fwaf");
    let good = ["goodqueries.txt", "goodqueries_PARTIAL_prefix.txt"]
        .map(|file| fwaf.join(file))
        .into_iter()
        .find(|path| path.is_file())
        .expect("fwaf's benign file");
    let mut origins = HashMap::new();
    fs::create_dir_all(dir.join("data").join(name)).expect("mkdir");
    fs::create_dir_all(dir.join("datasets")).expect("mkdir");
    let mut files = String::new();
    for (file, source, count, label) in [
        (
            "bad.txt",
            fwaf.join("badqueries.txt"),
            BAD_LINES,
            "malicious",
        ),
        ("good.txt", good, GOOD_LINES, "benign"),
    ] {
        let lines = sample_lines(&source, count);
        let mut text = lines.join("\n");
        text.push('\n');
        fs::write(dir.join("data").join(name).join(file), text).expect("write");
        for (i, line) in lines.into_iter().enumerate() {
            origins.insert(format!("{name}/{file}:{}", i + 1), line);
        }
        files.push_str(&format!(
            "[[files]]\npath = \"{name}/{file}\"\nlabel = \"{label}\"\n"
        ));
    }
    let definition = format!("name = \"{name}\"\n[format]\nkind = \"lines\"\n{decode}{files}");
    fs::write(dir.join(format!("datasets/{name}.toml")), definition).expect("write");
    origins
}

/// Trains `model` (a `[model]` table) on `dataset`; the model folder and the run's outcome.
fn train_model(dir: &Path, dataset: &str, name: &str, model: &str) -> (PathBuf, Value) {
    let config = format!("name = \"{name}\"\nseed = 3\n[data]\ndataset = \"{dataset}\"\n{model}");
    let path = dir.join(format!("{name}.toml"));
    fs::write(&path, config).expect("config");
    let out = format!("out/{name}");
    let outcome = json(&train(dir, &path, &out, "mlruns"));
    (dir.join(out).join("model"), outcome)
}

/// The raw requests of the test split of `dataset`, as the run split it.
fn test_split(
    dir: &Path,
    dataset: &str,
    origins: &HashMap<String, String>,
    run: &Value,
) -> Vec<String> {
    let split = dir.join(format!("split-{dataset}"));
    let split_arg = split.to_str().expect("utf-8");
    let args = [
        "--data-dir",
        "data",
        "--datasets-dir",
        "datasets",
        "data",
        "prepare",
        dataset,
        "--out",
        split_arg,
    ];
    let out = vigie(dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: Value =
        serde_json::from_slice(&fs::read(split.join("manifest.json")).expect("manifest"))
            .expect("manifest json");
    assert_eq!(
        manifest["digest"], run["dataset_digest"],
        "not the run's split"
    );
    let rows = fs::read_to_string(split.join("test.jsonl")).expect("test split");
    rows.lines()
        .map(|row| {
            let row: Value = serde_json::from_str(row).expect("row");
            let origin = row["origin"].as_str().expect("origin");
            origins.get(origin).cloned().expect("a sampled line")
        })
        .collect()
}

/// What `vigie score` says of one request.
#[derive(Debug, Clone, Copy)]
struct Scored {
    score: f64,
    malicious: bool,
    threshold: f64,
}

/// `vigie score`'s verdict on each request (from a JSON Lines file).
fn vigie_scores(dir: &Path, model: &Path, requests: &[String]) -> Vec<Scored> {
    let input: String = requests
        .iter()
        .map(|text| format!("{}\n", json!({ "text": text })))
        .collect();
    fs::write(dir.join("requests.jsonl"), input).expect("write");
    let args = [
        "--datasets-dir",
        "datasets",
        "score",
        "--model",
        model.to_str().expect("utf-8"),
        "--input",
        "requests.jsonl",
        "--input-format",
        "jsonl",
        "--format",
        "jsonl",
        "--top",
        "0",
        "--output",
        "verdicts.jsonl",
    ];
    let out = vigie(dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let verdicts = fs::read_to_string(dir.join("verdicts.jsonl")).expect("verdicts");
    let scored: Vec<Scored> = verdicts
        .lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).expect("verdict");
            Scored {
                score: row["score"].as_f64().expect("score"),
                malicious: row["malicious"].as_bool().expect("malicious"),
                threshold: row["threshold"].as_f64().expect("threshold"),
            }
        })
        .collect();
    assert_eq!(scored.len(), requests.len());
    scored
}

/// Runs `tests/python/pyfunc_check.py` with `args`; its JSON output, or its stderr on failure.
fn python_check(python: &Path, dir: &Path, args: &[&str]) -> Result<Value, String> {
    let script = workspace_root().join("tests/python/pyfunc_check.py");
    let out_path = dir.join("python-out.json");
    let _ = fs::remove_file(&out_path);
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .arg(&out_path)
        .output()
        .expect("run python");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = fs::read(&out_path).expect("python output");
    Ok(serde_json::from_slice(&text).expect("python json"))
}

/// `mlflow.pyfunc.load_model(model).predict(...)` of `requests`, with `options` of the
/// script (`no-decode`).
fn python_predict(
    python: &Path,
    dir: &Path,
    model: &Path,
    requests: &[String],
    options: &[&str],
) -> Result<Value, String> {
    let path = dir.join("python-requests.json");
    fs::write(&path, serde_json::to_vec(requests).expect("json")).expect("write");
    let mut args = vec!["predict", model.to_str().expect("utf-8")];
    args.push(path.to_str().expect("utf-8"));
    args.extend(options);
    python_check(python, dir, &args)
}

/// The largest |Python - Vigie| difference; fails on a larger one or a different verdict.
fn compare(label: &str, python: &Value, vigie: &[Scored]) -> f64 {
    assert_eq!(python["mlflow"], "3.17.2", "{label}: not MLflow 3.17.2");
    assert_eq!(python["columns"], json!(["score", "malicious"]), "{label}");
    let scores = python["score"].as_array().expect("scores");
    let verdicts = python["malicious"].as_array().expect("verdicts");
    assert_eq!(scores.len(), vigie.len(), "{label}");
    let mut largest: f64 = 0.0;
    for (i, (expected, (score, verdict))) in
        vigie.iter().zip(scores.iter().zip(verdicts)).enumerate()
    {
        let score = score.as_f64().expect("score");
        let difference = (score - expected.score).abs();
        assert!(
            difference <= TOLERANCE,
            "{label}: request {i}: Python {score}, Vigie {}",
            expected.score
        );
        // A score within the tolerance of the threshold may fall on either side of it.
        if (expected.score - expected.threshold).abs() > TOLERANCE {
            assert_eq!(
                verdict.as_bool(),
                Some(expected.malicious),
                "{label}: request {i}"
            );
        }
        largest = largest.max(difference);
    }
    eprintln!(
        "{label}: {} requests, max |python - vigie| = {largest:e}",
        vigie.len()
    );
    largest
}

/// Trains `model` on `dataset`, then scores its test split with Vigie and with MLflow's
/// pyfunc; fails on a difference over the tolerance. The model folder, the requests and
/// Vigie's scores.
fn train_and_compare(
    dir: &Path,
    python: &Path,
    (dataset, origins): (&str, &HashMap<String, String>),
    name: &str,
    model: &str,
) -> (PathBuf, Vec<String>, Vec<Scored>) {
    let (model_dir, run) = train_model(dir, dataset, name, model);
    let mlmodel = fs::read_to_string(model_dir.join("MLmodel")).expect("MLmodel");
    assert!(mlmodel.contains("loader_module: vigie_pyfunc"), "{mlmodel}");
    let requests = test_split(dir, dataset, origins, &run);
    assert!(requests.len() >= 1000, "{} test requests", requests.len());
    let scored = vigie_scores(dir, &model_dir, &requests);
    let predicted = python_predict(python, dir, &model_dir, &requests, &[]).unwrap_or_else(|e| {
        panic!("{name}: pyfunc failed: {e}");
    });
    compare(name, &predicted, &scored);
    (model_dir, requests, scored)
}

const CHAR_LOGISTIC: &str = "[model]\nkind = \"logistic_regression\"\n[model.tfidf]\n\
    sublinear_tf = true\n[model.tfidf.tokenizer.analyzer]\nkind = \"char\"\n\
    ngram_min = 1\nngram_max = 3\n";
const CHAR_WB_SVM: &str = "[model]\nkind = \"linear_svm\"\n[model.tfidf]\n\
    sublinear_tf = true\nnorm = \"l1\"\n[model.tfidf.tokenizer.analyzer]\nkind = \"char_wb\"\n\
    ngram_min = 2\nngram_max = 4\n";
const WORD_SVM: &str = "[model]\nkind = \"linear_svm\"\n[model.tfidf.tokenizer.analyzer]\n\
    kind = \"word\"\nngram_min = 1\nngram_max = 2\n";
const FOREST: &str = "[model]\nkind = \"isolation_forest\"\nn_estimators = 60\n";

#[test]
fn char_models_score_in_mlflow_pyfunc_as_in_vigie_score_and_mlflow_serves_them() {
    let Some((datasets, python)) = prerequisites() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let origins = fwaf_sample(dir, &datasets, "fwafs", FWAF_DECODE);
    let (model, requests, scored) = train_and_compare(
        dir,
        &python,
        ("fwafs", &origins),
        "char-logistic",
        CHAR_LOGISTIC,
    );
    serve_and_compare(&python, &model, &requests[..200], &scored[..200]);
    an_edited_weight_file_is_refused(&python, dir, &model, &requests[..1]);

    let other = fwaf_sample(dir, &datasets, "fwafo", OTHER_DECODE);
    let (model, requests, scored) =
        train_and_compare(dir, &python, ("fwafo", &other), "char-wb-svm", CHAR_WB_SVM);
    decoding_changes_the_scores(&python, dir, &model, &requests, &scored);
}

/// The comparison sees the decoding: without it, Python's scores of the raw requests differ
/// from Vigie's for those with escapes or `+` (8 % of this split).
fn decoding_changes_the_scores(
    python: &Path,
    dir: &Path,
    model: &Path,
    requests: &[String],
    scored: &[Scored],
) {
    let raw = python_predict(python, dir, model, requests, &["no-decode"]).expect("no-decode");
    let raw = raw["score"].as_array().expect("scores");
    let differing = raw
        .iter()
        .zip(scored)
        .filter(|(score, vigie)| (score.as_f64().expect("score") - vigie.score).abs() > TOLERANCE)
        .count();
    assert!(
        differing * 20 > requests.len(),
        "{differing} of {} scores change without decoding",
        requests.len()
    );
}

#[test]
fn a_word_model_scores_in_mlflow_pyfunc_as_in_vigie_score() {
    let Some((datasets, python)) = prerequisites() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let origins = fwaf_sample(dir.path(), &datasets, "fwafs", FWAF_DECODE);
    train_and_compare(
        dir.path(),
        &python,
        ("fwafs", &origins),
        "word-svm",
        WORD_SVM,
    );
}

#[test]
fn an_isolation_forest_scores_in_mlflow_pyfunc_as_in_vigie_score() {
    let Some((datasets, python)) = prerequisites() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let origins = fwaf_sample(dir.path(), &datasets, "fwafo", OTHER_DECODE);
    train_and_compare(dir.path(), &python, ("fwafo", &origins), "forest", FOREST);
}

/// The Python loader refuses a model folder whose weights differ from the manifest's.
fn an_edited_weight_file_is_refused(python: &Path, dir: &Path, model: &Path, requests: &[String]) {
    let edited = dir.join("edited-model");
    copy_dir(model, &edited);
    let weights = edited.join("weights.f32");
    let mut bytes = fs::read(&weights).expect("weights");
    bytes[0] ^= 1;
    fs::write(&weights, bytes).expect("edit");
    let refused = python_predict(python, dir, &edited, requests, &[]).expect_err("edited weights");
    assert!(
        refused.contains("weights.f32: checksum mismatch"),
        "{refused}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// `mlflow models serve` stopped with its process group when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// A port of [`SERVE_PORTS`] free a moment ago.
fn serve_port() -> u16 {
    SERVE_PORTS
        .into_iter()
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port in 5095-5099")
}

/// `mlflow models serve` of `model` answers `/invocations` with Vigie's scores.
fn serve_and_compare(python: &Path, model: &Path, requests: &[String], scored: &[Scored]) {
    let port = serve_port();
    // As in an activated venv: MLflow starts the venv's `uvicorn` by name.
    let bin = python.parent().expect("the venv's bin folder");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    let child = Command::new(bin.join("mlflow"))
        .env("PATH", std::env::join_paths(dirs).expect("PATH"))
        .args([
            "models",
            "serve",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
        ])
        .arg("-p")
        .arg(port.to_string())
        .arg("-m")
        .arg(model)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start mlflow models serve");
    let _served = Served(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || get(port, "/ping").0 != 200
    {
        assert!(
            Instant::now() < deadline,
            "mlflow models serve did not start"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let data: Vec<[&str; 1]> = requests.iter().map(|text| [text.as_str()]).collect();
    let body = json!({ "dataframe_split": { "columns": ["text"], "data": data } });
    let (status, answer) = post(port, "/invocations", &body.to_string());
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("json answer");
    let predictions = answer["predictions"].as_array().expect("predictions");
    let python = json!({
        "mlflow": "3.17.2",
        "columns": ["score", "malicious"],
        "score": predictions.iter().map(|p| p["score"].clone()).collect::<Vec<_>>(),
        "malicious": predictions.iter().map(|p| p["malicious"].clone()).collect::<Vec<_>>(),
    });
    compare("mlflow models serve", &python, scored);
}

#[test]
fn a_model_without_a_python_scorer_says_why_in_its_mlmodel() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let config = dir.path().join("rules.toml");
    let text =
        "name = \"tiny-rules\"\n[data]\ndataset = \"tiny\"\n[model]\nkind = \"libinjection\"\n";
    fs::write(&config, text).expect("config");
    json(&train(dir.path(), &config, "out/rules", "mlruns"));
    let model = dir.path().join("out/rules/model");
    let mlmodel = fs::read_to_string(model.join("MLmodel")).expect("MLmodel");
    assert!(!mlmodel.contains("loader_module"), "{mlmodel}");
    assert!(!model.join("code").exists());
    let Some(python) = python_with_mlflow() else {
        return;
    };
    // The reason, as MLflow's YAML reader reads it.
    let read = "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['flavors']['vigie']['python_function'])";
    let out = Command::new(python)
        .args(["-c", read])
        .arg(model.join("MLmodel"))
        .output()
        .expect("run python");
    let reason = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        reason.trim(),
        "unavailable: the libinjection detectors have no numpy port",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_python_xxh3_is_the_one_of_the_hashing_vectoriser() {
    let Some(python) = python_with_mlflow() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // Every length up to past one 1,024-byte block of the long path, bytes from a fixed stream.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let inputs: Vec<Vec<u8>> = (0..=1100)
        .map(|len| {
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        })
        .collect();
    let hex: Vec<String> = inputs
        .iter()
        .map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let path = dir.path().join("inputs.json");
    fs::write(&path, serde_json::to_vec(&hex).expect("json")).expect("write");
    let loader = workspace_root().join("crates/runner/python");
    let args = [
        "xxh3",
        loader.to_str().expect("utf-8"),
        path.to_str().expect("utf-8"),
    ];
    let hashes = python_check(&python, dir.path(), &args).expect("python xxh3");
    let hashes = hashes.as_array().expect("hashes");
    for (bytes, hash) in inputs.iter().zip(hashes) {
        let expected = xxhash_rust::xxh3::xxh3_64(bytes).to_string();
        assert_eq!(
            hash.as_str(),
            Some(expected.as_str()),
            "{} bytes",
            bytes.len()
        );
    }
}
