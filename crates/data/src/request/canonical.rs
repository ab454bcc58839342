//! The canonical form of one field, as a WAF normalises a value before matching it: escapes
//! decoded until the text stops changing (bounded), null bytes dropped, case folded, SQL block
//! comments and whitespace runs collapsed to one space.
//!
//! Decoding is repeated because attackers encode twice (`%2527` is `%27` is `'`) and a server
//! or framework may decode again behind the WAF; it is bounded so that a text of nested escapes
//! cannot cost more than [`MAX_DECODE_ROUNDS`] passes. Every step is total: any input gives a
//! string, never a panic (property-tested).

use crate::decode::percent_decode_into;

/// Most decoding passes over one field.
pub const MAX_DECODE_ROUNDS: usize = 4;

/// Options of [`canonicalize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalOptions {
    /// `+` means a space (form-encoded query and body values), not in paths.
    pub plus_is_space: bool,
}

/// Reusable buffers for [`canonicalize`].
#[derive(Debug, Default, Clone)]
pub struct CanonicalScratch {
    bytes: Vec<u8>,
    text: String,
    next: String,
}

/// Writes the canonical form of `raw` into `out` (cleared first).
pub fn canonicalize(
    raw: &str,
    options: CanonicalOptions,
    scratch: &mut CanonicalScratch,
    out: &mut String,
) {
    out.clear();
    if !has_escape(raw) {
        // Most fields: nothing to decode, so one pass, reading `+` as the space it means.
        collapse_into(raw, options.plus_is_space, out);
        return;
    }
    let CanonicalScratch { bytes, text, next } = scratch;
    text.clear();
    if options.plus_is_space {
        text.extend(raw.chars().map(|c| if c == '+' { ' ' } else { c }));
    } else {
        text.push_str(raw);
    }
    for _ in 0..MAX_DECODE_ROUNDS {
        if !decode_once(text, bytes, next) {
            break;
        }
        std::mem::swap(text, next);
    }
    collapse_into(text, false, out);
}

/// Whether `text` holds what a decoding round reads (`%` or `&`).
fn has_escape(text: &str) -> bool {
    text.bytes().any(|b| b == b'%' || b == b'&')
}

/// One pass of `%XX`, `%uXXXX` and HTML character references; false when nothing was decoded.
fn decode_once(text: &str, bytes: &mut Vec<u8>, out: &mut String) -> bool {
    if !has_escape(text) {
        return false;
    }
    let unicode = decode_percent_u(text);
    bytes.clear();
    percent_decode_into(unicode.as_bytes(), true, false, bytes);
    let decoded = String::from_utf8_lossy(bytes);
    out.clear();
    decode_html_entities(&decoded, out);
    out != text
}

