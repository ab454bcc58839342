//! One trial: its run request, trained live (a network) or apart from the store and handed to
//! the publisher, its result, and its observer (progress, Ctrl-C, pruning).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Instant;

use vigie_data::PreparedDataset;
use vigie_mlflow::{DefaultStore, Tag, TrackingStore, now_millis};
use vigie_models::spec::Family;
use vigie_models::{ModelError, TrainObserver};
use vigie_runner::config::DataSource;
use vigie_runner::{DeferredStart, EpochDelivery, PendingRun, RunError, RunRequest, Training};

use super::lock;
use super::options::{SweepOptions, SweepProgress};
use super::outcome::{StoredTrial, TrialResult};
use super::prune::Pruner;
use super::publish::{EpochForwarder, ToPublish};
use super::timing::TrialTracking;
use crate::error::SweepError;
use crate::leaderboard::LeaderboardRow;
use crate::spec::{SweepSpec, Trial};
use crate::tags;

/// What every trial of one invocation shares.
pub(super) struct TrialContext<'a> {
    pub(super) spec: &'a SweepSpec,
    pub(super) options: &'a SweepOptions,
    pub(super) stop: &'a AtomicBool,
    pub(super) progress: &'a dyn SweepProgress,
    pub(super) pruner: Option<&'a Pruner>,
    pub(super) parent_run_id: &'a str,
    pub(super) experiment_id: &'a str,
    pub(super) shard_label: &'a str,
    pub(super) host: &'a str,
    pub(super) threads_per_trial: usize,
    /// The data dir, for each trial's field check (`vigie_runner::field`).
    pub(super) source: &'a DataSource,
}

/// The trial's folder under `<out>/trials/`: new, or suffixed when an earlier attempt left one.
pub(super) fn trial_out_dir(out_dir: &Path, trial: &Trial) -> PathBuf {
    let base = format!("{}-{}", trial.config.run_name(), trial.id);
    let trials = out_dir.join("trials");
    let first = trials.join(&base);
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|attempt| trials.join(format!("{base}-attempt{attempt}")))
        .find(|dir| !dir.exists())
        .unwrap_or(first)
}

/// Runs one trial: live for a network, else trained without the store and handed to the
/// publisher (`None`).
pub(super) fn run_trial<'t>(
    ctx: &TrialContext<'_>,
    trial: &'t Trial,
    prepared: &PreparedDataset,
    publisher: &mpsc::SyncSender<ToPublish<'t>>,
    tracking: &Mutex<TrialTracking>,
    forward_epochs: bool,
) -> Option<TrialResult> {
    let attempt = format!("{}-{}-{}", std::process::id(), now_millis(), trial.id);
    let request = trial_request(ctx, trial, &attempt);
    let training = Training::on(&request, prepared);
    let mut observer = TrialObserver {
        display: ctx.progress.trial_observer(trial),
        stop: ctx.stop,
        pruner: ctx.pruner,
        history: Vec::new(),
        pruned: None,
    };
    if request.config.model.family() == Family::Network {
        return Some(run_live(
            ctx, trial, &training, observer, tracking, &attempt,
        ));
    }
    let send = |job: ToPublish<'t>| {
        let waiting = Instant::now();
        let sent = publisher.send(job);
        lock(tracking).on_workers += waiting.elapsed().as_secs_f64();
        sent.map_err(|_| TrialResult::Failed {
            message: "the publisher thread stopped".to_owned(),
        })
    };
    let trained = training.start_deferred().and_then(|start| {
        let open = ToPublish::Open {
            trial,
            start: Box::new(start.clone()),
        };
        if send(open).is_err() {
            tracing::warn!("the publisher thread stopped");
        }
        train_deferred(
            &training,
            trial,
            start,
            &mut observer,
            publisher,
            forward_epochs,
        )
    });
    let TrialObserver {
        history, pruned, ..
    } = observer;
    let mut pending = match trained {
        Ok(pending) => pending,
        Err(error) => {
            return Some(TrialResult::Failed {
                message: error.to_string(),
            });
        }
    };
    if let Some(reason) = &pruned {
        pending.add_tags(&[Tag::new(tags::PRUNED, reason)]);
    }
    send(ToPublish::Publish {
        trial,
        pending: Box::new(pending),
        history,
        pruned,
    })
    .err()
}

/// The trial's run: its config on this invocation's threads, in its own folder, a child of the
/// sweep's parent run with the tags that say which trial and which attempt it is.
fn trial_request(ctx: &TrialContext<'_>, trial: &Trial, attempt: &str) -> RunRequest {
    let mut config = trial.config.clone();
    config.threads = ctx.threads_per_trial;
    RunRequest {
        config,
        out_dir: trial_out_dir(&ctx.options.out_dir, trial),
        journal_root: ctx.options.journal_root.clone(),
        parent_run_id: Some(ctx.parent_run_id.to_owned()),
        extra_tags: vec![
            Tag::new(tags::SWEEP, &ctx.spec.name),
            Tag::new(tags::ROLE, tags::ROLE_TRIAL),
            Tag::new(tags::SHARD, ctx.shard_label),
            Tag::new(tags::TRIAL_ID, &trial.id),
            Tag::new(tags::TRIAL_INDEX, trial.index.to_string()),
            Tag::new(tags::OVERRIDES, trial.describe()),
            Tag::new(tags::ATTEMPT, attempt),
            Tag::new(tags::OWNER_HOST, ctx.host),
            Tag::new(tags::OWNER_PID, std::process::id().to_string()),
        ],
        field_data: Some(ctx.source.clone()),
    }
}

