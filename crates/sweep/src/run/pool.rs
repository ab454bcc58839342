//! The worker pool: the trials to run in one queue, `parallel` workers popping the next, and
//! beside them the heartbeat, the plan's files, the publisher and the early crown.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::Instant;

use vigie_data::PreparedDataset;

use super::data::data_key;
use super::heartbeat::heartbeat;
use super::lock;
use super::outcome::{StoredTrial, TrialResult};
use super::publish::{ToPublish, publish_trials};
use super::timing::TrialTracking;
use super::trial::{TrialContext, run_trial};
use crate::champion::ChampionDecision;
use crate::error::Result;
use crate::spec::Trial;

/// Runs the trials on `parallel` workers, with a publisher
/// thread for the trials trained without the store; keeps the parent's heartbeat fresh
/// meanwhile.
pub(super) fn run_trials(
    ctx: &TrialContext<'_>,
    trials: &[&Trial],
    datasets: &HashMap<String, PreparedDataset>,
    parallel: usize,
    log_plan: &(dyn Fn(&Path) -> f64 + Sync),
    early_crown: Option<&EarlyCrown<'_>>,
) -> Result<TrialsRun> {
    let queue: Mutex<VecDeque<&Trial>> = Mutex::new(trials.iter().copied().collect());
    let results: Mutex<BTreeMap<usize, TrialResult>> = Mutex::new(BTreeMap::new());
    let tracking = Mutex::new(TrialTracking::default());
    // Trials taken from the queue and not yet trained; `settled` wakes the early crown when a
    // trial ends training or gets its result, and when the workers are done.
    let training = AtomicUsize::new(0);
    let workers_done = AtomicBool::new(false);
    let settled = Condvar::new();
    let (queue, results, tracking) = (&queue, &results, &tracking);
    let (training, workers_done, settled) = (&training, &workers_done, &settled);
    let (stop_heartbeat, heartbeat_stopped) = mpsc::channel::<()>();
    // Room for a start and an end per worker: a worker waits only when the publisher is that
    // far behind (the wait counts as tracking time).
    let (to_publisher, inbox) = mpsc::sync_channel::<ToPublish<'_>>(2 * parallel);
    let early_decision = std::thread::scope(|scope| {
        scope.spawn(move || heartbeat(ctx, &heartbeat_stopped));
        scope.spawn(move || {
            let seconds = log_plan(&ctx.options.out_dir);
            lock(tracking).background += seconds;
        });
        let publisher = scope.spawn(move || publish_trials(ctx, inbox, results, settled, tracking));
        let crowning = early_crown.map(|crown| {
            scope.spawn(move || {
                let published = wait_for_last_trials(
                    ctx.stop,
                    trials.len(),
                    queue,
                    results,
                    training,
                    workers_done,
                    settled,
                )?;
                let started = Instant::now();
                let published_refs: BTreeMap<usize, &StoredTrial> = published
                    .iter()
                    .map(|(index, trial)| (*index, trial))
                    .collect();
                let decision = crown(&published_refs);
                let seconds = started.elapsed().as_secs_f64();
                tracing::debug!(seconds, "best trial so far crowned while the last trained");
                lock(tracking).background += seconds;
                decision
            })
        });
        let workers: Vec<_> = (0..parallel)
            .map(|_| {
                let to_publisher = to_publisher.clone();
                scope.spawn(move || {
                    loop {
                        if ctx.stop.load(Ordering::SeqCst) {
                            break;
                        }
                        // The last trials' epochs go to the store while they train: what
                        // the sweep's end waits for is then their last ones and results.
                        let (next, last) = {
                            let mut queue = lock(queue);
                            let next = queue.pop_front();
                            if next.is_some() {
                                training.fetch_add(1, Ordering::SeqCst);
                            }
                            (next, queue.len() < parallel)
                        };
                        let Some(trial) = next else { break };
                        let result = match datasets.get(&data_key(trial)) {
                            Some(prepared) => {
                                run_trial(ctx, trial, prepared, &to_publisher, tracking, last)
                            }
                            None => Some(TrialResult::Failed {
                                message: "its dataset was not loaded".to_owned(),
                            }),
                        };
                        // `None`: handed to the publisher, which reports it.
                        if let Some(result) = result {
                            ctx.progress.trial_done(trial, &result);
                            lock(results).insert(trial.index, result);
                        }
                        {
                            let _results = lock(results);
                            training.fetch_sub(1, Ordering::SeqCst);
                        }
                        settled.notify_all();
                    }
                })
            })
            .collect();
        drop(to_publisher);
        for worker in workers {
            let _ = worker.join();
        }
        {
            let _results = lock(results);
            workers_done.store(true, Ordering::SeqCst);
        }
        settled.notify_all();
        let draining = Instant::now();
        let _ = publisher.join();
        let early_decision = crowning.and_then(|handle| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        lock(tracking).drain = draining.elapsed().as_secs_f64();
        drop(stop_heartbeat);
        early_decision
    });
    let results = std::mem::take(&mut *lock(results));
    let tracking = *lock(tracking);
    Ok(TrialsRun {
        results,
        tracking,
        early_decision,
    })
}

/// Crowns the best of the trials published so far (`crown::crown_so_far`); `None` when it has
/// nothing to do.
pub(super) type EarlyCrown<'a> =
    dyn Fn(&BTreeMap<usize, &StoredTrial>) -> Option<Result<ChampionDecision>> + Sync + 'a;

/// What [`run_trials`] returns.
pub(super) struct TrialsRun {
    /// Each trial's result, by plan index.
    pub(super) results: BTreeMap<usize, TrialResult>,
    /// Where the trials' tracking time went.
    pub(super) tracking: TrialTracking,
    /// The early crown's decision, if it crowned.
    pub(super) early_decision: Option<Result<ChampionDecision>>,
}

/// Waits until the queue is empty and every trial but those still training has its result,
/// then returns the published ones; `None` when no trial is left training by then (the sweep's
/// end crowns), when the sweep stops, or when a finished trial did not reach the store.
pub(super) fn wait_for_last_trials(
    stop: &AtomicBool,
    total: usize,
    queue: &Mutex<VecDeque<&Trial>>,
    results: &Mutex<BTreeMap<usize, TrialResult>>,
    training: &AtomicUsize,
    workers_done: &AtomicBool,
    settled: &Condvar,
) -> Option<BTreeMap<usize, StoredTrial>> {
    let mut guard = lock(results);
    loop {
        if stop.load(Ordering::SeqCst) || workers_done.load(Ordering::SeqCst) {
            return None;
        }
        if lock(queue).is_empty() {
            let in_training = training.load(Ordering::SeqCst);
            if in_training == 0 {
                return None;
            }
            if in_training + guard.len() == total {
                break;
            }
        }
        guard = settled
            .wait(guard)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
    let mut published = BTreeMap::new();
    for (index, result) in guard.iter() {
        match result {
            TrialResult::Finished {
                stored: Some(stored),
                ..
            } => {
                published.insert(*index, stored.as_ref().clone());
            }
            TrialResult::Finished { stored: None, .. } => return None,
            _ => {}
        }
    }
    Some(published)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::leaderboard::LeaderboardRow;

    fn finished(run_id: &str, stored: bool) -> TrialResult {
        TrialResult::Finished {
            run_id: Some(run_id.to_owned()),
            tracking_seconds: 0.0,
            stored: stored.then(|| {
                Box::new(StoredTrial {
                    row: LeaderboardRow::of_finished(
                        run_id,
                        run_id,
                        "linear_svm",
                        None,
                        "",
                        &[("final_valid_f1".to_owned(), 0.9)],
                        "final_valid_f1",
                    ),
                    logged_model_id: Some(format!("m-{run_id}")),
                })
            }),
        }
    }

    #[test]
    fn the_early_crown_waits_until_every_trial_but_those_training_is_published() {
        let queue: Mutex<VecDeque<&Trial>> = Mutex::new(VecDeque::new());
        let results = Mutex::new(BTreeMap::from([(0, finished("run-0", true))]));
        // Trial 1 was handed to the publisher, trial 2 trains.
        let training = AtomicUsize::new(1);
        let (stop, done, settled) = (
            AtomicBool::new(false),
            AtomicBool::new(false),
            Condvar::new(),
        );
        let published = std::thread::scope(|scope| {
            let waiting = scope.spawn(|| {
                wait_for_last_trials(&stop, 3, &queue, &results, &training, &done, &settled)
            });
            std::thread::sleep(Duration::from_millis(50));
            assert!(!waiting.is_finished(), "trial 1 is not published yet");
            lock(&results).insert(1, finished("run-1", true));
            settled.notify_all();
            waiting.join().expect("no panic")
        })
        .expect("trials 0 and 1 published, trial 2 training");
        let runs: Vec<&str> = published.values().map(|t| t.row.run_id.as_str()).collect();
        assert_eq!(runs, ["run-0", "run-1"]);
    }

    #[test]
    fn the_early_crown_gives_up_when_nothing_trains_or_a_trial_missed_the_store() {
        let queue: Mutex<VecDeque<&Trial>> = Mutex::new(VecDeque::new());
        let (stop, done, settled) = (
            AtomicBool::new(false),
            AtomicBool::new(false),
            Condvar::new(),
        );
        let wait = |results: &Mutex<BTreeMap<usize, TrialResult>>, training: usize| {
            let training = AtomicUsize::new(training);
            wait_for_last_trials(&stop, 2, &queue, results, &training, &done, &settled)
        };
        let all_done = Mutex::new(BTreeMap::from([
            (0, finished("run-0", true)),
            (1, finished("run-1", true)),
        ]));
        assert!(wait(&all_done, 0).is_none(), "the sweep's end crowns");
        let offline = Mutex::new(BTreeMap::from([(0, finished("run-0", false))]));
        assert!(wait(&offline, 1).is_none(), "a trial only in the journal");
        let online = Mutex::new(BTreeMap::from([(0, finished("run-0", true))]));
        assert!(wait(&online, 1).is_some());
        stop.store(true, Ordering::SeqCst);
        assert!(wait(&online, 1).is_none(), "stopped");
    }
}
