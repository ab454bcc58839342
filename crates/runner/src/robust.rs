//! The robustness check (`[robustness]`): a small `vigie attack` on the trained model, so that a
//! run logs how often an attacker's rewrites get its own validation attacks past it.
//!
//! The payloads are the validation split's attacks of the SQLi and XSS families (the families
//! the operators rewrite), at most `payloads` of each, in an order shuffled by the seed; each is
//! sent as its text and read by the model as `vigie score` reads a request (decoded by the
//! default decoding). The search is `vigie attack`'s, greedy, with every operator. The rate
//! (`robust_evasion_rate`, and per family) is a final metric, so a sweep can rank on it or
//! guard the champion with it (`never_raise = ["robust_evasion_rate"]`).

use serde::{Deserialize, Serialize};
use vigie_attack::{
    AttackOutcome, DecodedTarget, Operator, Payload, SearchConfig, keep_families, run_search,
};
use vigie_data::features::AttackFamily;
use vigie_models::{LabelledTexts, Scorer};

use crate::error::{Result, RunError};

/// `[robustness]`: the size of the search run on each trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobustnessConfig {
    /// Validation attacks attacked per family (SQLi, XSS).
    #[serde(default = "default_payloads")]
    pub payloads: usize,
    #[serde(default = "default_rounds")]
    pub rounds: usize,
    /// Candidates per payload and round.
    #[serde(default = "default_candidates")]
    pub candidates: usize,
    /// Seeds the sample and the search.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_payloads() -> usize {
    100
}

fn default_rounds() -> usize {
    10
}

fn default_candidates() -> usize {
    8
}

fn default_seed() -> u64 {
    42
}

impl RobustnessConfig {
    pub fn validate(&self) -> Result<()> {
        for (key, value) in [
            ("payloads", self.payloads),
            ("rounds", self.rounds),
            ("candidates", self.candidates),
        ] {
            if value == 0 {
                return Err(RunError::Invalid {
                    message: format!("invalid value for `robustness.{key}`: 0 (at least 1)"),
                });
            }
        }
        Ok(())
    }
}

/// The families the check attacks.
const FAMILIES: [AttackFamily; 2] = [AttackFamily::Sqli, AttackFamily::Xss];

/// Every metric the check may log (a sweep's guards and objective are checked against them).
pub const ROBUST_METRIC_NAMES: [&str; 4] = [
    "robust_evasion_rate",
    "robust_flagged",
    "robust_evasion_rate_sqli",
    "robust_evasion_rate_xss",
];

/// What the check measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RobustnessMetrics {
    /// Payloads attacked (flagged before the search).
    pub flagged: usize,
    pub evaded: usize,
    /// Evaded over flagged (0 when none was flagged).
    pub evasion_rate: f64,
    /// Per family: (name, flagged, evasion rate).
    pub families: Vec<(String, usize, f64)>,
}

impl RobustnessMetrics {
    /// `robust_evasion_rate`, `robust_flagged` and `robust_evasion_rate_<family>`, finite only.
    pub fn metric_values(&self) -> Vec<(String, f64)> {
        let mut values = vec![
            ("robust_evasion_rate".to_owned(), self.evasion_rate),
            ("robust_flagged".to_owned(), self.flagged as f64),
        ];
        for (family, _, rate) in &self.families {
            values.push((format!("robust_evasion_rate_{family}"), *rate));
        }
        values.retain(|(_, value)| value.is_finite());
        values
    }
}

/// Attacks `model` at `threshold` with the validation split's attacks.
pub fn check(
    config: &RobustnessConfig,
    model: &dyn Scorer,
    valid: &LabelledTexts<'_>,
    threshold: f64,
) -> Result<RobustnessMetrics> {
    let payloads = sample_attacks(valid, config.seed, config.payloads);
    let search = SearchConfig {
        rounds: config.rounds,
        candidates: config.candidates,
        beam_width: 1,
        operators: Operator::ALL.to_vec(),
        seed: config.seed,
    };
    let outcome = search_model(model, threshold, &payloads, &search, "the robustness check")?;
    let families = outcome
        .families
        .iter()
        .map(|f| (f.family.clone(), f.detected, f.evasion_rate))
        .collect();
    Ok(RobustnessMetrics {
        flagged: outcome.detected,
        evaded: outcome.evaded,
        evasion_rate: outcome.evasion_rate,
        families,
    })
}

