//! A fixed fine histogram of scores over the validation range, with an edge count on each side:
//! bounded memory whatever a window holds, quantiles to within one bin.

use serde::Serialize;

/// Bins between the validation's lowest and highest score.
pub const FINE_BINS: usize = 1000;

/// Scores counted in [`FINE_BINS`] equal bins over `[low, high)`, plus the counts below and
/// above, and the extremes seen (which place the edge counts' quantiles).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreHistogram {
    low: f64,
    width: f64,
    bins: Vec<u64>,
    below: u64,
    above: u64,
    count: u64,
    min: f64,
    max: f64,
}

impl ScoreHistogram {
    /// An empty histogram over `[low, high]`; a range that is empty or not finite is widened to
    /// one unit around its middle, so that every score still lands somewhere.
    pub fn new(low: f64, high: f64) -> ScoreHistogram {
        let (low, high) = usable_range(low, high);
        ScoreHistogram {
            low,
            width: (high - low) / FINE_BINS as f64,
            bins: vec![0; FINE_BINS],
            below: 0,
            above: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Counts one score; NaN counts below the range (it is no evidence of an attack).
    pub fn add(&mut self, score: f64) {
        self.count += 1;
        if score.is_nan() {
            self.below += 1;
            return;
        }
        self.min = self.min.min(score);
        self.max = self.max.max(score);
        let position = (score - self.low) / self.width;
        if position < 0.0 {
            self.below += 1;
        } else if position >= FINE_BINS as f64 {
            self.above += 1;
        } else {
            self.bins[position as usize] += 1;
        }
    }

    /// Adds the counts of `other`, a histogram over the same range.
    pub fn merge(&mut self, other: &ScoreHistogram) {
        for (mine, theirs) in self.bins.iter_mut().zip(&other.bins) {
            *mine += theirs;
        }
        self.below += other.below;
        self.above += other.above;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q`-quantile (0 to 1), interpolated within its bin; `None` when empty. Scores under
    /// or over the range are placed between the extreme seen and the range's edge.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || !self.min.is_finite() && !self.max.is_finite() {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let high = self.low + self.width * FINE_BINS as f64;
        let mut seen = 0u64;
        let mut segments = std::iter::once((self.below, self.min.min(self.low), self.low))
            .chain(self.bins.iter().enumerate().map(|(i, &n)| {
                let from = self.low + self.width * i as f64;
                (n, from, from + self.width)
            }))
            .chain(std::iter::once((self.above, high, self.max.max(high))));
        let value = segments
            .find_map(|(n, from, to)| {
                let reached = seen as f64 + n as f64 >= rank && n > 0;
                let inside = (rank - seen as f64) / n.max(1) as f64;
                seen += n;
                reached.then(|| from + (to - from) * inside.clamp(0.0, 1.0))
            })
            .unwrap_or(self.max);
        Some(value.clamp(self.min, self.max))
    }

    /// The share of the scores in each of `groups` equal parts of the range (the edge counts in
    /// the first and last), for charts; all zeros when empty.
    pub fn coarse_shares(&self, groups: usize) -> Vec<f64> {
        let groups = groups.clamp(1, FINE_BINS);
        let mut counts = vec![0u64; groups];
        for (i, &n) in self.bins.iter().enumerate() {
            counts[i * groups / FINE_BINS] += n;
        }
        counts[0] += self.below;
        counts[groups - 1] += self.above;
        let total = self.count.max(1) as f64;
        counts.into_iter().map(|n| n as f64 / total).collect()
    }

    /// `[low, high]`, the range the bins cover.
    pub fn range(&self) -> (f64, f64) {
        (self.low, self.low + self.width * FINE_BINS as f64)
    }
}

fn usable_range(low: f64, high: f64) -> (f64, f64) {
    if low.is_finite() && high.is_finite() && high > low {
        return (low, high);
    }
    let middle = [low, high]
        .into_iter()
        .find(|v| v.is_finite())
        .unwrap_or(0.0);
    (middle - 0.5, middle + 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[((sorted.len() - 1) as f64 * q).round() as usize]
    }

    #[test]
    fn quantiles_are_within_one_bin_of_the_exact_ones() {
        let mut histogram = ScoreHistogram::new(-2.0, 2.0);
        // A skewed spread of scores, most near the bottom.
        let mut scores: Vec<f64> = (0..5000)
            .map(|i| -2.0 + 4.0 * (i as f64 / 5000.0).powi(3))
            .collect();
        for &s in &scores {
            histogram.add(s);
        }
        scores.sort_by(f64::total_cmp);
        let bin = 4.0 / FINE_BINS as f64;
        for q in [0.1, 0.5, 0.9, 0.99] {
            let got = histogram.quantile(q).expect("quantile");
            let want = exact_quantile(&scores, q);
            assert!((got - want).abs() <= 2.0 * bin, "q {q}: {got} vs {want}");
        }
    }

    #[test]
    fn scores_outside_the_range_stay_between_the_edge_and_the_extreme() {
        let mut histogram = ScoreHistogram::new(0.0, 1.0);
        for s in [5.0, 6.0, 7.0, 8.0] {
            histogram.add(s);
        }
        let p50 = histogram.quantile(0.5).expect("quantile");
        assert!((5.0..=8.0).contains(&p50), "{p50}");
        assert_eq!(histogram.quantile(1.0), Some(8.0));
        histogram.add(-3.0);
        assert_eq!(histogram.quantile(0.0), Some(-3.0));
    }

    #[test]
    fn an_empty_histogram_has_no_quantile_and_a_degenerate_range_is_widened() {
        let histogram = ScoreHistogram::new(1.0, 1.0);
        assert_eq!(histogram.quantile(0.5), None);
        assert_eq!(histogram.range(), (0.5, 1.5));
    }

    #[test]
    fn merging_adds_the_counts_and_coarse_shares_sum_to_one() {
        let mut a = ScoreHistogram::new(0.0, 1.0);
        let mut b = ScoreHistogram::new(0.0, 1.0);
        a.add(0.1);
        b.add(0.9);
        b.add(2.0);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        let shares = a.coarse_shares(10);
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((shares[9] - 2.0 / 3.0).abs() < 1e-12, "{shares:?}");
    }
}
