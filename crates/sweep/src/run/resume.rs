//! Resume: where each trial stands in the store before this invocation (done, running
//! elsewhere, to run), and which RUNNING runs are stale (their process gone).

use std::collections::HashMap;
use std::time::Duration;

use vigie_mlflow::{DefaultStore, Run, RunStatus, Tag, TrackingStore, mlflow_tags, now_millis};

use crate::error::Result;
use crate::spec::{SweepSpec, Trial};
use crate::{owner, tags};

/// The sweep's runs in its experiment (every shard's, every invocation's), read once at the
/// start.
pub(super) struct SweepRuns {
    pub(super) experiment_id: String,
    pub(super) runs: Vec<Run>,
}

impl SweepRuns {
    pub(super) fn read(store: &DefaultStore, spec: &SweepSpec) -> Result<SweepRuns> {
        let experiment_id = store.experiment_id(&spec.experiment)?;
        let runs = store.find_runs_by_tag(&experiment_id, tags::SWEEP, &spec.name)?;
        Ok(SweepRuns {
            experiment_id,
            runs,
        })
    }
}

/// Tells stale RUNNING runs from live ones ([`stale`]) among the sweep's runs, as of now.
pub(super) struct Staleness<'a> {
    by_id: HashMap<&'a str, &'a Run>,
    host: &'a str,
    stale_after: Duration,
    now: i64,
}

impl<'a> Staleness<'a> {
    /// `runs`: the sweep's; `host`: this process's.
    pub(super) fn new(runs: &'a [Run], host: &'a str, stale_after_minutes: u64) -> Staleness<'a> {
        Staleness {
            by_id: runs
                .iter()
                .map(|run| (run.info.run_id.as_str(), run))
                .collect(),
            host,
            stale_after: Duration::from_secs(stale_after_minutes.saturating_mul(60)),
            now: now_millis(),
        }
    }

    pub(super) fn is_stale(&self, run: &Run) -> bool {
        stale(run, &self.by_id, self.host, self.stale_after, self.now)
    }
}

/// Sends what the journals of `journal_root` hold and the store lacks (best effort: failures
/// are logged), before the store is read. A killed sweep may have journaled a trial's end
/// without reaching the store; read first, that trial would look stale and run again, and the
/// journal's end, synced by the next run's logger, would leave it finished twice. Returns the
/// runs the sync ended KILLED (journals whose writer died before their end): stale runs too.
pub(super) fn sync_pending_journals(
    store: &DefaultStore,
    journal_root: &std::path::Path,
) -> Vec<String> {
    match vigie_mlflow::sync_all(journal_root, store) {
        Ok(report) => {
            report.warn_failures();
            report
                .synced
                .into_iter()
                .filter(|done| done.final_status == Some(RunStatus::Killed))
                .map(|done| done.run_id)
                .collect()
        }
        Err(error) => {
            tracing::warn!("could not list the pending run journals: {error}");
            Vec::new()
        }
    }
}

impl SweepRuns {
    /// How many of `run_ids` are trials of this sweep.
    pub(super) fn trials_among(&self, run_ids: &[String]) -> usize {
        self.runs
            .iter()
            .filter(|run| run.data.tag(tags::ROLE) == Some(tags::ROLE_TRIAL))
            .filter(|run| run_ids.contains(&run.info.run_id))
            .count()
    }
}

/// Where each of `trials` stands, from its runs among the sweep's `runs`.
pub(super) fn priors_of<'t>(
    trials: &[&'t Trial],
    runs: &[Run],
    staleness: &Staleness<'_>,
) -> Vec<(&'t Trial, Prior)> {
    let is_stale = |run: &Run| staleness.is_stale(run);
    trials
        .iter()
        .map(|trial| {
            let of_trial: Vec<&Run> = runs
                .iter()
                .filter(|r| {
                    r.data.tag(tags::ROLE) == Some(tags::ROLE_TRIAL)
                        && r.data.tag(tags::TRIAL_ID) == Some(trial.id.as_str())
                })
                .collect();
            (*trial, prior_of(&of_trial, &is_stale))
        })
        .collect()
}

/// Ends the stale runs of the trials to run KILLED, with a note, before their trial runs again,
/// so that each trial has at most one RUNNING run and, in the end, exactly one FINISHED one.
/// Returns how many it ended.
pub(super) fn end_stale_runs(
    store: &DefaultStore,
    priors: &[(&Trial, Prior)],
    host: &str,
) -> Result<usize> {
    let pid = std::process::id();
    let mut ended = 0;
    for (_, prior) in priors {
        if let Prior::Run { stale } = prior {
            for run_id in stale {
                store.log_batch(
                    run_id,
                    &[],
                    &[],
                    &[Tag::new(
                        mlflow_tags::NOTE_CONTENT,
                        format!(
                            "stale: its process was gone; marked KILLED by {host} pid {pid} and run again"
                        ),
                    )],
                )?;
                store.end_run(run_id, RunStatus::Killed, now_millis())?;
                ended += 1;
            }
        }
    }
    Ok(ended)
}

/// The trials to run now, in plan order.
pub(super) fn trials_to_run<'t>(priors: &[(&'t Trial, Prior)]) -> Vec<&'t Trial> {
    priors
        .iter()
        .filter(|(_, p)| matches!(p, Prior::Run { .. }))
        .map(|(t, _)| *t)
        .collect()
}

