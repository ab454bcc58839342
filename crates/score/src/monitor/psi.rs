//! The population stability index of a window's scores against the model's validation scores.
//!
//! The reference is the *benign* validation scores: live traffic is overwhelmingly benign,
//! while the validation split holds the training dataset's class mix (often a third or more
//! attacks), against which ordinary traffic would always look shifted. A window full of attacks
//! then moves mass into the top bins, which is the shift to see.
//!
//! Bins are cut at the reference's deciles, so each holds about a tenth of it; ties (a model
//! whose benign scores pile up on one value) merge bins, and bins are closed on the right, so
//! that a pile at the lowest score is one bin and anything above it is another. Shares are
//! floored at [`EMPTY_BIN_SHARE`] so that an empty bin gives a large, finite term.

use serde::Serialize;

/// Bins of the reference (deciles).
pub const PSI_BINS: usize = 10;

/// The share an empty bin counts as, on either side (the usual 1e-4).
pub const EMPTY_BIN_SHARE: f64 = 1e-4;

/// The reference distribution: bin edges and the share of the reference in each bin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PsiReference {
    /// Upper edges of every bin but the last, ascending and distinct; bin `i` holds the scores
    /// in `(edges[i - 1], edges[i]]`, the last one those above the last edge.
    edges: Vec<f64>,
    /// The reference's share in each bin (`edges.len() + 1` of them).
    expected: Vec<f64>,
}

impl PsiReference {
    /// Bins from the deciles of `reference`; `None` when it holds no finite score.
    pub fn new(reference: &[f64]) -> Option<PsiReference> {
        let mut sorted: Vec<f64> = reference
            .iter()
            .copied()
            .filter(|s| s.is_finite())
            .collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = (1..PSI_BINS)
            .map(|k| sorted[(k * sorted.len() / PSI_BINS).min(sorted.len() - 1)])
            .collect();
        edges.dedup();
        let mut reference = PsiReference {
            expected: vec![0.0; edges.len() + 1],
            edges,
        };
        let counts = reference.count(&sorted);
        reference.expected = shares(&counts);
        Some(reference)
    }

    /// The number of bins.
    pub fn bins(&self) -> usize {
        self.edges.len() + 1
    }

    /// The bin `score` falls in (NaN: the first).
    pub fn bin_of(&self, score: f64) -> usize {
        if score.is_nan() {
            return 0;
        }
        self.edges.partition_point(|&edge| edge < score)
    }

    /// The reference's share in each bin.
    pub fn expected(&self) -> &[f64] {
        &self.expected
    }

    /// PSI of a window whose scores counted `counts` per bin (as [`PsiReference::bin_of`]
    /// places them): Σ (actual − expected) · ln(actual / expected). `None` for an empty window.
    pub fn psi(&self, counts: &[u64]) -> Option<f64> {
        if counts.iter().sum::<u64>() == 0 {
            return None;
        }
        let value = shares(counts)
            .iter()
            .zip(&self.expected)
            .map(|(&actual, &expected)| {
                let actual = actual.max(EMPTY_BIN_SHARE);
                let expected = expected.max(EMPTY_BIN_SHARE);
                (actual - expected) * (actual / expected).ln()
            })
            .sum();
        Some(value)
    }

    fn count(&self, scores: &[f64]) -> Vec<u64> {
        let mut counts = vec![0; self.bins()];
        for &score in scores {
            counts[self.bin_of(score)] += 1;
        }
        counts
    }
}

fn shares(counts: &[u64]) -> Vec<f64> {
    let total = counts.iter().sum::<u64>().max(1) as f64;
    counts.iter().map(|&n| n as f64 / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic scores spread like a bell around `centre` (a sum of uniform steps).
    fn scores(n: usize, centre: f64, seed: u64) -> Vec<f64> {
        let mut state = seed;
        let mut uniform = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| centre + (0..4).map(|_| uniform()).sum::<f64>() - 2.0)
            .collect()
    }

    fn psi_of(reference: &PsiReference, window: &[f64]) -> f64 {
        reference.psi(&reference.count(window)).expect("psi")
    }

    #[test]
    fn the_same_distribution_has_a_psi_near_zero() {
        let reference = PsiReference::new(&scores(20_000, 0.0, 1)).expect("reference");
        assert_eq!(reference.bins(), PSI_BINS);
        let psi = psi_of(&reference, &scores(5_000, 0.0, 2));
        assert!(psi < 0.02, "{psi}");
    }

    #[test]
    fn a_shifted_distribution_has_a_large_psi() {
        let reference = PsiReference::new(&scores(20_000, 0.0, 1)).expect("reference");
        let slight = psi_of(&reference, &scores(5_000, 0.1, 3));
        let shifted = psi_of(&reference, &scores(5_000, 1.0, 3));
        assert!(shifted > 0.5, "{shifted}");
        assert!(slight < shifted, "{slight} vs {shifted}");
    }

    #[test]
    fn a_pile_of_ties_at_the_bottom_is_one_bin_and_scores_above_it_show() {
        // A rules model: every benign request scores 0.
        let reference = PsiReference::new(&[0.0; 500]).expect("reference");
        assert_eq!(reference.bins(), 2);
        assert_eq!(reference.bin_of(0.0), 0);
        assert_eq!(reference.bin_of(1.0), 1);
        let calm = psi_of(&reference, &[0.0; 100]);
        let attacked = psi_of(&reference, &[[0.0; 50], [1.0; 50]].concat());
        assert!(calm.abs() < 1e-12, "{calm}");
        assert!(attacked > 1.0, "{attacked}");
    }

    #[test]
    fn no_reference_or_no_window_gives_none() {
        assert!(PsiReference::new(&[f64::NAN]).is_none());
        let reference = PsiReference::new(&[1.0, 2.0]).expect("reference");
        assert_eq!(reference.psi(&vec![0; reference.bins()]), None);
    }
}
