//! Metrics of a scored split, the same for every model family: confusion counts at a threshold,
//! ranking metrics (ROC-AUC, average precision, TPR at a target FPR), curves, the threshold
//! chosen on the validation split, recall per attack family, scoring speed, and charts.
//!
//! Conventions: scores are `f64`, higher meaning more malicious; a request is flagged malicious
//! iff `score >= threshold`; malicious is the positive class. Every number matches
//! scikit-learn 1.9 (`tests/python/metrics_reference.py` is the reference): precision, recall
//! and F1 use `zero_division = 0`; the ranking metrics (ROC-AUC, PR-AUC, TPR at a target FPR)
//! are NaN when a class is missing, as is the FPR when there is no benign request (NaN is
//! serialised as `null` in JSON). Equal scores form one cutoff, as in scikit-learn's
//! `roc_curve`; each function sorts the scores once (O(n log n)).

mod curves;
pub mod plots;
mod speed;
mod threshold;

use serde::{Deserialize, Serialize};
use vigie_data::Label;
use vigie_data::features::{AttackFamily, attack_family};

pub use curves::{
    PrCurve, RocCurve, average_precision, precision_recall_curve, roc_auc, roc_curve,
    roc_curve_compact,
};
pub use speed::{ScoringSpeed, scoring_speed};
pub use threshold::{ThresholdChoice, ThresholdRule, choose_threshold};

use curves::Ranking;

/// Confusion counts at a threshold (malicious is the positive class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Confusion {
    /// Benign requests not flagged.
    pub tn: u64,
    /// Benign requests flagged (false alerts).
    pub fp: u64,
    /// Malicious requests missed.
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// Malicious requests flagged.
    pub tp: u64,
}

impl Confusion {
    /// Counts `score >= threshold` against the labels; extra items of the longer slice are
    /// ignored. A NaN score is never flagged.
    pub fn at_threshold(scores: &[f64], labels: &[Label], threshold: f64) -> Confusion {
        let mut confusion = Confusion::default();
        for (&score, label) in scores.iter().zip(labels) {
            match (label.is_malicious(), score >= threshold) {
                (false, false) => confusion.tn += 1,
                (false, true) => confusion.fp += 1,
                (true, false) => confusion.fn_ += 1,
                (true, true) => confusion.tp += 1,
            }
        }
        confusion
    }

    pub fn total(&self) -> u64 {
        self.tn + self.fp + self.fn_ + self.tp
    }

    pub fn malicious(&self) -> u64 {
        self.tp + self.fn_
    }

    pub fn benign(&self) -> u64 {
        self.tn + self.fp
    }

    /// Share of correct decisions; NaN when there is no request.
    pub fn accuracy(&self) -> f64 {
        ratio_or(self.tp + self.tn, self.total(), f64::NAN)
    }

    /// tp / (tp + fp), 0 when nothing is flagged.
    pub fn precision(&self) -> f64 {
        ratio_or(self.tp, self.tp + self.fp, 0.0)
    }

    /// tp / (tp + fn) (the TPR), 0 when there is no malicious request.
    pub fn recall(&self) -> f64 {
        ratio_or(self.tp, self.malicious(), 0.0)
    }

    /// Harmonic mean of precision and recall, 0 when both are.
    pub fn f1(&self) -> f64 {
        f1_score(self.tp, self.fp, self.fn_)
    }

    /// fp / (fp + tn), NaN when there is no benign request.
    pub fn fpr(&self) -> f64 {
        ratio_or(self.fp, self.benign(), f64::NAN)
    }

    /// False alarms per 10,000 benign requests (the FPR times 10,000): the alert load a SOC
    /// sees on its traffic. NaN when there is no benign request.
    pub fn alerts_per_10k(&self) -> f64 {
        // fp × 10,000 / benign in one division: the number a reader recomputes, to the bit.
        ratio_or(self.fp.saturating_mul(10_000), self.benign(), f64::NAN)
    }
}

/// `numerator / denominator`, or `otherwise` when the denominator is 0.
fn ratio_or(numerator: u64, denominator: u64, otherwise: f64) -> f64 {
    if denominator == 0 {
        otherwise
    } else {
        numerator as f64 / denominator as f64
    }
}

/// F1 from counts, as scikit-learn: 2tp / (2tp + fp + fn), 0 when the denominator is.
fn f1_score(tp: u64, fp: u64, fn_: u64) -> f64 {
    ratio_or(2 * tp, 2 * tp + fp + fn_, 0.0)
}

/// Every metric of a scored split at one threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    pub n: u64,
    pub n_malicious: u64,
    pub threshold: f64,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// NaN when a class is missing.
    pub roc_auc: f64,
    /// Average precision (step-wise, scikit-learn's `average_precision_score`); NaN when a
    /// class is missing.
    pub pr_auc: f64,
    /// False positive rate at the threshold; NaN when there is no benign request.
    pub fpr: f64,
    /// False alarms per 10,000 benign requests ([`Confusion::alerts_per_10k`]); NaN when there
    /// is no benign request. The headline of a benign-only set, where F1 and ROC mean nothing.
    #[serde(default = "not_measured")]
    pub alerts_per_10k: f64,
    /// Largest TPR on the ROC curve whose FPR is `<= 1e-3`; NaN when a class is missing.
    pub tpr_at_fpr_1e3: f64,
    /// Largest TPR on the ROC curve whose FPR is `<= 1e-2`; NaN when a class is missing.
    pub tpr_at_fpr_1e2: f64,
    pub confusion: Confusion,
}

/// A metric absent from metrics serialised before it existed.
fn not_measured() -> f64 {
    f64::NAN
}

