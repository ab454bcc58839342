//! The service's own monitoring windows, on the request side: every scored request is counted,
//! at its arrival time by the wall clock, into a [`Monitor`] of the model that scored it. The
//! monitor sits behind a mutex held for a few counter updates per call; the recorder thread
//! ([`super::recorder`]) takes the windows out as they close and does all the MLflow work.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use vigie_mlflow::DefaultStore;

use crate::engine::Engine;
use crate::monitor::drift::expected_alert_rate;
use crate::monitor::{DriftRule, Monitor, MonitorError, MonitorReference, WindowReport};

/// Opens the tracking store a monitoring run logs to (one call per run).
pub type StoreOpener = Arc<dyn Fn() -> vigie_mlflow::Result<DefaultStore> + Send + Sync>;

/// How the service records its own windows (`vigie serve --monitor-window`).
#[derive(Clone)]
pub struct MonitoringConfig {
    /// Window length: whole milliseconds, at least one.
    pub window: Duration,
    /// The window as the user wrote it (`1h`), for the run's params.
    pub window_text: String,
    pub psi_bound: f64,
    pub alert_factor: f64,
    /// `None`: the model's validation false-positive rate at its threshold, floored.
    pub expected_alert_rate: Option<f64>,
    pub min_requests: u64,
    /// The MLflow experiment of the runs.
    pub experiment: String,
    /// Folder of the run journals.
    pub journal_dir: PathBuf,
    /// The model reference as given (`models:/vigie-field@champion`), tagged on each run.
    pub model_ref: String,
    /// This host's name, in the run name and a tag.
    pub host: String,
    pub store: StoreOpener,
}

impl fmt::Debug for MonitoringConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitoringConfig")
            .field("window", &self.window)
            .field("psi_bound", &self.psi_bound)
            .field("alert_factor", &self.alert_factor)
            .field("expected_alert_rate", &self.expected_alert_rate)
            .field("min_requests", &self.min_requests)
            .field("experiment", &self.experiment)
            .field("journal_dir", &self.journal_dir)
            .field("model_ref", &self.model_ref)
            .finish_non_exhaustive()
    }
}

impl MonitoringConfig {
    /// The window in milliseconds; an error naming the flag when it is not a whole, positive
    /// number of them.
    pub fn window_ms(&self) -> Result<i64, String> {
        let ms = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        if ms < 1 || !self.window.subsec_nanos().is_multiple_of(1_000_000) {
            return Err(format!(
                "--monitor-window: {:?} is not a whole, positive number of milliseconds",
                self.window
            ));
        }
        Ok(ms)
    }

    /// The drift rule for `engine`: the expected alert rate from its validation scores unless
    /// given.
    fn rule(&self, engine: &Engine, benign_validation: &[f64]) -> DriftRule {
        DriftRule {
            psi_bound: self.psi_bound,
            alert_factor: self.alert_factor,
            expected_alert_rate: self
                .expected_alert_rate
                .unwrap_or_else(|| expected_alert_rate(benign_validation, engine.threshold())),
            min_requests: self.min_requests,
        }
    }
}

/// A model's windows and what its run says about the model.
pub(super) struct Watched {
    pub windows: Arc<LiveWindows>,
    /// The validation scores the windows are compared with, for the run's chart.
    pub reference: Arc<MonitorReference>,
    /// The resolved identity (`models:/vigie-field/3`): the version being served.
    pub model: String,
    pub kind: String,
    pub threshold: f64,
}

impl Watched {
    /// Windows for `engine`, opening at `now_ms`; an error when the model keeps no validation
    /// scores or an option makes no sense.
    pub fn new(
        config: &MonitoringConfig,
        engine: &Engine,
        now_ms: i64,
    ) -> Result<Watched, MonitorError> {
        let window_ms = config.window_ms().map_err(MonitorError::Invalid)?;
        let validation = engine.validation().ok_or(MonitorError::NoValidation)?;
        let reference = MonitorReference::new(validation)?;
        let rule = config.rule(engine, &validation.benign);
        let monitor = Monitor::new(reference.clone(), rule, window_ms)?;
        Ok(Watched {
            windows: Arc::new(LiveWindows::new(monitor, now_ms)),
            reference: Arc::new(reference),
            model: engine.origin().to_owned(),
            kind: engine.manifest().kind.clone(),
            threshold: engine.threshold(),
        })
    }
}

/// One model's monitor, fed by the requests and emptied by the recorder.
pub(super) struct LiveWindows {
    state: Mutex<LiveState>,
    window_ms: i64,
    rule: DriftRule,
}

struct LiveState {
    monitor: Monitor,
    /// The start of the first window not yet taken: a request scored after its window was
    /// taken (it arrived just before the end and scored slowly) counts in this one instead.
    open_from_ms: i64,
}

impl LiveWindows {
    fn new(monitor: Monitor, now_ms: i64) -> LiveWindows {
        let open_from_ms = monitor.window_start(now_ms);
        LiveWindows {
            window_ms: monitor.window_ms(),
            rule: *monitor.rule(),
            state: Mutex::new(LiveState {
                monitor,
                open_from_ms,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LiveState> {
        // Counters only: a panic mid-update loses at most one request's counts.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a call's scored requests (score, and the attack family of each alert), all
    /// arrived at `arrival_ms`.
    pub fn observe<'a>(
        &self,
        arrival_ms: i64,
        scored: impl IntoIterator<Item = (f64, Option<&'a str>)>,
    ) {
        let mut state = self.state();
        let time = Some(arrival_ms.max(state.open_from_ms));
        for (score, alert) in scored {
            state.monitor.observe(time, score, alert);
        }
    }

    /// Takes out the windows that start before `until_ms` (a window start), quiet ones
    /// included, in time order.
    pub fn take_before(&self, until_ms: i64) -> Vec<WindowReport> {
        let mut state = self.state();
        let since = state.open_from_ms;
        if until_ms <= since {
            return Vec::new();
        }
        state.open_from_ms = until_ms;
        state.monitor.take_closed(since, until_ms)
    }

    pub fn window_ms(&self) -> i64 {
        self.window_ms
    }

    /// The start of the first window not taken yet.
    pub fn open_from(&self) -> i64 {
        self.state().open_from_ms
    }

    /// The start of the window holding `time_ms`.
    pub fn window_start(&self, time_ms: i64) -> i64 {
        time_ms.div_euclid(self.window_ms) * self.window_ms
    }

    pub fn rule(&self) -> &DriftRule {
        &self.rule
    }
}
