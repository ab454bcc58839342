//! Fixed detection rules: libinjection's SQL injection and XSS detectors (through the pure-Rust
//! `libinjectionrs` port) on a request's parameter values.
//!
//! Nothing is learnt: [`fit`] ignores the training texts and returns at once, so the family is
//! run, measured, saved and served like any other, as the rule-based baseline the learnt
//! models are compared with. A text scores 1.0 when any checked value ([`params`]) is SQLi or
//! XSS to libinjection, else 0.0; libinjection gives a verdict, not a confidence, so the score
//! is that verdict and the model's own threshold is 0.5. [`LibinjectionModel::findings`] says
//! which values were flagged, with libinjection's SQLi fingerprint, for explanations.
//! `docs/libinjection-parity.md` compares the port with the C library on every parameter
//! value of the shipped datasets.

mod params;

use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;

use libinjectionrs::{SqliFlags, SqliState};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::params::{Parts, parameter_values};
use crate::model::{Persist, Scorer, TrainData, TrainObserver};
use crate::{ModelError, Result};

/// The `[model]` table of `kind = "libinjection"`: which detectors run on which parts of a
/// request. The defaults are the peer reference's (SQLi and XSS on query values), plus the
/// form body of texts that carry one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LibinjectionConfig {
    /// Flag values libinjection reads as SQL injection.
    pub sqli: bool,
    /// Flag values libinjection reads as cross-site scripting.
    pub xss: bool,
    /// Check the values of the query string.
    pub query: bool,
    /// Check the values of a form body (texts `METHOD target body`, as CSIC 2010's).
    pub body: bool,
    /// Also check the path (before the query) as one value; off in the reference.
    pub path: bool,
    /// Read `+` in a value as a space, as form decoding does (`application/x-www-form-urlencoded`:
    /// what the application sees); off in the reference, which only percent-decodes.
    pub plus_as_space: bool,
}

impl Default for LibinjectionConfig {
    fn default() -> Self {
        LibinjectionConfig {
            sqli: true,
            xss: true,
            query: true,
            body: true,
            path: false,
            plus_as_space: false,
        }
    }
}

impl LibinjectionConfig {
    /// At least one detector, on at least one part of the request.
    pub fn validate(&self) -> Result<()> {
        if !self.sqli && !self.xss {
            return Err(ModelError::config(
                "model.sqli",
                "`sqli` and `xss` are both false: the model would flag nothing",
            ));
        }
        if !self.query && !self.body && !self.path {
            return Err(ModelError::config(
                "model.query",
                "`query`, `body` and `path` are all false: the model would check nothing",
            ));
        }
        Ok(())
    }

    fn parts(&self) -> Parts {
        Parts {
            query: self.query,
            body: self.body,
            path: self.path,
        }
    }
}

/// What libinjection found in one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attack {
    Sqli,
    Xss,
}

impl Attack {
    pub fn name(self) -> &'static str {
        match self {
            Attack::Sqli => "sqli",
            Attack::Xss => "xss",
        }
    }
}

/// A flagged value of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Byte range of the value in the text.
    pub range: Range<usize>,
    pub attack: Attack,
    /// libinjection's SQLi fingerprint (one letter per folded token, e.g. `s&sos`); `None`
    /// for XSS, which has none.
    pub fingerprint: Option<String>,
}

/// libinjection with its options: a [`Scorer`] of raw request texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibinjectionModel {
    config: LibinjectionConfig,
}

/// "Trains" the model: checks the config, ignores the texts (the rules are fixed).
pub fn fit(
    config: &LibinjectionConfig,
    _data: &TrainData<'_>,
    observer: &mut dyn TrainObserver,
) -> Result<LibinjectionModel> {
    config.validate()?;
    observer.note("libinjection learns nothing: its rules are fixed");
    Ok(LibinjectionModel::new(config.clone()))
}

/// Texts scored per rayon task: enough to amortise the task, small enough to balance.
const TEXTS_PER_TASK: usize = 256;

impl LibinjectionModel {
    pub fn new(config: LibinjectionConfig) -> Self {
        LibinjectionModel { config }
    }

    pub fn config(&self) -> &LibinjectionConfig {
        &self.config
    }

    /// The threshold of a 0/1 score.
    pub fn default_threshold(&self) -> f64 {
        0.5
    }

    /// Whether any checked value of `text` is flagged.
    pub fn flags(&self, text: &str) -> bool {
        parameter_values(text, self.config.parts())
            .into_iter()
            .any(|range| self.attack(&text[range]).is_some())
    }

