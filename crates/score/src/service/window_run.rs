//! One MLflow run per model the service serves with `--monitor-window`: each closed window
//! logged as one point per metric (the metrics, steps and timestamps of `vigie monitor`,
//! through [`crate::monitor::tracking`]), the drift tags updated after each. The run is
//! journaled first, so a dead tracking server costs nothing but a later `vigie mlflow sync`;
//! a tracking failure is a warning, never the service's failure. The run's chart (`vigie
//! monitor`'s, on the latest windows) is drawn again when a window drifts, once a day's worth
//! of windows, and at the run's end: each drawing is a copy in the journal, so not at every
//! window of a service that runs for months.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;

use vigie_mlflow::{DefaultStore, Metric, Param, RunLogger, RunOptions, RunStatus, Tag};

use super::windows::{MonitoringConfig, Watched};
use crate::monitor::chart::monitor_png;
use crate::monitor::tracking::{drift_tags, drifted_label, rule_params, window_metrics};
use crate::monitor::window::label;
use crate::monitor::{MonitorReport, WindowReport, family_metric};

/// The most windows the chart shows (the latest): two weeks of hours.
const CHART_WINDOWS: usize = 336;
/// The chart's name among the run's artifacts, as `vigie monitor` names its own.
const CHART_FILE: &str = "monitor.png";

/// A served model's run and what it logged so far.
pub(super) struct ServiceRun {
    watched: Watched,
    /// `None` when the run could not even be journaled (warned once).
    logger: Option<RunLogger<DefaultStore>>,
    /// Attack families seen in any window: each has a point in every window.
    families: BTreeSet<String>,
    /// The step of the run's first window.
    first_step: Option<i64>,
    drifted: Vec<String>,
    /// The latest windows, for the chart.
    charted: VecDeque<WindowReport>,
    /// Windows logged since the chart was last drawn.
    since_chart: usize,
    /// The run's own folder where the chart is drawn before the journal copies it.
    chart_scratch: PathBuf,
}

impl ServiceRun {
    /// Starts the run of `watched` (blocking: the store may be slow or down).
    pub fn start(config: &MonitoringConfig, watched: Watched) -> ServiceRun {
        let logger = match start_logger(config, &watched) {
            Ok(logger) => Some(logger),
            Err(error) => {
                tracing::warn!(
                    model = %watched.model,
                    %error,
                    "the monitoring run could not start: windows are counted but not logged"
                );
                None
            }
        };
        let chart_scratch = config.journal_dir.join(format!(
            ".chart-{}",
            logger.as_ref().map_or("offline", |l| l.client_run_id())
        ));
        ServiceRun {
            watched,
            logger,
            families: BTreeSet::new(),
            first_step: None,
            drifted: Vec::new(),
            charted: VecDeque::new(),
            since_chart: 0,
            chart_scratch,
        }
    }

    /// How long, from `now_ms`, until the open window is taken: its end plus a grace for the
    /// calls that arrived in it and are still scoring.
    pub fn until_next_close(&self, now_ms: i64) -> std::time::Duration {
        let windows = &self.watched.windows;
        let close_at = windows.open_from() + windows.window_ms() + grace_ms(windows);
        std::time::Duration::from_millis(u64::try_from(close_at - now_ms).unwrap_or(0))
    }

    /// Logs the windows that closed by `now_ms` (their end and the grace passed).
    pub fn log_closed(&mut self, now_ms: i64) {
        let windows = &self.watched.windows;
        let until = windows.window_start(now_ms - grace_ms(windows));
        let closed = windows.take_before(until);
        self.log_windows(&closed);
    }

    /// Logs every window left, the open one included, and ends the run.
    pub fn finish(mut self, now_ms: i64) {
        let windows = &self.watched.windows;
        let open_end = windows.window_start(now_ms) + windows.window_ms();
        let rest = windows.take_before(open_end);
        self.log_windows(&rest);
        if self.since_chart > 0 {
            self.log_chart();
        }
        let Some(logger) = self.logger.take() else {
            return;
        };
        match logger.finish(RunStatus::Finished) {
            Ok(outcome) if outcome.synced => {
                tracing::info!(run = ?outcome.run_id, model = %self.watched.model, "monitoring run ended");
            }
            Ok(outcome) => tracing::warn!(
                journal = %outcome.journal.display(),
                "the monitoring run ended offline: `vigie mlflow sync` sends it"
            ),
            Err(error) => tracing::warn!(%error, "the monitoring run did not end cleanly"),
        }
    }

