//! Artifacts through the server's proxy: upload, list, download, byte for byte.

use std::fs;
use std::path::Path;

use vigie_mlflow::MlflowError;

use crate::common::{client, new_run};

/// Deterministic pseudo-random bytes (an xorshift), so files are incompressible but reproducible.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
}

/// Every file under `dir`, as sorted (relative path, bytes).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((relative, fs::read(&path).expect("read")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn files_and_nested_directories_round_trip_byte_identical() {
    let client = client();
    let (_, run) = new_run(&client, "artifacts");
    let run_id = &run.info.run_id;
    let local = tempfile::tempdir().expect("tempdir");
    let source = local.path().join("source");
    write(
        &source.join("model/weights.bin"),
        &noise(3 * 1024 * 1024 + 17, 1),
    );
    write(&source.join("model/config/params.json"), br#"{"lr": 0.01}"#);
    write(&source.join("model/config/deep/er/leaf.txt"), b"leaf");
    write(
        &source.join("README with spaces.md"),
        "héllo wörld\n".as_bytes(),
    );
    write(&source.join("empty.txt"), b"");

    // By run id, into a sub-directory.
    let uploaded = client
        .upload_dir(run_id, &source, Some("bundle"))
        .expect("upload dir");
    assert_eq!(uploaded, 5);
    // By artifact URI, at the root.
    let single = local.path().join("metrics.csv");
    write(&single, b"epoch,loss\n0,1.0\n");
    let path = client
        .upload_file(&run.info.artifact_uri, &single, None)
        .expect("upload file");
    assert_eq!(path, "metrics.csv");

    let root = client.list_artifacts(run_id, None).expect("list root");
    let mut root_entries: Vec<(String, bool)> =
        root.iter().map(|f| (f.path.clone(), f.is_dir)).collect();
    root_entries.sort();
    assert_eq!(
        root_entries,
        vec![
            ("bundle".to_string(), true),
            ("metrics.csv".to_string(), false)
        ]
    );
    let model = client
        .list_artifacts(run_id, Some("bundle/model"))
        .expect("list nested");
    let weights = model
        .iter()
        .find(|f| f.path == "bundle/model/weights.bin")
        .expect("weights listed");
    assert_eq!(weights.file_size, Some(3 * 1024 * 1024 + 17));
    assert!(
        model
            .iter()
            .any(|f| f.path == "bundle/model/config" && f.is_dir)
    );
    assert!(
        client
            .list_artifacts(run_id, Some("no/such/dir"))
            .expect("list missing")
            .is_empty()
    );

    let downloaded = local.path().join("one/weights.bin");
    let bytes = client
        .download_file(
            &run.info.artifact_uri,
            "bundle/model/weights.bin",
            &downloaded,
        )
        .expect("download file");
    assert_eq!(bytes, 3 * 1024 * 1024 + 17);
    assert_eq!(
        fs::read(&downloaded).expect("read"),
        noise(3 * 1024 * 1024 + 17, 1)
    );
    assert!(!local.path().join("one/weights.bin.part").exists());

    let copy = local.path().join("copy");
    let count = client
        .download_dir(run_id, Some("bundle"), &copy)
        .expect("download dir");
    assert_eq!(count, 5);
    assert_eq!(tree(&copy), tree(&source));

    let everything = local.path().join("everything");
    assert_eq!(
        client
            .download_dir(run_id, None, &everything)
            .expect("download all"),
        6
    );
    assert_eq!(
        fs::read(everything.join("metrics.csv")).expect("read"),
        b"epoch,loss\n0,1.0\n"
    );
    assert_eq!(
        fs::read(everything.join("bundle/model/config/deep/er/leaf.txt")).expect("read"),
        b"leaf"
    );
}

#[test]
fn bad_paths_and_missing_artifacts_are_reported() {
    let client = client();
    let (_, run) = new_run(&client, "badpaths");
    let run_id = &run.info.run_id;
    let local = tempfile::tempdir().expect("tempdir");
    let file = local.path().join("f.txt");
    write(&file, b"x");

    for escaping in ["../escape", "a/../../b"] {
        let err = client
            .upload_file(run_id, &file, Some(escaping))
            .expect_err(escaping);
        assert!(
            matches!(err, MlflowError::InvalidArgument { .. }),
            "{err:?}"
        );
        let err = client
            .download_file(run_id, escaping, &local.path().join("out"))
            .expect_err(escaping);
        assert!(
            matches!(err, MlflowError::InvalidArgument { .. }),
            "{err:?}"
        );
    }
    let err = client
        .upload_file("s3://bucket/x", &file, None)
        .expect_err("foreign scheme");
    assert!(err.to_string().contains("mlflow-artifacts"), "{err}");

    let err = client
        .download_file(run_id, "nothing/here.bin", &local.path().join("here.bin"))
        .expect_err("missing");
    assert!(err.is_not_found(), "{err}");
    assert!(!local.path().join("here.bin").exists());

    let err = client
        .upload_file(run_id, &local.path().join("absent.txt"), None)
        .expect_err("no file");
    assert!(matches!(err, MlflowError::Io { .. }), "{err:?}");

    let err = client
        .upload_file("0123456789abcdef0123456789abcdef", &file, None)
        .expect_err("no run");
    assert!(err.is_not_found(), "{err}");
}
