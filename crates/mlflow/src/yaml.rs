//! The one YAML writer of the workspace, and the reader of the file store's `meta.yaml`.
//!
//! Writing ([`render`]): block mappings and sequences nested to any depth, in the order given,
//! each string in a style that cannot change the document's shape, whatever it holds (`: `,
//! `#`, quotes, a newline, a control character):
//! * [`Field::Str`] is always double-quoted with YAML escapes (the file store's `meta.yaml`, as
//!   before);
//! * [`Field::Text`] takes the plainest style that reads back as the same string, as PyYAML's
//!   `safe_dump` would: plain when that is unambiguous (not `null`, `true`, a number, a date,
//!   no indicator), else single-quoted, else double-quoted with escapes (MLflow's `MLmodel`).
//!
//! Integers, floats, booleans and `null` are written bare. PyYAML (what MLflow reads with)
//! reads all of it.
//!
//! Reading (crate-private): what the file store writes, and what PyYAML's `safe_dump` writes
//! for the same files (plain, single- and double-quoted scalars, long scalars folded over
//! indented lines, `{}` and `[]`), so files the Python client wrote read too: a flat mapping of
//! scalars, plus one level of nested string mapping (the `tags` of a run input). Anything else
//! is an error naming the line.

use std::borrow::Cow;
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
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    /// A string, always double-quoted.
    Str(&'a str),
    /// A string in the plainest style that reads back as itself: plain, single-quoted or
    /// double-quoted (see the module's documentation). Build it with [`Field::text`].
    Text(Cow<'a, str>),
    /// An integer, written bare.
    Int(i64),
    /// An optional integer: bare or `null`.
    OptInt(Option<i64>),
    /// A float, written bare as Rust displays it (`.nan`, `.inf`, `-.inf` when not finite).
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// A nested string mapping, its values double-quoted (`{}` when empty).
    Map(&'a [(String, String)]),
    /// A nested mapping of any values, in the order given (`{}` when empty).
    Mapping(Vec<(&'a str, Field<'a>)>),
    /// A block sequence of any values (`[]` when empty).
    List(Vec<Field<'a>>),
}

impl<'a> Field<'a> {
    /// A [`Field::Text`] from a borrowed or owned string.
    pub fn text(value: impl Into<Cow<'a, str>>) -> Self {
        Field::Text(value.into())
    }
}

/// Renders a mapping as a YAML document; keys are written in the order given (callers sort
/// them when they want PyYAML's order).
pub fn render(fields: &[(&str, Field<'_>)]) -> String {
    let mut out = String::new();
    render_mapping(&mut out, fields, 0);
    out
}

/// Writes the entries of a block mapping, each on its own line `indent` spaces in.
fn render_mapping(out: &mut String, fields: &[(&str, Field<'_>)], indent: usize) {
    for (key, value) in fields {
        out.push_str(&" ".repeat(indent));
        out.push_str(&quote_key(key));
        out.push(':');
        match value {
            Field::Map(entries) if !entries.is_empty() => {
                out.push('\n');
                render_string_map(out, entries, indent + 2);
            }
            Field::Mapping(entries) if !entries.is_empty() => {
                out.push('\n');
                render_mapping(out, entries, indent + 2);
            }
            // Indentless, as PyYAML writes a sequence under a key.
            Field::List(items) if !items.is_empty() => {
                out.push('\n');
                render_list(out, items, indent);
            }
            scalar => {
                out.push(' ');
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

/// Writes the items of a block sequence, each `- ` at `indent`; an item that is itself a
/// mapping or a sequence goes on from its dash.
fn render_list(out: &mut String, items: &[Field<'_>], indent: usize) {
    let inner = indent + 2;
    for item in items {
        let mut entry = String::new();
        match item {
            Field::Map(entries) if !entries.is_empty() => {
                render_string_map(&mut entry, entries, inner);
            }
            Field::Mapping(entries) if !entries.is_empty() => {
                render_mapping(&mut entry, entries, inner);
            }
            Field::List(items) if !items.is_empty() => render_list(&mut entry, items, inner),
            scalar => {
                let _ = writeln!(entry, "{}{}", " ".repeat(inner), inline(scalar));
            }
        }
        // The item's first line starts `inner` spaces in: its dash takes the last two.
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        out.push_str(&entry[inner..]);
    }
}

/// Writes a string mapping's entries at `indent`, the values double-quoted.
fn render_string_map(out: &mut String, entries: &[(String, String)], indent: usize) {
    for (key, value) in entries {
        let _ = writeln!(
            out,
            "{}{}: {}",
            " ".repeat(indent),
            quote_key(key),
            double_quoted(value)
        );
    }
}

/// A value written on its key's line: a scalar, or an empty collection (`{}`, `[]`).
fn inline(value: &Field<'_>) -> String {
    match value {
        Field::Str(s) => double_quoted(s),
        Field::Text(s) => text_scalar(s),
        Field::Int(n) | Field::OptInt(Some(n)) => n.to_string(),
        Field::Float(x) if x.is_nan() => ".nan".to_owned(),
        Field::Float(x) if x.is_infinite() => if *x > 0.0 { ".inf" } else { "-.inf" }.to_owned(),
        Field::Float(x) => x.to_string(),
        Field::Bool(b) => b.to_string(),
        Field::OptInt(None) | Field::Null => "null".to_owned(),
        Field::List(_) => "[]".to_owned(),
        Field::Map(_) | Field::Mapping(_) => "{}".to_owned(),
    }
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
/// controls, DEL, U+FFFE/U+FFFF, lone surrogates cannot occur in Rust strings) are escaped, and
/// so are the line breaks it would fold into a space (NEL, U+2028, U+2029).
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
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

/// `s` in the plainest YAML style that reads back as `s` (see [`Field::Text`]).
fn text_scalar(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else if s.chars().all(|c| is_yaml_printable(c) && !is_line_break(c)) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        double_quoted(s)
    }
}

/// Whether `s` written plain after `key: ` or `- ` reads back as the string `s` in PyYAML:
/// printable ASCII, no indicator first (but a dash before text), no `: ` or ` #` inside, and
/// nothing PyYAML's implicit resolvers would take for a null, a boolean, a number or a date.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    // A dash followed by text is no sequence entry (`-r requirements.txt`).
    let dash_then_text = first == '-' && s.chars().nth(1).is_some_and(|c| c != ' ');
    (dash_then_text || !"-?:,[]{}#&*!|>'\"%@` ".contains(first))
        && s.chars().all(|c| matches!(c, ' '..='~'))
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with([':', ' '])
        && !resolves_to_non_string(s)
}

/// PyYAML's implicit resolvers (YAML 1.1), a little wider where that is simpler: what they
/// match is quoted.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: [&str; 24] = [
        "~", "null", "Null", "NULL", "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE",
        "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "=", "<<",
    ];
    let bytes = s.as_bytes();
    let date = bytes.len() >= 5 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-';
    WORDS.contains(&s) || date || looks_numeric(s)
}

/// Integers (binary, octal, hex, sexagesimal, `_` separators) and floats (`.inf`, `.nan`,
/// exponents) as PyYAML reads them, and some strings it would not (`1e5`, `1:99`).
fn looks_numeric(s: &str) -> bool {
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if [".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"].contains(&unsigned) {
        return true;
    }
    let lower = unsigned.to_ascii_lowercase();
    if let Some(digits) = ["0b", "0o", "0x"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
    {
        return !digits.is_empty()
            && digits
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
    }
    let mantissa = match lower.split_once('e') {
        Some((mantissa, exponent)) => {
            let exponent = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
            if exponent.is_empty() || !exponent.chars().all(|c| c.is_ascii_digit()) {
                return false;
            }
            mantissa
        }
        None => lower.as_str(),
    };
    mantissa.chars().any(|c| c.is_ascii_digit())
        && mantissa
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '_' | '.' | ':'))
        && mantissa.matches('.').count() <= 1
}

/// The line breaks of YAML 1.1 besides `\n` and `\r`, which PyYAML folds inside quotes.
fn is_line_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
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

/// The scalar of one top-level key, read without parsing the rest of the document: an
/// `MLmodel`'s `run_id` beside flavors nested deeper than [`parse`] reads. Quotes and escapes
/// are undone as PyYAML would. `None` when the key is absent, null, a mapping or unreadable.
pub fn top_level_scalar(text: &str, key: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let index = lines.iter().position(|line| {
        !line.starts_with(' ') && split_key(line).is_ok_and(|(found, _)| found == key)
    })?;
    let (_, rest) = split_key(lines[index]).ok()?;
    let more: Vec<&str> = lines[index + 1..]
        .iter()
        .take_while(|l| l.starts_with(' ') || l.is_empty())
        .copied()
        .collect();
    if rest.trim().is_empty() && more.iter().any(|l| !l.trim().is_empty()) {
        return None;
    }
    scalar(rest, &more).ok().flatten()
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
    #[test]
    fn a_top_level_scalar_reads_back_beside_deeper_mappings() {
        let hostile = "a: b # c\n'x'";
        let flavor = vec![("loader_module", super::Field::text("vigie_pyfunc"))];
        let doc = super::render(&[
            (
                "flavors",
                super::Field::Mapping(vec![("python_function", super::Field::Mapping(flavor))]),
            ),
            ("run_id", super::Field::text("0123")),
            ("model_id", super::Field::text(hostile)),
            ("artifact_path", super::Field::Null),
        ]);
        assert!(doc.contains("run_id: '0123'"), "{doc}");
        assert_eq!(
            super::top_level_scalar(&doc, "run_id").as_deref(),
            Some("0123")
        );
        assert_eq!(
            super::top_level_scalar(&doc, "model_id").as_deref(),
            Some(hostile)
        );
        assert_eq!(super::top_level_scalar(&doc, "artifact_path"), None);
        assert_eq!(super::top_level_scalar(&doc, "flavors"), None);
        assert_eq!(super::top_level_scalar(&doc, "loader_module"), None);
        assert_eq!(super::top_level_scalar(&doc, "missing"), None);
    }

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
            ("list", Field::List(Vec::new())),
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

    /// Hostile strings: YAML syntax, quotes, every kind of line break, controls, non-ASCII.
    const HOSTILE: [&str; 16] = [
        "a: b # c\n'x'",
        "",
        " lead",
        "trail ",
        "- item",
        "[1, 2]",
        "{a: 1}",
        "#comment",
        "key:",
        "'single' \"double\"",
        "line\nbreak\ttab\r",
        "nel\u{85}ls\u{2028}ps\u{2029}end",
        "\u{7F}\u{9F}\u{FFFE}é😀",
        "\\ back\\slash",
        "&anchor *alias !tag |block >fold %dir @at `tick",
        "null",
    ];

    #[test]
    fn text_takes_the_plainest_style_that_reads_back() {
        let style = |value: &str| text_scalar(value);
        for plain in [
            "model",
            "vigie_pyfunc",
            "conda.yaml",
            "0.1.0",
            "90c943b10bb841c5b562d1c2c374cec4",
            "m-0123abcd",
            "mlflow-artifacts:/1/models/m-1/artifacts",
            "a#b",
            "-r requirements.txt",
        ] {
            assert_eq!(style(plain), plain);
        }
        for single in [
            "3.11",
            "2026-11-28 12:34:56.123456",
            "[{\"type\": \"string\"}]",
            "true",
            "Off",
            "~",
            "12",
            "-1.5e+3",
            "0x1F",
            ".inf",
            "1_000",
            "1:30",
            "unavailable: a model's layers",
        ] {
            assert_eq!(
                style(single),
                format!("'{}'", single.replace('\'', "''")),
                "{single}"
            );
        }
        assert_eq!(style("a: b # c\n'x'"), "\"a: b # c\\n'x'\"");
        assert_eq!(style("nel\u{85}"), "\"nel\\N\"");
    }

    #[test]
    fn sequences_render_indentless_as_pyyaml_writes_them() {
        let doc = render(&[
            ("channels", Field::List(vec![Field::text("conda-forge")])),
            (
                "dependencies",
                Field::List(vec![
                    Field::text("python=3.11"),
                    Field::Mapping(vec![(
                        "pip",
                        Field::List(vec![Field::text("numpy>=1.22"), Field::text("- x")]),
                    )]),
                    Field::List(vec![Field::Int(1), Field::List(Vec::new())]),
                ]),
            ),
            (
                "nested",
                Field::Mapping(vec![("items", Field::List(vec![Field::Bool(true)]))]),
            ),
        ]);
        assert_eq!(
            doc,
            "channels:\n- conda-forge\ndependencies:\n- python=3.11\n- pip:\n  - numpy>=1.22\n  \
             - '- x'\n- - 1\n  - []\nnested:\n  items:\n  - true\n"
        );
    }

    #[test]
    fn nested_mappings_render_as_block_mappings() {
        let doc = render(&[
            ("artifact_path", Field::text("model")),
            (
                "flavors",
                Field::Mapping(vec![
                    (
                        "python_function",
                        Field::Mapping(vec![
                            ("code", Field::text("code")),
                            (
                                "env",
                                Field::Mapping(vec![("conda", Field::text("conda.yaml"))]),
                            ),
                            (
                                "config",
                                Field::Mapping(vec![("decode", Field::Bool(true))]),
                            ),
                            ("python_version", Field::text("3.11")),
                        ]),
                    ),
                    ("empty", Field::Mapping(vec![])),
                    ("threshold", Field::Float(0.25)),
                ]),
            ),
            ("params", Field::Null),
            ("nan", Field::Float(f64::NAN)),
            ("inf", Field::Float(f64::NEG_INFINITY)),
        ]);
        assert_eq!(
            doc,
            "artifact_path: model\nflavors:\n  python_function:\n    code: code\n    env:\n      \
             conda: conda.yaml\n    config:\n      decode: true\n    python_version: '3.11'\n  \
             empty: {}\n  threshold: 0.25\nparams: null\nnan: .nan\ninf: -.inf\n"
        );
    }

    #[test]
    fn hostile_text_reads_back_exactly() {
        for value in HOSTILE {
            let doc = render(&[
                ("top", Field::text(value)),
                ("quoted", Field::Str(value)),
                (
                    "nested",
                    Field::Mapping(vec![("inner", Field::text(value))]),
                ),
                ("after", Field::Int(1)),
            ]);
            let parsed = parse(&doc).unwrap_or_else(|e| panic!("{e:?} in {doc}"));
            assert_eq!(parsed["top"], YamlValue::Scalar(value.to_owned()), "{doc}");
            assert_eq!(
                parsed["quoted"],
                YamlValue::Scalar(value.to_owned()),
                "{doc}"
            );
            assert_eq!(
                parsed["nested"],
                YamlValue::Map(vec![("inner".to_owned(), value.to_owned())]),
                "{doc}"
            );
            assert_eq!(parsed["after"], YamlValue::Scalar("1".to_owned()), "{doc}");
        }
    }

    #[test]
    fn pyyaml_reads_what_is_written() {
        let Some(python) = vigie_test_support::venv_python_if_present() else {
            eprintln!("no venv Python: PyYAML not checked");
            return;
        };
        let mut fields = Vec::new();
        let keys: Vec<String> = (0..HOSTILE.len()).map(|i| format!("k{i}")).collect();
        for (key, value) in keys.iter().zip(HOSTILE) {
            fields.push((
                key.as_str(),
                Field::Mapping(vec![
                    ("text", Field::text(value)),
                    ("str", Field::Str(value)),
                ]),
            ));
        }
        for (key, value) in [
            ("ver", "3.11"),
            ("plain", "0.1.0"),
            ("word", "yes"),
            ("date", "2026-02-29 00:00:00.000000"),
            ("hex", "0x1F"),
        ] {
            fields.push((key, Field::text(value)));
        }
        fields.push(("t", Field::Float(0.125)));
        fields.push(("b", Field::Bool(false)));
        fields.push(("n", Field::Null));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("doc.yaml");
        std::fs::write(&path, render(&fields)).expect("write");
        let out = std::process::Command::new(python)
            .args([
                "-c",
                "import json, sys, yaml\n\
                 print(json.dumps(yaml.safe_load(open(sys.argv[1], encoding='utf-8'))))",
            ])
            .arg(&path)
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        for (key, value) in keys.iter().zip(HOSTILE) {
            assert_eq!(read[key]["text"], value, "{key}");
            assert_eq!(read[key]["str"], value, "{key}");
        }
        assert_eq!(read["ver"], "3.11");
        assert_eq!(read["plain"], "0.1.0");
        assert_eq!(read["word"], "yes");
        assert_eq!(read["date"], "2026-02-29 00:00:00.000000");
        assert_eq!(read["hex"], "0x1F");
        assert_eq!(read["t"], 0.125);
        assert_eq!(read["b"], false);
        assert!(read["n"].is_null());
    }

    #[test]
    fn garbage_names_the_line() {
        assert_eq!(parse("a: 1\nno colon here\n").unwrap_err().0, 2);
        assert_eq!(parse("a: \"open\n").unwrap_err().0, 1);
        assert_eq!(parse("a: 1\na: 2\n").unwrap_err().0, 2);
    }
}
