//! Attack-then-retrain rounds (`data.augment.adversarial_rounds`): after the model is fitted,
//! `vigie attack`'s search runs against it on the training split's attacks, at the threshold
//! the run's rule chooses on the validation split; the variants that get past it join the
//! training split as malicious and the model is fitted again. Random variants
//! ([`crate::augment`]) teach what rewrites leave unchanged; these teach what the model itself
//! still misses.

use vigie_attack::{SearchConfig, as_scored};
use vigie_models::metrics::{self, ThresholdRule};
use vigie_models::spec::{ModelSpec, TrainedModel};
use vigie_models::{LabelledTexts, Scorer, TrainData, TrainObserver};

use crate::augment::AugmentConfig;
use crate::error::Result;
use crate::robust::{sample_attacks, search_model};

/// Training attacks searched per family (SQLi, XSS) and round.
const PAYLOADS_PER_FAMILY: usize = 300;
/// The search of each round: `vigie attack`'s default, shorter.
const ROUNDS: usize = 10;
const CANDIDATES: usize = 8;

/// What the rounds did: per round, the training attacks the search got past the model.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AdversarialSummary {
    pub evaded_per_round: Vec<usize>,
}

impl AdversarialSummary {
    /// `adversarial_evaded_<round>` (1-based): training attacks the search got past the model
    /// fitted before that round.
    pub fn metric_values(&self) -> Vec<(String, f64)> {
        self.evaded_per_round
            .iter()
            .enumerate()
            .map(|(i, &n)| (format!("adversarial_evaded_{}", i + 1), n as f64))
            .collect()
    }
}

/// `model` after `config.adversarial_rounds` rounds of attack-then-retrain on `data`.
pub fn harden(
    spec: &ModelSpec,
    threshold_rule: &ThresholdRule,
    config: &AugmentConfig,
    data: &TrainData<'_>,
    observer: &mut dyn TrainObserver,
    mut model: TrainedModel,
) -> Result<(TrainedModel, AdversarialSummary)> {
    let mut summary = AdversarialSummary::default();
    let mut found: Vec<String> = Vec::new();
    for round in 0..config.adversarial_rounds {
        let threshold = validation_threshold(&model, data, threshold_rule)?;
        let evading = evading_variants(&model, &data.train, threshold, config, round)?;
        summary.evaded_per_round.push(evading.len());
        observer.note(&format!(
            "adversarial round {}: {} training attacks get past the model; fitting again",
            round + 1,
            evading.len()
        ));
        if evading.is_empty() {
            break;
        }
        found.extend(evading);
        let train = with_malicious(&data.train, &found);
        let round_data = TrainData {
            train,
            valid: data.valid.clone(),
            seed: data.seed,
            threads: data.threads,
        };
        model = spec.fit(&round_data, observer)?;
    }
    Ok((model, summary))
}

/// The threshold the run's rule chooses for `model` on the validation split.
fn validation_threshold(
    model: &TrainedModel,
    data: &TrainData<'_>,
    rule: &ThresholdRule,
) -> Result<f64> {
    let scores = model.score_batch(&data.valid.texts);
    let choice =
        metrics::choose_threshold(&scores, &data.valid.labels, rule, model.default_threshold())?;
    Ok(choice.threshold)
}

/// The decoded variants of training attacks that the search gets under `threshold`.
fn evading_variants(
    model: &TrainedModel,
    train: &LabelledTexts<'_>,
    threshold: f64,
    config: &AugmentConfig,
    round: usize,
) -> Result<Vec<String>> {
    let seed = config.seed.wrapping_add(round as u64);
    let payloads = sample_attacks(train, seed, PAYLOADS_PER_FAMILY);
    let search = SearchConfig {
        rounds: ROUNDS,
        candidates: CANDIDATES,
        beam_width: 1,
        operators: config.operators.clone(),
        seed,
    };
    let outcome = search_model(
        model,
        threshold,
        &payloads,
        &search,
        "an adversarial round's search",
    )?;
    Ok(outcome
        .outcomes
        .into_iter()
        .filter(|o| o.evaded_round.is_some())
        .map(|o| as_scored(&o.best))
        .collect())
}

/// `train` with `extra` appended as malicious.
fn with_malicious<'a>(train: &LabelledTexts<'a>, extra: &'a [String]) -> LabelledTexts<'a> {
    let mut texts = train.texts.clone();
    let mut labels = train.labels.clone();
    texts.extend(extra.iter().map(String::as_str));
    labels.extend(std::iter::repeat_n(
        vigie_data::Label::Malicious,
        extra.len(),
    ));
    LabelledTexts::new(texts, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_data::Label;
    use vigie_models::NoObserver;

    fn split(n: usize, offset: usize) -> (Vec<String>, Vec<Label>) {
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for i in offset..offset + n {
            texts.push(format!("/shop/item.php?id={i}&lang=en"));
            labels.push(Label::Benign);
            texts.push(format!(
                "/shop/item.php?id={i}' UNION SELECT null,version()--"
            ));
            labels.push(Label::Malicious);
            texts.push(format!("/shop/search?q=<script>alert({i})</script>"));
            labels.push(Label::Malicious);
        }
        (texts, labels)
    }

    #[test]
    fn rounds_search_the_fitted_model_and_fit_again() {
        let spec: ModelSpec = toml::from_str("kind = \"linear_svm\"\n").expect("a linear SVM spec");
        let (train_texts, train_labels) = split(40, 0);
        let (valid_texts, valid_labels) = split(10, 1000);
        let data = TrainData {
            train: LabelledTexts::new(
                train_texts.iter().map(String::as_str).collect(),
                train_labels,
            ),
            valid: LabelledTexts::new(
                valid_texts.iter().map(String::as_str).collect(),
                valid_labels,
            ),
            seed: 1,
            threads: 1,
        };
        let first = spec.fit(&data, &mut NoObserver).expect("a fit");
        let config: AugmentConfig =
            toml::from_str("variants = 0\nadversarial_rounds = 2").expect("config");
        config
            .validate()
            .expect("adversarial rounds alone are valid");
        let (hardened, summary) = harden(
            &spec,
            &ThresholdRule::default(),
            &config,
            &data,
            &mut NoObserver,
            first,
        )
        .expect("rounds");
        assert!(
            (1..=2).contains(&summary.evaded_per_round.len()),
            "{summary:?}"
        );
        let scores = hardened.score_batch(&data.valid.texts);
        assert_eq!(scores.len(), data.valid.texts.len());
        assert_eq!(
            summary.metric_values().len(),
            summary.evaded_per_round.len()
        );
    }
}
