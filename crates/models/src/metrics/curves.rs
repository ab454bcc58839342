//! ROC and precision-recall curves, and the ranking metrics drawn from them (ROC-AUC, average
//! precision, TPR at a target FPR), computed as scikit-learn 1.9 does.
//!
//! Every function sorts the scores once ([`Ranking`]) and walks the distinct scores from the
//! highest down: equal scores form one cutoff, as in scikit-learn's `roc_curve`. NaN scores rank
//! below every other score (they are never flagged by `score >= threshold`); `-0.0` equals `0.0`.

use vigie_data::Label;

/// One distinct score, highest first: flagging every request whose score is `>= score` gives
/// `tp` true positives and `fp` false positives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cutoff {
    pub score: f64,
    pub tp: u64,
    pub fp: u64,
}

/// The scores sorted once, as cumulative counts per distinct score (scikit-learn's
/// `confusion_matrix_at_thresholds`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Ranking {
    /// Highest score first; the last one flags every request.
    pub cutoffs: Vec<Cutoff>,
    pub positives: u64,
    pub negatives: u64,
}

/// The sort key of a score: NaN ranks lowest, and `-0.0` is the same cutoff as `0.0`.
fn rank_key(score: f64) -> f64 {
    if score.is_nan() {
        f64::NEG_INFINITY
    } else {
        score + 0.0
    }
}

impl Ranking {
    /// Sorts `scores` (higher = malicious) with their labels; extra items of the longer slice
    /// are ignored.
    pub fn new(scores: &[f64], labels: &[Label]) -> Ranking {
        let mut pairs: Vec<(f64, bool)> = scores
            .iter()
            .zip(labels)
            .map(|(&score, label)| (rank_key(score), label.is_malicious()))
            .collect();
        // Order within a tie does not matter: a tie is one cutoff.
        pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut cutoffs: Vec<Cutoff> = Vec::new();
        let (mut tp, mut fp) = (0u64, 0u64);
        for (index, &(score, malicious)) in pairs.iter().enumerate() {
            if malicious {
                tp += 1;
            } else {
                fp += 1;
            }
            let last_of_tie = pairs.get(index + 1).is_none_or(|next| next.0 != score);
            if last_of_tie {
                cutoffs.push(Cutoff { score, tp, fp });
            }
        }
        Ranking {
            cutoffs,
            positives: tp,
            negatives: fp,
        }
    }

    pub fn has_both_classes(&self) -> bool {
        self.positives > 0 && self.negatives > 0
    }

    /// The cutoffs scikit-learn's `roc_curve(drop_intermediate=True)` keeps: the first, the
    /// last, and every corner (a non-zero second difference of the fp or tp counts).
    fn corner_cutoffs(&self) -> Vec<Cutoff> {
        let cutoffs = &self.cutoffs;
        if cutoffs.len() <= 2 {
            return cutoffs.clone();
        }
        let second_difference = |a: u64, b: u64, c: u64| c as i128 - 2 * b as i128 + a as i128;
        let last = cutoffs.len() - 1;
        cutoffs
            .iter()
            .enumerate()
            .filter(|&(index, _)| {
                index == 0
                    || index == last
                    || second_difference(
                        cutoffs[index - 1].fp,
                        cutoffs[index].fp,
                        cutoffs[index + 1].fp,
                    ) != 0
                    || second_difference(
                        cutoffs[index - 1].tp,
                        cutoffs[index].tp,
                        cutoffs[index + 1].tp,
                    ) != 0
            })
            .map(|(_, cutoff)| *cutoff)
            .collect()
    }

    /// The ROC curve through the origin and the given cutoffs.
    fn roc_through(&self, cutoffs: &[Cutoff]) -> RocCurve {
        let rate = |count: u64, total: u64| {
            if total == 0 {
                f64::NAN
            } else {
                count as f64 / total as f64
            }
        };
        let mut curve = RocCurve {
            fpr: Vec::with_capacity(cutoffs.len() + 1),
            tpr: Vec::with_capacity(cutoffs.len() + 1),
            thresholds: Vec::with_capacity(cutoffs.len() + 1),
        };
        curve.fpr.push(rate(0, self.negatives));
        curve.tpr.push(rate(0, self.positives));
        curve.thresholds.push(f64::INFINITY);
        for cutoff in cutoffs {
            curve.fpr.push(rate(cutoff.fp, self.negatives));
            curve.tpr.push(rate(cutoff.tp, self.positives));
            curve.thresholds.push(cutoff.score);
        }
        curve
    }

