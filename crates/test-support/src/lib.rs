//! Helpers shared by Vigie's test suites: the workspace root, the real datasets folder, the
//! tiny hand-written dataset, the local MLflow server's URI, the project venv's Python. A
//! dev-dependency only (`publish = false`): no product crate may depend on it.

use std::fs;
use std::path::{Path, PathBuf};

/// The workspace's root folder (this crate is `crates/test-support`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The real datasets (`VIGIE_DATA_DIR`, else `../shared/datasets` beside the workspace).
/// `None` only when that folder is absent; callers then skip with a message.
pub fn shared_datasets() -> Option<PathBuf> {
    let dir = std::env::var_os("VIGIE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/datasets"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: no datasets folder at {} (set VIGIE_DATA_DIR)",
            dir.display()
        );
        None
    }
}

/// A labelled dataset `name` of one request per line: `dir/data/<name>/good.txt` (benign) and
/// `bad.txt` (malicious), defined in `dir/datasets/<name>.toml`.
pub fn lines_dataset(dir: &Path, name: &str, benign: &str, malicious: &str) {
    let data = dir.join("data").join(name);
    fs::create_dir_all(&data).expect("mkdir");
    fs::create_dir_all(dir.join("datasets")).expect("mkdir");
    fs::write(data.join("good.txt"), benign).expect("write");
    fs::write(data.join("bad.txt"), malicious).expect("write");
    fs::write(
        dir.join("datasets").join(format!("{name}.toml")),
        format!(
            "name = \"{name}\"\n[format]\nkind = \"lines\"\n\
             [[files]]\npath = \"{name}/good.txt\"\nlabel = \"benign\"\n\
             [[files]]\npath = \"{name}/bad.txt\"\nlabel = \"malicious\"\n"
        ),
    )
    .expect("write");
}

/// A small labelled dataset `tiny` in `dir/datasets` (definition) and `dir/data` (files): URL
/// paths and queries, benign and malicious (SQLi, XSS, traversal, command injection).
pub fn tiny_dataset(dir: &Path) {
    let mut benign = String::new();
    let mut malicious = String::new();
    for i in 0..150 {
        benign.push_str(&format!("/shop/item.php?id={i}&cat={}\n", i % 7));
        benign.push_str(&format!("/images/logo_{i}.png\n"));
        benign.push_str(&format!("/blog/2024/post-{i}.html?page={}\n", i % 3));
        malicious.push_str(&format!("/item.php?id={i}' or 1=1--\n"));
        malicious.push_str(&format!("/search?q=<script>alert({i})</script>\n"));
        if i % 2 == 0 {
            malicious.push_str(&format!("/download?file=../../../../etc/passwd{i}\n"));
            malicious.push_str(&format!("/cgi-bin/run.cgi?cmd=;cat%20/etc/shadow{i}\n"));
        }
    }
    lines_dataset(dir, "tiny", &benign, &malicious);
}

/// A run config of a linear SVM on char 1-3-grams of [`tiny_dataset`].
pub const TINY_SVM_CONFIG: &str = "name = \"tiny-svm\"\nseed = 7\n[data]\ndataset = \"tiny\"\n\
    [model]\nkind = \"linear_svm\"\n[model.tfidf]\nsublinear_tf = true\n\
    [model.tfidf.tokenizer.analyzer]\nkind = \"char\"\nngram_min = 1\nngram_max = 3\n";

/// The shared test server's URI (`MLFLOW_TRACKING_URI`); fails (never skips) when none is
/// configured, and only accepts 127.0.0.1 (or localhost), so tests never write junk into a real
/// tracking server.
pub fn local_tracking_uri() -> String {
    let uri = std::env::var("MLFLOW_TRACKING_URI").unwrap_or_default();
    assert!(
        !uri.trim().is_empty(),
        "MLFLOW_TRACKING_URI is not set: run `export MLFLOW_TRACKING_URI=$(scripts/mlflow-server \
         start)` first (scripts/test does it)"
    );
    assert_local(&uri);
    uri
}

/// The test server's URI (`MLFLOW_TRACKING_URI`), or `None` (with a message) when none is set;
/// like [`local_tracking_uri`], fails on anything but a local server.
pub fn local_tracking_uri_or_skip() -> Option<String> {
    let uri = std::env::var("MLFLOW_TRACKING_URI").unwrap_or_default();
    if uri.trim().is_empty() {
        eprintln!(
            "SKIP: MLFLOW_TRACKING_URI is not set (export MLFLOW_TRACKING_URI=$(scripts/mlflow-server start))"
        );
        return None;
    }
    assert_local(&uri);
    Some(uri)
}

fn assert_local(uri: &str) {
    assert!(
        uri.starts_with("http://127.0.0.1:") || uri.starts_with("http://localhost:"),
        "these tests only run against a local MLflow server (127.0.0.1), not {uri}"
    );
}

/// A suffix no other test run shares (process id and clock), for names on the shared server.
pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// The project venv's Python (`VIGIE_PYTHON`, else the workspace's `.venv/bin/python`), which
/// `scripts/setup-python` installs with `with` (the packages the caller needs, for the message).
/// Panics with the fix when absent.
pub fn venv_python(with: &str) -> PathBuf {
    let python = venv_python_path();
    assert!(
        python.exists(),
        "no Python with {with} at {}: run scripts/setup-python (or set VIGIE_PYTHON)",
        python.display()
    );
    python
}

/// [`venv_python`] when it exists, for unit tests that check against Python only where the
/// venv is (`cargo test` on a fresh checkout runs without it).
pub fn venv_python_if_present() -> Option<PathBuf> {
    Some(venv_python_path()).filter(|python| python.exists())
}

fn venv_python_path() -> PathBuf {
    std::env::var_os("VIGIE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}
