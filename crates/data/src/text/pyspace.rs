//! Python's definition of whitespace, which scikit-learn relies on.
//!
//! `str.isspace`, `str.split()`, `str.strip()` and the `\s` class of Python's
//! `re` module all agree on one set of characters. It is Rust's Unicode
//! `White_Space` set plus the four ASCII information separators
//! U+001C..=U+001F, which Python counts as whitespace because their
//! bidirectional class is B or S.

/// Whether Python's `str.isspace` holds for `c` (and so whether `re`'s `\s`
/// and `str.split()` treat it as whitespace).
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `s.strip()` in Python: `s` without leading and trailing Python whitespace.
pub fn python_strip(s: &str) -> &str {
    s.trim_matches(is_python_space)
}

/// Whether the ASCII byte `b` is Python whitespace (`\t\n\x0b\x0c\r`,
/// U+001C..=U+001F, space).
#[inline]
pub(crate) fn is_python_space_ascii(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | 0x1c..=0x20)
}

/// Appends `text` to `out` with every run of two or more Python whitespace
/// characters replaced by one `' '`, as scikit-learn's
/// `re.compile(r"\s\s+").sub(" ", text)` does. A lone whitespace character is
/// kept as it is (a single tab stays a tab).
pub(crate) fn collapse_whitespace_runs_into(text: &str, out: &mut String) {
    let bytes = text.as_bytes();
    // Start of the text not yet copied to `out`.
    let mut copied_to = 0;
    let mut pos = 0;
    while pos < bytes.len() {
        let width = python_space_width_at(text, pos);
        if width == 0 {
            pos += utf8_width(bytes[pos]);
            continue;
        }
        let run_start = pos;
        let mut run_chars = 0usize;
        let mut width = width;
        while width > 0 {
            pos += width;
            run_chars += 1;
            width = if pos < bytes.len() {
                python_space_width_at(text, pos)
            } else {
                0
            };
        }
        if run_chars >= 2 {
            out.push_str(&text[copied_to..run_start]);
            out.push(' ');
            copied_to = pos;
        }
    }
    out.push_str(&text[copied_to..]);
}

/// The byte width of the character at `pos` if it is Python whitespace, else 0.
/// `pos` must be a character boundary inside `text`.
#[inline]
fn python_space_width_at(text: &str, pos: usize) -> usize {
    let lead = text.as_bytes()[pos];
    if lead < 0x80 {
        return usize::from(is_python_space_ascii(lead));
    }
    match text[pos..].chars().next() {
        Some(c) if is_python_space(c) => c.len_utf8(),
        _ => 0,
    }
}

/// Byte width of the UTF-8 sequence that starts with `lead`.
#[inline]
pub(crate) fn utf8_width(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Python 3's `[c for c in all code points if chr(c).isspace()]`.
    const PYTHON_SPACES: &[u32] = &[
        0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001,
        0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029,
        0x202f, 0x205f, 0x3000,
    ];

    #[test]
    fn python_space_set_matches_python_exactly() {
        let ours: Vec<u32> = (0..=0x10ffffu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_python_space(c))
            .map(u32::from)
            .collect();
        assert_eq!(ours, PYTHON_SPACES);
    }

    #[test]
    fn ascii_predicate_agrees_with_char_predicate() {
        for b in 0u8..0x80 {
            assert_eq!(
                is_python_space_ascii(b),
                is_python_space(char::from(b)),
                "{b:#x}"
            );
        }
    }

    #[test]
    fn strip_removes_information_separators_like_python() {
        assert_eq!(python_strip("\u{1c} a b\u{3000}\u{1f}"), "a b");
        assert_eq!(
            python_strip("\u{200b}x"),
            "\u{200b}x",
            "U+200B is not whitespace"
        );
        assert_eq!(python_strip(" \t "), "");
    }

    fn collapse(text: &str) -> String {
        let mut out = String::new();
        collapse_whitespace_runs_into(text, &mut out);
        out
    }

    #[test]
    fn collapse_replaces_only_runs_of_two_or_more() {
        assert_eq!(collapse("ab  c"), "ab c");
        assert_eq!(collapse("a\tb"), "a\tb");
        assert_eq!(collapse("a\t\nb"), "a b");
        assert_eq!(collapse("  a \u{3000}\u{1c}b "), " a b ");
        assert_eq!(collapse("x\u{a0}\u{a0}y\u{85}"), "x y\u{85}");
        assert_eq!(collapse(""), "");
    }

    /// Reference implementation of `re.sub(r"\s\s+", " ", text)` over chars.
    fn collapse_reference(text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            if is_python_space(chars[i]) {
                let mut j = i;
                while j < chars.len() && is_python_space(chars[j]) {
                    j += 1;
                }
                if j - i >= 2 {
                    out.push(' ');
                } else {
                    out.push(chars[i]);
                }
                i = j;
            } else {
                out.push(chars[i]);
                i += 1;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn collapse_matches_reference(text in "[ a\\t\\n\u{1c}\u{a0}\u{3000}é\u{85}]{0,24}|\\PC{0,24}") {
            prop_assert_eq!(collapse(&text), collapse_reference(&text));
        }
    }
}
