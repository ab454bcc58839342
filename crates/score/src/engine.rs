//! The scoring engine: a loaded model, its decision threshold, and verdicts with the features
//! that drove each score.
//!
//! Scores come from the model's own `score_batch`, the same function that measured it at
//! training time, after the same decoding as the training data (the training dataset's
//! `decode` table: percent-decoding, charset, trimming), so a raw request scores here, in
//! `vigie score` and in the service exactly as its line scored in the run's metrics.
//! Explanations: for the linear models, the terms of the text with the largest weight × TF-IDF
//! value (exact: the score is their sum plus the bias); for libinjection, the values it flagged
//! with their SQLi fingerprint; for the other families, occlusion: each security token of the
//! text is removed in turn and the drop in score is its weight.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;
use vigie_data::DecodeConfig;
use vigie_data::features::attack_family;
use vigie_data::text::SECURITY_TOKEN_PATTERN;
use vigie_models::Scorer;
use vigie_models::artifact::{Manifest, SavedModel};
use vigie_models::metrics::ThresholdRule;
use vigie_models::spec::TrainedModel;

use crate::error::{Result, ScoreError};

/// At most this many tokens of one text are occluded (one rescoring each).
pub const MAX_OCCLUDED_TOKENS: usize = 96;

/// How the features of a verdict were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExplanationMethod {
    /// A linear model's weight × TF-IDF value per term (exact).
    Weights,
    /// The score drop when a token is removed.
    Occlusion,
    /// The values fixed rules flagged (libinjection), each enough on its own for the score.
    Rules,
}

/// One feature that pushed a text toward "malicious".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feature {
    /// The term or token.
    pub text: String,
    /// Its share of the score (weight × value, or the score drop without it).
    pub weight: f64,
    /// Byte ranges `[start, end)` of the text where it occurs (empty when it cannot be placed,
    /// e.g. a term of the normalised text that differs from the raw one).
    pub spans: Vec<[usize; 2]>,
}

/// What the model says about one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The request as the model saw it (decoded).
    pub text: String,
    pub score: f64,
    pub threshold: f64,
    pub malicious: bool,
    /// The attack family the text's patterns point to (`sqli`, `xss`, ..., `none`).
    pub family: &'static str,
    /// Strongest first; empty when not asked for.
    pub features: Vec<Feature>,
    pub method: Option<ExplanationMethod>,
}

/// Where the decision threshold comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source", content = "value")]
pub enum ThresholdSource {
    /// Chosen on the validation split at training time and stored with the model.
    Stored,
    /// Given on the command line (`--threshold`).
    Given,
    /// Chosen again on the validation scores kept with the model, for a target false-positive
    /// rate (`--target-fpr`), by the rule training uses; with what it gives on that split.
    TargetFpr {
        fpr: f64,
        valid_fpr: f64,
        valid_tpr: f64,
    },
}

impl ThresholdSource {
    /// One word for `/version` and the terminal.
    pub fn name(&self) -> &'static str {
        match self {
            ThresholdSource::Stored => "stored",
            ThresholdSource::Given => "given",
            ThresholdSource::TargetFpr { .. } => "target_fpr",
        }
    }
}

/// A threshold asked for when loading a model, instead of the stored one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdOverride {
    /// `--threshold`.
    Value(f64),
    /// `--target-fpr`.
    TargetFpr(f64),
}

/// A model ready to score.
pub struct Engine {
    model: SavedModel,
    threshold: f64,
    threshold_source: ThresholdSource,
    /// Where the model came from, for messages and `/version`.
    origin: String,
    /// How raw requests become model input; `None`: scored as given.
    decode: Option<DecodeConfig>,
}

impl Engine {
    pub fn new(model: SavedModel, origin: impl Into<String>) -> Engine {
        let threshold = model.threshold();
        Engine {
            model,
            threshold,
            threshold_source: ThresholdSource::Stored,
            origin: origin.into(),
            decode: Some(DecodeConfig::default()),
        }
    }

    /// Decodes raw requests with `decode` (the training dataset's), or not at all (`None`).
    pub fn with_decode(mut self, decode: Option<DecodeConfig>) -> Engine {
        self.decode = decode;
        self
    }

