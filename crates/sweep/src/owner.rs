//! Which process owns a running trial, and whether that process is gone.
//!
//! A sweep's process tags its parent run with a heartbeat and each trial run with its host and
//! process id. When a sweep is run again, a trial still RUNNING in the store is stale (its
//! process was killed) when its owner ran on this host and is no longer alive, or when the
//! heartbeat of its parent run is older than the sweep's `stale_after_minutes`.

use std::path::Path;

/// This host's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `unknown`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether a process with this id exists on this host. Where that cannot be told (no
/// `/proc`), it is assumed alive: the heartbeat decides instead.
pub fn process_alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return true;
    }
    if !proc_root.join(pid.to_string()).exists() {
        return false;
    }
    // A zombie (killed, not yet reaped by its parent) is gone for our purposes.
    match std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_child_is_not() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!process_alive(pid));
        assert!(!host_name().is_empty());
    }
}
