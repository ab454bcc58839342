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

use rustc_hash::FxHashSet;
use xxhash_rust::xxh3::xxh3_64;

use super::canonical::{CanonicalOptions, CanonicalScratch, canonicalize};
use super::lexicon::{Lexicon, for_each_token};
use super::parse::{Field, FieldKind, parse_into};

/// Reusable buffers for [`for_each_request_term`].
#[derive(Debug, Default, Clone)]
pub struct RequestScratch {
    fields: Vec<Field>,
    term_fields: Vec<TermField>,
    canonical: String,
    canonical_scratch: CanonicalScratch,
    term: String,
    seen: FxHashSet<u64>,
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
        canonical_scratch,
        term,
        seen,
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
    for field in found.iter() {
        let (tag, lexicon, plus_is_space) = match field.tag {
            b'p' => ("p:", Lexicon::Path, false),
            b'n' => ("n:", Lexicon::Path, true),
            b'r' if !options.rules => continue,
            _ => ("v:", Lexicon::Value, true),
        };
        canonicalize(
            &text[field.span.clone()],
            CanonicalOptions { plus_is_space },
            canonical_scratch,
            canonical,
        );
        if canonical.is_empty() || (field.tag == b'n' && is_plain_identifier(canonical)) {
            continue;
        }
        if field.tag == b'r' {
            rule_terms(canonical, term, &mut emit_once);
            continue;
        }
        let mut field_tokens: Vec<&str> = Vec::with_capacity(canonical.len() / 2 + 1);
        for_each_token(canonical, lexicon, |token| field_tokens.push(token));
        emit_ngrams(
            tag,
            &field_tokens,
            options.ngram_min,
            options.ngram_max,
            term,
            &mut emit_once,
        );
    }
}

/// libinjection on a canonical value: `r:sqli` and `r:fp:<fingerprint>` when it reads SQL
/// injection, `r:xss` when it reads script.
fn rule_terms(canonical: &str, term: &mut String, emit: &mut impl FnMut(&str)) {
    if cannot_be_injection(canonical) {
        return;
    }
    let sqli = libinjectionrs::detect_sqli(canonical.as_bytes());
    if sqli.is_injection() {
        emit("r:sqli");
        if let Some(fingerprint) = &sqli.fingerprint {
            term.clear();
            term.push_str("r:fp:");
            term.push_str(fingerprint.as_str());
            emit(term);
        }
    }
    if libinjectionrs::detect_xss(canonical.as_bytes()).is_injection() {
        emit("r:xss");
    }
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

/// `tag` + the n-grams of `^ tokens… $`, joined by single spaces; the frame markers alone are
/// no term.
fn emit_ngrams(
    tag: &str,
    tokens: &[&str],
    ngram_min: usize,
    ngram_max: usize,
    term: &mut String,
    emit: &mut impl FnMut(&str),
) {
    let framed_len = tokens.len() + 2;
    let token_at = |i: usize| -> &str {
        if i == 0 {
            "^"
        } else if i == framed_len - 1 {
            "$"
        } else {
            tokens[i - 1]
        }
    };
    for n in ngram_min..=ngram_max.min(framed_len) {
        for start in 0..=framed_len - n {
            if n == 1 && (start == 0 || start == framed_len - 1) {
                continue;
            }
            term.clear();
            term.push_str(tag);
            for i in start..start + n {
                if i > start {
                    term.push(' ');
                }
                term.push_str(token_at(i));
            }
            emit(term);
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
}
