//! Turning request text into terms exactly as scikit-learn's analyzers do.
//!
//! [`Tokenizer`] reproduces `CountVectorizer(analyzer=...).build_analyzer()`
//! for the `"char"`, `"char_wb"` and `"word"` analyzers (no stop words, no
//! accent stripping). Terms are handed to a callback as `&str` slices of
//! reusable buffers held in a [`TokenScratch`], so the hot path allocates
//! nothing per term.
//!
//! Word patterns are written as for scikit-learn (Python's `re`) and run on
//! the `regex` crate after their `\w`, `\d` and `\s` classes are rewritten to
//! Python's members (the crates' differ: `¼` is a word char only in Python,
//! a combining accent only in Rust; U+001C..=U+001F are spaces only in
//! Python). Left as in the regex crate: `\b`/`\B` (Rust's word chars; exact
//! on text whose word chars agree), empty-match iteration, and syntax the two
//! engines do not share. The two built-in patterns, [`SECURITY_TOKEN_PATTERN`]
//! and [`SKLEARN_TOKEN_PATTERN`], run on hand-written scanners with exact
//! Python semantics, `\b` included.

use std::sync::OnceLock;

use regex::Regex;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::error::TextError;
use super::pyspace::{collapse_whitespace_runs_into, is_python_space};
use crate::request::{RequestScratch, RequestTermOptions, for_each_request_term};

/// The security tokeniser: runs of letters (word characters that are not
/// digits), runs of digits, and every other non-space character on its own,
/// so that `'`, `<`, `;`, `%` and friends each become a token.
pub const SECURITY_TOKEN_PATTERN: &str = r"[^\W\d]+|\d+|[^\w\s]";

/// scikit-learn's default `token_pattern`: words of two or more characters.
pub const SKLEARN_TOKEN_PATTERN: &str = r"(?u)\b\w\w+\b";

fn default_ngram() -> usize {
    1
}

fn default_pattern() -> String {
    SECURITY_TOKEN_PATTERN.to_owned()
}

/// How text is cut into terms; the n-gram bounds are inclusive, as
/// scikit-learn's `ngram_range`, and default to `(1, 1)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Analyzer {
    /// scikit-learn `analyzer="char"`: every character n-gram of the text
    /// once runs of two or more whitespace characters are collapsed to `' '`.
    Char {
        /// Smallest n-gram length in characters.
        #[serde(default = "default_ngram")]
        ngram_min: usize,
        /// Largest n-gram length in characters.
        #[serde(default = "default_ngram")]
        ngram_max: usize,
    },
    /// scikit-learn `analyzer="char_wb"`: character n-grams inside each
    /// whitespace-separated word padded with one space on each side.
    CharWb {
        /// Smallest n-gram length in characters.
        #[serde(default = "default_ngram")]
        ngram_min: usize,
        /// Largest n-gram length in characters.
        #[serde(default = "default_ngram")]
        ngram_max: usize,
    },
    /// scikit-learn `analyzer="word"`: tokens found by `pattern` (group 1 if
    /// it has a capture group), then token n-grams joined by one space.
    Word {
        /// Token regex as written for scikit-learn (`\w`, `\d`, `\s` mean
        /// what they mean in Python; see the module docs); defaults to
        /// [`SECURITY_TOKEN_PATTERN`].
        #[serde(default = "default_pattern")]
        pattern: String,
        /// Smallest n-gram length in tokens.
        #[serde(default = "default_ngram")]
        ngram_min: usize,
        /// Largest n-gram length in tokens.
        #[serde(default = "default_ngram")]
        ngram_max: usize,
    },
    /// Requests as structure ([`crate::request`]): each field of the parsed request,
    /// canonicalised and reduced to its attack-relevant tokens, as token n-grams tagged by
    /// where the field sits (`p:` path, `v:` value, `n:` unusual parameter name). Case is
    /// folded by the canonicalisation, whatever `lowercase` says.
    Request {
        /// Smallest n-gram length in tokens.
        #[serde(default = "default_ngram")]
        ngram_min: usize,
        /// Largest n-gram length in tokens.
        #[serde(default = "default_ngram")]
        ngram_max: usize,
        /// Add libinjection's verdicts and SQLi fingerprints on each value as terms.
        #[serde(default = "default_true")]
        rules: bool,
    },
}

fn default_true() -> bool {
    true
}

impl Analyzer {
    /// Security-pattern word n-grams from `ngram_min` to `ngram_max` tokens.
    pub fn security_words(ngram_min: usize, ngram_max: usize) -> Self {
        Self::Word {
            pattern: default_pattern(),
            ngram_min,
            ngram_max,
        }
    }

