//! Facts about the machine and the source tree that runs are tagged with.

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Utc};

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

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, MLflow's `utc_time_created` format. Times past
/// chrono's range (beyond ±262,000 years) are clamped to it.
pub fn utc_timestamp(millis: i64) -> String {
    let time = DateTime::from_timestamp_millis(millis).unwrap_or(if millis < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    time.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_timestamps_match_known_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00.000000");
        // 2026-11-27 20:16:00.123 UTC
        assert_eq!(
            utc_timestamp(1_795_810_560_123),
            "2026-11-27 20:16:00.123000"
        );
        // A leap day.
        assert_eq!(utc_timestamp(951_782_400_000), "2000-02-29 00:00:00.000000");
        // Before 1970: the millisecond counts forward from the second before.
        assert_eq!(utc_timestamp(-1), "1969-12-31 23:59:59.999000");
        // 1900 was no leap year: the day after February 28 is March 1.
        assert_eq!(
            utc_timestamp(-2_203_891_200_000),
            "1900-03-01 00:00:00.000000"
        );
    }

    #[test]
    fn the_lock_file_is_embedded() {
        assert!(CARGO_LOCK.contains("name = \"vigie-runner\""));
        assert!(RUSTC_VERSION.starts_with("rustc "), "{RUSTC_VERSION}");
    }
}
