//! The little YAML the file store's `meta.yaml` files need: a flat mapping of scalars, plus one
//! level of nested string mapping (the `tags` of a run input).
//!
//! Writing: every string is double-quoted with YAML escapes, so no value (a name with `: `, `#`,
//! a leading `'`, a newline, a control character) can change the document's shape; integers and
//! `null` are written bare. PyYAML reads all of it.
//!
//! Reading: what the writer produces, and what PyYAML's `safe_dump` writes for the same files
//! (plain, single- and double-quoted scalars, long scalars folded over indented lines, `{}` and
//! `[]`), so files the Python client wrote read too. Anything else is an error naming the line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A value of a top-level key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum YamlValue {
    /// `null`, `~` or nothing.
    Null,
    /// A scalar: the unquoted text of a quoted scalar, or a plain scalar as written (numbers
    /// included; the caller parses them).
    Scalar(String),
    /// A nested mapping of scalars (`{}` and `[]` read as an empty one).
    Map(Vec<(String, String)>),
}

/// A value to write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field<'a> {
    /// A string, always double-quoted.
    Str(&'a str),
    /// An integer, written bare.
    Int(i64),
    /// An optional integer: bare or `null`.
    OptInt(Option<i64>),
    /// `null`.
    Null,
    /// The empty list `[]`.
    EmptyList,
    /// A nested string mapping (`{}` when empty).
    Map(&'a [(String, String)]),
}

/// Renders a mapping; keys are written in the order given (callers sort them like PyYAML).
pub(crate) fn render(fields: &[(&str, Field<'_>)]) -> String {
    let mut out = String::new();
    for (key, value) in fields {
        out.push_str(&quote_key(key));
        out.push(':');
        match value {
            Field::Str(s) => {
                out.push(' ');
                out.push_str(&double_quoted(s));
            }
            Field::Int(n) | Field::OptInt(Some(n)) => {
                let _ = write!(out, " {n}");
            }
            Field::OptInt(None) | Field::Null => out.push_str(" null"),
            Field::EmptyList => out.push_str(" []"),
            Field::Map([]) => out.push_str(" {}"),
            Field::Map(entries) => {
                for (k, v) in *entries {
                    let _ = write!(out, "\n  {}: {}", quote_key(k), double_quoted(v));
                }
            }
        }
        out.push('\n');
    }
    out
}

/// Keys made only of letters, digits and `_ . -` (every key this module writes at the top level,
/// and most tag keys) stay plain, as PyYAML writes them; others are quoted.
fn quote_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if plain {
        key.to_owned()
    } else {
        double_quoted(key)
    }
}

/// A YAML double-quoted scalar. Characters PyYAML refuses to read even inside quotes (C0/C1
/// controls, DEL, U+FFFE/U+FFFF, lone surrogates cannot occur in Rust strings) are escaped.
pub(crate) fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_yaml_printable(c) => out.push(c),
            c if (c as u32) <= 0xFF => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// PyYAML's `Reader.NON_PRINTABLE`, inverted.
fn is_yaml_printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7E}' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || (c as u32) >= 0x10000
}

/// Parses a document into its top-level keys. The error is `(line number, message)`, 1-based.
pub(crate) fn parse(text: &str) -> Result<BTreeMap<String, YamlValue>, (usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut map = BTreeMap::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let line_no = index + 1;
        index += 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') || line == "---" {
            continue;
        }
        if line.starts_with(' ') {
            return Err((line_no, "unexpected indentation".into()));
        }
        let (key, rest) = split_key(line).map_err(|m| (line_no, m))?;
        // Lines indented under this key: a folded scalar's continuation, or a nested mapping.
        let start = index;
        while index < lines.len() && (lines[index].starts_with(' ') || lines[index].is_empty()) {
            index += 1;
        }
        let block = &lines[start..index];
        let value = if rest.trim().is_empty() && block.iter().any(|l| !l.trim().is_empty()) {
            YamlValue::Map(parse_nested(block, start + 1)?)
        } else {
            match rest.trim() {
                "{}" | "[]" => YamlValue::Map(Vec::new()),
                _ => match scalar(rest, block).map_err(|m| (line_no, m))? {
                    Some(s) => YamlValue::Scalar(s),
                    None => YamlValue::Null,
                },
            }
        };
        if map.insert(key.clone(), value).is_some() {
            return Err((line_no, format!("key {key:?} appears twice")));
        }
    }
    Ok(map)
}