    /// The inclusive `(min, max)` n-gram range.
    pub fn ngram_range(&self) -> (usize, usize) {
        match self {
            Self::Char {
                ngram_min,
                ngram_max,
            }
            | Self::CharWb {
                ngram_min,
                ngram_max,
            }
            | Self::Word {
                ngram_min,
                ngram_max,
                ..
            }
            | Self::Request {
                ngram_min,
                ngram_max,
                ..
            } => (*ngram_min, *ngram_max),
        }
    }

    /// The n-gram range when the n-grams of ASCII text can be read as packed integer keys
    /// ([`super::ascii_ngrams`]): the char analyzer with n-grams of at most
    /// [`MAX_PACKED`](super::ascii_ngrams::MAX_PACKED) bytes.
    pub(crate) fn packed_char_ngrams(&self) -> Option<(usize, usize)> {
        match *self {
            Self::Char {
                ngram_min,
                ngram_max,
            } if ngram_min >= 1 && ngram_max <= super::ascii_ngrams::MAX_PACKED => {
                Some((ngram_min, ngram_max))
            }
            _ => None,
        }
    }
}

impl Default for Analyzer {
    /// Security-pattern word unigrams (scikit-learn's own default pattern is
    /// [`SKLEARN_TOKEN_PATTERN`], which drops the punctuation attacks use).
    fn default() -> Self {
        Self::security_words(1, 1)
    }
}

/// An [`Analyzer`] plus the preprocessing scikit-learn applies before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizerConfig {
    /// How text is cut into terms.
    pub analyzer: Analyzer,
    /// Lowercase with `str::to_lowercase` first (scikit-learn's default).
    pub lowercase: bool,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            analyzer: Analyzer::default(),
            lowercase: true,
        }
    }
}

/// Reusable buffers for [`Tokenizer::for_each_term`]; keep one per thread.
#[derive(Debug, Default, Clone)]
pub struct TokenScratch {
    lowered: String,
    collapsed: String,
    padded: String,
    joined: String,
    boundaries: Vec<usize>,
    spans: Vec<(usize, usize)>,
    classes: CharClassMemo,
    request: RequestScratch,
}

impl TokenScratch {
    /// Empty buffers; they grow to fit the longest text seen.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A validated, compiled [`TokenizerConfig`]. Serialises as its config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "TokenizerConfig", into = "TokenizerConfig")]
pub struct Tokenizer {
    config: TokenizerConfig,
    /// Present for [`Analyzer::Word`] only.
    matcher: Option<TokenMatcher>,
    ngram_min: usize,
    ngram_max: usize,
}

impl Tokenizer {
    /// Validates the n-gram range and compiles the token pattern.
    pub fn new(config: TokenizerConfig) -> Result<Self, TextError> {
        let (ngram_min, ngram_max) = config.analyzer.ngram_range();
        if ngram_min == 0 || ngram_min > ngram_max {
            return Err(TextError::InvalidNgramRange {
                min: ngram_min,
                max: ngram_max,
            });
        }
        let matcher = match &config.analyzer {
            Analyzer::Word { pattern, .. } => Some(TokenMatcher::new(pattern)?),
            Analyzer::Char { .. } | Analyzer::CharWb { .. } | Analyzer::Request { .. } => None,
        };
        Ok(Self {
            config,
            matcher,
            ngram_min,
            ngram_max,
        })
    }

    /// The configuration this tokeniser was built from.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// Calls `emit` with every term of `text`, in scikit-learn's order
    /// (all n-grams of the smallest n first, except for `char_wb`, which goes
    /// word by word). Terms borrow `scratch` and are valid during the call.
    pub fn for_each_term(
        &self,
        text: &str,
        scratch: &mut TokenScratch,
        mut emit: impl FnMut(&str),
    ) {
        let TokenScratch {
            lowered,
            collapsed,
            padded,
            joined,
            boundaries,
            spans,
            classes,
            request,
        } = scratch;
        let (min_n, max_n) = (self.ngram_min, self.ngram_max);
        if let Analyzer::Request { rules, .. } = self.config.analyzer {
            let options = RequestTermOptions {
                ngram_min: min_n,
                ngram_max: max_n,
                rules,
            };
            for_each_request_term(text, options, request, &mut emit);
            return;
        }
        let source: &str = if self.config.lowercase {
            lowercase_into(text, lowered);
            lowered
        } else {
            text
        };
        match &self.matcher {
            Some(matcher) => {
                matcher.spans_into(source, classes, spans);
                word_ngrams(source, spans, min_n, max_n, joined, &mut emit);
            }
            None if matches!(self.config.analyzer, Analyzer::CharWb { .. }) => {
                // `split()` ignores how whitespace runs are spelled, so the
                // collapsing sklearn does first cannot change the result.
                char_wb_ngrams(source, min_n, max_n, padded, boundaries, &mut emit);
            }
            None => {
                collapsed.clear();
                collapse_whitespace_runs_into(source, collapsed);
                char_ngrams(collapsed, min_n, max_n, boundaries, &mut emit);
            }
        }
    }

