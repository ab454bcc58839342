//! The observers that carry a training's events to the progress display and its per-epoch
//! metrics to the run (live, recorded or forwarded).

use std::time::Instant;

use vigie_mlflow::{DefaultStore, Metric, RunLogger};
use vigie_models::TrainObserver;

/// Where a run's per-epoch metrics go.
pub(super) enum EpochSink<'l> {
    /// Logged to the run as they come.
    Live(&'l mut RunLogger<DefaultStore>),
    /// Kept (timestamped now) for a [`PendingRun`].
    Recorded(Vec<Metric>),
    /// Handed (timestamped now) to a caller that sends them.
    Forwarded(&'l mut (dyn FnMut(Vec<Metric>) + Send)),
}

/// Forwards every event to the progress display, sends epochs to the sink and keeps the last
/// step (the final metrics' step).
pub(super) struct RunObserver<'l, 'p> {
    pub(super) progress: &'p mut dyn TrainObserver,
    pub(super) sink: EpochSink<'l>,
    pub(super) last_step: u64,
    /// The first logging failure: training goes on (the journal has what was logged) and the
    /// run reports it at the end.
    pub(super) error: Option<vigie_mlflow::MlflowError>,
    pub(super) tracking_seconds: f64,
}

impl<'l, 'p> RunObserver<'l, 'p> {
    pub(super) fn new(progress: &'p mut dyn TrainObserver, sink: EpochSink<'l>) -> Self {
        RunObserver {
            progress,
            sink,
            last_step: 0,
            error: None,
            tracking_seconds: 0.0,
        }
    }
}

impl TrainObserver for RunObserver<'_, '_> {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.progress.phase(name, total);
    }

    fn advance(&mut self, units: u64) {
        self.progress.advance(units);
    }

    fn epoch(&mut self, step: u64, metrics: &[(&str, f64)]) {
        self.progress.epoch(step, metrics);
        self.last_step = self.last_step.max(step);
        let points = epoch_points(step, metrics);
        match &mut self.sink {
            EpochSink::Recorded(epochs) => epochs.extend(points),
            EpochSink::Forwarded(forward) => forward(points),
            EpochSink::Live(logger) => {
                let logging = Instant::now();
                let result = logger
                    .log_metrics(&points)
                    .and_then(|()| logger.end_epoch());
                self.tracking_seconds += logging.elapsed().as_secs_f64();
                if let Err(error) = result
                    && self.error.is_none()
                {
                    self.error = Some(error);
                }
            }
        }
    }

    fn note(&mut self, message: &str) {
        self.progress.note(message);
    }

    fn stop_requested(&mut self) -> Option<String> {
        self.progress.stop_requested()
    }
}

pub(super) fn epoch_points(step: u64, metrics: &[(&str, f64)]) -> Vec<Metric> {
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    metrics
        .iter()
        .map(|(key, value)| Metric::new(*key, *value, step))
        .collect()
}

/// The observer of a refit on train + valid: its per-pass metrics are named `refit_*`, so that
/// they do not mix with the first fit's curves.
pub(super) struct RefitObserver<'o, 'l, 'p>(pub(super) &'o mut RunObserver<'l, 'p>);

impl TrainObserver for RefitObserver<'_, '_, '_> {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.0.phase(&format!("refit: {name}"), total);
    }

    fn advance(&mut self, units: u64) {
        self.0.advance(units);
    }

    fn epoch(&mut self, step: u64, metrics: &[(&str, f64)]) {
        let named: Vec<(String, f64)> = metrics
            .iter()
            .map(|(key, value)| (format!("refit_{key}"), *value))
            .collect();
        let named: Vec<(&str, f64)> = named.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        self.0.epoch(step, &named);
    }

    fn note(&mut self, message: &str) {
        self.0.note(message);
    }

    fn stop_requested(&mut self) -> Option<String> {
        self.0.stop_requested()
    }
}