/// A network trial: logged live (curves in the UI while it trains).
fn run_live(
    ctx: &TrialContext<'_>,
    trial: &Trial,
    training: &Training<'_>,
    mut observer: TrialObserver<'_>,
    tracking: &Mutex<TrialTracking>,
    attempt: &str,
) -> TrialResult {
    let store = match DefaultStore::from_uri(ctx.options.tracking_uri.as_deref()) {
        Ok(store) => store,
        Err(error) => {
            return TrialResult::Failed {
                message: error.to_string(),
            };
        }
    };
    let result = training.logged(store, &mut observer);
    if let Ok(outcome) = &result {
        lock(tracking).on_workers += outcome.tracking_seconds;
    }
    let TrialObserver {
        history, pruned, ..
    } = observer;
    trial_result(ctx, trial, result, &history, pruned, Some(attempt))
}

/// Trains a trial apart from the store; the last trials hand their epochs to the publisher as
/// they come (`forward_epochs`), the others keep them for their run's publishing.
fn train_deferred<'t>(
    training: &Training<'_>,
    trial: &'t Trial,
    start: DeferredStart,
    observer: &mut TrialObserver<'_>,
    publisher: &mpsc::SyncSender<ToPublish<'t>>,
    forward_epochs: bool,
) -> vigie_runner::Result<PendingRun> {
    if !forward_epochs {
        return training.deferred(start, observer, EpochDelivery::Kept);
    }
    let mut forwarder = EpochForwarder {
        trial,
        publisher,
        waiting: Vec::new(),
        last_sent: None,
    };
    let mut forward = |epochs| forwarder.push(epochs);
    let mut pending = training.deferred(start, observer, EpochDelivery::Forwarded(&mut forward))?;
    pending.add_epochs(forwarder.waiting);
    Ok(pending)
}

/// How a trial's run ended, as a [`TrialResult`]; a finished trial's history feeds the pruner.
/// A pruned live run (`attempt`) is tagged here; a published one carried its tag already.
pub(super) fn trial_result(
    ctx: &TrialContext<'_>,
    trial: &Trial,
    result: vigie_runner::Result<vigie_runner::RunOutcome>,
    history: &[(u64, f64)],
    pruned: Option<String>,
    attempt: Option<&str>,
) -> TrialResult {
    match result {
        Ok(outcome) => {
            if let Some(pruner) = ctx.pruner {
                pruner.record(history);
            }
            let stored = match (&outcome.run_id, outcome.synced) {
                (Some(run_id), true) => Some(Box::new(StoredTrial {
                    row: LeaderboardRow::of_finished(
                        run_id,
                        &outcome.run_name,
                        &outcome.model_kind,
                        Some(&trial.id),
                        &trial.describe(),
                        &outcome.final_metrics,
                        &ctx.spec.objective.metric,
                    ),
                    logged_model_id: outcome.logged_model_id.clone(),
                })),
                _ => None,
            };
            TrialResult::Finished {
                run_id: outcome.run_id,
                tracking_seconds: outcome.tracking_seconds,
                stored,
            }
        }
        Err(RunError::Model(ModelError::Stopped(_))) => match pruned {
            Some(reason) => {
                if let Some(attempt) = attempt {
                    mark_pruned(ctx, attempt, &reason);
                }
                TrialResult::Pruned { reason }
            }
            None => TrialResult::Killed,
        },
        Err(error) => TrialResult::Failed {
            message: error.to_string(),
        },
    }
}

/// Tags the run of a pruned attempt, so that resume counts the trial as done.
pub(super) fn mark_pruned(ctx: &TrialContext<'_>, attempt: &str, reason: &str) {
    let tagged = DefaultStore::from_uri(ctx.options.tracking_uri.as_deref())
        .map_err(SweepError::from)
        .and_then(|store| {
            for run in store.find_runs_by_tag(ctx.experiment_id, tags::ATTEMPT, attempt)? {
                store.log_batch(
                    &run.info.run_id,
                    &[],
                    &[],
                    &[Tag::new(tags::PRUNED, reason)],
                )?;
            }
            Ok(())
        });
    if let Err(error) = tagged {
        tracing::warn!(%error, "could not tag a pruned trial");
    }
}

/// One trial's observer: shows progress, asks to stop on Ctrl-C or when the pruning rule says
/// so, and keeps the pruning metric's history.
pub(super) struct TrialObserver<'a> {
    display: Box<dyn TrainObserver + 'a>,
    stop: &'a AtomicBool,
    pruner: Option<&'a Pruner>,
    history: Vec<(u64, f64)>,
    pruned: Option<String>,
}

impl TrainObserver for TrialObserver<'_> {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.display.phase(name, total);
    }

    fn advance(&mut self, units: u64) {
        self.display.advance(units);
    }

    fn epoch(&mut self, step: u64, metrics: &[(&str, f64)]) {
        self.display.epoch(step, metrics);
        let Some(pruner) = self.pruner else { return };
        let Some((_, value)) = metrics.iter().find(|(k, _)| *k == pruner.metric()) else {
            return;
        };
        self.history.push((step, *value));
        if self.pruned.is_none() {
            self.pruned = pruner.verdict(step, *value);
        }
    }

    fn note(&mut self, message: &str) {
        self.display.note(message);
    }

    fn stop_requested(&mut self) -> Option<String> {
        if self.stop.load(Ordering::SeqCst) {
            return Some("interrupted".to_owned());
        }
        self.pruned.clone()
    }
}
