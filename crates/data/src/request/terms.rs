//! The terms of the `request` analyzer: each field's canonical tokens as n-grams tagged by
//! where the field sits, so that a word in a path is not the same evidence as in a value.
//!
//! Values and payloads (`v:`) keep SQL, script and shell words; the path (`p:`, its segments
//! together) keeps traversal targets only; a parameter name (`n:`) counts only when it is not a plain
//! identifier (an injection in the name). Empty values, plain names, the method and the
//! extension give no terms: they carry no payload, and a site's own names would be learnt as
//! evidence. Each field's tokens are framed by `^` and `$`, so `v:^ 0 $` (a value that is one
//! number) differs from `v:0 '` inside a longer one.
//!
//! Each term counts once per request: repeating a harmless fragment (`null,null,…`, padding in
//! a comment) then neither adds evidence nor dilutes the evidence already there once rows are
//! normalised. With `rules`, each value also gives libinjection's verdicts (`r:sqli`, `r:xss`)
//! and the SQLi fingerprint of what it flagged (`r:fp:s&1`): the rule library's knowledge of
//! SQL and markup beside the learnt n-grams. They come from a field of their own (tag `r`, the
//! value's span), so that a model scoring fields apart sees the rules' verdict undiluted by
//! the value's n-grams.

use libinjectionrs::{SqliFlags, SqliState};
use rustc_hash::{FxHashMap, FxHashSet};
use xxhash_rust::xxh3::xxh3_64;

use super::canonical::{CanonicalOptions, CanonicalScratch, canonicalize};
use super::lexicon::{Lexicon, TokenId, for_each_token, push_token_text};
use super::parse::{Field, FieldKind, parse_into};
use super::term_key::TermKey;

/// Reusable buffers for [`for_each_request_term`] and the key functions.
#[derive(Debug, Default, Clone)]
pub struct RequestScratch {
    fields: Vec<Field>,
    term_fields: Vec<TermField>,
    canonical: CanonicalField,
    /// The current field's tokens, framed by `^` and `$`.
    tokens: Vec<TokenId>,
    term: String,
    seen: FxHashSet<u64>,
    keys: Vec<TermKey>,
    rule_memo: RuleMemo,
}

impl RequestScratch {
    /// A new batch of requests: the libinjection verdicts remembered so far are dropped, so
    /// that a batch's cost does not depend on what was scored before it.
    pub fn start_batch(&mut self) {
        self.rule_memo.verdicts.clear();
    }
}

/// libinjection's verdicts on the values of the batch being scored, by canonical value: traffic
/// repeats its values (`id=1`, `lang=en`, session tokens), and libinjection is the costliest
/// step of a value. Exact (a verdict depends on the value alone); bounded by clearing it when
/// full.
#[derive(Debug, Default, Clone)]
struct RuleMemo {
    verdicts: FxHashMap<Box<str>, Option<RuleVerdicts>>,
}

impl RuleMemo {
    /// Values remembered at most; a batch of requests rarely has more distinct ones.
    const CAPACITY: usize = 1 << 15;

    fn verdicts(&mut self, canonical: &str) -> Option<RuleVerdicts> {
        if let Some(known) = self.verdicts.get(canonical) {
            return known.clone();
        }
        let verdicts = rule_verdicts(canonical);
        if self.verdicts.len() >= Self::CAPACITY {
            self.verdicts.clear();
        }
        self.verdicts.insert(canonical.into(), verdicts.clone());
        verdicts
    }
}

/// Options of the `request` analyzer's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTermOptions {
    pub ngram_min: usize,
    pub ngram_max: usize,
    /// libinjection's verdicts and fingerprints on values.
    pub rules: bool,
}

/// Starts a text that is one field of a request (see [`field_texts`]): the mark, then the
/// field's tag letter, then its raw text. A unit separator, which decoding trims from a
/// request's ends; [`field_texts`] ignores it in a request in any case.
pub const FIELD_MARK: char = '\u{1f}';

/// A field that gives terms: its tag letter and its span in the request text.
#[derive(Debug, Clone)]
struct TermField {
    tag: u8,
    span: std::ops::Range<usize>,
}

/// Whether a text starting with [`FIELD_MARK`] is read as one field: yes where texts come from
/// [`field_texts`] (the analyzer), never for a request itself, which a client writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Honoured,
    Ignored,
}