    /// The model input for a raw request.
    pub fn prepare<'a>(&self, raw: &'a str) -> std::borrow::Cow<'a, str> {
        match &self.decode {
            Some(decode) => std::borrow::Cow::Owned(decode.normalize(raw.as_bytes()).0),
            None => std::borrow::Cow::Borrowed(raw),
        }
    }

    /// Replaces the stored threshold.
    pub fn with_threshold(mut self, threshold: f64) -> Result<Engine> {
        if !threshold.is_finite() {
            return Err(ScoreError::Invalid(format!(
                "--threshold: {threshold} is not a finite number"
            )));
        }
        self.threshold = threshold;
        self.threshold_source = ThresholdSource::Given;
        Ok(self)
    }

    /// Chooses the threshold again on the validation scores kept with the model, for the
    /// false-positive rate `fpr` (the rule training uses for `threshold.rule = "target_fpr"`).
    pub fn with_target_fpr(mut self, fpr: f64) -> Result<Engine> {
        let rule = ThresholdRule::TargetFpr { fpr };
        rule.validate()
            .map_err(|e| ScoreError::Invalid(format!("--target-fpr: {e}")))?;
        let validation = self.model.validation.as_ref().ok_or_else(|| {
            ScoreError::Invalid(format!(
                "--target-fpr: the model {} keeps no validation scores (it was saved by an older \
                 Vigie); train it again, or give --threshold",
                self.origin
            ))
        })?;
        let choice = validation.choose(&rule, self.model.manifest.threshold)?;
        self.threshold = choice.threshold;
        self.threshold_source = ThresholdSource::TargetFpr {
            fpr,
            valid_fpr: choice.valid_fpr,
            valid_tpr: choice.valid_tpr,
        };
        Ok(self)
    }

    /// Applies `--threshold` or `--target-fpr`, if one was given.
    pub fn with_override(self, threshold: Option<ThresholdOverride>) -> Result<Engine> {
        match threshold {
            None => Ok(self),
            Some(ThresholdOverride::Value(value)) => self.with_threshold(value),
            Some(ThresholdOverride::TargetFpr(fpr)) => self.with_target_fpr(fpr),
        }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.model.manifest
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn threshold_source(&self) -> ThresholdSource {
        self.threshold_source
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Scores of raw requests, higher meaning more likely malicious.
    pub fn score(&self, raw: &[&str]) -> Vec<f64> {
        self.prepared_and_scored(raw).1
    }

    /// Each raw request as the model reads it (decoded), and its score.
    fn prepared_and_scored<'a>(&self, raw: &[&'a str]) -> (Vec<Cow<'a, str>>, Vec<f64>) {
        let prepared: Vec<Cow<'a, str>> = raw.iter().map(|r| self.prepare(r)).collect();
        let texts: Vec<&str> = prepared.iter().map(|t| t.as_ref()).collect();
        let scores = self.model.score_batch(&texts);
        (prepared, scores)
    }

    /// Scores of raw requests, each with the attack family of the text the model saw when it
    /// is an alert (at or over the threshold): what monitoring counts. The family is worked out
    /// for alerts only.
    pub fn score_with_alerts(&self, raw: &[&str]) -> Vec<(f64, Option<&'static str>)> {
        let (prepared, scores) = self.prepared_and_scored(raw);
        prepared
            .iter()
            .zip(scores)
            .map(|(text, score)| {
                let alert = (score >= self.threshold).then(|| attack_family(text).name());
                (score, alert)
            })
            .collect()
    }

    /// Scores of requests already decoded by [`Engine::prepare`] (for callers that look at the
    /// decoded text too, without decoding twice).
    pub fn score_prepared(&self, texts: &[&str]) -> Vec<f64> {
        self.model.score_batch(texts)
    }

    /// The benign and malicious validation scores kept with the model, when it keeps them.
    pub fn validation(&self) -> Option<&vigie_models::artifact::ValidationScores> {
        self.model.validation.as_ref()
    }

    /// A verdict per raw request, each with its `top` strongest features (0: none, cheaper).
    /// Feature spans point into the decoded text (`Verdict::text`).
    pub fn verdicts(&self, raw: &[&str], top: usize) -> Vec<Verdict> {
        let (prepared, scores) = self.prepared_and_scored(raw);
        prepared
            .iter()
            .zip(scores)
            .map(|(text, score)| {
                let text: &str = text;
                let (features, method) = if top == 0 {
                    (Vec::new(), None)
                } else {
                    let (features, method) = self.explain(text, score, top);
                    (features, Some(method))
                };
                Verdict {
                    text: text.to_owned(),
                    score,
                    threshold: self.threshold,
                    malicious: score >= self.threshold,
                    family: attack_family(text).name(),
                    features,
                    method,
                }
            })
            .collect()
    }

    /// The `top` features that pushed `text` (scored `score`) toward malicious.
    pub fn explain(&self, text: &str, score: f64, top: usize) -> (Vec<Feature>, ExplanationMethod) {
        match &self.model.model {
            TrainedModel::Linear(linear) => {
                let lowered = text.to_ascii_lowercase();
                let features = linear
                    .contributions(text, usize::MAX)
                    .into_iter()
                    .filter(|c| c.contribution > 0.0)
                    .take(top)
                    .map(|c| Feature {
                        spans: find_spans(&lowered, &c.term),
                        text: c.term,
                        weight: f64::from(c.contribution),
                    })
                    .collect();
                (features, ExplanationMethod::Weights)
            }
            TrainedModel::Libinjection(rules) => {
                let features = rules
                    .findings(text)
                    .into_iter()
                    .take(top)
                    .map(|finding| {
                        let value = &text[finding.range.clone()];
                        let what = match &finding.fingerprint {
                            Some(fingerprint) => {
                                format!("{}, fingerprint {fingerprint}", finding.attack.name())
                            }
                            None => finding.attack.name().to_owned(),
                        };
                        Feature {
                            text: format!("{value} ({what})"),
                            weight: 1.0,
                            spans: vec![[finding.range.start, finding.range.end]],
                        }
                    })
                    .collect();
                (features, ExplanationMethod::Rules)
            }
            _ => (self.occlude(text, score, top), ExplanationMethod::Occlusion),
        }
    }

    /// `text` is already decoded: occluded variants are scored as they are.
    fn occlude(&self, text: &str, score: f64, top: usize) -> Vec<Feature> {
        let tokens: Vec<(usize, usize)> = token_pattern()
            .find_iter(text)
            .map(|m| (m.start(), m.end()))
            .take(MAX_OCCLUDED_TOKENS)
            .collect();
        if tokens.is_empty() {
            return Vec::new();
        }
        let occluded: Vec<String> = tokens
            .iter()
            .map(|&(start, end)| format!("{}{}", &text[..start], &text[end..]))
            .collect();
        let refs: Vec<&str> = occluded.iter().map(String::as_str).collect();
        let without = self.model.score_batch(&refs);
        let mut features: Vec<Feature> = tokens
            .iter()
            .zip(without)
            .filter_map(|(&(start, end), rest)| {
                let drop = score - rest;
                (drop > 0.0).then(|| Feature {
                    text: text[start..end].to_owned(),
                    weight: drop,
                    spans: vec![[start, end]],
                })
            })
            .collect();
        features.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        features.truncate(top);
        features
    }
}

