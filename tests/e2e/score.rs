//! `vigie score` and `vigie serve` end to end: a model trained by `vigie train` scores the same
//! raw requests bit for bit as at training time (the saved model's own scorer on the decoded
//! texts), on the command line (one by one and from an access log) and over HTTP; bad input
//! gets a clear error.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigie_models::Scorer;
use vigie_models::artifact::SavedModel;
use vigie_test_support::{TINY_SVM_CONFIG, local_tracking_uri, tiny_dataset, unique_suffix};

use crate::train::train;
use crate::util::{assert_fails_with, failure, json, stderr, vigie};

pub(crate) const REQUESTS: [&str; 4] = [
    "/item.php?id=7' or 1=1--",
    "/images/logo_3.png",
    "/search?q=<script>alert(5)</script>",
    "/blog/2024/post-9.html?page=2",
];

pub(crate) fn trained_model(dir: &std::path::Path) -> std::path::PathBuf {
    tiny_dataset(dir);
    fs::write(dir.join("svm.toml"), TINY_SVM_CONFIG).expect("config");
    json(&train(dir, &dir.join("svm.toml"), "out/svm", "mlruns"));
    dir.join("out/svm/model")
}

/// A port free on 127.0.0.1 a moment ago, for a `vigie serve` to bind.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits (at most 60 s) until something accepts connections on 127.0.0.1:`port`.
pub(crate) fn wait_until_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the service did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends one raw HTTP/1.1 request to 127.0.0.1:`port` (the connection closes after it);
/// returns the status and the body.
fn exchange(port: u16, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// POST `body` as JSON to `path` on 127.0.0.1:`port`; returns the status and the body.
pub(crate) fn post(port: u16, path: &str, body: &str) -> (u16, String) {
    exchange(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// GET `path` on 127.0.0.1:`port`; the status and the body.
pub(crate) fn get(port: u16, path: &str) -> (u16, String) {
    exchange(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn a_model_scores_identically_at_training_time_in_vigie_score_and_in_the_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model_dir = trained_model(dir.path());
    let model = SavedModel::load(&model_dir).expect("model");
    // These raw requests have nothing to decode: the training-time scorer sees them as they are.
    let expected = model.score_batch(&REQUESTS);
    let model_arg = model_dir.to_str().expect("utf-8");

    let mut args = vec![
        "--json",
        "--datasets-dir",
        "datasets",
        "score",
        "--model",
        model_arg,
    ];
    args.extend(REQUESTS);
    let verdicts = json(&vigie(dir.path(), &args));
    let scored: Vec<f64> = verdicts
        .as_array()
        .expect("verdicts")
        .iter()
        .map(|v| v["score"].as_f64().expect("score"))
        .collect();
    assert_eq!(scored, expected);
    assert_eq!(verdicts[0]["malicious"], true);
    assert_eq!(verdicts[0]["family"], "sqli");
    assert!(
        verdicts[0]["features"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    assert_eq!(verdicts[1]["malicious"], false);

    // From an access log, as CSV.
    let log: String = REQUESTS
        .iter()
        .enumerate()
        .map(|(i, r)| {
            // A real log percent-encodes spaces; the training data's decoding undoes it.
            let target = r.replace(' ', "%20");
            format!(
                "10.0.0.{i} - - [27/Nov/2026:10:00:0{i} +0000] \"GET {target} HTTP/1.1\" 200 5 \"-\" \"t\"\n"
            )
        })
        .collect();
    fs::write(dir.path().join("access.log"), log).expect("log");
    let out = vigie(
        dir.path(),
        &[
            "--datasets-dir",
            "datasets",
            "score",
            "--model",
            model_arg,
            "--input",
            "access.log",
            "--input-format",
            "clf",
            "--format",
            "jsonl",
            "--top",
            "0",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let from_log: Vec<f64> = rows
        .iter()
        .map(|r| r["score"].as_f64().expect("score"))
        .collect();
    assert_eq!(from_log, expected);
    assert_eq!(rows[2]["client"], "10.0.0.2");
    assert!(
        stderr(&out).contains("most flagged paths"),
        "{}",
        stderr(&out)
    );

    // Over HTTP.
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args([
            "--datasets-dir",
            "datasets",
            "serve",
            "--model",
            model_arg,
            "--bind",
            &bind,
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vigie serve");
    wait_until_listening(port);
    let body = serde_json::json!({"inputs": REQUESTS}).to_string();
    let (status, answer) = post(port, "/invocations", &body);
    let malformed = post(port, "/invocations", "{\"inputs\": [1, 2");
    let after = post(port, "/invocations", &body);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("json");
    let served: Vec<f64> = answer["predictions"]
        .as_array()
        .expect("predictions")
        .iter()
        .map(|p| p.as_f64().expect("score"))
        .collect();
    assert_eq!(served, expected);
    assert_eq!(malformed.0, 400, "{}", malformed.1);
    assert!(malformed.1.contains("error"), "{}", malformed.1);
    assert_eq!(after.0, 200, "the service keeps serving");
}

#[test]
fn unusable_models_and_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = vigie(dir.path(), &["score", "--model", "no/such/model", "/a"]);
    assert_fails_with(&out, "no/such/model");
    let out = vigie(
        dir.path(),
        &[
            "score",
            "--model",
            "models:/vigie-fwaf@champion",
            "--tracking-uri",
            "mlruns",
            "/a",
        ],
    );
    assert_fails_with(&out, "no model registry");

    let model_dir = trained_model(dir.path());
    // A damaged model file fails its checksum, named.
    let weights = fs::read_dir(&model_dir)
        .expect("model dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "f32"))
        .expect("weights file");
    let mut bytes = fs::read(&weights).expect("read");
    bytes[0] ^= 0xff;
    fs::write(&weights, bytes).expect("write");
    let out = vigie(
        dir.path(),
        &["score", "--model", model_dir.to_str().expect("utf-8"), "/a"],
    );
    let message = failure(&out);
    assert!(
        message.contains("weights.f32") && message.contains("checksum mismatch"),
        "{message}"
    );
}

#[test]
fn target_fpr_chooses_the_threshold_again_on_the_validation_scores_kept_with_the_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model_dir = trained_model(dir.path());
    let model = SavedModel::load(&model_dir).expect("model");
    let validation = model.validation.as_ref().expect("validation scores kept");
    assert!(!validation.benign.is_empty() && !validation.malicious.is_empty());
    let model_arg = model_dir.to_str().expect("utf-8");

    let target = 0.25;
    let mut args = vec![
        "--json",
        "--datasets-dir",
        "datasets",
        "score",
        "--model",
        model_arg,
        "--target-fpr",
        "0.25",
    ];
    args.extend(REQUESTS);
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(&args)
        .current_dir(dir.path())
        .output()
        .expect("run vigie");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // On a terminal (not --json), the note says where the threshold came from.
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(&args[1..])
        .current_dir(dir.path())
        .output()
        .expect("run vigie");
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("for --target-fpr 0.25 (validation split: FPR"),
        "{note}"
    );
    let verdicts = verdicts.as_array().expect("verdicts");
    let threshold = verdicts[0]["threshold"].as_f64().expect("threshold");
    // The rule, checked from the kept scores: within the false-positive budget, the most
    // recall the budget allows, and the fewest false positives for that recall.
    let rate = |scores: &[f64], t: f64| {
        scores.iter().filter(|&&s| s >= t).count() as f64 / scores.len() as f64
    };
    let (fpr_at, tpr_at) = (
        |t: f64| rate(&validation.benign, t),
        |t: f64| rate(&validation.malicious, t),
    );
    let candidates: Vec<f64> = validation
        .benign
        .iter()
        .chain(&validation.malicious)
        .copied()
        .collect();
    let best_tpr = candidates
        .iter()
        .filter(|&&t| fpr_at(t) <= target)
        .map(|&t| tpr_at(t))
        .fold(0.0, f64::max);
    let fewest_fp = candidates
        .iter()
        .filter(|&&t| tpr_at(t) == best_tpr)
        .map(|&t| fpr_at(t))
        .fold(1.0, f64::min);
    assert!(
        fpr_at(threshold) <= target,
        "FPR {} at {threshold}",
        fpr_at(threshold)
    );
    assert_eq!(tpr_at(threshold), best_tpr);
    assert_eq!(fpr_at(threshold), fewest_fp);
    for verdict in verdicts {
        assert_eq!(verdict["threshold"], threshold);
        let score = verdict["score"].as_f64().expect("score");
        assert_eq!(verdict["malicious"], score >= threshold);
    }

    // Out of range, both options at once, and a model without kept scores: clear errors.
    let fails = |extra: &[&str], model: &str, expected: &str| {
        let mut args = vec!["score", "--model", model];
        args.extend_from_slice(extra);
        args.push(REQUESTS[0]);
        let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .expect("run vigie");
        assert!(!out.status.success(), "{args:?} succeeded");
        let message = String::from_utf8_lossy(&out.stderr);
        assert!(message.contains(expected), "{args:?}: {message}");
    };
    fails(&["--target-fpr", "1.5"], model_arg, "--target-fpr");
    fails(
        &["--target-fpr", "0.1", "--threshold", "0"],
        model_arg,
        "cannot be used with",
    );
    // A folder of an older Vigie: no validation scores, no Python scorer (its subfolders).
    let older = dir.path().join("older-model");
    fs::create_dir_all(&older).expect("mkdir");
    for entry in fs::read_dir(&model_dir).expect("model dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            fs::copy(&path, older.join(path.file_name().expect("name"))).expect("copy");
        }
    }
    fs::remove_file(older.join("validation.json")).expect("remove");
    let manifest_path = older.join("vigie-model.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(&manifest_path).expect("manifest")).expect("json");
    manifest["files"]
        .as_object_mut()
        .expect("files")
        .retain(|path, _| older.join(path).is_file());
    fs::write(&manifest_path, manifest.to_string()).expect("write manifest");
    fails(
        &["--target-fpr", "0.1"],
        older.to_str().expect("utf-8"),
        "keeps no validation scores",
    );
}

/// A child process killed when the test ends, even by a failed assertion (a `--follow` or a
/// `serve` left running would outlive the test run).
pub(crate) struct Killed(pub(crate) std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
#[test]
fn sighup_makes_vigie_serve_follow_a_moved_registry_alias_while_it_keeps_serving() {
    let uri = local_tracking_uri();
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_dataset(dir.path());
    let name = format!("vigie-test-sighup-{}", unique_suffix());
    fs::write(
        dir.path().join("svm.toml"),
        format!(
            "{TINY_SVM_CONFIG}[tracking]\nexperiment = \"{name}\"\nregistered_model = \"{name}\"\n"
        ),
    )
    .expect("config");
    for out in ["out/one", "out/two"] {
        json(&train(dir.path(), &dir.path().join("svm.toml"), out, &uri));
    }
    let client = crate::mlflow::client(&uri);
    client
        .set_registered_model_alias(&name, "champion", "1")
        .expect("alias");

    let port = free_port();
    let model = format!("models:/{name}@champion");
    let mut server = Killed(
        Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args([
                "--datasets-dir",
                "datasets",
                "serve",
                "--model",
                &model,
                "--tracking-uri",
                &uri,
                "--cache-dir",
                "cache",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vigie serve"),
    );
    let pid = server.0.id().to_string();
    let serving = |port: u16| -> String {
        let (status, body) = get(port, "/version");
        assert_eq!(status, 200, "{body}");
        let version: serde_json::Value = serde_json::from_str(&body).expect("json");
        version["model"].as_str().expect("model").to_owned()
    };
    wait_until_listening(port);
    assert_eq!(serving(port), format!("models:/{name}/1"));

    // The alias moves; nothing changes until the service is told (no reload interval here).
    client
        .set_registered_model_alias(&name, "champion", "2")
        .expect("move alias");
    assert_eq!(serving(port), format!("models:/{name}/1"));
    let hup = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    let body = serde_json::json!({"inputs": REQUESTS}).to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while serving(port) != format!("models:/{name}/2") {
        // Requests keep being answered while the new version downloads and loads.
        assert_eq!(post(port, "/invocations", &body).0, 200);
        assert!(Instant::now() < deadline, "SIGHUP did not reload the model");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(post(port, "/invocations", &body).0, 200);

    let term = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let status = server.0.wait().expect("wait");
    assert!(status.success(), "vigie serve ended with {status}");
}

#[cfg(unix)]
#[test]
fn follow_scores_lines_as_they_are_appended_to_a_log_until_ctrl_c() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    let model_dir = trained_model(dir.path());
    let model = SavedModel::load(&model_dir).expect("model");
    let log = dir.path().join("access.log");
    fs::write(&log, format!("{}\n{}\n", REQUESTS[0], REQUESTS[1])).expect("log");

    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args([
                "--datasets-dir",
                "datasets",
                "score",
                "--model",
                model_dir.to_str().expect("utf-8"),
                "--input",
                "access.log",
                "--input-format",
                "lines",
                "--follow",
                "--format",
                "jsonl",
                "--top",
                "0",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vigie score --follow"),
    );
    // Verdict lines as they come, on a thread (a pipe read blocks).
    let stdout = child.0.stdout.take().expect("stdout");
    let (lines, verdicts) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let next = || {
        let line = verdicts
            .recv_timeout(Duration::from_secs(60))
            .expect("a verdict within 60 s");
        serde_json::from_str::<serde_json::Value>(&line).expect("a JSON verdict")
    };
    let mut seen = vec![next(), next()];
    // The log grows while vigie waits on it.
    let mut appending = fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("append");
    writeln!(appending, "{}\n{}", REQUESTS[2], REQUESTS[3]).expect("append");
    drop(appending);
    seen.push(next());
    seen.push(next());
    let expected = model.score_batch(&REQUESTS);
    for (verdict, (text, score)) in seen.iter().zip(REQUESTS.iter().zip(&expected)) {
        assert_eq!(verdict["text"], *text);
        assert_eq!(verdict["score"].as_f64().expect("score"), *score);
    }

    let interrupt = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(interrupt.success());
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    let mut summary = String::new();
    child
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut summary)
        .expect("read stderr");
    assert!(summary.contains("4 requests"), "{summary}");
}