    /// Every cutoff: scikit-learn's `roc_curve(drop_intermediate=False)`.
    pub fn roc_curve(&self) -> RocCurve {
        self.roc_through(&self.cutoffs)
    }

    /// Corners only: scikit-learn's `roc_curve()` default (`drop_intermediate=True`).
    pub fn roc_curve_compact(&self) -> RocCurve {
        self.roc_through(&self.corner_cutoffs())
    }

    /// scikit-learn's `roc_auc_score`; NaN when a class is missing. The trapezoids are summed
    /// in exact integer arithmetic, then divided once.
    pub fn roc_auc(&self) -> f64 {
        if !self.has_both_classes() {
            return f64::NAN;
        }
        let (mut twice_area, mut previous) = (
            0u128,
            Cutoff {
                score: f64::INFINITY,
                tp: 0,
                fp: 0,
            },
        );
        for cutoff in &self.cutoffs {
            twice_area += u128::from(cutoff.fp - previous.fp) * u128::from(cutoff.tp + previous.tp);
            previous = *cutoff;
        }
        twice_area as f64 / (2.0 * self.positives as f64 * self.negatives as f64)
    }

    /// scikit-learn's `precision_recall_curve(drop_intermediate=False)`.
    pub fn pr_curve(&self) -> PrCurve {
        let mut curve = PrCurve {
            precision: Vec::with_capacity(self.cutoffs.len() + 1),
            recall: Vec::with_capacity(self.cutoffs.len() + 1),
            thresholds: Vec::with_capacity(self.cutoffs.len()),
        };
        // Lowest threshold first, as scikit-learn returns it.
        for cutoff in self.cutoffs.iter().rev() {
            // Every cutoff flags at least one request, so tp + fp > 0.
            curve
                .precision
                .push(cutoff.tp as f64 / (cutoff.tp + cutoff.fp) as f64);
            curve.recall.push(if self.positives == 0 {
                1.0
            } else {
                cutoff.tp as f64 / self.positives as f64
            });
            curve.thresholds.push(cutoff.score);
        }
        curve.precision.push(1.0);
        curve.recall.push(0.0);
        curve
    }

    /// scikit-learn's `average_precision_score`: the step-wise sum of precision times recall
    /// increments (no interpolation, no trapezoids); NaN when a class is missing.
    pub fn average_precision(&self) -> f64 {
        if !self.has_both_classes() {
            return f64::NAN;
        }
        self.pr_curve().average_precision()
    }

    /// The largest TPR on the compact ROC curve whose FPR is `<= target_fpr`, exactly as the
    /// reference pipeline's `tpr_at_fpr` (which calls `roc_curve` with its defaults); NaN when a
    /// class is missing.
    pub fn tpr_at_fpr(&self, target_fpr: f64) -> f64 {
        if !self.has_both_classes() {
            return f64::NAN;
        }
        let curve = self.roc_curve_compact();
        curve
            .fpr
            .iter()
            .zip(&curve.tpr)
            .filter(|(fpr, _)| **fpr <= target_fpr)
            .map(|(_, tpr)| *tpr)
            .fold(0.0, f64::max)
    }
}

/// A ROC curve, from the origin (threshold `+inf`, nothing flagged) to `(1, 1)` (the lowest
/// score, everything flagged). `fpr[i]` and `tpr[i]` are the rates of `score >= thresholds[i]`.
/// A rate is NaN when its class is missing.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RocCurve {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    /// Decreasing; the first is `+inf`.
    pub thresholds: Vec<f64>,
}

impl RocCurve {
    /// Area under the curve by the trapezoidal rule (`sklearn.metrics.auc`); NaN when a class
    /// is missing.
    pub fn auc(&self) -> f64 {
        self.fpr
            .windows(2)
            .zip(self.tpr.windows(2))
            .map(|(fpr, tpr)| (fpr[1] - fpr[0]) * (tpr[1] + tpr[0]) / 2.0)
            .sum()
    }

    pub fn len(&self) -> usize {
        self.fpr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fpr.is_empty()
    }
}