/// The SQLi and XSS attacks of `split`, at most `per_family` of each, in an order shuffled by
/// `seed` (a sample, not the split's first lines).
pub(crate) fn sample_attacks(
    split: &LabelledTexts<'_>,
    seed: u64,
    per_family: usize,
) -> Vec<Payload> {
    let mut payloads: Vec<Payload> = split
        .texts
        .iter()
        .zip(&split.labels)
        .filter(|(_, label)| label.is_malicious())
        .map(|(text, _)| Payload::new(*text, text))
        .collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut payloads);
    keep_families(payloads, &FAMILIES, per_family)
}

/// `vigie attack`'s search on a model in memory at `threshold`; `what` names the caller in an
/// error.
pub(crate) fn search_model(
    model: &dyn Scorer,
    threshold: f64,
    payloads: &[Payload],
    search: &SearchConfig,
    what: &str,
) -> Result<AttackOutcome> {
    let target = DecodedTarget {
        scorer: |texts: &[&str]| model.score_batch(texts),
        threshold,
    };
    run_search(&target, payloads, search, |_, _, _| {}).map_err(|e| RunError::Invalid {
        message: format!("{what}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_data::Label;

    /// Flags a text holding `word` as written.
    struct Spelling(&'static str);

    impl Scorer for Spelling {
        fn score_batch(&self, texts: &[&str]) -> Vec<f64> {
            texts
                .iter()
                .map(|t| f64::from(u8::from(t.contains(self.0))))
                .collect()
        }
    }

    fn valid() -> (Vec<String>, Vec<Label>) {
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for i in 0..30 {
            texts.push(format!("/item?id={i} union select null,version()--"));
            labels.push(Label::Malicious);
            texts.push(format!("/item?id={i}"));
            labels.push(Label::Benign);
        }
        (texts, labels)
    }

    fn config() -> RobustnessConfig {
        toml::from_str("payloads = 20").expect("a config")
    }

    #[test]
    fn a_model_that_reads_spelling_is_evaded_and_the_metrics_say_so() {
        let (texts, labels) = valid();
        let valid = LabelledTexts::new(texts.iter().map(String::as_str).collect(), labels);
        let metrics = check(&config(), &Spelling("union"), &valid, 0.5).expect("a search");
        assert_eq!(metrics.flagged, 20, "at most `payloads` of the family");
        assert!(metrics.evasion_rate > 0.5, "{metrics:?}");
        let values = metrics.metric_values();
        assert!(values.iter().any(|(k, _)| k == "robust_evasion_rate_sqli"));
        assert!(
            values
                .iter()
                .all(|(k, _)| ROBUST_METRIC_NAMES.contains(&k.as_str()))
        );
    }

    #[test]
    fn a_model_that_reads_what_no_rewrite_changes_holds() {
        let (texts, labels) = valid();
        let valid = LabelledTexts::new(texts.iter().map(String::as_str).collect(), labels);
        // Every operator keeps the path: a model of the path alone is never evaded.
        let metrics = check(&config(), &Spelling("/item?id="), &valid, 0.5).expect("a search");
        assert_eq!(metrics.flagged, 20);
        assert_eq!(metrics.evaded, 0);
    }

    #[test]
    fn zero_rounds_name_their_key() {
        let zero: RobustnessConfig = toml::from_str("rounds = 0").expect("parses");
        let message = zero.validate().expect_err("refused").to_string();
        assert!(message.contains("robustness.rounds"), "{message}");
    }
}
