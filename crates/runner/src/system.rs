//! Facts about the machine and the source tree that runs are tagged with.

use std::path::Path;
use std::process::Command;

/// The compiler that built this binary (from the build script).
pub const RUSTC_VERSION: &str = env!("VIGIE_RUSTC_VERSION");
/// The lock file this binary was built from, logged with every run so a run names every
/// dependency's exact version.
pub const CARGO_LOCK: &str = include_str!("../../../Cargo.lock");

/// The git commit of the working directory and whether the tree has uncommitted changes;
/// `None` outside a git checkout (or without git).
pub fn git_state(dir: &Path) -> Option<(String, bool)> {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(dir)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .is_some_and(|out| !out.stdout.is_empty());
    Some((commit, dirty))
}

/// Peak resident memory of this process in bytes (`VmHWM`), where the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The user running this, for the `mlflow.user` tag.
pub fn user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_is_embedded() {
        assert!(CARGO_LOCK.contains("name = \"vigie-runner\""));
        assert!(RUSTC_VERSION.starts_with("rustc "), "{RUSTC_VERSION}");
    }
}