/// A precision-recall curve as scikit-learn returns it: thresholds increasing (one per
/// distinct score), then a last point `(recall 0, precision 1)` with no threshold, so
/// `precision` and `recall` have one more item than `thresholds`.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct PrCurve {
    pub precision: Vec<f64>,
    /// Decreasing; 1 everywhere when there is no malicious request (as scikit-learn).
    pub recall: Vec<f64>,
    pub thresholds: Vec<f64>,
}

impl PrCurve {
    /// Average precision, `-sum(diff(recall) * precision[:-1])` clipped at 0, as scikit-learn.
    pub fn average_precision(&self) -> f64 {
        let sum: f64 = self
            .recall
            .windows(2)
            .zip(&self.precision)
            .map(|(recall, precision)| (recall[1] - recall[0]) * precision)
            .sum();
        (-sum).max(0.0)
    }
}

/// The full ROC curve of `scores` (higher = malicious) against `labels`: one point per distinct
/// score, as scikit-learn's `roc_curve(drop_intermediate=False)`. Extra items of the longer
/// slice are ignored.
pub fn roc_curve(scores: &[f64], labels: &[Label]) -> RocCurve {
    Ranking::new(scores, labels).roc_curve()
}

/// The ROC curve with collinear points dropped, as scikit-learn's `roc_curve()` default
/// (`drop_intermediate=True`): the same shape and area with far fewer points, for charts.
pub fn roc_curve_compact(scores: &[f64], labels: &[Label]) -> RocCurve {
    Ranking::new(scores, labels).roc_curve_compact()
}

/// The precision-recall curve, as scikit-learn's `precision_recall_curve()` (whose default is
/// `drop_intermediate=False`).
pub fn precision_recall_curve(scores: &[f64], labels: &[Label]) -> PrCurve {
    Ranking::new(scores, labels).pr_curve()
}

/// Area under the ROC curve of `scores` (higher = malicious) against `labels`, ties counted
/// half, as scikit-learn's `roc_auc_score`. NaN when one class is missing.
pub fn roc_auc(scores: &[f64], labels: &[Label]) -> f64 {
    Ranking::new(scores, labels).roc_auc()
}

/// Average precision (PR-AUC), as scikit-learn's `average_precision_score`. NaN when one class
/// is missing.
pub fn average_precision(scores: &[f64], labels: &[Label]) -> f64 {
    Ranking::new(scores, labels).average_precision()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Label::{Benign as B, Malicious as M};

    #[test]
    fn ties_are_one_cutoff_and_nan_ranks_lowest() {
        let ranking = Ranking::new(&[0.5, f64::NAN, 0.5, -0.0, 0.0, 0.9], &[M, M, B, B, M, B]);
        let scores: Vec<f64> = ranking.cutoffs.iter().map(|c| c.score).collect();
        assert_eq!(scores, vec![0.9, 0.5, 0.0, f64::NEG_INFINITY]);
        let counts: Vec<(u64, u64)> = ranking.cutoffs.iter().map(|c| (c.tp, c.fp)).collect();
        assert_eq!(counts, vec![(0, 1), (1, 2), (2, 3), (3, 3)]);
    }

    #[test]
    fn missing_class_gives_nan() {
        let ranking = Ranking::new(&[0.1, 0.2], &[B, B]);
        assert!(ranking.roc_auc().is_nan());
        assert!(ranking.average_precision().is_nan());
        assert!(ranking.tpr_at_fpr(0.01).is_nan());
        assert!(ranking.roc_curve().tpr.iter().all(|t| t.is_nan()));
        let empty = Ranking::new(&[], &[]);
        assert!(empty.roc_auc().is_nan());
        assert_eq!(empty.roc_curve().len(), 1);
    }

    #[test]
    fn compact_curve_drops_collinear_points_only() {
        // Each score ties one benign with one malicious request: a straight diagonal.
        let scores = [3.0, 3.0, 2.0, 2.0, 1.0, 1.0];
        let labels = [M, B, M, B, M, B];
        let ranking = Ranking::new(&scores, &labels);
        assert_eq!(ranking.roc_curve().len(), 4);
        let compact = ranking.roc_curve_compact();
        assert_eq!(compact.thresholds, vec![f64::INFINITY, 3.0, 1.0]);
        // The dropped middle point is what the reference's TPR@FPR ignores.
        assert_eq!(ranking.tpr_at_fpr(0.7), 1.0 / 3.0);
        assert_eq!(ranking.roc_auc(), 0.5);
    }
}
