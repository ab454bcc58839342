//! Token-id sequences for neural models (embeddings, CNNs, RNNs).
//!
//! A [`Vocabulary`] maps characters or regex tokens to dense ids: 0 is
//! padding ([`PAD_ID`]), 1 stands for any unknown unit ([`OOV_ID`]), and
//! learned units follow from 2 by descending corpus count.

use std::fmt;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::error::TextError;
use super::tokenize::{CharClassMemo, SECURITY_TOKEN_PATTERN, TokenMatcher, lowercase_into};

/// Id that fills sequences shorter than the model input.
pub const PAD_ID: u32 = 0;
/// Id of units not in the vocabulary.
pub const OOV_ID: u32 = 1;
/// Number of ids reserved before the learned units.
const RESERVED_IDS: usize = 2;

fn default_pattern() -> String {
    SECURITY_TOKEN_PATTERN.to_owned()
}

/// What one sequence position holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SequenceUnit {
    /// Every character (after lowercasing), whitespace included.
    Char,
    /// Every regex match (group 1 if the pattern has one).
    Token {
        /// Token regex; defaults to [`SECURITY_TOKEN_PATTERN`].
        #[serde(default = "default_pattern")]
        pattern: String,
    },
}

/// Settings of a sequence [`Vocabulary`]; missing fields take the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SequenceConfig {
    /// Characters or tokens (default characters).
    pub unit: SequenceUnit,
    /// Lowercase with `str::to_lowercase` first (default true).
    pub lowercase: bool,
    /// Units seen fewer times in the corpus become OOV (default 1).
    pub min_count: usize,
    /// Cap on the id space, PAD and OOV included, i.e. the embedding table
    /// size (default none).
    pub max_size: Option<usize>,
    /// Sequences keep their first `max_len` units (default 1024).
    pub max_len: usize,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        Self {
            unit: SequenceUnit::Char,
            lowercase: true,
            min_count: 1,
            max_size: None,
            max_len: 1024,
        }
    }
}

/// Reusable buffers for [`Vocabulary::encode_into`].
#[derive(Debug, Default, Clone)]
pub struct SequenceScratch {
    lowered: String,
    spans: Vec<(usize, usize)>,
    classes: CharClassMemo,
}

impl SequenceScratch {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Cuts text into units as configured.
#[derive(Debug, Clone)]
struct UnitSplitter {
    lowercase: bool,
    /// `None` for characters.
    matcher: Option<TokenMatcher>,
}

impl UnitSplitter {
    fn new(config: &SequenceConfig) -> Result<Self, TextError> {
        let matcher = match &config.unit {
            SequenceUnit::Char => None,
            SequenceUnit::Token { pattern } => Some(TokenMatcher::new(pattern)?),
        };
        Ok(Self {
            lowercase: config.lowercase,
            matcher,
        })
    }