/// Entries of a nested mapping, each `  key: scalar` (possibly folded over deeper lines).
fn parse_nested(
    block: &[&str],
    first_line_no: usize,
) -> Result<Vec<(String, String)>, (usize, String)> {
    let indent = block
        .iter()
        .find(|l| !l.trim().is_empty())
        .map_or(0, |l| l.len() - l.trim_start().len());
    let mut entries = Vec::new();
    let mut index = 0;
    while index < block.len() {
        let line = block[index];
        let line_no = first_line_no + index;
        index += 1;
        if line.trim().is_empty() {
            continue;
        }
        let own_indent = line.len() - line.trim_start().len();
        if own_indent != indent {
            return Err((line_no, "inconsistent indentation".into()));
        }
        let (key, rest) = split_key(line.trim_start()).map_err(|m| (line_no, m))?;
        let start = index;
        while index < block.len()
            && (block[index].trim().is_empty()
                || block[index].len() - block[index].trim_start().len() > indent)
        {
            index += 1;
        }
        let value = scalar(rest, &block[start..index])
            .map_err(|m| (line_no, m))?
            .unwrap_or_default();
        entries.push((key, value));
    }
    Ok(entries)
}

/// Splits `key: rest` (or `key:`), the key plain or quoted.
fn split_key(line: &str) -> Result<(String, &str), String> {
    if line.starts_with('"') || line.starts_with('\'') {
        let quote = line.as_bytes()[0];
        let end =
            closing_quote(line, quote).ok_or_else(|| "unterminated quoted key".to_string())?;
        let key = if quote == b'"' {
            unescape_double(&line[1..end])?
        } else {
            line[1..end].replace("''", "'")
        };
        let rest = &line[end + 1..];
        return match rest.strip_prefix(':') {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => Ok((key, rest)),
            _ => Err("expected ':' after the key".into()),
        };
    }
    if let Some(pos) = line.find(": ") {
        return Ok((line[..pos].to_owned(), &line[pos + 1..]));
    }
    match line.strip_suffix(':') {
        Some(key) => Ok((key.to_owned(), "")),
        None => Err("expected 'key: value'".into()),
    }
}

