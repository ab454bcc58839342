//! The publisher: the runs of the trials trained apart from the store, opened, fed their
//! epochs and published from a thread beside the workers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use vigie_mlflow::{DefaultStore, Metric};
use vigie_models::TrainObserver;
use vigie_runner::RunError;

use super::lock;
use super::options::SweepProgress;
use super::outcome::TrialResult;
use super::timing::TrialTracking;
use super::trial::{TrialContext, trial_result};
use crate::spec::Trial;

/// What the workers ask of the publisher.
pub(super) enum ToPublish<'a> {
    /// A trial starts training: start its run (RUNNING, with its owner tags), so the UI shows
    /// it and a resume after a SIGKILL finds it.
    Open {
        trial: &'a Trial,
        start: Box<vigie_runner::DeferredStart>,
    },
    /// Per-epoch metrics of a trial that trains: log them to its run now.
    Epochs {
        trial: &'a Trial,
        epochs: Vec<Metric>,
    },
    /// The trial trained: log everything and end its run.
    Publish {
        trial: &'a Trial,
        pending: Box<vigie_runner::PendingRun>,
        history: Vec<(u64, f64)>,
        pruned: Option<String>,
    },
}

/// The publisher: starts the runs of the trials the workers train without the store, in the
/// order asked, and completes each on a thread of its own once trained (so that the last
/// trials of a sweep are published side by side), reporting each finished trial.
pub(super) fn publish_trials(
    ctx: &TrialContext<'_>,
    inbox: mpsc::Receiver<ToPublish<'_>>,
    results: &Mutex<BTreeMap<usize, TrialResult>>,
    settled: &Condvar,
    tracking: &Mutex<TrialTracking>,
) {
    let mut opened: HashMap<usize, vigie_runner::Result<vigie_runner::OpenedRun>> = HashMap::new();
    // Forwarded epochs of a run that could not be opened: they go with its publishing.
    let mut unsent: HashMap<usize, Vec<Metric>> = HashMap::new();
    let store = || DefaultStore::from_uri(ctx.options.tracking_uri.as_deref());
    std::thread::scope(|scope| {
        for job in inbox {
            match job {
                ToPublish::Open { trial, start } => {
                    let started = Instant::now();
                    let run = store()
                        .map_err(RunError::from)
                        .and_then(|store| start.open(store));
                    opened.insert(trial.index, run);
                    lock(tracking).background += started.elapsed().as_secs_f64();
                }
                ToPublish::Epochs { trial, epochs } => {
                    let started = Instant::now();
                    match opened.get_mut(&trial.index) {
                        Some(Ok(run)) => {
                            if let Err(error) = run.log_epochs(&epochs) {
                                tracing::warn!(%error, trial = trial.index, "could not log epochs");
                                ctx.progress.note(&format!(
                                    "warning: trial {}'s epochs could not be logged: {error}",
                                    trial.index
                                ));
                            }
                        }
                        _ => unsent.entry(trial.index).or_default().extend(epochs),
                    }
                    lock(tracking).background += started.elapsed().as_secs_f64();
                }
                ToPublish::Publish {
                    trial,
                    mut pending,
                    history,
                    pruned,
                } => {
                    let run = opened.remove(&trial.index);
                    if let Some(epochs) = unsent.remove(&trial.index) {
                        pending.add_epochs(epochs);
                    }
                    scope.spawn(move || {
                        let started = Instant::now();
                        let notes = &mut SweepNotes(ctx.progress);
                        let published = match run {
                            Some(run) => pending.publish_opened(run, notes),
                            None => store()
                                .map_err(RunError::from)
                                .and_then(|store| pending.publish(store, notes)),
                        };
                        let result = trial_result(ctx, trial, published, &history, pruned, None);
                        let seconds = started.elapsed().as_secs_f64();
                        tracing::debug!(trial = trial.index, seconds, "trial published");
                        lock(tracking).background += seconds;
                        ctx.progress.trial_done(trial, &result);
                        lock(results).insert(trial.index, result);
                        settled.notify_all();
                    });
                }
            }
        }
    });
}

/// Forwards a published run's notes (warnings) to the sweep's display.
pub(super) struct SweepNotes<'a>(&'a dyn SweepProgress);

impl TrainObserver for SweepNotes<'_> {
    fn note(&mut self, message: &str) {
        self.0.note(message);
    }
}

/// How often a trial that forwards its epochs sends them to the publisher: a linear solver's
/// passes take milliseconds, so they go a few hundred at a time.
pub(super) const FORWARD_EVERY: Duration = Duration::from_millis(250);

/// Sends a training trial's per-epoch metrics to the publisher every [`FORWARD_EVERY`]; those
/// still `waiting` at the end go with the trial's publishing.
pub(super) struct EpochForwarder<'s, 't> {
    pub(super) trial: &'t Trial,
    pub(super) publisher: &'s mpsc::SyncSender<ToPublish<'t>>,
    pub(super) waiting: Vec<Metric>,
    /// `None` until the first epoch, which goes at once (the run shows it is training).
    pub(super) last_sent: Option<Instant>,
}

impl EpochForwarder<'_, '_> {
    pub(super) fn push(&mut self, epochs: Vec<Metric>) {
        self.waiting.extend(epochs);
        if self
            .last_sent
            .is_some_and(|sent| sent.elapsed() < FORWARD_EVERY)
        {
            return;
        }
        let job = ToPublish::Epochs {
            trial: self.trial,
            epochs: std::mem::take(&mut self.waiting),
        };
        // Never waits: with the publisher busy (or stopped) they stay for the next try, or
        // for the trial's own publishing.
        match self.publisher.try_send(job) {
            Ok(()) => self.last_sent = Some(Instant::now()),
            Err(
                mpsc::TrySendError::Full(ToPublish::Epochs { epochs, .. })
                | mpsc::TrySendError::Disconnected(ToPublish::Epochs { epochs, .. }),
            ) => self.waiting = epochs,
            Err(_) => {}
        }
    }
}