    /// All terms of `text` as owned strings (convenient, not for hot loops).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut terms = Vec::new();
        self.for_each_term(text, &mut TokenScratch::new(), |term| {
            terms.push(term.to_owned())
        });
        terms
    }
}

impl TryFrom<TokenizerConfig> for Tokenizer {
    type Error = TextError;

    fn try_from(config: TokenizerConfig) -> Result<Self, TextError> {
        Self::new(config)
    }
}

impl From<Tokenizer> for TokenizerConfig {
    fn from(tokenizer: Tokenizer) -> Self {
        tokenizer.config
    }
}

/// Writes `text.to_lowercase()` into `out` (cleared first) without
/// allocating a new string in the common cases.
pub(crate) fn lowercase_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        out.push_str(text);
        out.make_ascii_lowercase();
    } else if text.contains('Σ') {
        // Final sigma depends on context: only `str::to_lowercase` knows.
        out.push_str(&text.to_lowercase());
    } else {
        // Without 'Σ', `str::to_lowercase` is exactly the per-char mapping.
        for c in text.chars() {
            out.extend(c.to_lowercase());
        }
    }
}

/// Fills `boundaries` with the byte offset of every char of `text` plus
/// `text.len()`, so that char range `i..j` is bytes
/// `boundaries[i]..boundaries[j]`.
fn char_boundaries_into(text: &str, boundaries: &mut Vec<usize>) {
    boundaries.clear();
    boundaries.extend(text.char_indices().map(|(offset, _)| offset));
    boundaries.push(text.len());
}

/// sklearn `_char_ngrams` on already whitespace-collapsed text.
fn char_ngrams(
    text: &str,
    min_n: usize,
    max_n: usize,
    boundaries: &mut Vec<usize>,
    emit: &mut impl FnMut(&str),
) {
    if text.is_ascii() {
        let len = text.len();
        for n in min_n..=max_n.min(len) {
            for start in 0..=len - n {
                emit(&text[start..start + n]);
            }
        }
        return;
    }
    char_boundaries_into(text, boundaries);
    let len = boundaries.len() - 1;
    for n in min_n..=max_n.min(len) {
        for start in 0..=len - n {
            emit(&text[boundaries[start]..boundaries[start + n]]);
        }
    }
}

/// sklearn `_char_wb_ngrams`: for each word `w`, the n-grams of `" " + w + " "`;
/// a padded word shorter than n is emitted once whole and ends that word.
fn char_wb_ngrams(
    text: &str,
    min_n: usize,
    max_n: usize,
    padded: &mut String,
    boundaries: &mut Vec<usize>,
    emit: &mut impl FnMut(&str),
) {
    for word in text.split(is_python_space).filter(|word| !word.is_empty()) {
        padded.clear();
        padded.push(' ');
        padded.push_str(word);
        padded.push(' ');
        let ascii = word.is_ascii();
        let len = if ascii {
            padded.len()
        } else {
            char_boundaries_into(padded, boundaries);
            boundaries.len() - 1
        };
        let slice = |start: usize, end: usize| -> &str {
            if ascii {
                &padded[start..end]
            } else {
                &padded[boundaries[start]..boundaries[end]]
            }
        };
        for n in min_n..=max_n {
            let mut offset = 0;
            emit(slice(0, n.min(len)));
            while offset + n < len {
                offset += 1;
                emit(slice(offset, offset + n));
            }
            if offset == 0 {
                // The padded word fits in one n-gram: longer n would repeat it.
                break;
            }
        }
    }
}

/// sklearn `_word_ngrams`: the tokens, then each window of n tokens joined
/// by a single space.
fn word_ngrams(
    text: &str,
    spans: &[(usize, usize)],
    min_n: usize,
    max_n: usize,
    joined: &mut String,
    emit: &mut impl FnMut(&str),
) {
    for n in min_n..=max_n.min(spans.len()) {
        for window in spans.windows(n) {
            if let [(start, end)] = window {
                emit(&text[*start..*end]);
                continue;
            }
            joined.clear();
            for (position, &(start, end)) in window.iter().enumerate() {
                if position > 0 {
                    joined.push(' ');
                }
                joined.push_str(&text[start..end]);
            }
            emit(joined);
        }
    }
}