    /// Calls `emit` with each unit of `text` in order until it returns false.
    fn for_each_unit(
        &self,
        text: &str,
        scratch: &mut SequenceScratch,
        mut emit: impl FnMut(&str) -> bool,
    ) {
        let SequenceScratch {
            lowered,
            spans,
            classes,
        } = scratch;
        let source: &str = if self.lowercase {
            lowercase_into(text, lowered);
            lowered
        } else {
            text
        };
        match &self.matcher {
            None => {
                for (start, c) in source.char_indices() {
                    if !emit(&source[start..start + c.len_utf8()]) {
                        return;
                    }
                }
            }
            Some(matcher) => {
                matcher.spans_into(source, classes, spans);
                for &(start, end) in spans.iter() {
                    if !emit(&source[start..end]) {
                        return;
                    }
                }
            }
        }
    }
}

/// Unit-to-id mapping learned from a corpus. Serialises as its config and
/// its units in id order (from id 2).
#[derive(Clone, Deserialize)]
#[serde(try_from = "VocabularyWire")]
pub struct Vocabulary {
    config: SequenceConfig,
    splitter: UnitSplitter,
    /// `units[i]` has id `i + 2`.
    units: Vec<String>,
    index: FxHashMap<Box<str>, u32>,
}

impl Vocabulary {
    /// Counts every unit of `texts` and keeps those seen at least
    /// `min_count` times, most frequent first (ties by code point order),
    /// up to `max_size - 2` of them.
    pub fn fit<I>(config: SequenceConfig, texts: I) -> Result<Self, TextError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        validate(&config)?;
        let splitter = UnitSplitter::new(&config)?;
        let mut counts: FxHashMap<Box<str>, u64> = FxHashMap::default();
        let mut scratch = SequenceScratch::new();
        for text in texts {
            splitter.for_each_unit(text.as_ref(), &mut scratch, |unit| {
                match counts.get_mut(unit) {
                    Some(count) => *count += 1,
                    None => {
                        counts.insert(Box::from(unit), 1);
                    }
                }
                true
            });
        }
        if counts.is_empty() {
            return Err(TextError::EmptyVocabulary);
        }
        let mut ranked: Vec<(Box<str>, u64)> = counts
            .into_iter()
            .filter(|&(_, count)| count >= config.min_count as u64)
            .collect();
        ranked.sort_unstable_by(|(a_unit, a_count), (b_unit, b_count)| {
            b_count.cmp(a_count).then_with(|| a_unit.cmp(b_unit))
        });
        if let Some(max_size) = config.max_size {
            ranked.truncate(max_size - RESERVED_IDS);
        }
        // Ids beyond u32 could not be encoded.
        ranked.truncate(u32::MAX as usize - RESERVED_IDS);
        if ranked.is_empty() {
            return Err(TextError::NoTermsAfterPruning);
        }
        let units = ranked
            .into_iter()
            .map(|(unit, _)| String::from(unit))
            .collect();
        Ok(Self::from_parts(config, splitter, units))
    }

    fn from_parts(config: SequenceConfig, splitter: UnitSplitter, units: Vec<String>) -> Self {
        let index = units
            .iter()
            .zip(RESERVED_IDS as u32..)
            .map(|(unit, id)| (Box::from(unit.as_str()), id))
            .collect();
        Self {
            config,
            splitter,
            units,
            index,
        }
    }

    /// The settings it was fitted with.
    pub fn config(&self) -> &SequenceConfig {
        &self.config
    }

    /// Size of the id space, PAD and OOV included (the embedding table size).
    pub fn len(&self) -> usize {
        self.units.len() + RESERVED_IDS
    }

    /// Always false: PAD and OOV are always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Learned units in id order; the first has id 2.
    pub fn units(&self) -> &[String] {
        &self.units
    }

    /// Id of `unit` ([`OOV_ID`] if unknown). Give it already lowercased
    /// when the config lowercases.
    pub fn id(&self, unit: &str) -> u32 {
        self.index.get(unit).copied().unwrap_or(OOV_ID)
    }

    /// The unit of an id: `None` for PAD, OOV and ids out of range.
    pub fn unit(&self, id: u32) -> Option<&str> {
        (id as usize)
            .checked_sub(RESERVED_IDS)
            .and_then(|position| self.units.get(position))
            .map(String::as_str)
    }

    /// Ids of the first `max_len` units of `text`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        self.encode_into(text, &mut SequenceScratch::new(), &mut ids);
        ids
    }

    /// Appends the ids of the first `max_len` units of `text` to `ids`.
    pub fn encode_into(&self, text: &str, scratch: &mut SequenceScratch, ids: &mut Vec<u32>) {
        let mut remaining = self.config.max_len;
        self.splitter.for_each_unit(text, scratch, |unit| {
            ids.push(self.id(unit));
            remaining -= 1;
            remaining > 0
        });
    }

    /// Writes the ids of `text` into `out`, truncated to
    /// `min(max_len, out.len())` and right-padded with [`PAD_ID`]. Returns
    /// how many positions hold units.
    pub fn encode_padded(&self, text: &str, out: &mut [u32]) -> usize {
        self.encode_padded_with(text, &mut SequenceScratch::new(), out)
    }

    /// [`Vocabulary::encode_padded`] with reusable buffers.
    pub fn encode_padded_with(
        &self,
        text: &str,
        scratch: &mut SequenceScratch,
        out: &mut [u32],
    ) -> usize {
        let limit = self.config.max_len.min(out.len());
        let mut written = 0;
        if limit > 0 {
            self.splitter.for_each_unit(text, scratch, |unit| {
                out[written] = self.id(unit);
                written += 1;
                written < limit
            });
        }
        out[written..].fill(PAD_ID);
        written
    }
}

