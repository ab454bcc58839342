//! The service's Prometheus metrics, counted in memory and written by hand in the text
//! exposition format 0.0.4 (no client library: a handful of counters and histograms).
//!
//! - `vigie_requests_total{route,outcome}`: HTTP requests by route and outcome (`ok`,
//!   `client_error`, `server_error`); paths outside the service's routes count as `other`.
//! - `vigie_request_duration_seconds{route}`: a histogram from 100 µs to 10 s.
//! - `vigie_scored_requests_total{verdict}`: texts scored (`/score` and `/invocations`),
//!   `malicious` or `benign` at the serving model's threshold.
//! - `vigie_score`: a histogram of the scores. Its buckets are fixed, whatever the model, so
//!   series stay comparable across reloads: every 0.1 from 0 to 1 (logistic regression gives
//!   probabilities) and coarser steps out to ±5 (linear SVM margins and the other families'
//!   raw scores).
//! - `vigie_model_reloads_total{result}`: reload attempts, `swapped`, `unchanged` or `failed`.
//! - `vigie_model_info{model,kind,family}`, `vigie_model_threshold` and
//!   `vigie_model_loaded_timestamp_seconds`: the model now serving.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds of `vigie_request_duration_seconds`, 100 µs to 10 s.
pub const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Upper bounds of `vigie_score`: fine over [0, 1], coarse out to ±5.
pub const SCORE_BUCKETS: [f64; 25] = [
    -5.0, -4.0, -3.0, -2.0, -1.5, -1.0, -0.5, -0.25, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8,
    0.9, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0,
];

/// How a request ended, from its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    ClientError,
    ServerError,
}

impl Outcome {
    pub fn from_status(status: u16) -> Outcome {
        match status {
            500.. => Outcome::ServerError,
            400..500 => Outcome::ClientError,
            _ => Outcome::Ok,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReloadResult {
    Swapped,
    Unchanged,
    Failed,
}

impl ReloadResult {
    pub fn label(self) -> &'static str {
        match self {
            ReloadResult::Swapped => "swapped",
            ReloadResult::Unchanged => "unchanged",
            ReloadResult::Failed => "failed",
        }
    }
}

/// The model now serving, for the `vigie_model_*` gauges.
pub struct ModelInfo<'a> {
    pub identity: &'a str,
    pub kind: &'a str,
    pub family: &'a str,
    pub threshold: f64,
    pub loaded_at_ms: u64,
}

/// Every counter of the service, behind one mutex: a request takes it twice, briefly.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    requests: BTreeMap<(&'static str, Outcome), u64>,
    durations: BTreeMap<&'static str, Histogram>,
    /// `[benign, malicious]`.
    scored: [u64; 2],
    scores: Option<Histogram>,
    reloads: BTreeMap<ReloadResult, u64>,
}

struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), plus the `+Inf` bucket last.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        // NaN lands in +Inf (every comparison is false) and is left out of the sum.
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(self.bounds.len());
        self.counts[bucket] += 1;
        if value.is_finite() {
            self.sum += value;
        }
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let prefix = if labels.is_empty() {
            String::new()
        } else {
            format!("{labels},")
        };
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count;
            let _ = writeln!(
                out,
                "{name}_bucket{{{prefix}le=\"{}\"}} {cumulative}",
                format_float(*bound)
            );
        }
        let _ = writeln!(out, "{name}_bucket{{{prefix}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", format_float(self.sum));
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

