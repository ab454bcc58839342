//! Helpers shared by the model-zoo tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The real datasets (`VIGIE_DATA_DIR`, else `../shared/datasets` beside the workspace).
/// `None` only when that folder is absent; callers then skip with a message.
#[allow(dead_code)]
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

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python with scikit-learn (`VIGIE_PYTHON`, else the project's `.venv`), which
/// `scripts/setup-python` installs; the reference tests need it.
#[allow(dead_code)]
pub fn python() -> Command {
    let python = std::env::var_os("VIGIE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "no Python at {} (run scripts/setup-python or set VIGIE_PYTHON)",
        python.display()
    );
    Command::new(python)
}