/// The fields of `text` that give terms, in order: the whole path (its segments, from the
/// first to the last), each parameter name, each value. With [`Mark::Honoured`], a text made
/// by [`field_texts`] is its one field.
fn term_fields(text: &str, mark: Mark, fields: &mut Vec<Field>, out: &mut Vec<TermField>) {
    out.clear();
    if mark == Mark::Honoured
        && let Some(rest) = text.strip_prefix(FIELD_MARK)
        && let Some(&tag) = rest.as_bytes().first().filter(|t| TAGS.contains(t))
    {
        let start = FIELD_MARK.len_utf8() + 1;
        out.push(TermField {
            tag,
            span: start..text.len(),
        });
        return;
    }
    parse_into(text, fields);
    let mut path: Option<std::ops::Range<usize>> = None;
    for field in fields.iter() {
        let tag = match field.kind {
            FieldKind::PathSegment => {
                path = Some(path.map_or(field.span.clone(), |p| p.start..field.span.end));
                continue;
            }
            FieldKind::ParamName => b'n',
            kind if kind.is_value() => b'v',
            _ => continue,
        };
        if let Some(path) = path.take() {
            out.push(TermField {
                tag: b'p',
                span: path,
            });
        }
        out.push(TermField {
            tag,
            span: field.span.clone(),
        });
        if tag == b'v' {
            out.push(TermField {
                tag: b'r',
                span: field.span.clone(),
            });
        }
    }
    if let Some(path) = path {
        out.push(TermField {
            tag: b'p',
            span: path,
        });
    }
}

/// `p` path, `n` parameter name, `v` value, `r` a value as the rule library reads it.
const TAGS: &[u8] = b"pnvr";

/// The fields of `text` that give terms, each as a text of its own: [`FIELD_MARK`], its tag
/// letter, its raw text. The `request` analyzer reads such a text as that one field, so a
/// model can score each field apart and pool the scores over the request.
/// `text` is read as a request even when it starts with [`FIELD_MARK`]: a client cannot make
/// its request read as one field of its choosing. The strings of `out` are reused: a scorer
/// calling it for every request allocates only when a request has more or longer fields than
/// any before.
pub fn field_texts(text: &str, scratch: &mut RequestScratch, out: &mut Vec<String>) {
    term_fields(
        text,
        Mark::Ignored,
        &mut scratch.fields,
        &mut scratch.term_fields,
    );
    let found = &scratch.term_fields;
    out.truncate(found.len());
    while out.len() < found.len() {
        out.push(String::new());
    }
    for (field, field_text) in found.iter().zip(out.iter_mut()) {
        field_text.clear();
        field_text.push(FIELD_MARK);
        field_text.push(char::from(field.tag));
        field_text.push_str(&text[field.span.clone()]);
    }
}

/// Calls `emit` once with every distinct term of `text`.
pub fn for_each_request_term(
    text: &str,
    options: RequestTermOptions,
    scratch: &mut RequestScratch,
    emit: &mut impl FnMut(&str),
) {
    let RequestScratch {
        fields,
        term_fields: found,
        canonical,
        tokens,
        term,
        seen,
        keys: _,
        rule_memo,
    } = scratch;
    seen.clear();
    // By 64-bit hash: two distinct terms of one request colliding is vanishingly rare, and
    // costs one term; a set of owned strings cost an allocation per term.
    let mut emit_once = |term: &str| {
        if seen.insert(xxh3_64(term.as_bytes())) {
            emit(term);
        }
    };
    term_fields(text, Mark::Honoured, fields, found);
    canonical.forget();
    for field in found.iter() {
        match field_terms(field, text, options, canonical, rule_memo, tokens) {
            FieldTerms::Nothing => {}
            FieldTerms::Ngrams { tag, framed } => {
                for_each_ngram(framed.len(), options, |start, n| {
                    term.clear();
                    term.push(char::from(tag));
                    term.push(':');
                    for (i, &id) in framed[start..start + n].iter().enumerate() {
                        if i > 0 {
                            term.push(' ');
                        }
                        push_token_text(id, term);
                    }
                    emit_once(term);
                });
            }
            FieldTerms::Rules(verdicts) => {
                if verdicts.sqli {
                    emit_once("r:sqli");
                    if let Some(fingerprint) = &verdicts.fingerprint {
                        term.clear();
                        term.push_str("r:fp:");
                        term.push_str(fingerprint.as_str());
                        emit_once(term);
                    }
                }
                if verdicts.xss {
                    emit_once("r:xss");
                }
            }
        }
    }
}

/// The keys ([`TermKey`]) of the terms of `text` read as [`for_each_request_term`] reads it,
/// in the same order, repeats included; a term no key holds is left out (see [`TermKey`]).
pub fn for_each_request_term_key(
    text: &str,
    options: RequestTermOptions,
    scratch: &mut RequestScratch,
    mut emit: impl FnMut(TermKey),
) {
    for_each_field_keys(text, Mark::Honoured, options, scratch, |keys| {
        keys.iter().copied().for_each(&mut emit)
    });
}

