//! Monitoring a model on live traffic: scored requests counted in fixed time windows from their
//! own timestamps ([`window`]), each window's score distribution compared with the model's
//! validation scores ([`psi`]), and the drift rule that turns both into a flag ([`drift`]).
//!
//! [`Monitor`] is the accumulator: fed with each request's time, score, verdict and family (or
//! with a line the parser could not read), it keeps counters and fixed histograms per window,
//! so its memory does not grow with the traffic; [`Monitor::finish`] gives the
//! [`MonitorReport`], whose windows become the metric points of one MLflow run.

pub mod chart;
pub mod drift;
pub mod histogram;
pub mod psi;
pub mod tracking;
pub mod window;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use thiserror::Error;
use vigie_models::artifact::ValidationScores;

pub use drift::{DriftReason, DriftRule};
use histogram::ScoreHistogram;
use psi::PsiReference;
use window::{WindowStats, Windows};

/// Why monitoring could not go on.
#[derive(Debug, Error)]
pub enum MonitorError {
    #[error(
        "the model keeps no validation scores to compare the traffic with (it was saved by an \
         older Vigie); train it again"
    )]
    NoValidation,
    #[error("no request had a timestamp: windows need the requests' own times")]
    NoTimestamps,
    #[error("{0}")]
    Invalid(String),
}

/// What the traffic is compared with: the model's validation scores.
#[derive(Debug, Clone)]
pub struct MonitorReference {
    psi: PsiReference,
    /// Histograms of the benign and malicious validation scores, over the range windows use.
    pub validation_benign: ScoreHistogram,
    pub validation_malicious: ScoreHistogram,
}

impl MonitorReference {
    /// PSI bins from the benign validation scores (see [`psi`] for why benign), histograms over
    /// the range of all validation scores, so that attacks land inside it.
    pub fn new(validation: &ValidationScores) -> Result<MonitorReference, MonitorError> {
        let psi = PsiReference::new(&validation.benign).ok_or(MonitorError::NoValidation)?;
        let (low, high) = validation
            .benign
            .iter()
            .chain(&validation.malicious)
            .filter(|s| s.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &s| {
                (lo.min(s), hi.max(s))
            });
        let histogram_of = |scores: &[f64]| {
            let mut histogram = ScoreHistogram::new(low, high);
            scores.iter().for_each(|&s| histogram.add(s));
            histogram
        };
        Ok(MonitorReference {
            psi,
            validation_benign: histogram_of(&validation.benign),
            validation_malicious: histogram_of(&validation.malicious),
        })
    }

    pub fn psi(&self) -> &PsiReference {
        &self.psi
    }
}

/// The most empty windows [`Monitor::take_closed`] reports in one call.
pub const MAX_QUIET_WINDOWS: i64 = 1000;

/// Windows of one source as they fill.
#[derive(Debug, Clone)]
pub struct Monitor {
    reference: MonitorReference,
    rule: DriftRule,
    window_ms: i64,
    windows: Windows,
}

impl Monitor {
    /// A monitor with windows of `window_ms` (positive) judged by `rule`.
    pub fn new(
        reference: MonitorReference,
        rule: DriftRule,
        window_ms: i64,
    ) -> Result<Monitor, MonitorError> {
        rule.validate().map_err(MonitorError::Invalid)?;
        if window_ms <= 0 {
            return Err(MonitorError::Invalid(format!(
                "--window: {window_ms} ms is not a positive length"
            )));
        }
        let empty = WindowStats::new(reference.validation_benign.range(), reference.psi.bins());
        Ok(Monitor {
            windows: Windows::new(window_ms, empty),
            reference,
            rule,
            window_ms,
        })
    }

    /// Counts a scored request: its time (ms since the epoch, if known), its score, and the
    /// attack family when it raised an alert.
    pub fn observe(&mut self, time_ms: Option<i64>, score: f64, alert: Option<&str>) {
        let bin = self.reference.psi.bin_of(score);
        self.windows.slot(time_ms).add(score, bin, alert);
    }

    /// Counts a line the parser could not read.
    pub fn unreadable(&mut self, time_ms: Option<i64>) {
        self.windows.slot(time_ms).unreadable += 1;
    }

    pub fn window_ms(&self) -> i64 {
        self.window_ms
    }

    pub fn rule(&self) -> &DriftRule {
        &self.rule
    }

    /// The start of the window holding `time_ms`.
    pub fn window_start(&self, time_ms: i64) -> i64 {
        self.windows.start_of(time_ms)
    }