/// Byte index of the quote that closes a scalar opened at index 0 (`''` escapes `'`; `\"`
/// escapes `"`).
fn closing_quote(text: &str, quote: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b if b == quote => {
                if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                } else {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// A scalar starting on the key's line (`first`, after the colon) and folded over `more` lines;
/// `None` for null.
fn scalar(first: &str, more: &[&str]) -> Result<Option<String>, String> {
    let folded = fold(first.trim(), more);
    let text = folded.as_str();
    if let Some(body) = text.strip_prefix('"') {
        let end = closing_quote(text, b'"').ok_or("unterminated double-quoted string")?;
        if !text[end + 1..].trim().is_empty() {
            return Err("text after a quoted string".into());
        }
        return unescape_double(&body[..end - 1]).map(Some);
    }
    if let Some(body) = text.strip_prefix('\'') {
        let end = closing_quote(text, b'\'').ok_or("unterminated single-quoted string")?;
        if !text[end + 1..].trim().is_empty() {
            return Err("text after a quoted string".into());
        }
        return Ok(Some(body[..end - 1].replace("''", "'")));
    }
    match text {
        "" | "null" | "~" | "Null" | "NULL" => Ok(None),
        _ => Ok(Some(text.to_owned())),
    }
}

/// Joins a folded flow scalar's lines as YAML does: a line break becomes a space, each empty
/// line a newline, and a break escaped with `\` in a double-quoted scalar disappears.
fn fold(first: &str, more: &[&str]) -> String {
    let mut out = first.trim_end().to_owned();
    let mut pending_newlines = 0;
    for line in more {
        let line = line.trim();
        if line.is_empty() {
            pending_newlines += 1;
            continue;
        }
        if pending_newlines > 0 {
            out.push_str(&"\n".repeat(pending_newlines));
            pending_newlines = 0;
        } else if out.ends_with('\\') && !out.ends_with("\\\\") {
            out.pop();
        } else {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// Resolves the escapes of a double-quoted scalar's body.
fn unescape_double(body: &str) -> Result<String, String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = chars.next().ok_or("dangling backslash")?;
        let hex_len = match escaped {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => 0,
        };
        if hex_len > 0 {
            let hex: String = chars.by_ref().take(hex_len).collect();
            let code = u32::from_str_radix(&hex, 16)
                .ok()
                .filter(|_| hex.len() == hex_len)
                .and_then(char::from_u32)
                .ok_or_else(|| format!("bad escape \\{escaped}{hex}"))?;
            out.push(code);
            continue;
        }
        out.push(match escaped {
            '0' => '\0',
            'a' => '\u{07}',
            'b' => '\u{08}',
            't' | '\t' => '\t',
            'n' => '\n',
            'v' => '\u{0B}',
            'f' => '\u{0C}',
            'r' => '\r',
            'e' => '\u{1B}',
            ' ' => ' ',
            '"' => '"',
            '/' => '/',
            '\\' => '\\',
            'N' => '\u{85}',
            '_' => '\u{A0}',
            'L' => '\u{2028}',
            'P' => '\u{2029}',
            other => return Err(format!("unknown escape \\{other}")),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_of(doc: &str, key: &str) -> Option<String> {
        match parse(doc).expect("parses").remove(key) {
            Some(YamlValue::Scalar(s)) => Some(s),
            _ => None,
        }
    }

    #[test]
    fn written_strings_read_back_exactly() {
        let tricky = [
            "",
            "plain",
            "a: b # c",
            "'single' \"double\"",
            "line\nbreak\ttab\r",
            "\\ back\\slash",
            "\u{7F}\u{85}\u{9F}\u{FFFE}é😀",
            "null",
            "  spaces  ",
        ];
        for value in tricky {
            let doc = render(&[("name", Field::Str(value)), ("n", Field::Int(-3))]);
            assert_eq!(scalar_of(&doc, "name").as_deref(), Some(value), "{doc}");
            assert_eq!(scalar_of(&doc, "n").as_deref(), Some("-3"));
        }
    }

    #[test]
    fn nested_maps_nulls_and_lists() {
        let tags = vec![
            ("mlflow.data.context".to_string(), "train".to_string()),
            ("odd key: x".to_string(), "v\n2".to_string()),
        ];
        let doc = render(&[
            ("end_time", Field::OptInt(None)),
            ("empty", Field::Map(&[])),
            ("tags", Field::Map(&tags)),
            ("list", Field::EmptyList),
        ]);
        let parsed = parse(&doc).expect("parses");
        assert_eq!(parsed["end_time"], YamlValue::Null);
        assert_eq!(parsed["empty"], YamlValue::Map(vec![]));
        assert_eq!(parsed["list"], YamlValue::Map(vec![]));
        assert_eq!(parsed["tags"], YamlValue::Map(tags));
    }

    #[test]
    fn pyyaml_styles_read() {
        let doc = "name: 'it''s a\n  folded name'\nplain: Default\nid: '0'\nd: \"a\\\n  b\"\n";
        assert_eq!(
            scalar_of(doc, "name").as_deref(),
            Some("it's a folded name")
        );
        assert_eq!(scalar_of(doc, "plain").as_deref(), Some("Default"));
        assert_eq!(scalar_of(doc, "id").as_deref(), Some("0"));
        assert_eq!(scalar_of(doc, "d").as_deref(), Some("ab"));
    }

    #[test]
    fn garbage_names_the_line() {
        assert_eq!(parse("a: 1\nno colon here\n").unwrap_err().0, 2);
        assert_eq!(parse("a: \"open\n").unwrap_err().0, 1);
        assert_eq!(parse("a: 1\na: 2\n").unwrap_err().0, 2);
    }
}