/// Calls `each_field` with the term keys of each field [`field_texts`] gives, in order (a
/// field with no terms too): each field text's keys as [`for_each_request_term_key`] gives
/// them, without building the field texts.
pub fn for_each_field_term_keys(
    text: &str,
    options: RequestTermOptions,
    scratch: &mut RequestScratch,
    each_field: impl FnMut(&[TermKey]),
) {
    for_each_field_keys(text, Mark::Ignored, options, scratch, each_field);
}

/// The term keys of each field of `text`, read with the field mark as `mark` says.
fn for_each_field_keys(
    text: &str,
    mark: Mark,
    options: RequestTermOptions,
    scratch: &mut RequestScratch,
    mut each_field: impl FnMut(&[TermKey]),
) {
    let RequestScratch {
        fields,
        term_fields: found,
        canonical,
        tokens,
        keys,
        rule_memo,
        ..
    } = scratch;
    term_fields(text, mark, fields, found);
    canonical.forget();
    for field in found.iter() {
        let terms = field_terms(field, text, options, canonical, rule_memo, tokens);
        field_term_keys(terms, options, keys);
        each_field(keys);
    }
}

/// What one field gives.
enum FieldTerms<'t> {
    Nothing,
    /// The n-grams of `framed` (the field's tokens between `^` and `$`) under `tag`.
    Ngrams {
        tag: u8,
        framed: &'t [TokenId],
    },
    /// libinjection's reading of a value.
    Rules(RuleVerdicts),
}

/// libinjection's verdicts on one value.
#[derive(Debug, Clone)]
struct RuleVerdicts {
    sqli: bool,
    /// The SQLi fingerprint, when `sqli`.
    fingerprint: Option<libinjectionrs::Fingerprint>,
    xss: bool,
}

/// The terms of `field` of `text`: canonicalised in `canonical`, its tokens into `tokens`.
fn field_terms<'t>(
    field: &TermField,
    text: &str,
    options: RequestTermOptions,
    canonical: &mut CanonicalField,
    rule_memo: &mut RuleMemo,
    tokens: &'t mut Vec<TokenId>,
) -> FieldTerms<'t> {
    let tag = field.tag;
    let (lexicon, plus_is_space) = match tag {
        b'p' => (Lexicon::Path, false),
        b'n' => (Lexicon::Path, true),
        b'r' if !options.rules => return FieldTerms::Nothing,
        b'r' => (Lexicon::Value, true),
        _ => (Lexicon::Value, true),
    };
    let canonical = canonical.read(text, field.span.clone(), plus_is_space);
    if canonical.is_empty() || (tag == b'n' && is_plain_identifier(canonical)) {
        return FieldTerms::Nothing;
    }
    if tag == b'r' {
        return match rule_memo.verdicts(canonical) {
            Some(verdicts) => FieldTerms::Rules(verdicts),
            None => FieldTerms::Nothing,
        };
    }
    tokens.clear();
    tokens.push(FRAME_START);
    for_each_token(canonical, lexicon, |token| tokens.push(token.id));
    tokens.push(FRAME_END);
    FieldTerms::Ngrams {
        // Payloads and every other value kind are values.
        tag: if tag == b'p' || tag == b'n' {
            tag
        } else {
            b'v'
        },
        framed: tokens,
    }
}

/// The canonical form of the field read last, kept for the next when it reads the same span
/// the same way: a value's rules' field follows the value.
#[derive(Debug, Default, Clone)]
struct CanonicalField {
    text: String,
    scratch: CanonicalScratch,
    /// The span and `plus_is_space` of `text`, in the request read now.
    of: Option<(std::ops::Range<usize>, bool)>,
}

impl CanonicalField {
    /// The canonical form of `text[span]`.
    fn read(&mut self, text: &str, span: std::ops::Range<usize>, plus_is_space: bool) -> &str {
        if self.of.as_ref() != Some(&(span.clone(), plus_is_space)) {
            canonicalize(
                &text[span.clone()],
                CanonicalOptions { plus_is_space },
                &mut self.scratch,
                &mut self.text,
            );
            self.of = Some((span, plus_is_space));
        }
        &self.text
    }

    /// A new request: nothing read yet.
    fn forget(&mut self) {
        self.of = None;
    }
}

/// The frame markers, as the one-char tokens they are spelt as.
const FRAME_START: TokenId = '^' as TokenId;
const FRAME_END: TokenId = '$' as TokenId;