    /// The windows of a live source that start in `[since_ms, until_ms)` (window starts),
    /// removed and reported in time order, one per window length: a window nothing came in is
    /// reported empty, since a quiet window of a live source is a point too. Windows before
    /// `since_ms` are reported as well; at most [`MAX_QUIET_WINDOWS`] empty ones are made up, so
    /// that a jump of the clock does not flood a run.
    pub fn take_closed(&mut self, since_ms: i64, until_ms: i64) -> Vec<WindowReport> {
        let mut windows: BTreeMap<i64, WindowStats> =
            self.windows.take_before(until_ms).into_iter().collect();
        let quiet_from = since_ms.max(until_ms - MAX_QUIET_WINDOWS * self.window_ms);
        let mut start = self.windows.start_of(quiet_from);
        while start < until_ms {
            windows.entry(start).or_insert_with(|| self.windows.empty());
            start += self.window_ms;
        }
        windows
            .into_iter()
            .map(|(start, stats)| {
                WindowReport::new(start, self.window_ms, stats, &self.reference, &self.rule)
            })
            .collect()
    }

    /// Every window's metrics and drift verdict, in time order.
    pub fn finish(self) -> Result<MonitorReport, MonitorError> {
        let untimed = self.windows.untimed();
        let windows: Vec<WindowReport> = self
            .windows
            .into_sorted()
            .into_iter()
            .map(|(start, stats)| {
                WindowReport::new(start, self.window_ms, stats, &self.reference, &self.rule)
            })
            .collect();
        if windows.is_empty() {
            return Err(MonitorError::NoTimestamps);
        }
        let families: BTreeSet<String> = windows
            .iter()
            .flat_map(|w| w.alerts_by_family.keys().cloned())
            .collect();
        Ok(MonitorReport {
            window_ms: self.window_ms,
            rule: self.rule,
            drift: windows.iter().any(|w| !w.drift.is_empty()),
            families: families.into_iter().collect(),
            untimed,
            windows,
        })
    }
}

/// What monitoring found on one source.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorReport {
    pub window_ms: i64,
    pub rule: DriftRule,
    /// Whether any window drifted.
    pub drift: bool,
    /// The attack families of the alerts in any window (each gets a metric in every window).
    pub families: Vec<String>,
    /// Records without a time, counted in a neighbour's window.
    pub untimed: u64,
    pub windows: Vec<WindowReport>,
}

impl MonitorReport {
    /// The windows that drifted.
    pub fn drifted(&self) -> impl Iterator<Item = &WindowReport> {
        self.windows.iter().filter(|w| !w.drift.is_empty())
    }
}

/// One window's metrics.
#[derive(Debug, Clone, Serialize)]
pub struct WindowReport {
    /// Start, ms since the epoch (UTC).
    pub start_ms: i64,
    /// The window's index since the epoch (start / length): the metric step.
    pub step: i64,
    pub requests: u64,
    pub alerts: u64,
    pub alert_rate: f64,
    pub score_p50: Option<f64>,
    pub score_p90: Option<f64>,
    pub score_p99: Option<f64>,
    pub alerts_by_family: BTreeMap<String, u64>,
    /// PSI of the scores against the benign validation scores (`None`: no request).
    pub psi: Option<f64>,
    pub unreadable: u64,
    /// Unreadable lines over all lines of the window.
    pub unreadable_share: f64,
    /// Why it drifted; empty when it did not.
    pub drift: Vec<DriftReason>,
    /// Share of the window's scores in equal parts of the validation range, for the chart.
    #[serde(skip)]
    pub distribution: Vec<f64>,
}

/// Parts of the validation range in [`WindowReport::distribution`].
pub const DISTRIBUTION_BINS: usize = 50;

impl WindowReport {
    fn new(
        start_ms: i64,
        window_ms: i64,
        stats: WindowStats,
        reference: &MonitorReference,
        rule: &DriftRule,
    ) -> WindowReport {
        let alert_rate = stats.alerts as f64 / stats.requests.max(1) as f64;
        let psi = reference.psi.psi(&stats.psi_counts);
        let lines = stats.requests + stats.unreadable;
        WindowReport {
            start_ms,
            step: start_ms.div_euclid(window_ms),
            requests: stats.requests,
            alerts: stats.alerts,
            alert_rate,
            score_p50: stats.histogram.quantile(0.5),
            score_p90: stats.histogram.quantile(0.9),
            score_p99: stats.histogram.quantile(0.99),
            psi,
            unreadable: stats.unreadable,
            unreadable_share: stats.unreadable as f64 / lines.max(1) as f64,
            drift: rule.check(stats.requests, psi, alert_rate),
            distribution: stats.histogram.coarse_shares(DISTRIBUTION_BINS),
            alerts_by_family: stats.alerts_by_family,
        }
    }

