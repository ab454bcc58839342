//! The deferred flow: a run trained and written apart from the tracking store, then published
//! (a sweep's trials train on worker threads while another thread talks to the store).

use std::time::Instant;

use vigie_mlflow::{DefaultStore, Metric, Tag};
use vigie_models::TrainObserver;

use super::data::checked_splits;
use super::finish::finish_run;
use super::observer::{EpochSink, RunObserver};
use super::start::{OpenRun, RunStart, prepare_out_dir, write_start_files};
use super::train::{Trained, train_and_write};
use super::{RunOutcome, RunRequest, Training};
use crate::error::Result;

/// A run trained, measured and written to its folder by [`Training::deferred`], not yet complete
/// in the tracking store. It holds the per-epoch metrics with their original timestamps, so the
/// published run reads as if it had been logged live. Dropped unpublished, it leaves its run
/// (if [`DeferredStart::open`] created one) RUNNING, which a sweep's resume repairs.
#[derive(Debug)]
pub struct PendingRun {
    request: RunRequest,
    start: DeferredStart,
    epochs: Vec<Metric>,
    late_tags: Vec<Tag>,
    trained: Result<Trained>,
}

/// The start of a deferred run: its tags, params and inputs, ready to be opened in a store
/// (by another thread, while the model trains).
#[derive(Debug, Clone)]
pub struct DeferredStart(RunStart);

/// A run started in the store by [`DeferredStart::open`].
#[derive(Debug)]
pub struct OpenedRun {
    run: OpenRun,
    seconds: f64,
}

impl OpenedRun {
    /// Logs per-epoch metrics that a [`Training::deferred`] run forwarded
    /// ([`EpochDelivery::Forwarded`]), and hands them to the logger's background sender now
    /// (the run's publishing then has less to send). A refusal by the store of what was sent
    /// before fails here (or at the run's end); a store that cannot be reached leaves them in
    /// the run's journal, for its end or a sync.
    pub fn log_epochs(&mut self, epochs: &[Metric]) -> Result<()> {
        let started = Instant::now();
        let logged = self
            .run
            .logger
            .log_metrics(epochs)
            .and_then(|()| self.run.logger.flush());
        self.seconds += started.elapsed().as_secs_f64();
        Ok(logged?)
    }
}

impl DeferredStart {
    /// Starts the run in `store` (RUNNING, with its params, inputs and start files).
    pub fn open(&self, store: DefaultStore) -> Result<OpenedRun> {
        let started = Instant::now();
        let run = self.0.open(store)?;
        Ok(OpenedRun {
            run,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Where a deferred run's per-epoch metrics go while it trains.
pub enum EpochDelivery<'a> {
    /// Kept in the [`PendingRun`] and published with it.
    Kept,
    /// Handed to the function as they come (to send them while the model trains, e.g. with
    /// [`OpenedRun::log_epochs`]); [`PendingRun::add_epochs`] takes back any not sent.
    Forwarded(&'a mut (dyn FnMut(Vec<Metric>) + Send)),
}

impl Training<'_> {
    /// Checks the run and creates its output folder, for [`Training::deferred`]. Errors here
    /// leave nothing behind (no run, no folder).
    pub fn start_deferred(&self) -> Result<DeferredStart> {
        let (request, prepared) = (self.request, self.prepared());
        checked_splits(request, prepared)?;
        prepare_out_dir(&request.out_dir)?;
        write_start_files(request)?;
        Ok(DeferredStart(RunStart::new(request, prepared)?))
    }

    /// Trains and writes the run like [`Training::logged`], without touching the tracking
    /// store; see [`PendingRun`]. A failed or stopped fit is published as a FAILED or KILLED
    /// run.
    pub fn deferred(
        &self,
        start: DeferredStart,
        progress: &mut dyn TrainObserver,
        epochs: EpochDelivery<'_>,
    ) -> Result<PendingRun> {
        let (request, prepared) = (self.request, self.prepared());
        let sink = match epochs {
            EpochDelivery::Kept => EpochSink::Recorded(Vec::new()),
            EpochDelivery::Forwarded(forward) => EpochSink::Forwarded(forward),
        };
        let splits = checked_splits(request, prepared)?;
        let mut recorder = RunObserver::new(progress, sink);
        let trained = train_and_write(request, prepared, &splits, &mut recorder);
        let epochs = match recorder.sink {
            EpochSink::Recorded(epochs) => epochs,
            EpochSink::Live(_) | EpochSink::Forwarded(_) => Vec::new(),
        };
        Ok(PendingRun {
            request: request.clone(),
            start,
            epochs,
            late_tags: Vec::new(),
            trained,
        })
    }
}

impl PendingRun {
    /// Adds per-epoch metrics to those published with the run (forwarded ones that were not
    /// sent).
    pub fn add_epochs(&mut self, epochs: Vec<Metric>) {
        self.epochs.extend(epochs);
    }

    /// Adds tags to the run (e.g. why a sweep pruned it).
    pub fn add_tags(&mut self, tags: &[Tag]) {
        self.late_tags.extend_from_slice(tags);
    }

    /// Opens the run in `store`, then [`PendingRun::publish_opened`].
    pub fn publish(
        self,
        store: DefaultStore,
        progress: &mut dyn TrainObserver,
    ) -> Result<RunOutcome> {
        let opened = self.start.open(store);
        self.publish_opened(opened, progress)
    }

    /// Logs the recorded epochs, final metrics, artifacts and (on a server) the logged model to
    /// the run `opened` started, and ends it; after a failed training, ends it FAILED or
    /// KILLED and returns the training error. `RunOutcome::tracking_seconds` is the time spent
    /// in tracking calls, the opening included.
    pub fn publish_opened(
        self,
        opened: Result<OpenedRun>,
        progress: &mut dyn TrainObserver,
    ) -> Result<RunOutcome> {
        let OpenedRun {
            run: OpenRun { mut logger, model },
            seconds: open_seconds,
        } = opened?;
        let started = Instant::now();
        let mut logged = Ok(());
        if !self.epochs.is_empty() {
            logged = logger.log_metrics(&self.epochs);
        }
        if logged.is_ok() && !self.late_tags.is_empty() {
            logged = logger.set_tags(&self.late_tags);
        }
        let logging_seconds = started.elapsed().as_secs_f64();
        finish_run(
            &self.request,
            self.trained,
            logged,
            OpenRun { logger, model },
            progress,
            open_seconds + logging_seconds,
        )
    }
}
