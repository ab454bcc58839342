//! Scoring speed of a trained model: batch throughput, and the latency of one request at a time
//! (what a proxy or WAF plug-in scoring live traffic sees).

use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::Scorer;

/// Throughput and single-request latency of a [`Scorer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoringSpeed {
    /// Requests per second of one `score_batch` over every text (0 when there is no text).
    pub batch_requests_per_s: f64,
    /// Median latency of one `score_one` call, in microseconds (NaN when not probed).
    pub single_p50_us: f64,
    /// 99th percentile latency of one `score_one` call, in microseconds (NaN when not probed).
    pub single_p99_us: f64,
    /// How many `score_one` calls were timed.
    pub single_samples: u64,
}

/// Times one `score_batch` over all `texts`, then `single_probe` one-text `score_one` calls
/// on texts spread evenly over `texts` (deterministic; texts repeat when `single_probe` exceeds
/// their count), after one untimed warm-up call. Percentiles are nearest-rank.
pub fn scoring_speed(scorer: &dyn Scorer, texts: &[&str], single_probe: usize) -> ScoringSpeed {
    let batch_requests_per_s = if texts.is_empty() {
        0.0
    } else {
        let start = Instant::now();
        black_box(scorer.score_batch(black_box(texts)));
        let seconds = start.elapsed().as_secs_f64();
        // A clock too coarse to see the batch still means "very fast", not infinitely.
        texts.len() as f64 / seconds.max(1e-9)
    };

    let probes = if texts.is_empty() { 0 } else { single_probe };
    let mut latencies_us = Vec::with_capacity(probes);
    if let Some(first) = texts.first() {
        black_box(scorer.score_one(black_box(first)));
    }
    for probe in 0..probes {
        // Evenly spread indices: probe * len / probes, in u128 to avoid overflow.
        let index = (probe as u128 * texts.len() as u128 / probes as u128) as usize;
        let text = texts[index.min(texts.len() - 1)];
        let start = Instant::now();
        black_box(scorer.score_one(black_box(text)));
        latencies_us.push(start.elapsed().as_secs_f64() * 1e6);
    }
    latencies_us.sort_unstable_by(f64::total_cmp);

    ScoringSpeed {
        batch_requests_per_s,
        single_p50_us: nearest_rank(&latencies_us, 50),
        single_p99_us: nearest_rank(&latencies_us, 99),
        single_samples: latencies_us.len() as u64,
    }
}

/// The smallest value such that at least `percent` % of the sorted values are not larger; NaN
/// when there is none.
fn nearest_rank(sorted: &[f64], percent: usize) -> f64 {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&values, 50), 50.0);
        assert_eq!(nearest_rank(&values, 99), 99.0);
        assert_eq!(nearest_rank(&[7.0], 99), 7.0);
        assert!(nearest_rank(&[], 50).is_nan());
    }
}