/// `%uXXXX` (IIS's non-standard escape) as the character it names.
fn decode_percent_u(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("%u") && !text.contains("%U") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let escape = tail
            .get(2..6)
            .filter(|_| matches!(tail.as_bytes().get(1), Some(b'u' | b'U')))
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .and_then(char::from_u32);
        match escape {
            Some(c) => {
                out.push(c);
                rest = &tail[6..];
            }
            None => {
                out.push('%');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Named entities an attacker uses to spell markup and script; numeric references are all
/// decoded.
const NAMED_ENTITIES: &[(&str, char)] = &[
    ("lt", '<'),
    ("gt", '>'),
    ("amp", '&'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", ' '),
    ("tab", '\t'),
    ("newline", '\n'),
    ("colon", ':'),
    ("lpar", '('),
    ("rpar", ')'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("semi", ';'),
    ("equals", '='),
    ("grave", '`'),
    ("excl", '!'),
    ("num", '#'),
    ("percnt", '%'),
    ("plus", '+'),
    ("comma", ','),
    ("period", '.'),
];

fn decode_html_entities(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        match html_entity(tail) {
            Some((c, used)) => {
                out.push(c);
                rest = &tail[used..];
            }
            None => {
                out.push('&');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
}

/// The character an entity at the start of `tail` (after its `&`) names, and the bytes it
/// takes; the closing `;` is optional, as browsers accept it.
fn html_entity(tail: &str) -> Option<(char, usize)> {
    let bytes = tail.as_bytes();
    if bytes.first() == Some(&b'#') {
        let (radix, start) = match bytes.get(1) {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let digits = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit() && (radix == 16 || b.is_ascii_digit()))
            .count()
            .min(8);
        if digits == 0 {
            return None;
        }
        let value = u32::from_str_radix(&tail[start..start + digits], radix).ok()?;
        let c = char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER);
        let end = start + digits;
        return Some((c, end + usize::from(bytes.get(end) == Some(&b';'))));
    }
    let name_len = bytes
        .iter()
        .take(8)
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    let name = tail[..name_len].to_ascii_lowercase();
    let (_, c) = NAMED_ENTITIES.iter().find(|(n, _)| *n == name)?;
    Some((
        *c,
        name_len + usize::from(bytes.get(name_len) == Some(&b';')),
    ))
}

/// Lowercases, drops null bytes, turns `/* … */` comments (an unterminated one runs to the end)
/// and every whitespace run (and `+` with `plus_is_space`) into one space, and trims. A MySQL
/// executable comment `/*! … */` keeps its content: MySQL runs it. Appends to `out`.
fn collapse_into(text: &str, plus_is_space: bool, out: &mut String) {
    let bytes = text.as_bytes();
    let mut pending_space = false;
    let mut at = 0;
    while at < bytes.len() {
        // A run of ASCII bytes that stay (lowercased), copied at once.
        let run = bytes[at..]
            .iter()
            .take_while(|&&b| is_plain_ascii(b, plus_is_space))
            .count();
        if run > 0 {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            let start = out.len();
            out.push_str(&text[at..at + run]);
            out[start..].make_ascii_lowercase();
            at += run;
            continue;
        }
        match bytes[at] {
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                if bytes.get(at + 2) == Some(&b'!') {
                    // MySQL's `/*!50000select*/`: keep what it runs, drop the markers and version.
                    at += 3;
                    while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                        at += 1;
                    }
                } else {
                    at = text[at + 2..]
                        .find("*/")
                        .map_or(text.len(), |end| at + 2 + end + 2);
                }
                pending_space = true;
            }
            b'*' if bytes.get(at + 1) == Some(&b'/') => {
                // The end of an executable comment.
                at += 2;
                pending_space = true;
            }
            b'\0' => at += 1,
            b'+' if plus_is_space => {
                pending_space = true;
                at += 1;
            }
            _ => {
                let Some(c) = text[at..].chars().next() else {
                    break;
                };
                at += c.len_utf8();
                if c.is_whitespace() || c.is_control() {
                    pending_space = true;
                    continue;
                }
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                // ASCII never gets here but as `/` or `*` outside a comment mark.
                out.extend(c.to_lowercase());
            }
        }
    }
}

/// An ASCII byte [`collapse_into`] copies as it is (lowercased): not a comment mark, a null,
/// whitespace, a control or (with `plus_is_space`) `+`.
#[inline]
fn is_plain_ascii(byte: u8, plus_is_space: bool) -> bool {
    byte > b' ' && byte < 0x7f && byte != b'/' && byte != b'*' && !(plus_is_space && byte == b'+')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canon(raw: &str, plus_is_space: bool) -> String {
        let mut out = String::new();
        canonicalize(
            raw,
            CanonicalOptions { plus_is_space },
            &mut CanonicalScratch::default(),
            &mut out,
        );
        out
    }

    #[test]
    fn double_percent_encoding_is_decoded_until_stable() {
        assert_eq!(canon("1%2527%2520OR%25201=1", false), "1' or 1=1");
    }

    #[test]
    fn percent_u_and_html_references_are_decoded() {
        assert_eq!(canon("%u003Cscript%u003E", false), "<script>");
        assert_eq!(
            canon("&lt;img src=x onerror&#61;alert&#x28;1&#41;&gt;", false),
            "<img src=x onerror=alert(1)>"
        );
        assert_eq!(
            canon("&#106&#97&#118&#97script&colon;", false),
            "javascript:"
        );
    }

    #[test]
    fn comments_whitespace_and_nulls_collapse() {
        assert_eq!(canon("UNION/**/SELECT\t\n  1", false), "union select 1");
        assert_eq!(canon("1/*!50000UNION*/ SELECT", false), "1 union select");
        assert_eq!(canon("sel\0ect  /* unterminated", false), "select");
        assert_eq!(canon("a+b", true), "a b");
        assert_eq!(canon("a+b", false), "a+b");
    }

    #[test]
    fn decoding_is_bounded() {
        // Five levels of encoding: four rounds leave one.
        let mut text = "'".to_string();
        for _ in 0..5 {
            text = text.replace('%', "%25").replace('\'', "%27");
        }
        assert_eq!(canon(&text, false), "%27");
    }

    #[test]
    fn plain_text_is_only_lowercased() {
        assert_eq!(
            canon("/Skypearl/cn/Index.html", false),
            "/skypearl/cn/index.html"
        );
        assert_eq!(canon("100%", false), "100%");
        assert_eq!(canon("a&b=c", false), "a&b=c");
    }

    proptest! {
        #[test]
        fn canonicalize_never_panics(raw in "\\PC{0,80}|[%&#;a-fA-Fu0-9*/!+ \t]{0,80}", plus in any::<bool>()) {
            let once = canon(&raw, plus);
            prop_assert!(!once.contains('\0'));
            prop_assert!(!once.contains("  "));
        }
    }
}