fn validate(config: &SequenceConfig) -> Result<(), TextError> {
    if config.max_len == 0 {
        return Err(TextError::InvalidMaxLen);
    }
    if let Some(max_size) = config.max_size
        && max_size <= RESERVED_IDS
    {
        return Err(TextError::InvalidMaxSize(max_size));
    }
    Ok(())
}

impl fmt::Debug for Vocabulary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vocabulary")
            .field("config", &self.config)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Vocabulary {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config && self.units == other.units
    }
}

/// Serialised form of [`Vocabulary`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyWire {
    config: SequenceConfig,
    units: Vec<String>,
}

/// Borrowing twin of [`VocabularyWire`].
#[derive(Serialize)]
struct VocabularyWireRef<'a> {
    config: &'a SequenceConfig,
    units: &'a [String],
}

impl Serialize for Vocabulary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        VocabularyWireRef {
            config: &self.config,
            units: &self.units,
        }
        .serialize(serializer)
    }
}

impl TryFrom<VocabularyWire> for Vocabulary {
    type Error = TextError;

    fn try_from(wire: VocabularyWire) -> Result<Self, TextError> {
        validate(&wire.config)?;
        let splitter = UnitSplitter::new(&wire.config)?;
        if wire.units.len() > u32::MAX as usize - RESERVED_IDS {
            return Err(TextError::VocabularyTooLarge);
        }
        if let Some(max_size) = wire.config.max_size
            && wire.units.len() + RESERVED_IDS > max_size
        {
            return Err(TextError::InvalidModel(format!(
                "{} units exceed max_size {max_size}",
                wire.units.len()
            )));
        }
        let vocabulary = Self::from_parts(wire.config, splitter, wire.units);
        if vocabulary.index.len() != vocabulary.units.len() {
            return Err(TextError::InvalidModel(
                "duplicate units in vocabulary".to_owned(),
            ));
        }
        Ok(vocabulary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn token_config() -> SequenceConfig {
        SequenceConfig {
            unit: SequenceUnit::Token {
                pattern: SECURITY_TOKEN_PATTERN.to_owned(),
            },
            max_len: 6,
            ..SequenceConfig::default()
        }
    }

    #[test]
    fn ids_follow_descending_count_then_code_point() {
        let vocabulary = Vocabulary::fit(SequenceConfig::default(), ["abca", "Cb!"]).expect("fits");
        // Counts: a 2, b 2, c 2, ! 1 -> ids a 2, b 3, c 4, ! 5.
        assert_eq!(vocabulary.units(), ["a", "b", "c", "!"]);
        assert_eq!(vocabulary.len(), 6);
        assert_eq!(vocabulary.encode("Abz!"), [2, 3, OOV_ID, 5]);
        assert_eq!(vocabulary.unit(4), Some("c"));
        assert_eq!(vocabulary.unit(PAD_ID), None);
        assert_eq!(vocabulary.unit(OOV_ID), None);
        assert_eq!(vocabulary.unit(6), None);
    }

    #[test]
    fn min_count_and_max_size_prune() {
        let corpus = ["select select union", "select from x", "union"];
        let config = SequenceConfig {
            min_count: 2,
            ..token_config()
        };
        let vocabulary = Vocabulary::fit(config, corpus).expect("fits");
        assert_eq!(vocabulary.units(), ["select", "union"]);
        let config = SequenceConfig {
            max_size: Some(3),
            ..token_config()
        };
        let vocabulary = Vocabulary::fit(config, corpus).expect("fits");
        assert_eq!(vocabulary.units(), ["select"]);
        assert_eq!(vocabulary.encode("union select"), [OOV_ID, 2]);
        let too_strict = SequenceConfig {
            min_count: 10,
            ..token_config()
        };
        assert!(matches!(
            Vocabulary::fit(too_strict, corpus),
            Err(TextError::NoTermsAfterPruning)
        ));
        assert!(matches!(
            Vocabulary::fit(token_config(), [" ", ""]),
            Err(TextError::EmptyVocabulary)
        ));
    }

    #[test]
    fn truncation_keeps_the_head_and_padding_fills_the_tail() {
        let vocabulary = Vocabulary::fit(token_config(), ["a b c d e f g h"]).expect("fits");
        // All counts 1: ids by code point, a = 2 ... h = 9; max_len 6.
        assert_eq!(vocabulary.encode("a b c d e f g h"), [2, 3, 4, 5, 6, 7]);
        let mut out = [99u32; 8];
        assert_eq!(vocabulary.encode_padded("h ? a", &mut out), 3);
        assert_eq!(out, [9, OOV_ID, 2, PAD_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID]);
        assert_eq!(vocabulary.encode_padded("a b c d e f g h", &mut out), 6);
        assert_eq!(out, [2, 3, 4, 5, 6, 7, PAD_ID, PAD_ID]);
        let mut short = [99u32; 2];
        assert_eq!(vocabulary.encode_padded("a b c", &mut short), 2);
        assert_eq!(short, [2, 3]);
        assert_eq!(vocabulary.encode_padded("a", &mut []), 0);
        assert_eq!(vocabulary.encode(""), Vec::<u32>::new());
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let zero_len = SequenceConfig {
            max_len: 0,
            ..SequenceConfig::default()
        };
        assert!(matches!(
            Vocabulary::fit(zero_len, ["a"]),
            Err(TextError::InvalidMaxLen)
        ));
        let tiny = SequenceConfig {
            max_size: Some(2),
            ..SequenceConfig::default()
        };
        assert!(matches!(
            Vocabulary::fit(tiny, ["a"]),
            Err(TextError::InvalidMaxSize(2))
        ));
        let bad_pattern = SequenceConfig {
            unit: SequenceUnit::Token {
                pattern: "[".to_owned(),
            },
            ..SequenceConfig::default()
        };
        assert!(matches!(
            Vocabulary::fit(bad_pattern, ["a"]),
            Err(TextError::InvalidPattern { .. })
        ));
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let vocabulary =
            Vocabulary::fit(token_config(), ["GET /a.php?id=1", "GET /b.jsp"]).expect("fits");
        let json = serde_json::to_string(&vocabulary).expect("serialises");
        let loaded: Vocabulary = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(loaded, vocabulary);
        assert_eq!(loaded.encode("get /c.php"), vocabulary.encode("get /c.php"));
        let duplicate = r#"{"config": {}, "units": ["a", "a"]}"#;
        assert!(serde_json::from_str::<Vocabulary>(duplicate).is_err());
        let oversized = r#"{"config": {"max_size": 3}, "units": ["a", "b"]}"#;
        assert!(serde_json::from_str::<Vocabulary>(oversized).is_err());
        let unit: SequenceUnit = serde_json::from_str(r#"{"kind": "token"}"#).expect("valid");
        assert_eq!(
            unit,
            SequenceUnit::Token {
                pattern: SECURITY_TOKEN_PATTERN.to_owned()
            }
        );
    }

    proptest! {
        #[test]
        fn encodings_are_bounded_and_in_range(
            corpus in prop::collection::vec("\\PC{1,20}", 1..5),
            text in "\\PC{0,40}",
            max_len in 1usize..50,
            char_unit: bool,
        ) {
            let config = SequenceConfig {
                unit: if char_unit { SequenceUnit::Char } else { SequenceUnit::Token { pattern: SECURITY_TOKEN_PATTERN.to_owned() } },
                max_len,
                ..SequenceConfig::default()
            };
            let Ok(vocabulary) = Vocabulary::fit(config, &corpus) else {
                return Ok(());
            };
            let ids = vocabulary.encode(&text);
            prop_assert!(ids.len() <= max_len);
            prop_assert!(ids.iter().all(|&id| id != PAD_ID && (id as usize) < vocabulary.len()));
            let mut padded = vec![u32::MAX; max_len + 3];
            let written = vocabulary.encode_padded(&text, &mut padded);
            prop_assert_eq!(&padded[..written], &ids[..]);
            prop_assert!(padded[written..].iter().all(|&id| id == PAD_ID));
            // Every training text encodes without OOV (char units).
            if char_unit {
                for text in &corpus {
                    prop_assert!(!vocabulary.encode(text).contains(&OOV_ID));
                }
            }
        }
    }
}