    /// Every flagged value of `text`, in order (SQLi first when a value is both).
    pub fn findings(&self, text: &str) -> Vec<Finding> {
        parameter_values(text, self.config.parts())
            .into_iter()
            .filter_map(|range| {
                let value = self.as_read(&text[range.clone()]);
                let attack = self.attack_on_read(value.as_bytes())?;
                let fingerprint =
                    (attack == Attack::Sqli).then(|| sqli_fingerprint(value.as_bytes()));
                Some(Finding {
                    range,
                    attack,
                    fingerprint,
                })
            })
            .collect()
    }

    /// The value as the application reads it.
    fn as_read<'a>(&self, value: &'a str) -> Cow<'a, str> {
        if self.config.plus_as_space && value.contains('+') {
            Cow::Owned(value.replace('+', " "))
        } else {
            Cow::Borrowed(value)
        }
    }

    fn attack(&self, value: &str) -> Option<Attack> {
        self.attack_on_read(self.as_read(value).as_bytes())
    }

    fn attack_on_read(&self, value: &[u8]) -> Option<Attack> {
        if self.config.sqli && is_sqli(value) {
            Some(Attack::Sqli)
        } else if self.config.xss && is_xss(value) {
            Some(Attack::Xss)
        } else {
            None
        }
    }
}

/// libinjection's `libinjection_sqli` verdict (its default flags: every quote context and
/// both SQL dialects are tried).
pub fn is_sqli(value: &[u8]) -> bool {
    let mut state = SqliState::new(value, SqliFlags::FLAG_NONE);
    state.detect()
}

/// libinjection's `libinjection_xss` verdict.
pub fn is_xss(value: &[u8]) -> bool {
    libinjectionrs::detect_xss(value).is_injection()
}

/// The fingerprint `libinjection_sqli` leaves in its state: that of the context that matched,
/// else of the last context tried.
pub fn sqli_fingerprint(value: &[u8]) -> String {
    libinjectionrs::detect_sqli(value)
        .fingerprint
        .map(|f| f.as_str().to_owned())
        .unwrap_or_default()
}

impl Scorer for LibinjectionModel {
    fn score_batch(&self, texts: &[&str]) -> Vec<f64> {
        let mut scores = vec![0.0; texts.len()];
        scores
            .par_chunks_mut(TEXTS_PER_TASK)
            .zip(texts.par_chunks(TEXTS_PER_TASK))
            .for_each(|(out, chunk)| {
                for (score, text) in out.iter_mut().zip(chunk) {
                    *score = self.score_one(text);
                }
            });
        scores
    }

    fn score_one(&self, text: &str) -> f64 {
        if self.flags(text) { 1.0 } else { 0.0 }
    }
}

/// The JSON file of a saved model.
const META_FILE: &str = "libinjection.json";
const META_VERSION: u32 = 1;

/// What [`META_FILE`] holds: the options, and the port's version for readers (a later version
/// may flag differently; it is recorded, not enforced).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedMeta {
    format_version: u32,
    config: LibinjectionConfig,
    libinjectionrs_version: String,
}

impl Persist for LibinjectionModel {
    fn save(&self, dir: &Path) -> Result<()> {
        let meta = SavedMeta {
            format_version: META_VERSION,
            config: self.config.clone(),
            libinjectionrs_version: libinjectionrs::version().to_owned(),
        };
        let path = dir.join(META_FILE);
        let json = serde_json::to_vec_pretty(&meta)
            .map_err(|err| ModelError::artifact(&path, format!("cannot serialise: {err}")))?;
        std::fs::write(&path, json).map_err(|err| ModelError::io(&path, "cannot write", err))
    }

    fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(META_FILE);
        let raw = std::fs::read(&path).map_err(|err| ModelError::io(&path, "cannot read", err))?;
        let meta: SavedMeta = serde_json::from_slice(&raw)
            .map_err(|err| ModelError::artifact(&path, format!("malformed: {err}")))?;
        if meta.format_version != META_VERSION {
            return Err(ModelError::artifact(
                &path,
                format!("unknown format version {}", meta.format_version),
            ));
        }
        meta.config
            .validate()
            .map_err(|err| ModelError::artifact(&path, err.to_string()))?;
        Ok(LibinjectionModel::new(meta.config))
    }
}

#[cfg(test)]
mod tests;