/// Evaluates `scores` (higher = malicious) against `labels` at `threshold` (flagged iff
/// `score >= threshold`). Extra items of the longer slice are ignored.
pub fn evaluate(scores: &[f64], labels: &[Label], threshold: f64) -> BinaryMetrics {
    let confusion = Confusion::at_threshold(scores, labels, threshold);
    let ranking = Ranking::new(scores, labels);
    BinaryMetrics {
        n: confusion.total(),
        n_malicious: confusion.malicious(),
        threshold,
        accuracy: confusion.accuracy(),
        precision: confusion.precision(),
        recall: confusion.recall(),
        f1: confusion.f1(),
        roc_auc: ranking.roc_auc(),
        pr_auc: ranking.average_precision(),
        fpr: confusion.fpr(),
        alerts_per_10k: confusion.alerts_per_10k(),
        tpr_at_fpr_1e3: ranking.tpr_at_fpr(1e-3),
        tpr_at_fpr_1e2: ranking.tpr_at_fpr(1e-2),
        confusion,
    }
}

/// How many malicious requests of one attack family were flagged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyRecall {
    /// [`AttackFamily::name`] (`sqli`, `xss`, `path-traversal`, `cmdi`, `other`).
    pub family: String,
    pub malicious: u64,
    pub detected: u64,
    /// detected / malicious.
    pub recall: f64,
}

/// Recall per attack family ([`attack_family`]) of the malicious requests at `threshold`, one
/// row per family that has at least one malicious request, in [`AttackFamily::ALL`] order.
/// Extra items of the longer slices are ignored.
pub fn recall_by_family(
    texts: &[&str],
    scores: &[f64],
    labels: &[Label],
    threshold: f64,
) -> Vec<FamilyRecall> {
    let mut counts = [(0u64, 0u64); AttackFamily::ALL.len()];
    for ((text, &score), label) in texts.iter().zip(scores).zip(labels) {
        if !label.is_malicious() {
            continue;
        }
        let family = attack_family(text);
        if let Some(index) = AttackFamily::ALL.iter().position(|&f| f == family) {
            counts[index].0 += 1;
            counts[index].1 += u64::from(score >= threshold);
        }
    }
    AttackFamily::ALL
        .iter()
        .zip(counts)
        .filter(|(_, (malicious, _))| *malicious > 0)
        .map(|(family, (malicious, detected))| FamilyRecall {
            family: family.name().to_owned(),
            malicious,
            detected,
            recall: detected as f64 / malicious as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Label::{Benign as B, Malicious as M};

    #[test]
    fn zero_division_is_zero_and_missing_class_is_nan() {
        let metrics = evaluate(&[0.1, 0.2], &[B, B], 0.5);
        assert_eq!(
            (metrics.precision, metrics.recall, metrics.f1),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(metrics.accuracy, 1.0);
        assert!(metrics.roc_auc.is_nan() && metrics.pr_auc.is_nan());
        let empty = evaluate(&[], &[], 0.5);
        assert_eq!(empty.n, 0);
        assert!(empty.accuracy.is_nan() && empty.fpr.is_nan());
    }

    #[test]
    fn alerts_per_10k_count_false_alarms_per_benign_request() {
        // 3 false alarms among 8 benign requests; the malicious ones do not count.
        let scores = [0.9, 0.7, 0.6, 0.1, 0.2, 0.3, 0.1, 0.0, 0.9, 0.1];
        let labels = [B, B, B, B, B, B, B, B, M, M];
        let metrics = evaluate(&scores, &labels, 0.5);
        assert_eq!(metrics.confusion.fp, 3);
        assert_eq!(metrics.alerts_per_10k, 3.0 * 10_000.0 / 8.0);
        let json = serde_json::to_value(&metrics).unwrap();
        assert_eq!(json["alerts_per_10k"], 3750.0);
        // No benign request: nothing to count against, NaN (null in JSON), not 0.
        let malicious_only = evaluate(&[0.9, 0.1], &[M, M], 0.5);
        assert!(malicious_only.alerts_per_10k.is_nan());
        let json = serde_json::to_value(&malicious_only).unwrap();
        assert!(json["alerts_per_10k"].is_null());
    }

    #[test]
    fn confusion_serialises_fn_as_fn() {
        let confusion = Confusion::at_threshold(&[0.9, 0.1, 0.6, 0.2], &[M, M, B, B], 0.5);
        assert_eq!(
            confusion,
            Confusion {
                tn: 1,
                fp: 1,
                fn_: 1,
                tp: 1
            }
        );
        let json = serde_json::to_string(&confusion).unwrap();
        assert_eq!(json, r#"{"tn":1,"fp":1,"fn":1,"tp":1}"#);
        let back: Confusion = serde_json::from_str(&json).unwrap();
        assert_eq!(back, confusion);
    }

    #[test]
    fn family_recall_counts_malicious_only() {
        let texts = [
            "/index.php?id=1' UNION SELECT password FROM users--",
            "/index.php?id=1' OR '1'='1",
            "/search?q=<script>alert(1)</script>",
            "/index.php?id=1' UNION SELECT 1--",
        ];
        let rows = recall_by_family(&texts, &[0.9, 0.1, 0.8, 0.9], &[M, M, M, B], 0.5);
        let sqli = rows.iter().find(|row| row.family == "sqli").unwrap();
        assert_eq!((sqli.malicious, sqli.detected), (2, 1));
        assert_eq!(sqli.recall, 0.5);
        assert_eq!(rows.iter().map(|row| row.malicious).sum::<u64>(), 3);
    }
}