/// Rewrites the Python class escapes `\w \W \d \D \s \S` (and `\Z`) of a
/// pattern written for Python's `re` into classes with the same members for
/// the `regex` crate. Python's `\w` is exactly `[\p{L}\p{N}_]` (the regex
/// crate's adds marks and connector punctuation but drops `No` such as `¼`),
/// and its `\s` adds U+001C..=U+001F to Unicode `White_Space`.
pub(crate) fn python_pattern_to_rust(pattern: &str) -> String {
    let mut rust = String::with_capacity(pattern.len() + 32);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            rust.push(c);
            continue;
        }
        // Nested classes are valid inside `[...]` too: `[^\W\d]` becomes
        // `[^[^\p{L}\p{N}_]\p{Nd}]`.
        match chars.next() {
            Some('w') => rust.push_str(r"[\p{L}\p{N}_]"),
            Some('W') => rust.push_str(r"[^\p{L}\p{N}_]"),
            Some('d') => rust.push_str(r"\p{Nd}"),
            Some('D') => rust.push_str(r"\P{Nd}"),
            Some('s') => rust.push_str(r"[\s\x1C-\x1F]"),
            Some('S') => rust.push_str(r"[^\s\x1C-\x1F]"),
            Some('Z') => rust.push_str(r"\z"),
            Some(other) => {
                rust.push('\\');
                rust.push(other);
            }
            None => rust.push('\\'),
        }
    }
    rust
}

/// Finds token spans for a word pattern.
#[derive(Debug, Clone)]
pub(crate) enum TokenMatcher {
    /// Hand-written scanner for [`SECURITY_TOKEN_PATTERN`].
    Security,
    /// Hand-written scanner for [`SKLEARN_TOKEN_PATTERN`] with Python's `\b`.
    SklearnWords,
    /// Any other pattern; `use_group` when it has one capture group.
    Regex { regex: Regex, use_group: bool },
}

impl TokenMatcher {
    /// A scanner for the two built-in patterns, the regex crate otherwise.
    pub(crate) fn new(pattern: &str) -> Result<Self, TextError> {
        match pattern {
            SECURITY_TOKEN_PATTERN => Ok(Self::Security),
            SKLEARN_TOKEN_PATTERN => Ok(Self::SklearnWords),
            _ => Self::regex(pattern),
        }
    }

    /// Always the `regex` crate (on the translated pattern), even for the
    /// built-in patterns.
    pub(crate) fn regex(pattern: &str) -> Result<Self, TextError> {
        let regex = Regex::new(&python_pattern_to_rust(pattern)).map_err(|translated_error| {
            // Report the error on the pattern as written when it has one.
            let cause = Regex::new(pattern).err().unwrap_or(translated_error);
            TextError::InvalidPattern {
                pattern: pattern.to_owned(),
                cause,
            }
        })?;
        let groups = regex.captures_len() - 1;
        if groups > 1 {
            return Err(TextError::TooManyCaptureGroups {
                pattern: pattern.to_owned(),
                groups,
            });
        }
        Ok(Self::Regex {
            regex,
            use_group: groups == 1,
        })
    }

    /// Replaces `spans` with the byte ranges of the tokens of `text`, as
    /// Python's `re.findall` would return them (group 1 when there is one,
    /// empty when that group did not take part in the match).
    pub(crate) fn spans_into(
        &self,
        text: &str,
        classes: &mut CharClassMemo,
        spans: &mut Vec<(usize, usize)>,
    ) {
        spans.clear();
        match self {
            Self::Security => security_spans(text, classes, spans),
            Self::SklearnWords => sklearn_word_spans(text, classes, spans),
            Self::Regex {
                regex,
                use_group: false,
            } => spans.extend(
                regex
                    .find_iter(text)
                    .map(|found| (found.start(), found.end())),
            ),
            Self::Regex {
                regex,
                use_group: true,
            } => {
                for captures in regex.captures_iter(text) {
                    let span = match (captures.get(1), captures.get(0)) {
                        (Some(group), _) => (group.start(), group.end()),
                        (None, Some(whole)) => (whole.start(), whole.start()),
                        (None, None) => continue,
                    };
                    spans.push(span);
                }
            }
        }
    }
}

/// A character's class under Python's `re`, as the built-in patterns see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharClass {
    /// `\w` but not `\d`.
    Letter,
    /// `\d` (Unicode `Nd`).
    Digit,
    /// Neither `\w` nor `\s`.
    Symbol,
    /// `\s` (Python whitespace, never `\w`).
    Space,
}

impl CharClass {
    fn is_word(self) -> bool {
        matches!(self, Self::Letter | Self::Digit)
    }
}

/// Classes of the non-ASCII characters met so far, each computed once with
/// the regex crate on the translated classes, so the scanners agree with
/// [`TokenMatcher::regex`] by construction.
#[derive(Debug, Default, Clone)]
pub(crate) struct CharClassMemo(FxHashMap<char, CharClass>);

impl CharClassMemo {
    fn class_of(&mut self, c: char) -> CharClass {
        *self.0.entry(c).or_insert_with(|| regex_class(c))
    }
}

