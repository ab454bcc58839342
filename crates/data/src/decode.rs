//! Turning the raw bytes of one request into the one text every model sees.
//!
//! The order is the reference pipeline's (`urllib.parse.unquote(line).strip()`):
//! percent-decode in the dataset's charset, then optionally lowercase, then trim.
//! Decoding is total: invalid escapes stay literal and invalid byte sequences
//! become U+FFFD, so no input can make it fail.

use serde::{Deserialize, Serialize};

use crate::text::python_strip;

/// How the bytes of a file (and the bytes of its percent-escapes) map to characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Charset {
    /// UTF-8; invalid sequences are replaced by U+FFFD (maximal-subpart rule, as Python's `errors="replace"`).
    #[default]
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same value (CSIC 2010's `%F1` = `ñ`).
    #[serde(rename = "latin-1", alias = "latin1", alias = "iso-8859-1")]
    Latin1,
}

/// Normalisation options of a dataset (the `[decode]` table of its definition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeConfig {
    pub charset: Charset,
    /// Decode `%XX` escapes (the reference does).
    pub percent_decode: bool,
    /// Also turn `+` into a space (form encoding). Off by default, as in the reference.
    pub plus_as_space: bool,
    /// Lowercase the text. Off by default: vectorisers lowercase on their own.
    pub lowercase: bool,
    /// Strip leading and trailing whitespace (Python's `str.strip` set).
    pub trim: bool,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            charset: Charset::Utf8,
            percent_decode: true,
            plus_as_space: false,
            lowercase: false,
            trim: true,
        }
    }
}

/// What decoding one record noticed (counted in load reports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeNotes {
    /// The bytes were not valid in the charset and U+FFFD was substituted.
    pub replaced_invalid: bool,
}

impl DecodeConfig {
    /// Normalise one record's raw bytes into its text.
    pub fn normalize(&self, raw: &[u8]) -> (String, DecodeNotes) {
        let mut buf = Vec::new();
        let bytes: &[u8] = if self.percent_decode || self.plus_as_space {
            percent_decode_into(raw, self.percent_decode, self.plus_as_space, &mut buf);
            &buf
        } else {
            raw
        };
        let (mut text, notes) = decode_bytes(bytes, self.charset);
        if self.lowercase {
            text = text.to_lowercase();
        }
        if self.trim {
            let trimmed = python_strip(&text);
            if trimmed.len() != text.len() {
                text = trimmed.to_owned();
            }
        }
        (text, notes)
    }
}

/// Bytes to text in `charset`, never failing.
pub fn decode_bytes(bytes: &[u8], charset: Charset) -> (String, DecodeNotes) {
    match charset {
        Charset::Utf8 => match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_owned(), DecodeNotes::default()),
            Err(_) => (
                String::from_utf8_lossy(bytes).into_owned(),
                DecodeNotes {
                    replaced_invalid: true,
                },
            ),
        },
        Charset::Latin1 => (
            bytes.iter().map(|&b| b as char).collect(),
            DecodeNotes::default(),
        ),
    }
}

/// Percent-decode `raw` into `out`: `%XX` (either case) becomes the byte XX,
/// anything else (a lone `%`, `%G1`) is kept as it is, like `urllib.parse.unquote_to_bytes`.
pub fn percent_decode_into(raw: &[u8], escapes: bool, plus_as_space: bool, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if escapes
            && b == b'%'
            && i + 2 < raw.len()
            && let (Some(hi), Some(lo)) = (hex_value(raw[i + 1]), hex_value(raw[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(if plus_as_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utf8() -> DecodeConfig {
        DecodeConfig::default()
    }

    fn latin1() -> DecodeConfig {
        DecodeConfig {
            charset: Charset::Latin1,
            ..DecodeConfig::default()
        }
    }

    #[test]
    fn decodes_utf8_escapes_and_keeps_invalid_ones() {
        let (t, n) = utf8().normalize(b"/a%20b%C3%A9?x=%zz%4");
        assert_eq!(t, "/a b\u{e9}?x=%zz%4");
        assert!(!n.replaced_invalid);
    }

    #[test]
    fn invalid_utf8_escape_is_replaced_not_fatal() {
        let (t, n) = utf8().normalize(b"id=%F1o");
        assert_eq!(t, "id=\u{fffd}o");
        assert!(n.replaced_invalid);
    }

    #[test]
    fn latin1_escapes_map_bytes_to_code_points() {
        let (t, _) = latin1().normalize(b"B1=A%F1adir+al+carrito \xe9");
        assert_eq!(t, "B1=A\u{f1}adir+al+carrito \u{e9}");
    }

    #[test]
    fn plus_as_space_is_optional() {
        let cfg = DecodeConfig {
            plus_as_space: true,
            ..utf8()
        };
        assert_eq!(cfg.normalize(b"a+b%2B").0, "a b+");
        assert_eq!(utf8().normalize(b"a+b%2B").0, "a+b+");
    }

    #[test]
    fn trims_python_whitespace_after_decoding() {
        // %20 at the end becomes a space and is then stripped, as unquote(..).strip() does.
        assert_eq!(utf8().normalize(b"\x1c /x%20\r").0, "/x");
        let keep = DecodeConfig {
            trim: false,
            ..utf8()
        };
        assert_eq!(keep.normalize(b" /x ").0, " /x ");
    }

    #[test]
    fn lowercase_is_applied_when_asked() {
        let cfg = DecodeConfig {
            lowercase: true,
            ..utf8()
        };
        assert_eq!(cfg.normalize(b"/SELECT%C3%89").0, "/select\u{e9}");
    }

    #[test]
    fn escape_at_the_very_end_decodes() {
        assert_eq!(utf8().normalize(b"a%41").0, "aA");
        assert_eq!(utf8().normalize(b"a%4").0, "a%4");
        assert_eq!(utf8().normalize(b"%").0, "%");
    }

    proptest! {
        #[test]
        fn normalize_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = utf8().normalize(&bytes);
            let _ = latin1().normalize(&bytes);
        }

        #[test]
        fn text_without_escapes_is_unchanged(s in "[^%]{0,50}") {
            let cfg = DecodeConfig { trim: false, ..utf8() };
            prop_assert_eq!(cfg.normalize(s.as_bytes()).0, s);
        }

        #[test]
        fn latin1_decoding_is_one_char_per_byte(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let (t, _) = decode_bytes(&bytes, Charset::Latin1);
            prop_assert_eq!(t.chars().count(), bytes.len());
        }

        #[test]
        fn escaping_every_byte_round_trips(s in "\\PC{0,40}") {
            let escaped: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
            let cfg = DecodeConfig { trim: false, ..utf8() };
            prop_assert_eq!(cfg.normalize(escaped.as_bytes()).0, s);
        }
    }
}