/// Where a trial stands in the store before this invocation.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Prior {
    Done,
    RunningElsewhere,
    /// To run; these RUNNING runs of it are stale and get marked KILLED first.
    Run {
        stale: Vec<String>,
    },
}

/// Where a trial stands, from its runs in the store.
pub(super) fn prior_of(runs: &[&Run], is_stale: &dyn Fn(&Run) -> bool) -> Prior {
    let done = runs.iter().any(|r| {
        r.info.status == RunStatus::Finished
            || (r.info.status == RunStatus::Killed && r.data.tag(tags::PRUNED).is_some())
    });
    if done {
        return Prior::Done;
    }
    let running: Vec<&&Run> = runs
        .iter()
        .filter(|r| r.info.status == RunStatus::Running)
        .collect();
    if running.iter().any(|r| !is_stale(r)) {
        return Prior::RunningElsewhere;
    }
    Prior::Run {
        stale: running.iter().map(|r| r.info.run_id.clone()).collect(),
    }
}

/// A RUNNING run is stale when its owner ran on this host and is gone, or when the heartbeat
/// of its sweep's parent run (its own start time, for a parent or without one) is older than
/// `stale_after`.
pub(super) fn stale(
    run: &Run,
    runs: &HashMap<&str, &Run>,
    host: &str,
    stale_after: Duration,
    now: i64,
) -> bool {
    let pid = run
        .data
        .tag(tags::OWNER_PID)
        .and_then(|p| p.parse::<u32>().ok());
    if run.data.tag(tags::OWNER_HOST) == Some(host)
        && let Some(pid) = pid
        && pid != std::process::id()
        && !owner::process_alive(pid)
    {
        return true;
    }
    let heartbeat_run = match run.data.tag(tags::ROLE) {
        Some(tags::ROLE_PARENT) => Some(run),
        _ => run
            .data
            .tag(mlflow_tags::PARENT_RUN_ID)
            .and_then(|id| runs.get(id).copied()),
    };
    let last_sign_of_life = heartbeat_run
        .and_then(|p| p.data.tag(tags::HEARTBEAT))
        .and_then(|ms| ms.parse::<i64>().ok())
        .or(run.info.start_time);
    match last_sign_of_life {
        Some(ms) => {
            now.saturating_sub(ms) > i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX)
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::test_runs::run_with;

    #[test]
    fn a_running_trial_is_stale_when_its_local_owner_is_gone_or_its_heartbeat_is_old() {
        let host = owner::host_name();
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id().to_string();
        child.wait().expect("wait");
        let alive = std::process::id().to_string();
        let now = 10_000_000;
        let minute = Duration::from_secs(60);
        let parent = run_with(
            RunStatus::Running,
            &[
                (tags::ROLE, tags::ROLE_PARENT),
                (tags::HEARTBEAT, "9990000"),
            ],
            1,
        );
        let runs: HashMap<&str, &Run> = [("r1", &parent)].into_iter().collect();
        let trial = |owner_host: &str, pid: &str| {
            run_with(
                RunStatus::Running,
                &[
                    (tags::OWNER_HOST, owner_host),
                    (tags::OWNER_PID, pid),
                    (mlflow_tags::PARENT_RUN_ID, "r1"),
                ],
                2,
            )
        };
        assert!(stale(&trial(&host, &dead), &runs, &host, minute, now));
        // Our own pid counts as alive; the parent's heartbeat is 10 s old: fresh.
        assert!(!stale(&trial(&host, &alive), &runs, &host, minute, now));
        assert!(!stale(
            &trial("elsewhere", &dead),
            &runs,
            &host,
            minute,
            now
        ));
        // An hour later the heartbeat is old, wherever the owner ran.
        let later = now + 3_600_000;
        assert!(stale(
            &trial("elsewhere", &dead),
            &runs,
            &host,
            minute,
            later
        ));
        // Without a parent to read, the run's own start time is the last sign of life.
        let orphan = run_with(RunStatus::Running, &[], now - 1000);
        assert!(!stale(&orphan, &HashMap::new(), &host, minute, now));
        assert!(stale(&orphan, &HashMap::new(), &host, minute, later));
    }

    #[test]
    fn finished_or_pruned_trials_are_done_and_failed_ones_run_again() {
        let never_stale = |_: &Run| false;
        let always_stale = |_: &Run| true;
        let finished = run_with(RunStatus::Finished, &[], 1);
        let failed = run_with(RunStatus::Failed, &[], 2);
        let pruned = run_with(RunStatus::Killed, &[(tags::PRUNED, "x")], 3);
        let killed = run_with(RunStatus::Killed, &[], 4);
        let running = run_with(RunStatus::Running, &[], 5);
        assert_eq!(prior_of(&[&failed, &finished], &never_stale), Prior::Done);
        assert_eq!(prior_of(&[&pruned], &never_stale), Prior::Done);
        assert_eq!(
            prior_of(&[&failed, &killed], &never_stale),
            Prior::Run { stale: vec![] }
        );
        assert_eq!(prior_of(&[&running], &never_stale), Prior::RunningElsewhere);
        assert_eq!(
            prior_of(&[&failed, &running], &always_stale),
            Prior::Run {
                stale: vec!["r5".to_owned()]
            }
        );
        assert_eq!(prior_of(&[], &never_stale), Prior::Run { stale: vec![] });
    }
}