    /// The window's metrics by MLflow key: `alerts_<family>` for each of `families` (0 when
    /// none here); quantiles and PSI only when the window scored a request.
    pub fn metric_values(&self, families: &[String]) -> Vec<(String, f64)> {
        let mut values = vec![
            ("requests".to_owned(), self.requests as f64),
            ("alerts".to_owned(), self.alerts as f64),
            ("alert_rate".to_owned(), self.alert_rate),
            ("unreadable_share".to_owned(), self.unreadable_share),
            (
                "drift".to_owned(),
                f64::from(u8::from(!self.drift.is_empty())),
            ),
        ];
        for (key, value) in [
            ("score_p50", self.score_p50),
            ("score_p90", self.score_p90),
            ("score_p99", self.score_p99),
            ("psi", self.psi),
        ] {
            values.extend(value.map(|v| (key.to_owned(), v)));
        }
        for family in families {
            let count = self.alerts_by_family.get(family).copied().unwrap_or(0);
            values.push((family_metric(family), count as f64));
        }
        values
    }
}

/// The metric key of a family's alerts, `alerts_<family>`, with anything MLflow refuses in a
/// key made `_` (families are words today).
pub fn family_metric(family: &str) -> String {
    let family: String = family
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("alerts_{family}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn validation() -> ValidationScores {
        ValidationScores {
            benign: (0..1000).map(|i| -1.0 + f64::from(i) / 1000.0).collect(),
            malicious: (0..300).map(|i| 0.5 + f64::from(i) / 300.0).collect(),
        }
    }

    #[test]
    fn a_day_of_attacks_stands_out_in_psi_alert_rate_and_drift() {
        let reference = MonitorReference::new(&validation()).expect("reference");
        let rule = DriftRule::with_expected(0.01);
        let mut monitor = Monitor::new(reference, rule, DAY).expect("monitor");
        for day in 0..4 {
            for i in 0..500 {
                let time = Some(day * DAY + i64::from(i) * 1000);
                let attack = day == 2 && i % 2 == 0;
                let score = if attack {
                    0.9
                } else {
                    -1.0 + f64::from(i) / 500.0
                };
                monitor.observe(time, score, (score >= 0.5).then_some("sqli"));
            }
        }
        monitor.unreadable(None);
        let report = monitor.finish().expect("report");
        assert_eq!(report.windows.len(), 4);
        assert!(report.drift);
        let drifted: Vec<i64> = report.drifted().map(|w| w.step).collect();
        assert_eq!(drifted, vec![2]);
        let shifted = &report.windows[2];
        for calm in [0, 1, 3].map(|i| &report.windows[i]) {
            assert!(
                shifted.psi > calm.psi.map(|p| p + 0.5),
                "{shifted:?} {calm:?}"
            );
            assert!(shifted.alert_rate > 10.0 * calm.alert_rate.max(0.01));
        }
        assert_eq!(report.windows[3].unreadable, 1);
        let values: BTreeMap<String, f64> = shifted
            .metric_values(&report.families)
            .into_iter()
            .collect();
        assert_eq!(values["alerts_sqli"], shifted.alerts as f64);
        assert_eq!(values["drift"], 1.0);
        assert_eq!(values["requests"], 500.0);
    }

    #[test]
    fn a_live_source_gives_every_closed_window_once_quiet_ones_included() {
        let reference = MonitorReference::new(&validation()).expect("reference");
        let mut monitor =
            Monitor::new(reference, DriftRule::with_expected(0.01), 1000).expect("monitor");
        for time in [10_100, 10_900, 13_500, 14_200] {
            monitor.observe(Some(time), 0.0, None);
        }
        let closed = monitor.take_closed(10_000, 14_000);
        let requests: Vec<(i64, u64)> = closed.iter().map(|w| (w.step, w.requests)).collect();
        assert_eq!(requests, vec![(10, 2), (11, 0), (12, 0), (13, 1)]);
        assert_eq!(closed[1].psi, None);
        let rest = monitor.take_closed(14_000, 15_000);
        assert_eq!(rest.iter().map(|w| w.requests).collect::<Vec<_>>(), vec![1]);
        assert!(monitor.take_closed(15_000, 15_000).is_empty());
        let jump = monitor.take_closed(15_000, 15_000 + 5000 * 1000);
        assert_eq!(jump.len() as i64, MAX_QUIET_WINDOWS);
    }

    #[test]
    fn a_model_without_validation_scores_cannot_be_monitored() {
        let empty = ValidationScores {
            benign: Vec::new(),
            malicious: vec![1.0],
        };
        assert!(matches!(
            MonitorReference::new(&empty),
            Err(MonitorError::NoValidation)
        ));
    }
}