fn token_pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        // The pattern is a constant tested in vigie-data; a failure here is a bug, and the
        // fallback (any non-space run) still gives usable occlusion.
        Regex::new(SECURITY_TOKEN_PATTERN)
            .or_else(|_| Regex::new(r"\S+"))
            .unwrap_or_else(|_| unreachable!("a literal pattern compiles"))
    })
}

/// Byte ranges of `term` in `lowered` (the text lowercased in ASCII, same offsets); a term
/// made of several words (an n-gram of tokens) is placed word by word.
fn find_spans(lowered: &str, term: &str) -> Vec<[usize; 2]> {
    let mut spans: Vec<[usize; 2]> = lowered
        .match_indices(term)
        .map(|(start, m)| [start, start + m.len()])
        .collect();
    if spans.is_empty() && term.contains(' ') {
        for word in term.split(' ').filter(|w| !w.is_empty()) {
            spans.extend(
                lowered
                    .match_indices(word)
                    .map(|(start, m)| [start, start + m.len()]),
            );
        }
        spans.sort_unstable();
        spans.dedup();
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_found_case_insensitively_and_word_by_word() {
        let text = "GET /a.php?id=1 UNION select";
        let lowered = text.to_ascii_lowercase();
        assert_eq!(find_spans(&lowered, "union"), vec![[16, 21]]);
        assert_eq!(&text[16..21], "UNION");
        assert_eq!(find_spans(&lowered, "union select"), vec![[16, 28]]);
        assert_eq!(find_spans(&lowered, "id union"), vec![[11, 13], [16, 21]]);
        assert!(find_spans(&lowered, "drop").is_empty());
    }
}
