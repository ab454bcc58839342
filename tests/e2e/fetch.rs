use std::collections::HashMap;

use crate::util::{FileServer, failure, json, sha256_hex, vigie};

const GOOD: &[u8] = b"/index.html\n/img/logo.png\n";
const BAD: &[u8] = b"/a.php?id=1' or '1'='1\r\n/b.php?x=<script>alert(1)</script>\r\n";

/// A definitions folder with one dataset whose files are served by `server`.
fn definitions(dir: &std::path::Path, base: &str, bad_sha: &str) {
    let defs = dir.join("defs");
    std::fs::create_dir_all(&defs).expect("mkdir");
    let toml = format!(
        "name = \"tiny\"\n[format]\nkind = \"lines\"\n\
         [[files]]\npath = \"tiny/good.txt\"\nlabel = \"benign\"\nurl = \"{base}/good.txt\"\nsha256 = \"{}\"\n\
         [[files]]\npath = \"tiny/bad.txt\"\nlabel = \"malicious\"\nurl = \"{base}/bad.txt\"\nsha256 = \"{bad_sha}\"\n",
        sha256_hex(GOOD)
    );
    std::fs::write(defs.join("tiny.toml"), toml).expect("write definition");
}

fn served() -> HashMap<String, Vec<u8>> {
    HashMap::from([
        ("/good.txt".to_owned(), GOOD.to_vec()),
        ("/bad.txt".to_owned(), BAD.to_vec()),
    ])
}

#[test]
fn fetch_downloads_verifies_and_then_loads() {
    let server = FileServer::start(served());
    let dir = tempfile::tempdir().expect("tempdir");
    definitions(dir.path(), &server.base, &sha256_hex(BAD));
    let args = ["--data-dir", "data", "--datasets-dir", "defs", "--json"];
    let out = vigie(
        dir.path(),
        &[&args[..], &["data", "fetch", "tiny"]].concat(),
    );
    let v = json(&out);
    assert_eq!(v[0]["status"], "downloaded");
    assert_eq!(v[1]["verified"][0], "sha256");
    assert_eq!(
        std::fs::read(dir.path().join("data/tiny/bad.txt")).expect("downloaded"),
        BAD
    );

    // A second fetch finds the files present and verified, and downloads nothing.
    let before = server.requests.lock().expect("lock").len();
    let v = json(&vigie(
        dir.path(),
        &[&args[..], &["data", "fetch", "tiny"]].concat(),
    ));
    assert_eq!(v[0]["status"], "present");
    assert_eq!(server.requests.lock().expect("lock").len(), before);

    let v = json(&vigie(
        dir.path(),
        &[&args[..], &["data", "stats", "tiny", "--out", "stats"]].concat(),
    ));
    assert_eq!(v["after_dedup"]["total"], 4);
    assert_eq!(v["after_dedup"]["malicious"], 2);
}

#[test]
fn a_checksum_mismatch_keeps_nothing() {
    let server = FileServer::start(served());
    let dir = tempfile::tempdir().expect("tempdir");
    definitions(dir.path(), &server.base, &"0".repeat(64));
    let out = vigie(
        dir.path(),
        &[
            "--data-dir",
            "data",
            "--datasets-dir",
            "defs",
            "data",
            "fetch",
            "tiny",
        ],
    );
    let err = failure(&out);
    assert!(err.contains("could not be fetched"), "{err}");
    assert!(dir.path().join("data/tiny/good.txt").is_file());
    assert!(!dir.path().join("data/tiny/bad.txt").exists());
    assert!(!dir.path().join("data/tiny/bad.txt.part").exists());
}

#[test]
fn without_a_server_the_error_says_where_to_put_the_files() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    definitions(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        &sha256_hex(BAD),
    );
    let out = vigie(
        dir.path(),
        &[
            "--data-dir",
            "data",
            "--datasets-dir",
            "defs",
            "data",
            "fetch",
            "tiny",
        ],
    );
    let err = failure(&out);
    assert!(
        err.contains("put them in the data dir data") && err.contains("VIGIE_DATA_DIR"),
        "{err}"
    );
    assert!(
        stdout_lines_mention_paths(&out),
        "{}",
        crate::util::stdout(&out)
    );
}

fn stdout_lines_mention_paths(out: &std::process::Output) -> bool {
    let s = crate::util::stdout(out);
    s.contains("tiny/good.txt") && s.contains("tiny/bad.txt")
}