    fn log_windows(&mut self, windows: &[WindowReport]) {
        if windows.is_empty() {
            return;
        }
        let mut points = Vec::new();
        for window in windows {
            self.note(window);
            points.extend(self.backfill(window));
            let families: Vec<String> = self.families.iter().cloned().collect();
            points.extend(window_metrics(window, &families));
        }
        let Some(logger) = self.logger.as_mut() else {
            return;
        };
        let logged = logger
            .log_metrics(&points)
            .and_then(|()| logger.set_tags(&drift_tags(&self.drifted)))
            .and_then(|()| logger.flush());
        if let Err(error) = logged {
            tracing::warn!(%error, "monitoring windows not logged");
        }
        let drifted = windows.iter().any(|w| !w.drift.is_empty());
        if drifted || self.since_chart >= self.windows_per_day() {
            self.log_chart();
        }
    }

    /// Windows in a day (at least one): how often the chart is drawn when nothing drifts.
    fn windows_per_day(&self) -> usize {
        const DAY_MS: i64 = 86_400_000;
        usize::try_from(DAY_MS / self.watched.windows.window_ms()).map_or(1, |n| n.max(1))
    }

    /// Draws the chart of the latest windows and logs it as the run's `monitor.png` (the
    /// journal keeps a copy, so the scratch file goes at once).
    fn log_chart(&mut self) {
        self.since_chart = 0;
        let Some(logger) = self.logger.as_mut() else {
            return;
        };
        let windows = &self.watched.windows;
        let report = MonitorReport {
            window_ms: windows.window_ms(),
            rule: *windows.rule(),
            drift: !self.drifted.is_empty(),
            families: self.families.iter().cloned().collect(),
            untimed: 0,
            windows: self.charted.iter().cloned().collect(),
        };
        let title = format!("{} served ({})", self.watched.model, self.watched.kind);
        let chart = self.chart_scratch.join(CHART_FILE);
        let drawn = std::fs::create_dir_all(&self.chart_scratch)
            .map_err(|e| format!("{}: {e}", self.chart_scratch.display()))
            .and_then(|()| monitor_png(&chart, &report, &self.watched.reference, &title))
            .and_then(|()| logger.log_artifact(&chart, None).map_err(|e| e.to_string()));
        let _ = std::fs::remove_dir_all(&self.chart_scratch);
        if let Err(error) = drawn {
            tracing::warn!(%error, "the monitoring chart was not logged");
        }
    }

    /// Says what the window saw in the service's log and remembers its drift.
    fn note(&mut self, window: &WindowReport) {
        let window_ms = self.watched.windows.window_ms();
        self.first_step.get_or_insert(window.step);
        if self.charted.len() == CHART_WINDOWS {
            self.charted.pop_front();
        }
        self.charted.push_back(window.clone());
        self.since_chart += 1;
        tracing::info!(
            window = %label(window.start_ms, window_ms),
            requests = window.requests,
            alert_rate = window.alert_rate,
            psi = ?window.psi,
            drift = !window.drift.is_empty(),
            "monitoring window closed"
        );
        if let Some(drifted) = drifted_label(window, window_ms) {
            tracing::warn!(window = %drifted, reasons = ?window.drift, "monitoring window drifted");
            self.drifted.push(drifted);
        }
    }

    /// Zeros for the families first seen in `window`, at every earlier window of the run, so
    /// that each family has a point in every window (as in `vigie monitor`).
    fn backfill(&mut self, window: &WindowReport) -> Vec<Metric> {
        let window_ms = self.watched.windows.window_ms();
        let first = self.first_step.unwrap_or(window.step);
        let mut points = Vec::new();
        for family in window.alerts_by_family.keys() {
            if !self.families.insert(family.clone()) {
                continue;
            }
            let key = family_metric(family);
            points.extend(
                (first..window.step).map(|step| Metric::at(&key, 0.0, step, step * window_ms)),
            );
        }
        points
    }
}

/// The wait past a window's end before it is taken: a tenth of the window, at most a second.
fn grace_ms(windows: &super::windows::LiveWindows) -> i64 {
    (windows.window_ms() / 10).min(1000)
}

fn start_logger(
    config: &MonitoringConfig,
    watched: &Watched,
) -> vigie_mlflow::Result<RunLogger<DefaultStore>> {
    let store = (config.store)()?;
    let mut options = RunOptions::new(&config.journal_dir, &config.experiment);
    options.run_name = Some(format!("serve-{}-{}", watched.kind, config.host));
    options.flush_on_epoch = false;
    options.tags = vec![
        Tag::new("vigie.command", "serve"),
        Tag::new("vigie.model_ref", &config.model_ref),
        Tag::new("vigie.model", &watched.model),
        Tag::new("vigie.model_kind", &watched.kind),
        Tag::new("vigie.host", &config.host),
    ];
    let mut logger = RunLogger::start(store, options)?;
    let windows = &watched.windows;
    let mut params = vec![Param::new("model", &watched.model)];
    params.extend(rule_params(
        &config.window_text,
        windows.window_ms(),
        windows.rule(),
        watched.threshold,
    ));
    logger.log_params(&params)?;
    logger.set_tags(&drift_tags(&[]))?;
    logger.flush()?;
    Ok(logger)
}
