//! Adversarial augmentation (`[data.augment]`): the training split's attacks rewritten as an
//! attacker rewrites a payload that got a 403 (`vigie attack`'s operators: case, separators,
//! comments, integer and operator spellings, logical invariants, padding, encodings), added as
//! malicious training requests.
//!
//! A model that has seen `' or 1=1--` only as written learns its spelling; one that has also
//! seen `'/**/OR/*x*/0x1 like 1--` learns what stays the same under the rewrites. Only the
//! training split grows: validation (the threshold) and test read the dataset as it is, and a
//! variant equal to any request of the dataset is left out. Each attack's variants come from a
//! generator keyed by the seed and the attack's text, so they do not depend on the order of the
//! dataset or on the other attacks.

use serde::{Deserialize, Serialize};
use vigie_attack::{Operator, Payload, as_scored, random_variant};
use vigie_data::{Label, PreparedDataset, Split};

use crate::error::{Result, RunError};

/// `[data.augment]`: how many rewritten variants of each training attack, by which operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Variants drawn per training attack that some operator can rewrite.
    #[serde(default = "default_variants")]
    pub variants: usize,
    /// Most operators chained in one variant (each variant draws 1 to this many).
    #[serde(default = "default_max_chain")]
    pub max_chain: usize,
    /// The operators (`vigie attack --operators` names); every one by default.
    #[serde(default = "every_operator")]
    pub operators: Vec<Operator>,
    /// Keys the variants' generators.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Rounds of attack-then-retrain after the first fit ([`crate::adversarial`]): the search
    /// on the training attacks, its evading variants added as malicious, the model fitted again.
    #[serde(default)]
    pub adversarial_rounds: usize,
}

fn default_variants() -> usize {
    2
}

fn default_max_chain() -> usize {
    4
}

fn every_operator() -> Vec<Operator> {
    Operator::ALL.to_vec()
}

fn default_seed() -> u64 {
    42
}

/// Most variants per attack: beyond this the training split is mostly rewrites.
const MAX_VARIANTS: usize = 16;
/// Longest operator chain: the search's own variants rarely need more.
const MAX_CHAIN: usize = 16;
/// Most attack-then-retrain rounds: each is a search and a fit.
const MAX_ADVERSARIAL_ROUNDS: usize = 5;

impl AugmentConfig {
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: String| Err(RunError::Invalid { message });
        if self.variants > MAX_VARIANTS {
            return invalid(format!(
                "invalid value for `data.augment.variants`: {} (0 to {MAX_VARIANTS})",
                self.variants
            ));
        }
        if self.variants == 0 && self.adversarial_rounds == 0 {
            return invalid(
                "invalid value for `data.augment.variants`: 0 with no `adversarial_rounds` \
                 adds nothing"
                    .to_owned(),
            );
        }
        if !(1..=MAX_CHAIN).contains(&self.max_chain) {
            return invalid(format!(
                "invalid value for `data.augment.max_chain`: {} (1 to {MAX_CHAIN})",
                self.max_chain
            ));
        }
        if self.adversarial_rounds > MAX_ADVERSARIAL_ROUNDS {
            return invalid(format!(
                "invalid value for `data.augment.adversarial_rounds`: {} (0 to {MAX_ADVERSARIAL_ROUNDS})",
                self.adversarial_rounds
            ));
        }
        if self.operators.is_empty() {
            return invalid("invalid value for `data.augment.operators`: empty".to_owned());
        }
        Ok(())
    }
}

/// What augmentation added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AugmentSummary {
    /// Training attacks some operator could rewrite.
    pub attacks: usize,
    /// Variants added to the training split.
    pub variants: usize,
}

/// `prepared` with variants of its training attacks added to the training split as malicious.
/// A variant is added as the model reads it when an attacker sends it
/// ([`vigie_attack::as_scored`]).
pub fn extend_training(
    prepared: PreparedDataset,
    config: &AugmentConfig,
) -> (PreparedDataset, AugmentSummary) {
    let mut summary = AugmentSummary::default();
    let mut added = Vec::new();
    for index in prepared.indices(Split::Train) {
        if prepared.data.labels[index] != Label::Malicious {
            continue;
        }
        let text = &prepared.data.texts[index];
        let payload = Payload::new(text.as_str(), text);
        let mut rng =
            fastrand::Rng::with_seed(config.seed ^ xxhash_rust::xxh3::xxh3_64(text.as_bytes()));
        let before = added.len();
        for _ in 0..config.variants {
            if let Some((variant, _)) =
                random_variant(&payload, &config.operators, config.max_chain, &mut rng)
            {
                added.push(as_scored(&variant));
            }
        }
        if added.len() > before {
            summary.attacks += 1;
        }
    }
    let (prepared, count) = prepared.with_training(added, Label::Malicious);
    summary.variants = count;
    (prepared, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_data::{Dataset, Origin, PrepareConfig};

    fn prepared() -> PreparedDataset {
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40 {
            texts.push(format!("/item?id={i}"));
            labels.push(Label::Benign);
            texts.push(format!("/item?id={i}' or 1=1 union select null--"));
            labels.push(Label::Malicious);
            texts.push(format!("/page?q=<script>alert({i})</script>"));
            labels.push(Label::Malicious);
        }
        let origins = (1..=texts.len() as u64)
            .map(|line| Origin { file: 0, line })
            .collect();
        let dataset = Dataset {
            name: "toy".to_owned(),
            texts,
            labels,
            origins,
            ..Dataset::default()
        };
        PreparedDataset::new(dataset, &PrepareConfig::default()).expect("a toy split")
    }

    fn config() -> AugmentConfig {
        toml::from_str("").expect("every key has a default")
    }

    #[test]
    fn only_the_training_split_grows_with_malicious_variants() {
        let before = prepared();
        let counts = before.split_counts();
        let (after, summary) = extend_training(before.clone(), &config());
        let grown = after.split_counts();
        assert!(summary.variants > summary.attacks, "{summary:?}");
        assert_eq!(grown[0][0], counts[0][0], "no benign request added");
        assert_eq!(grown[0][1], counts[0][1] + summary.variants);
        assert_eq!(grown[1], counts[1], "validation unchanged");
        assert_eq!(grown[2], counts[2], "test unchanged");
        assert_ne!(after.digest, before.digest);
        let originals: std::collections::HashSet<&String> = before.data.texts.iter().collect();
        let added = &after.data.texts[before.data.texts.len()..];
        assert!(added.iter().all(|t| !originals.contains(t)));
    }

    #[test]
    fn the_same_seed_gives_the_same_training_set() {
        let (a, _) = extend_training(prepared(), &config());
        let (b, _) = extend_training(prepared(), &config());
        assert_eq!(a.digest, b.digest);
        let other = AugmentConfig {
            seed: 7,
            ..config()
        };
        let (c, _) = extend_training(prepared(), &other);
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn out_of_range_settings_name_their_key() {
        let zero = AugmentConfig {
            variants: 0,
            ..config()
        };
        let message = zero.validate().expect_err("no variants").to_string();
        assert!(message.contains("data.augment.variants"), "{message}");
        let bad: std::result::Result<AugmentConfig, _> = toml::from_str("operators = [\"nope\"]");
        assert!(bad.is_err());
    }
}