/// The keys of one field's terms into `keys` (cleared first).
fn field_term_keys(terms: FieldTerms<'_>, options: RequestTermOptions, keys: &mut Vec<TermKey>) {
    keys.clear();
    match terms {
        FieldTerms::Nothing => {}
        FieldTerms::Ngrams { tag, framed } => {
            for_each_ngram(framed.len(), options, |start, n| {
                keys.extend(TermKey::ngram(tag, &framed[start..start + n]));
            });
        }
        FieldTerms::Rules(verdicts) => {
            if verdicts.sqli {
                keys.extend(TermKey::rule(&[b"sqli"]));
                if let Some(fingerprint) = &verdicts.fingerprint {
                    keys.extend(TermKey::rule(&[b"fp:", fingerprint.as_str().as_bytes()]));
                }
            }
            if verdicts.xss {
                keys.extend(TermKey::rule(&[b"xss"]));
            }
        }
    }
}

/// libinjection on a canonical value (`r:sqli` and `r:fp:<fingerprint>` when it reads SQL
/// injection, `r:xss` when it reads script); `None` when it reads neither.
fn rule_verdicts(canonical: &str) -> Option<RuleVerdicts> {
    if cannot_be_injection(canonical) {
        return None;
    }
    // `detect_sqli`'s own steps, but its fingerprint (one more tokenising pass over the
    // value) read only for a value it flags: the one time the fingerprint is a term.
    let mut sqli = SqliState::new(canonical.as_bytes(), SqliFlags::FLAG_NONE);
    let is_sqli = sqli.detect();
    let verdicts = RuleVerdicts {
        sqli: is_sqli,
        fingerprint: is_sqli.then(|| sqli.get_fingerprint()),
        xss: libinjectionrs::detect_xss(canonical.as_bytes()).is_injection(),
    };
    (verdicts.sqli || verdicts.xss).then_some(verdicts)
}

