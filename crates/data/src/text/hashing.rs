//! Stateless feature hashing of terms, for vocabularies too large to keep.
//!
//! Each term goes to column `xxh3_64(term) % n_features`; with
//! `alternate_sign` the top bit of the same hash picks a sign so collisions
//! tend to cancel rather than pile up (the idea of scikit-learn's
//! `HashingVectorizer`, with xxh3 instead of MurmurHash3: columns differ from
//! scikit-learn's). Changing the hash would silently scramble saved models,
//! so a test pins known hash values.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::error::TextError;
use super::tfidf::{Norm, normalize};
use super::tokenize::{TokenScratch, Tokenizer, TokenizerConfig};

/// Settings of a [`HashingVectorizer`]; missing fields take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HashingConfig {
    /// How texts become terms.
    pub tokenizer: TokenizerConfig,
    /// Number of columns, 1 to 2^32 (a power of two is not required;
    /// default 2^20 like scikit-learn).
    pub n_features: usize,
    /// Give each term a hash-derived sign of +1 or -1 (default true).
    pub alternate_sign: bool,
    /// Replace a summed value `v` by `sign(v) * (1 + ln|v|)`.
    pub sublinear_tf: bool,
    /// Row normalisation (default L2).
    pub norm: Norm,
}

impl Default for HashingConfig {
    fn default() -> Self {
        Self {
            tokenizer: TokenizerConfig::default(),
            n_features: 1 << 20,
            alternate_sign: true,
            sublinear_tf: false,
            norm: Norm::L2,
        }
    }
}

/// Reusable buffers for [`RowVectorizer::transform_one_into`](super::RowVectorizer::transform_one_into).
#[derive(Debug, Default, Clone)]
pub struct HashingScratch {
    tokens: TokenScratch,
    /// `(column, ±1)` for every term of the current text.
    hits: Vec<(u32, f64)>,
    columns: Vec<u32>,
    values: Vec<f64>,
}

impl HashingScratch {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A validated [`HashingConfig`] ready to transform; serialises as it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "HashingConfig", into = "HashingConfig")]
pub struct HashingVectorizer {
    config: HashingConfig,
    tokenizer: Tokenizer,
}

impl HashingVectorizer {
    /// Validates `n_features` and builds the tokenizer.
    pub fn new(config: HashingConfig) -> Result<Self, TextError> {
        if config.n_features == 0 || config.n_features as u64 > 1u64 << 32 {
            return Err(TextError::InvalidFeatureCount(config.n_features));
        }
        let tokenizer = Tokenizer::new(config.tokenizer.clone())?;
        Ok(Self { config, tokenizer })
    }

    /// The settings.
    pub fn config(&self) -> &HashingConfig {
        &self.config
    }

    /// Number of columns.
    pub fn n_features(&self) -> usize {
        self.config.n_features
    }

    /// Column and sign (`1.0` or `-1.0`) of `term`.
    pub fn bucket(&self, term: &str) -> (u32, f64) {
        let hash = xxh3_64(term.as_bytes());
        // `new` bounds n_features by 2^32, so the remainder fits in u32.
        let column = (hash % self.config.n_features as u64) as u32;
        let negative = self.config.alternate_sign && hash >> 63 == 1;
        (column, if negative { -1.0 } else { 1.0 })
    }

    /// Appends the row of `text` to `indices` and `data` without clearing
    /// them. Columns whose signed sum is exactly 0 are left out.
    fn row_into(
        &self,
        text: &str,
        scratch: &mut HashingScratch,
        indices: &mut Vec<u32>,
        data: &mut Vec<f32>,
    ) {
        let HashingScratch {
            tokens,
            hits,
            columns,
            values,
        } = scratch;
        hits.clear();
        self.tokenizer
            .for_each_term(text, tokens, |term| hits.push(self.bucket(term)));
        // Sorting merges equal columns; rows are short, so this beats a
        // dense accumulator of n_features entries.
        hits.sort_unstable_by_key(|&(column, _)| column);
        columns.clear();
        values.clear();
        for chunk in hits.chunk_by(|a, b| a.0 == b.0) {
            let sum: f64 = chunk.iter().map(|&(_, sign)| sign).sum();
            if sum != 0.0 {
                columns.push(chunk[0].0);
                values.push(if self.config.sublinear_tf {
                    sum.signum() * (1.0 + sum.abs().ln())
                } else {
                    sum
                });
            }
        }
        normalize(values, self.config.norm);
        indices.extend_from_slice(columns);
        data.extend(values.iter().map(|&value| value as f32));
    }
}

impl TryFrom<HashingConfig> for HashingVectorizer {
    type Error = TextError;

    fn try_from(config: HashingConfig) -> Result<Self, TextError> {
        Self::new(config)
    }
}

impl From<HashingVectorizer> for HashingConfig {
    fn from(vectorizer: HashingVectorizer) -> Self {
        vectorizer.config
    }
}

impl super::vectorize::RowVectorizer for HashingVectorizer {
    type Scratch = HashingScratch;

