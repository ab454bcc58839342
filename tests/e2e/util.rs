use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use vigie_mlflow::{FileStore, Run};

/// Run `vigie` with `args` in `cwd`, with a clean Vigie environment.
pub fn vigie(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .current_dir(cwd)
        .env_remove("VIGIE_DATA_DIR")
        .env_remove("VIGIE_DATASETS_DIR")
        .output()
        .expect("run vigie")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The error output of a command that must have failed.
pub fn failure(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "vigie succeeded where it must fail: {}",
        stdout(out)
    );
    stderr(out)
}

/// Asserts that the command failed saying `expected`.
pub fn assert_fails_with(out: &Output, expected: &str) {
    let message = failure(out);
    assert!(message.contains(expected), "{message}");
}

/// The runs of `experiment` in the local file store `store_dir` (a run's `mlruns`).
pub fn local_runs(store_dir: &Path, experiment: &str) -> Vec<Run> {
    let store = FileStore::new(store_dir).expect("store");
    let found = store
        .list_experiments()
        .expect("experiments")
        .into_iter()
        .find(|e| e.name == experiment)
        .unwrap_or_else(|| panic!("no experiment {experiment} in {}", store_dir.display()));
    store.list_runs(&found.experiment_id).expect("runs")
}

pub fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "vigie failed: {}", stderr(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

/// A tiny HTTP/1.1 file server on 127.0.0.1 (an ephemeral port) for download tests:
/// serves `files` by path, 404 otherwise, and records the paths requested.
pub struct FileServer {
    pub base: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FileServer {
    pub fn start(files: HashMap<String, Vec<u8>>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Drain the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_owned();
                seen.lock().expect("lock").push(path.clone());
                let (status, body) = match files.get(&path) {
                    Some(b) => ("200 OK", b.clone()),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        FileServer { base, requests }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex_string(&sha2::Sha256::digest(bytes))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