/// Class of every ASCII byte (Python whitespace includes U+001C..=U+001F).
static ASCII_CLASSES: [CharClass; 128] = {
    let mut classes = [CharClass::Symbol; 128];
    let mut byte = 0;
    while byte < 128 {
        classes[byte] = match byte as u8 {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => CharClass::Letter,
            b'0'..=b'9' => CharClass::Digit,
            b'\t'..=b'\r' | 0x1c..=b' ' => CharClass::Space,
            _ => CharClass::Symbol,
        };
        byte += 1;
    }
    classes
};

fn regex_class(c: char) -> CharClass {
    static CLASSES: OnceLock<[Regex; 3]> = OnceLock::new();
    let [word, digit, space] = CLASSES.get_or_init(|| {
        [r"\A\w\z", r"\A\d\z", r"\A\s\z"].map(|pattern| {
            Regex::new(&python_pattern_to_rust(pattern))
                .expect("constant single-class pattern compiles")
        })
    });
    let mut buffer = [0u8; 4];
    let text = c.encode_utf8(&mut buffer);
    if digit.is_match(text) {
        CharClass::Digit
    } else if word.is_match(text) {
        CharClass::Letter
    } else if space.is_match(text) {
        CharClass::Space
    } else {
        CharClass::Symbol
    }
}

/// Class and byte width of the char starting at `pos` (a char boundary).
#[inline(always)]
fn class_at(text: &str, pos: usize, classes: &mut CharClassMemo) -> (CharClass, usize) {
    let lead = text.as_bytes()[pos];
    if lead < 0x80 {
        (ASCII_CLASSES[usize::from(lead)], 1)
    } else {
        non_ascii_class_at(text, pos, classes)
    }
}

/// [`class_at`] for a multi-byte char, kept out of line: rare in requests.
#[inline(never)]
fn non_ascii_class_at(text: &str, pos: usize, classes: &mut CharClassMemo) -> (CharClass, usize) {
    match text[pos..].chars().next() {
        Some(c) => (classes.class_of(c), c.len_utf8()),
        None => (CharClass::Space, 1),
    }
}

/// End of the run of chars from `pos` on for which `in_run` holds.
#[inline(always)]
fn run_end(
    text: &str,
    mut pos: usize,
    classes: &mut CharClassMemo,
    in_run: impl Fn(CharClass) -> bool,
) -> usize {
    while pos < text.len() {
        let (class, width) = class_at(text, pos, classes);
        if !in_run(class) {
            break;
        }
        pos += width;
    }
    pos
}

/// The security pattern `[^\W\d]+|\d+|[^\w\s]` without a regex engine.
/// Each alternative is one class repeated or a single char, so
/// leftmost-first matching reduces to "take the maximal run of the first
/// char's class".
fn security_spans(text: &str, classes: &mut CharClassMemo, spans: &mut Vec<(usize, usize)>) {
    let mut pos = 0;
    while pos < text.len() {
        let start = pos;
        let (class, width) = class_at(text, pos, classes);
        pos += width;
        match class {
            CharClass::Space => {}
            CharClass::Symbol => spans.push((start, pos)),
            CharClass::Letter | CharClass::Digit => {
                pos = run_end(text, pos, classes, |next| next == class);
                spans.push((start, pos));
            }
        }
    }
}

