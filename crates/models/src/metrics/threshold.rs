//! Choosing the decision threshold on the validation split, by a [`ThresholdRule`] from the run
//! config (`[threshold]` table).
//!
//! A data-driven threshold sits halfway between the lowest flagged validation score and the
//! next lower distinct one, rather than on a validation score itself, so that small score
//! shifts on unseen data do not flip requests that scored like the validation cutoff. The
//! reported validation F1, FPR and TPR are recomputed by applying the chosen threshold with
//! `score >= threshold`, so they are exactly what the threshold gives.

use serde::{Deserialize, Serialize};
use vigie_data::Label;

use super::curves::{Cutoff, Ranking};
use super::{Confusion, f1_score};
use crate::{ModelError, Result};

/// How the threshold is chosen on the validation split. Every variant is a struct variant,
/// even without fields: serde ignores unknown keys beside the tag of a unit variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum ThresholdRule {
    /// The threshold with the highest validation F1 (the highest such threshold on ties).
    MaxF1 {},
    /// The threshold with the highest validation TPR whose validation FPR is `<= fpr` (the
    /// highest such threshold on ties): a SOC alert budget.
    TargetFpr { fpr: f64 },
    /// The model's own default threshold (0.5 for a probability, 0 for a margin), supplied by
    /// the caller.
    Model {},
}

impl Default for ThresholdRule {
    /// Maximise F1.
    fn default() -> Self {
        ThresholdRule::MaxF1 {}
    }
}

impl ThresholdRule {
    /// The name recorded in [`ThresholdChoice::rule`]: `max_f1`, `target_fpr` or `model`.
    pub fn name(&self) -> &'static str {
        match self {
            ThresholdRule::MaxF1 {} => "max_f1",
            ThresholdRule::TargetFpr { .. } => "target_fpr",
            ThresholdRule::Model {} => "model",
        }
    }

    /// Checks that a target FPR lies strictly between 0 and 1.
    pub fn validate(&self) -> Result<()> {
        if let ThresholdRule::TargetFpr { fpr } = self
            && !(*fpr > 0.0 && *fpr < 1.0)
        {
            return Err(ModelError::config(
                "threshold.fpr",
                format!("must be strictly between 0 and 1, got {fpr}"),
            ));
        }
        Ok(())
    }
}

/// The chosen threshold and what it gives on the validation split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdChoice {
    /// A request is flagged malicious iff `score >= threshold`.
    pub threshold: f64,
    /// [`ThresholdRule::name`] of the rule that chose it.
    pub rule: String,
    pub valid_f1: f64,
    pub valid_fpr: f64,
    pub valid_tpr: f64,
}

/// Chooses the threshold by `rule` on validation `scores` (higher = malicious) and `labels`;
/// `model_default` is the model's own threshold, used by [`ThresholdRule::Model`].
///
/// Errors: [`ModelError::InvalidConfig`] for an invalid rule, [`ModelError::Data`] when the
/// split is empty, `scores` and `labels` differ in length, a class is missing, or the model's
/// default threshold is NaN.
pub fn choose_threshold(
    scores: &[f64],
    labels: &[Label],
    rule: &ThresholdRule,
    model_default: f64,
) -> Result<ThresholdChoice> {
    rule.validate()?;
    if scores.len() != labels.len() {
        return Err(ModelError::Data(format!(
            "cannot choose a threshold: {} scores for {} labels",
            scores.len(),
            labels.len()
        )));
    }
    let ranking = Ranking::new(scores, labels);
    if !ranking.has_both_classes() {
        let missing = if ranking.positives == 0 {
            "malicious"
        } else {
            "benign"
        };
        return Err(ModelError::Data(format!(
            "cannot choose a threshold: the validation split has no {missing} request \
             ({} requests)",
            scores.len()
        )));
    }

    let threshold = match rule {
        ThresholdRule::Model {} => {
            if model_default.is_nan() {
                return Err(ModelError::Data(
                    "cannot choose a threshold: the model's default threshold is NaN".into(),
                ));
            }
            model_default
        }
        ThresholdRule::MaxF1 {} => {
            let f1_of =
                |cutoff: &Cutoff| f1_score(cutoff.tp, cutoff.fp, ranking.positives - cutoff.tp);
            let mut best = 0;
            for (index, cutoff) in ranking.cutoffs.iter().enumerate() {
                // Strictly better only: the highest threshold wins ties.
                if f1_of(cutoff) > f1_of(&ranking.cutoffs[best]) {
                    best = index;
                }
            }
            threshold_below(&ranking, best)
        }
        ThresholdRule::TargetFpr { fpr } => {
            let negatives = ranking.negatives as f64;
            // fp grows as the threshold falls: the allowed cutoffs are a prefix.
            let allowed = ranking
                .cutoffs
                .iter()
                .take_while(|cutoff| cutoff.fp as f64 / negatives <= *fpr)
                .count();
            match allowed.checked_sub(1) {
                // Not even the highest score fits the budget: flag nothing.
                None => threshold_above_all(&ranking),
                Some(last_allowed) => {
                    let best_tp = ranking.cutoffs[last_allowed].tp;
                    // The highest cutoff reaching that TPR has the fewest false positives.
                    let best = ranking
                        .cutoffs
                        .iter()
                        .position(|cutoff| cutoff.tp == best_tp)
                        .unwrap_or(last_allowed);
                    threshold_below(&ranking, best)
                }
            }
        }
    };

    let confusion = Confusion::at_threshold(scores, labels, threshold);
    Ok(ThresholdChoice {
        threshold,
        rule: rule.name().to_owned(),
        valid_f1: confusion.f1(),
        valid_fpr: confusion.fpr(),
        valid_tpr: confusion.recall(),
    })
}