impl Metrics {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic while counting leaves plain numbers behind: still good to read.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One HTTP request answered.
    pub fn record_request(&self, route: &'static str, status: u16, elapsed: Duration) {
        let mut counters = self.counters();
        *counters
            .requests
            .entry((route, Outcome::from_status(status)))
            .or_default() += 1;
        counters
            .durations
            .entry(route)
            .or_insert_with(|| Histogram::new(&DURATION_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// Texts scored, with the threshold that made their verdicts.
    pub fn record_scores(&self, scores: &[f64], threshold: f64) {
        let mut counters = self.counters();
        let malicious = scores.iter().filter(|&&s| s >= threshold).count() as u64;
        counters.scored[1] += malicious;
        counters.scored[0] += scores.len() as u64 - malicious;
        let histogram = counters
            .scores
            .get_or_insert_with(|| Histogram::new(&SCORE_BUCKETS));
        for &score in scores {
            histogram.observe(score);
        }
    }

    pub fn record_reload(&self, result: ReloadResult) {
        *self.counters().reloads.entry(result).or_default() += 1;
    }

    /// The exposition text, format 0.0.4.
    pub fn render(&self, model: &ModelInfo<'_>) -> String {
        let counters = self.counters();
        let mut out = String::new();

        header(
            &mut out,
            "vigie_requests_total",
            "counter",
            "HTTP requests by route and outcome.",
        );
        for ((route, outcome), count) in &counters.requests {
            let _ = writeln!(
                out,
                "vigie_requests_total{{route=\"{}\",outcome=\"{}\"}} {count}",
                escape_label(route),
                outcome.label()
            );
        }

        header(
            &mut out,
            "vigie_request_duration_seconds",
            "histogram",
            "Time to answer an HTTP request, by route.",
        );
        for (route, histogram) in &counters.durations {
            let labels = format!("route=\"{}\"", escape_label(route));
            histogram.write(&mut out, "vigie_request_duration_seconds", &labels);
        }

        header(
            &mut out,
            "vigie_scored_requests_total",
            "counter",
            "Texts scored, by verdict at the serving model's threshold.",
        );
        for (verdict, count) in ["benign", "malicious"].iter().zip(counters.scored) {
            let _ = writeln!(
                out,
                "vigie_scored_requests_total{{verdict=\"{verdict}\"}} {count}"
            );
        }

        header(
            &mut out,
            "vigie_score",
            "histogram",
            "Scores given (fixed buckets: every 0.1 over [0, 1], coarser out to +-5).",
        );
        match &counters.scores {
            Some(histogram) => histogram.write(&mut out, "vigie_score", ""),
            None => Histogram::new(&SCORE_BUCKETS).write(&mut out, "vigie_score", ""),
        }

        header(
            &mut out,
            "vigie_model_reloads_total",
            "counter",
            "Model reload attempts (SIGHUP, the reload interval), by result.",
        );
        for result in [
            ReloadResult::Swapped,
            ReloadResult::Unchanged,
            ReloadResult::Failed,
        ] {
            let count = counters.reloads.get(&result).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "vigie_model_reloads_total{{result=\"{}\"}} {count}",
                result.label()
            );
        }
        drop(counters);

        header(
            &mut out,
            "vigie_model_info",
            "gauge",
            "The model serving (always 1).",
        );
        let _ = writeln!(
            out,
            "vigie_model_info{{model=\"{}\",kind=\"{}\",family=\"{}\"}} 1",
            escape_label(model.identity),
            escape_label(model.kind),
            escape_label(model.family)
        );
        header(
            &mut out,
            "vigie_model_threshold",
            "gauge",
            "The serving model's decision threshold.",
        );
        let _ = writeln!(
            out,
            "vigie_model_threshold {}",
            format_float(model.threshold)
        );
        header(
            &mut out,
            "vigie_model_loaded_timestamp_seconds",
            "gauge",
            "When the serving model was loaded (Unix time).",
        );
        let _ = writeln!(
            out,
            "vigie_model_loaded_timestamp_seconds {}",
            format_float(model.loaded_at_ms as f64 / 1000.0)
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A sample value as Prometheus reads it (`+Inf`, `-Inf`, `NaN` spelled its way).
fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

/// A label value with `\`, `"` and newlines escaped, as the text format requires.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelInfo<'static> {
        ModelInfo {
            identity: "models:/fwaf/\"3\"",
            kind: "linear_svm",
            family: "linear",
            threshold: 0.25,
            loaded_at_ms: 1_500,
        }
    }

    #[test]
    fn histograms_are_cumulative_and_end_with_inf_sum_and_count() {
        let metrics = Metrics::default();
        metrics.record_scores(&[-7.0, 0.0625, 0.0625, 0.875, 12.0], 0.5);
        let text = metrics.render(&model());
        assert!(text.contains("vigie_score_bucket{le=\"-5\"} 1\n"), "{text}");
        assert!(
            text.contains("vigie_score_bucket{le=\"0.1\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("vigie_score_bucket{le=\"1\"} 4\n"), "{text}");
        assert!(text.contains("vigie_score_bucket{le=\"10\"} 4\n"), "{text}");
        assert!(
            text.contains("vigie_score_bucket{le=\"+Inf\"} 5\n"),
            "{text}"
        );
        assert!(text.contains("vigie_score_count 5\n"), "{text}");
        assert!(text.contains("vigie_score_sum 6\n"), "{text}");
        assert!(text.contains("vigie_scored_requests_total{verdict=\"malicious\"} 2\n"));
        assert!(text.contains("vigie_scored_requests_total{verdict=\"benign\"} 3\n"));
    }

    #[test]
    fn requests_are_counted_by_route_and_outcome_with_durations() {
        let metrics = Metrics::default();
        metrics.record_request("/score", 200, Duration::from_micros(50));
        metrics.record_request("/score", 413, Duration::from_millis(3));
        metrics.record_request("/score", 400, Duration::from_secs(20));
        metrics.record_request("/health", 200, Duration::from_micros(150));
        metrics.record_reload(ReloadResult::Failed);
        let text = metrics.render(&model());
        for line in [
            "vigie_requests_total{route=\"/score\",outcome=\"ok\"} 1",
            "vigie_requests_total{route=\"/score\",outcome=\"client_error\"} 2",
            "vigie_requests_total{route=\"/health\",outcome=\"ok\"} 1",
            "vigie_request_duration_seconds_bucket{route=\"/score\",le=\"0.0001\"} 1",
            "vigie_request_duration_seconds_bucket{route=\"/score\",le=\"0.005\"} 2",
            "vigie_request_duration_seconds_bucket{route=\"/score\",le=\"10\"} 2",
            "vigie_request_duration_seconds_bucket{route=\"/score\",le=\"+Inf\"} 3",
            "vigie_request_duration_seconds_count{route=\"/score\"} 3",
            "vigie_model_reloads_total{result=\"failed\"} 1",
            "vigie_model_reloads_total{result=\"swapped\"} 0",
            "vigie_model_info{model=\"models:/fwaf/\\\"3\\\"\",kind=\"linear_svm\",family=\"linear\"} 1",
            "vigie_model_threshold 0.25",
            "vigie_model_loaded_timestamp_seconds 1.5",
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "{line} missing:\n{text}"
            );
        }
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(
                value.parse::<f64>().is_ok() || value == "+Inf" || value == "NaN",
                "{line}"
            );
        }
    }

    #[test]
    fn outcomes_follow_the_status_class() {
        assert_eq!(Outcome::from_status(200), Outcome::Ok);
        assert_eq!(Outcome::from_status(304), Outcome::Ok);
        assert_eq!(Outcome::from_status(404), Outcome::ClientError);
        assert_eq!(Outcome::from_status(503), Outcome::ServerError);
    }
}