/// One word, number or identifier (`[a-z0-9_.]`): neither detector flags it (property-tested
/// below), and most values are such, so libinjection is not asked.
fn cannot_be_injection(canonical: &str) -> bool {
    canonical
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

fn is_plain_identifier(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'))
}

/// Calls `each(start, n)` for the n-grams of a framed field of `framed_len` tokens, in the
/// analyzer's order (by length, then start); the frame markers alone are no n-gram.
#[inline]
fn for_each_ngram(
    framed_len: usize,
    options: RequestTermOptions,
    mut each: impl FnMut(usize, usize),
) {
    for n in options.ngram_min..=options.ngram_max.min(framed_len) {
        for start in 0..=framed_len - n {
            if n == 1 && (start == 0 || start == framed_len - 1) {
                continue;
            }
            each(start, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str, max: usize) -> Vec<String> {
        let mut out = Vec::new();
        let options = RequestTermOptions {
            ngram_min: 1,
            ngram_max: max,
            rules: true,
        };
        for_each_request_term(text, options, &mut RequestScratch::default(), &mut |t| {
            out.push(t.to_string())
        });
        out
    }

    #[test]
    fn terms_are_tagged_by_where_they_sit() {
        assert_eq!(
            terms("/cn/scripts/common.js?id=1'", 2),
            [
                "p:w", "p:/", "p:^ w", "p:w /", "p:/ w", "p:w $", "v:0", "v:'", "v:^ 0", "v:0 '",
                "v:' $",
            ]
        );
    }

    #[test]
    fn empty_values_and_plain_names_give_no_terms() {
        assert!(terms("/?a=&b=", 3).iter().all(|t| !t.starts_with("v:")));
        assert!(terms("/?<script>=1", 1).contains(&"n:<".to_string()));
    }

    #[test]
    fn a_repeated_fragment_counts_once() {
        let padded = terms("/?id=1 union select null,null,null,null,null--", 3);
        let distinct: FxHashSet<&String> = padded.iter().collect();
        assert_eq!(distinct.len(), padded.len());
        assert!(padded.contains(&"r:sqli".to_string()));
    }

    #[test]
    fn a_field_text_gives_the_terms_of_its_field() {
        let text = "/a/b.php?q=<script>alert(1)</script>&n=2";
        let mut fields = Vec::new();
        field_texts(text, &mut RequestScratch::default(), &mut fields);
        assert_eq!(fields.len(), 7, "{fields:?}");
        assert!(fields[0].ends_with("pa/b.php"), "{fields:?}");
        let mut union: Vec<String> = fields.iter().flat_map(|f| terms(f, 2)).collect();
        let mut whole = terms(text, 2);
        union.sort();
        union.dedup();
        whole.sort();
        assert_eq!(union, whole);
    }

    proptest::proptest! {
        #[test]
        fn the_rules_read_values_as_detect_sqli_and_detect_xss_do(
            value in "\\PC{1,40}|[a-z0-9 '\"<>=();,/*#-]{1,40}|(1|'|\"|union|select|or|and|<script>|alert|onerror|=| |--|#|/\\*|\\)|\\(){1,10}",
        ) {
            let sqli = libinjectionrs::detect_sqli(value.as_bytes());
            let xss = libinjectionrs::detect_xss(value.as_bytes()).is_injection();
            match rule_verdicts(&value) {
                Some(verdicts) => {
                    proptest::prop_assert_eq!(verdicts.sqli, sqli.is_injection());
                    proptest::prop_assert_eq!(verdicts.xss, xss);
                    let flagged = sqli.is_injection();
                    let expected = sqli.fingerprint.filter(|_| flagged);
                    proptest::prop_assert_eq!(
                        verdicts.fingerprint.as_ref().map(|f| f.as_str()),
                        expected.as_ref().map(|f| f.as_str())
                    );
                }
                None => proptest::prop_assert!(!sqli.is_injection() && !xss),
            }
        }

        #[test]
        fn libinjection_flags_no_plain_identifier(value in "[a-z0-9_.]{1,24}|(select|union|sleep|or|and|script|alert)[0-9_.]{0,3}") {
            proptest::prop_assert!(cannot_be_injection(&value));
            proptest::prop_assert!(!libinjectionrs::detect_sqli(value.as_bytes()).is_injection());
            proptest::prop_assert!(!libinjectionrs::detect_xss(value.as_bytes()).is_injection());
        }
    }

    #[test]
    fn a_request_cannot_pass_itself_off_as_a_field() {
        let forged = format!("{FIELD_MARK}p<script>alert(1)</script>");
        let mut fields = Vec::new();
        field_texts(&forged, &mut RequestScratch::default(), &mut fields);
        assert_eq!(
            fields.len(),
            2,
            "a payload and its rules' reading: {fields:?}"
        );
        assert!(
            fields[0].starts_with(&format!("{FIELD_MARK}v")),
            "{fields:?}"
        );
        assert!(terms(&fields[0], 2).contains(&"v:script".to_string()));
    }

    #[test]
    fn a_payload_is_a_value() {
        assert!(terms("' or 1=1--", 3).contains(&"v:' or 0".to_string()));
    }

    #[test]
    fn remembered_verdicts_give_the_keys_a_fresh_scratch_gives() {
        let options = RequestTermOptions {
            ngram_min: 1,
            ngram_max: 3,
            rules: true,
        };
        let texts = [
            "/a?id=1' or 1=1--&q=<script>alert(1)</script>",
            "/b?x=1' or 1=1--&y=plain",
            "/a?id=1' or 1=1--&q=<script>alert(1)</script>",
            "/c?q=<script>alert(1)</script>&z=1 union select null",
        ];
        let keys_of = |text: &str, scratch: &mut RequestScratch| {
            let mut keys = Vec::new();
            for_each_field_term_keys(text, options, scratch, |field| keys.push(field.to_vec()));
            keys
        };
        let mut warm = RequestScratch::default();
        for text in texts.iter().chain(texts.iter()) {
            let remembered = keys_of(text, &mut warm);
            assert_eq!(
                remembered,
                keys_of(text, &mut RequestScratch::default()),
                "{text}"
            );
        }
        assert!(!warm.rule_memo.verdicts.is_empty());
        warm.start_batch();
        assert!(warm.rule_memo.verdicts.is_empty());
    }

    #[test]
    fn the_keys_are_the_terms_in_order() {
        let options = RequestTermOptions {
            ngram_min: 1,
            ngram_max: 3,
            rules: true,
        };
        let texts = [
            "/cn/scripts/common.js?id=1'&id=1'",
            "/a/../../etc/passwd?<script>=1&q=%27%20union%20select%20null--",
            "POST /x HTTP/1.1\r\nCookie: a=<b>\r\n\r\nq=caf\u{e9}+\u{2603}",
            "\u{1f}v1' or 1=1--",
            "\u{1f}r<script>alert(1)</script>",
        ];
        for text in texts {
            let mut scratch = RequestScratch::default();
            let mut expected = Vec::new();
            for_each_request_term(text, options, &mut scratch, &mut |term| {
                expected.push(TermKey::parse(term).expect(term));
            });
            let mut keys = Vec::new();
            for_each_request_term_key(text, options, &mut scratch, |key| {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            });
            assert_eq!(keys, expected, "{text:?}");
        }
    }
}