/// A threshold that flags exactly the cutoffs `0..=index`: halfway between the score of cutoff
/// `index` and the next lower distinct score, or that score itself when it is the lowest (or
/// when the midpoint would round onto either score).
fn threshold_below(ranking: &Ranking, index: usize) -> f64 {
    let Some(flagged) = ranking.cutoffs.get(index) else {
        return f64::NEG_INFINITY;
    };
    match ranking.cutoffs.get(index + 1) {
        Some(next) => {
            // Halves first: no overflow near f64::MAX.
            let midpoint = flagged.score / 2.0 + next.score / 2.0;
            if midpoint > next.score && midpoint <= flagged.score {
                midpoint
            } else {
                flagged.score
            }
        }
        None => flagged.score,
    }
}

/// A threshold above every finite score, so that nothing is flagged (scores of `+inf` still
/// are: nothing lies above them).
fn threshold_above_all(ranking: &Ranking) -> f64 {
    match ranking.cutoffs.first() {
        Some(highest) if highest.score.is_finite() => highest.score.next_up(),
        _ => f64::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Label::{Benign as B, Malicious as M};

    #[test]
    fn rule_parses_from_toml_and_validates() {
        let parse = |text: &str| toml::from_str::<ThresholdRule>(text);
        assert_eq!(
            parse("rule = \"max_f1\"").ok(),
            Some(ThresholdRule::MaxF1 {})
        );
        assert_eq!(
            parse("rule = \"target_fpr\"\nfpr = 0.001").ok(),
            Some(ThresholdRule::TargetFpr { fpr: 0.001 })
        );
        assert!(parse("rule = \"target_fpr\"\nfpr = 0.001\nextra = 1").is_err());
        assert!(parse("rule = \"best\"").is_err());
        for bad in [0.0, 1.0, -0.5, f64::NAN] {
            match (ThresholdRule::TargetFpr { fpr: bad }).validate() {
                Err(ModelError::InvalidConfig { field, .. }) => assert_eq!(field, "threshold.fpr"),
                other => panic!("fpr {bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn max_f1_sits_between_scores() {
        let scores = [0.9, 0.8, 0.4, 0.2];
        let labels = [M, M, B, B];
        let choice = choose_threshold(&scores, &labels, &ThresholdRule::MaxF1 {}, 0.5).unwrap();
        assert!((choice.threshold - 0.6).abs() < 1e-12, "{choice:?}");
        assert_eq!((choice.valid_f1, choice.valid_fpr), (1.0, 0.0));
        assert_eq!(choice.rule, "max_f1");
    }

    #[test]
    fn target_fpr_can_flag_nothing() {
        let scores = [0.9, 0.1];
        let labels = [B, M];
        let rule = ThresholdRule::TargetFpr { fpr: 0.5 };
        let choice = choose_threshold(&scores, &labels, &rule, 0.5).unwrap();
        assert!(choice.threshold > 0.9);
        assert_eq!((choice.valid_fpr, choice.valid_tpr), (0.0, 0.0));
    }

    #[test]
    fn adjacent_floats_keep_the_flagged_score() {
        let low = 0.5f64;
        let high = low.next_up();
        let choice =
            choose_threshold(&[high, low], &[M, B], &ThresholdRule::MaxF1 {}, 0.5).unwrap();
        assert_eq!(choice.valid_f1, 1.0);
        assert!(choice.threshold > low && choice.threshold <= high);
    }
}