    fn n_features(&self) -> usize {
        HashingVectorizer::n_features(self)
    }

    fn transform_one_into(
        &self,
        text: &str,
        scratch: &mut HashingScratch,
        indices: &mut Vec<u32>,
        data: &mut Vec<f32>,
    ) {
        self.row_into(text, scratch, indices, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::RowVectorizer;
    use crate::text::tokenize::Analyzer;
    use proptest::prelude::*;

    fn vectorizer(
        n_features: usize,
        alternate_sign: bool,
        sublinear_tf: bool,
        norm: Norm,
    ) -> HashingVectorizer {
        HashingVectorizer::new(HashingConfig {
            n_features,
            alternate_sign,
            sublinear_tf,
            norm,
            ..HashingConfig::default()
        })
        .expect("valid config")
    }

    #[test]
    fn hash_values_are_pinned() {
        // From Python's `xxhash.xxh3_64_intdigest`: saved models depend on them.
        assert_eq!(xxh3_64(b"a"), 0xe6c6_32b6_1e96_4e1f);
        let hashing = vectorizer(1000, true, false, Norm::None);
        assert_eq!(hashing.bucket("a"), (719, -1.0));
        assert_eq!(hashing.bucket("select"), (432, 1.0));
        assert_eq!(hashing.bucket("union select"), (950, -1.0));
        assert_eq!(
            vectorizer(1000, false, false, Norm::None).bucket("a"),
            (719, 1.0)
        );
    }

    #[test]
    fn counts_accumulate_with_sign() {
        let hashing = vectorizer(1000, true, false, Norm::None);
        let mut scratch = HashingScratch::new();
        assert_eq!(
            hashing.transform_one("A a a select", &mut scratch),
            (vec![432, 719], vec![1.0, -3.0])
        );
        let sublinear = vectorizer(1000, true, true, Norm::None);
        let (indices, values) = sublinear.transform_one("a a a a", &mut scratch);
        assert_eq!(indices, [719]);
        assert!((f64::from(values[0]) + 1.0 + 4f64.ln()).abs() < 1e-6);
        let l2 = vectorizer(1000, true, false, Norm::L2);
        let (_, values) = l2.transform_one("a a a select", &mut scratch);
        let norm = 10f64.sqrt();
        assert!((f64::from(values[0]) - 1.0 / norm).abs() < 1e-6);
        assert!((f64::from(values[1]) + 3.0 / norm).abs() < 1e-6);
    }

    #[test]
    fn opposite_signs_in_one_column_cancel() {
        // One column: "a" counts -1 and "select" +1.
        let hashing = vectorizer(1, true, false, Norm::L2);
        let matrix = hashing.transform(["a select", "a a select", ""]);
        assert_eq!(matrix.row(0).0.len(), 0);
        assert_eq!(matrix.row(1), (&[0u32][..], &[-1.0f32][..]));
        assert_eq!(matrix.row(2).0.len(), 0);
    }

    #[test]
    fn invalid_feature_counts_are_rejected() {
        for n_features in [0, (1usize << 32) + 1] {
            let result = HashingVectorizer::new(HashingConfig {
                n_features,
                ..HashingConfig::default()
            });
            assert!(matches!(result, Err(TextError::InvalidFeatureCount(n)) if n == n_features));
        }
        assert!(
            HashingVectorizer::new(HashingConfig {
                n_features: 1 << 32,
                ..HashingConfig::default()
            })
            .is_ok()
        );
    }

    #[test]
    fn serde_round_trip_keeps_transform() {
        let hashing = HashingVectorizer::new(HashingConfig {
            tokenizer: TokenizerConfig {
                analyzer: Analyzer::CharWb {
                    ngram_min: 2,
                    ngram_max: 3,
                },
                lowercase: true,
            },
            n_features: 4096,
            ..HashingConfig::default()
        })
        .expect("valid");
        let json = serde_json::to_string(&hashing).expect("serialises");
        let loaded: HashingVectorizer = serde_json::from_str(&json).expect("deserialises");
        let texts = ["GET /index.php?id=1' OR 1=1", "Jamón"];
        assert_eq!(loaded.transform(texts), hashing.transform(texts));
        assert!(serde_json::from_str::<HashingVectorizer>(r#"{"n_features": 0}"#).is_err());
    }

    proptest! {
        #[test]
        fn rows_have_unit_l2_norm_or_are_empty(text in "\\PC{0,60}", n_features in 1usize..5000, alternate_sign: bool) {
            let hashing = vectorizer(n_features, alternate_sign, false, Norm::L2);
            let (indices, values) = hashing.transform_one(&text, &mut HashingScratch::new());
            prop_assert!(indices.windows(2).all(|pair| pair[0] < pair[1]));
            prop_assert!(indices.iter().all(|&col| (col as usize) < n_features));
            if !values.is_empty() {
                let norm = values.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
                prop_assert!((norm - 1.0).abs() < 1e-5);
            }
        }
    }
}