/// scikit-learn's `(?u)\b\w\w+\b` without a regex engine: every maximal run
/// of word chars at least two chars long (`\b` can only hold at the ends of
/// a run, and the greedy `\w+` reaches the end). Uses Python's `\w` for `\b`
/// as well, which the regex crate cannot express.
fn sklearn_word_spans(text: &str, classes: &mut CharClassMemo, spans: &mut Vec<(usize, usize)>) {
    let mut pos = 0;
    while pos < text.len() {
        let start = pos;
        let (class, width) = class_at(text, pos, classes);
        pos += width;
        if class.is_word() {
            let second = pos;
            pos = run_end(text, pos, classes, CharClass::is_word);
            if pos > second {
                spans.push((start, pos));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tokenizer(analyzer: Analyzer, lowercase: bool) -> Tokenizer {
        Tokenizer::new(TokenizerConfig {
            analyzer,
            lowercase,
        })
        .expect("valid config")
    }

    fn char_ngrams_of(text: &str, min: usize, max: usize) -> Vec<String> {
        tokenizer(
            Analyzer::Char {
                ngram_min: min,
                ngram_max: max,
            },
            true,
        )
        .terms(text)
    }

    fn char_wb_ngrams_of(text: &str, min: usize, max: usize) -> Vec<String> {
        tokenizer(
            Analyzer::CharWb {
                ngram_min: min,
                ngram_max: max,
            },
            true,
        )
        .terms(text)
    }

    fn spans_text(matcher: &TokenMatcher, text: &str) -> Vec<String> {
        let mut spans = Vec::new();
        matcher.spans_into(text, &mut CharClassMemo::default(), &mut spans);
        spans
            .iter()
            .map(|&(start, end)| text[start..end].to_owned())
            .collect()
    }

    #[test]
    fn char_collapses_whitespace_runs_like_sklearn() {
        // CountVectorizer(analyzer="char", ngram_range=(1, 3))
        //   .build_analyzer()("ab  c")
        assert_eq!(
            char_ngrams_of("ab  c", 1, 3),
            ["a", "b", " ", "c", "ab", "b ", " c", "ab ", "b c"]
        );
        // A single tab is not a run: it stays a tab.
        assert_eq!(char_ngrams_of("A\tB", 2, 2), ["a\t", "\tb"]);
    }

    #[test]
    fn char_ngrams_are_chars_not_bytes() {
        assert_eq!(char_ngrams_of("Jamón", 2, 2), ["ja", "am", "mó", "ón"]);
        assert_eq!(char_ngrams_of("ñ", 1, 3), ["ñ"]);
    }

    #[test]
    fn char_wb_matches_sklearn_examples() {
        // sklearn docs/tests: CountVectorizer(analyzer="char_wb",
        // ngram_range=(3, 6)) on "This \n\tis a test, really.\n\n I met Harry
        // yesterday" starts and ends with these (sklearn's own test).
        let terms = char_wb_ngrams_of(
            "This \n\tis a test, really.\n\n I met Harry yesterday",
            3,
            6,
        );
        assert_eq!(terms[..5], [" th", "thi", "his", "is ", " thi"]);
        assert_eq!(
            terms[terms.len() - 5..],
            ["yester", "esterd", "sterda", "terday", "erday "]
        );
        // Output of sklearn 1.9 for ngram_range=(2, 4) on "a bc":
        // padded words " a " and " bc ".
        assert_eq!(
            char_wb_ngrams_of("a bc", 2, 4),
            [" a", "a ", " a ", " b", "bc", "c ", " bc", "bc ", " bc "]
        );
    }

    #[test]
    fn char_wb_short_word_is_emitted_once() {
        // " a " has 3 chars: n=3 gives it once and n=4, 5 are skipped.
        assert_eq!(char_wb_ngrams_of("a", 3, 5), [" a "]);
        // n larger than the padded word: the whole padded word, once.
        assert_eq!(char_wb_ngrams_of("a", 5, 6), [" a "]);
        assert_eq!(char_wb_ngrams_of(" \u{1c} ", 1, 3), Vec::<String>::new());
    }

    #[test]
    fn word_ngrams_join_tokens_with_one_space() {
        let word = tokenizer(Analyzer::security_words(1, 2), true);
        assert_eq!(
            word.terms("/top.php?stuff='uname >q36497765 #"),
            [
                "/",
                "top",
                ".",
                "php",
                "?",
                "stuff",
                "=",
                "'",
                "uname",
                ">",
                "q",
                "36497765",
                "#",
                "/ top",
                "top .",
                ". php",
                "php ?",
                "? stuff",
                "stuff =",
                "= '",
                "' uname",
                "uname >",
                "> q",
                "q 36497765",
                "36497765 #",
            ]
        );
        let trigrams = tokenizer(Analyzer::security_words(3, 3), true);
        assert_eq!(trigrams.terms("a b"), Vec::<String>::new());
        assert_eq!(trigrams.terms("a\tb  c"), ["a b c"]);
    }

    #[test]
    fn lowercase_flag_controls_case() {
        let pattern = r"\w+".to_owned();
        let analyzer = Analyzer::Word {
            pattern,
            ngram_min: 1,
            ngram_max: 1,
        };
        assert_eq!(
            tokenizer(analyzer.clone(), true).terms("GET Jamón"),
            ["get", "jamón"]
        );
        assert_eq!(
            tokenizer(analyzer, false).terms("GET Jamón"),
            ["GET", "Jamón"]
        );
    }

    #[test]
    fn lowercase_handles_final_sigma_like_python() {
        let mut out = String::new();
        lowercase_into("ΟΔΟΣ ΟΔΟΣ.", &mut out);
        assert_eq!(out, "οδος οδος.");
        lowercase_into("İX", &mut out);
        assert_eq!(out, "i\u{307}x");
    }

    #[test]
    fn capture_group_selects_group_one_like_findall() {
        let matcher = TokenMatcher::new(r"a(\d)|b").expect("valid");
        // findall returns '' for "b", where group 1 did not take part.
        assert_eq!(spans_text(&matcher, "a1 b a2"), ["1", "", "2"]);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let bad_pattern = Tokenizer::new(TokenizerConfig {
            analyzer: Analyzer::Word {
                pattern: "(".to_owned(),
                ngram_min: 1,
                ngram_max: 1,
            },
            lowercase: true,
        });
        assert!(
            matches!(bad_pattern, Err(TextError::InvalidPattern { pattern, .. }) if pattern == "(")
        );
        let two_groups = TokenMatcher::new(r"(a)(b)");
        assert!(matches!(
            two_groups,
            Err(TextError::TooManyCaptureGroups { groups: 2, .. })
        ));
        for (min, max) in [(0, 1), (3, 2)] {
            let result = Tokenizer::new(TokenizerConfig {
                analyzer: Analyzer::CharWb {
                    ngram_min: min,
                    ngram_max: max,
                },
                lowercase: true,
            });
            assert!(
                matches!(result, Err(TextError::InvalidNgramRange { .. })),
                "{min}..{max}"
            );
        }
    }

    #[test]
    fn security_scanner_uses_python_classes() {
        let fast = TokenMatcher::new(SECURITY_TOKEN_PATTERN).expect("valid");
        assert!(matches!(fast, TokenMatcher::Security));
        // Python 3.11 `re.findall(SECURITY_TOKEN_PATTERN, ...)`: '٣' is Nd,
        // '²' (No) is a word char, U+0301 (Mn) is not, U+001C and U+00A0
        // are spaces.
        let text = "jamón٣4²e\u{301}\u{1c}x\u{a0}y";
        let expected = ["jamón", "٣4", "²e", "\u{301}", "x", "y"];
        assert_eq!(spans_text(&fast, text), expected);
        let slow = TokenMatcher::regex(SECURITY_TOKEN_PATTERN).expect("valid");
        assert_eq!(spans_text(&slow, text), expected);
        // Mojibake from real requests stays inside words, as in sklearn.
        assert_eq!(spans_text(&fast, "<â¼script"), ["<", "â¼script"]);
    }

    #[test]
    fn sklearn_pattern_scanner_uses_python_word_boundaries() {
        let fast = TokenMatcher::new(SKLEARN_TOKEN_PATTERN).expect("valid");
        assert!(matches!(fast, TokenMatcher::SklearnWords));
        // Python 3.11 `re.findall(r"(?u)\b\w\w+\b", ...)`.
        assert_eq!(
            spans_text(&fast, "¼ab c d\u{301}e xy² \u{301}ab ①①"),
            ["¼ab", "xy²", "ab", "①①"]
        );
        assert_eq!(
            spans_text(&fast, "GET /a/bc?id=12&x=y_z"),
            ["GET", "bc", "id", "12", "y_z"]
        );
    }

    #[test]
    fn python_escapes_are_translated() {
        assert_eq!(
            python_pattern_to_rust(r"[^\W\d]+|\s"),
            r"[^[^\p{L}\p{N}_]\p{Nd}]+|[\s\x1C-\x1F]"
        );
        assert_eq!(python_pattern_to_rust(r"\\w\p{L}\x41\Z"), r"\\w\p{L}\x41\z");
        let matcher = TokenMatcher::new(r"\w+\Z").expect("valid");
        assert_eq!(spans_text(&matcher, "ab cd"), ["cd"]);
        let digits = TokenMatcher::new(r"\D+").expect("valid");
        assert_eq!(spans_text(&digits, "a1٣b"), ["a", "b"]);
    }

    #[test]
    fn config_serde_uses_kind_tags_and_defaults() {
        let config: TokenizerConfig = serde_json::from_str(
            r#"{"analyzer": {"kind": "char_wb", "ngram_min": 2, "ngram_max": 5}}"#,
        )
        .expect("valid json");
        assert_eq!(
            config,
            TokenizerConfig {
                analyzer: Analyzer::CharWb {
                    ngram_min: 2,
                    ngram_max: 5
                },
                lowercase: true
            }
        );
        let word: Analyzer = serde_json::from_str(r#"{"kind": "word"}"#).expect("valid json");
        assert_eq!(word, Analyzer::security_words(1, 1));
        let unknown = serde_json::from_str::<Analyzer>(r#"{"kind": "char", "ngram": 2}"#);
        assert!(unknown.is_err());
        let tokenizer: Result<Tokenizer, _> =
            serde_json::from_str(r#"{"analyzer": {"kind": "char", "ngram_min": 0}}"#);
        assert!(tokenizer.is_err(), "deserialising a tokenizer validates it");
    }

    fn arbitrary_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9 _'<>=%;./?&\\t\\n\u{1c}\u{a0}éñΣ٣²\u{301}\u{3000}İ]{0,40}",
        ]
    }

    proptest! {
        #[test]
        fn fast_security_scanner_equals_regex_crate(text in arbitrary_text()) {
            let fast = TokenMatcher::new(SECURITY_TOKEN_PATTERN).expect("valid");
            let slow = TokenMatcher::regex(SECURITY_TOKEN_PATTERN).expect("valid");
            prop_assert!(matches!(slow, TokenMatcher::Regex { .. }), "reference must be the regex crate");
            let mut memo = CharClassMemo::default();
            let (mut fast_spans, mut slow_spans) = (Vec::new(), Vec::new());
            fast.spans_into(&text, &mut memo, &mut fast_spans);
            slow.spans_into(&text, &mut memo, &mut slow_spans);
            prop_assert_eq!(fast_spans, slow_spans);
        }

        #[test]
        fn fast_sklearn_scanner_equals_regex_crate(text in "[a-zA-Z0-9_ éß'<>=%;./?&\\t\\n\u{1c}\u{a0}٣\u{3000}]{0,40}") {
            // On chars whose word-ness both engines agree on, the regex
            // crate's \b is Python's, so the two must match exactly.
            let fast = TokenMatcher::new(SKLEARN_TOKEN_PATTERN).expect("valid");
            let slow = TokenMatcher::regex(SKLEARN_TOKEN_PATTERN).expect("valid");
            prop_assert!(matches!(slow, TokenMatcher::Regex { .. }), "reference must be the regex crate");
            let mut memo = CharClassMemo::default();
            let (mut fast_spans, mut slow_spans) = (Vec::new(), Vec::new());
            fast.spans_into(&text, &mut memo, &mut fast_spans);
            slow.spans_into(&text, &mut memo, &mut slow_spans);
            prop_assert_eq!(fast_spans, slow_spans);
        }

        #[test]
        fn fast_sklearn_scanner_keeps_word_runs_of_two(text in arbitrary_text()) {
            let fast = TokenMatcher::new(SKLEARN_TOKEN_PATTERN).expect("valid");
            let mut memo = CharClassMemo::default();
            let mut spans = Vec::new();
            fast.spans_into(&text, &mut memo, &mut spans);
            // Reference: split into maximal runs of Python word chars.
            let word_char = Regex::new(r"\A[\p{L}\p{N}_]\z").expect("valid");
            let is_word = |c: char| word_char.is_match(c.encode_utf8(&mut [0u8; 4]));
            let mut expected = Vec::new();
            let mut run: Option<(usize, usize)> = None;
            for (offset, c) in text.char_indices() {
                match (is_word(c), run) {
                    (true, Some((start, chars))) => run = Some((start, chars + 1)),
                    (true, None) => run = Some((offset, 1)),
                    (false, Some((start, chars))) => {
                        if chars >= 2 { expected.push((start, offset)); }
                        run = None;
                    }
                    (false, None) => {}
                }
            }
            if let Some((start, chars)) = run && chars >= 2 {
                expected.push((start, text.len()));
            }
            prop_assert_eq!(spans, expected);
        }

        #[test]
        fn tokenizers_never_panic(text in arbitrary_text(), min in 1usize..4, extra in 0usize..3, lowercase: bool) {
            let analyzers = [
                Analyzer::Char { ngram_min: min, ngram_max: min + extra },
                Analyzer::CharWb { ngram_min: min, ngram_max: min + extra },
                Analyzer::security_words(min, min + extra),
                Analyzer::Word { pattern: r"(\w)?".to_owned(), ngram_min: min, ngram_max: min + extra },
            ];
            let mut scratch = TokenScratch::new();
            for analyzer in analyzers {
                let mut count = 0usize;
                tokenizer(analyzer, lowercase).for_each_term(&text, &mut scratch, |_| count += 1);
                prop_assert!(count < 1_000_000);
            }
        }

        #[test]
        fn char_ngram_count_matches_formula(text in arbitrary_text(), min in 1usize..5, extra in 0usize..4) {
            let max = min + extra;
            let mut collapsed = String::new();
            lowercase_into(&text, &mut collapsed);
            let mut normalized = String::new();
            collapse_whitespace_runs_into(&collapsed, &mut normalized);
            let k = normalized.chars().count();
            let expected: usize = (min..=max).map(|n| (k + 1).saturating_sub(n)).sum();
            let terms = char_ngrams_of(&text, min, max);
            prop_assert_eq!(terms.len(), expected);
            prop_assert!(terms.iter().all(|term| (min..=max).contains(&term.chars().count())));
        }

        #[test]
        fn char_wb_terms_are_padded_word_pieces(text in arbitrary_text(), min in 1usize..4, extra in 0usize..3) {
            let terms = char_wb_ngrams_of(&text, min, min + extra);
            let lowered = text.to_lowercase();
            let padded: Vec<String> = lowered
                .split(is_python_space)
                .filter(|word| !word.is_empty())
                .map(|word| format!(" {word} "))
                .collect();
            for term in &terms {
                prop_assert!(padded.iter().any(|word| word.contains(term.as_str())), "{:?}", term);
            }
            // Every padded word contributes at least its leading n-gram.
            prop_assert!(terms.len() >= padded.len());
        }
    }
}
