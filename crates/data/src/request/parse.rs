//! A request text split into its fields, each with its byte span in the text.
//!
//! The texts Vigie sees are request lines in several spellings: a path with its query
//! (`/a/b.php?id=1`, Fwaf, access logs once their request is taken out), an absolute URL, a
//! request line with a method (`GET http://host/a?x=1 HTTP/1.1`), CSIC 2010's
//! `METHOD target body`, a raw HTTP request with header lines, and bare payloads (`' or 1=1--`)
//! that are no URL at all. [`parse`] recognises each and never fails: what it cannot read as a
//! request is one [`FieldKind::Payload`] field spanning the whole text, so it still scores.

use std::ops::Range;

/// Where a field sits in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    Method,
    /// One `/`-separated segment of the path (empty segments are skipped).
    PathSegment,
    /// The last path segment's extension, after its last `.`.
    Extension,
    /// A parameter's name (query, form body or cookie).
    ParamName,
    QueryValue,
    BodyValue,
    CookieValue,
    /// A header other than `Cookie`, as its value.
    HeaderValue,
    /// A text that is not a request: the whole of it.
    Payload,
}

impl FieldKind {
    /// Whether the field holds data a client chose (where injections live).
    pub fn is_value(self) -> bool {
        matches!(
            self,
            FieldKind::QueryValue
                | FieldKind::BodyValue
                | FieldKind::CookieValue
                | FieldKind::HeaderValue
                | FieldKind::Payload
        )
    }

    /// `+` means a space in form-encoded values.
    pub fn plus_is_space(self) -> bool {
        matches!(
            self,
            FieldKind::QueryValue | FieldKind::BodyValue | FieldKind::ParamName
        )
    }

    /// A short stable name, for feature tags and explanations.
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Method => "method",
            FieldKind::PathSegment => "path",
            FieldKind::Extension => "extension",
            FieldKind::ParamName => "name",
            FieldKind::QueryValue => "query",
            FieldKind::BodyValue => "body",
            FieldKind::CookieValue => "cookie",
            FieldKind::HeaderValue => "header",
            FieldKind::Payload => "payload",
        }
    }
}

/// One field: its kind and where its raw text is in the request text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub kind: FieldKind,
    pub span: Range<usize>,
}

/// The fields of one request text, in the order they appear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedRequest {
    pub fields: Vec<Field>,
}

impl ParsedRequest {
    /// The raw text of `field` in `text` (the text this request was parsed from).
    pub fn raw<'t>(&self, text: &'t str, field: &Field) -> &'t str {
        &text[field.span.clone()]
    }
}

const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT",
];

/// Parses `text` into its fields (see the module docs).
pub fn parse(text: &str) -> ParsedRequest {
    let mut fields = Vec::new();
    parse_into(text, &mut fields);
    ParsedRequest { fields }
}

/// [`parse`] into a reused vector (cleared first).
pub fn parse_into(text: &str, fields: &mut Vec<Field>) {
    fields.clear();
    let mut out = Fields { fields };
    match split_method(text) {
        Some((method, rest_at)) => {
            out.push(FieldKind::Method, method);
            parse_after_method(text, rest_at, &mut out);
        }
        None if looks_like_url(text) => parse_url_text(text, 0..text.len(), &mut out),
        None => {}
    }
    if out.fields.is_empty() && !text.trim().is_empty() {
        out.push(FieldKind::Payload, 0..text.len());
    }
}

struct Fields<'v> {
    fields: &'v mut Vec<Field>,
}

impl Fields<'_> {
    fn push(&mut self, kind: FieldKind, span: Range<usize>) {
        self.fields.push(Field { kind, span });
    }
}

/// `METHOD ` at the start: the method's span and where the rest begins.
fn split_method(text: &str) -> Option<(Range<usize>, usize)> {
    // No method is longer than this: a text whose first blank comes later has none, and the
    // rest of a long text is not searched.
    const LONGEST_METHOD: usize = 7;
    let end = text
        .bytes()
        .take(LONGEST_METHOD + 1)
        .position(|b| b == b' ' || b == b'\t')?;
    METHODS.contains(&&text[..end]).then(|| (0..end, end + 1))
}

/// A path or an absolute URL. A text opening with `/*` is a bare payload led by a SQL comment
/// (`/*!union*/ select`): no request target starts so, and read as a path its words would be a
/// site's folder names, no evidence.
fn looks_like_url(text: &str) -> bool {
    (text.starts_with('/') && !text.starts_with("/*")) || scheme_end(text).is_some()
}

/// The end of `scheme://authority` at the start of `text`, if it has one.
fn scheme_end(text: &str) -> Option<usize> {
    // The first `:` ends the scheme (a scheme holds none), so it must start the `://`.
    let colon = text.find(':').filter(|&at| text[at..].starts_with("://"))?;
    let scheme = &text[..colon];
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let authority = colon + 3;
    Some(
        text[authority..]
            .find(['/', '?', '#'])
            .map_or(text.len(), |at| authority + at),
    )
}

/// After the method: the target, an optional `HTTP/x.y`, then header lines (raw HTTP) or, on
/// the same line, a body (CSIC 2010's `METHOD target body`).
fn parse_after_method(text: &str, start: usize, out: &mut Fields<'_>) {
    let line_end = text[start..].find('\n').map_or(text.len(), |at| start + at);
    let line = &text[start..line_end];
    let target_len = line.find([' ', '\t']).unwrap_or(line.len());
    parse_url_text(text, start..start + target_len, out);
    let mut after = start + target_len;
    let rest_of_line = &text[after..line_end];
    let trimmed = rest_of_line.trim_start();
    after += rest_of_line.len() - trimmed.len();
    if trimmed.starts_with("HTTP/") {
        after += trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
    }
    let same_line = text[after..line_end].trim();
    if !same_line.is_empty() {
        let at = after + text[after..line_end].find(same_line).unwrap_or(0);
        parse_params(text, at..at + same_line.len(), FieldKind::BodyValue, out);
    }
    if line_end < text.len() {
        parse_headers_and_body(text, line_end + 1, out);
    }
}

/// Header lines up to an empty line, then the body.
fn parse_headers_and_body(text: &str, mut at: usize, out: &mut Fields<'_>) {
    while at < text.len() {
        let end = text[at..].find('\n').map_or(text.len(), |e| at + e);
        let line = text[at..end].trim_end_matches('\r');
        if line.is_empty() {
            let body = trim_span(text, end + 1..text.len());
            if !body.is_empty() {
                parse_params(text, body, FieldKind::BodyValue, out);
            }
            return;
        }
        if let Some(colon) = line.find(':') {
            let value = trim_span(text, at + colon + 1..at + line.len());
            if line[..colon].eq_ignore_ascii_case("cookie") {
                parse_cookies(text, value, out);
            } else if !value.is_empty() {
                out.push(FieldKind::HeaderValue, value);
            }
        }
        at = end + 1;
    }
}

fn trim_span(text: &str, span: Range<usize>) -> Range<usize> {
    let span = span.start.min(text.len())..span.end.min(text.len());
    let inner = &text[span.clone()];
    let start = span.start + (inner.len() - inner.trim_start().len());
    start..start + inner.trim().len()
}

/// A path with its query: `[scheme://host]/path[;params][?query][#fragment]`. Without a `?`,
/// a tab or a space after the path starts the query (as in some URL lists).
fn parse_url_text(text: &str, span: Range<usize>, out: &mut Fields<'_>) {
    let url = &text[span.clone()];
    let path_start = scheme_end(url).unwrap_or(0);
    let rest = &url[path_start..];
    let path_len = rest
        .find('?')
        .or_else(|| rest.find(['\t', ' ']))
        .unwrap_or(rest.len());
    let path_span = span.start + path_start..span.start + path_start + path_len;
    parse_path(text, path_span.clone(), out);
    if path_span.end < span.end {
        let query = path_span.end + 1..span.end;
        let query_text = &text[query.clone()];
        let query_end = query_text
            .find('#')
            .map_or(query.end, |at| query.start + at);
        parse_params(
            text,
            trim_span(text, query.start..query_end),
            FieldKind::QueryValue,
            out,
        );
    }
}

fn parse_path(text: &str, span: Range<usize>, out: &mut Fields<'_>) {
    let mut last = None;
    let mut at = span.start;
    for segment in text[span.clone()].split('/') {
        if !segment.is_empty() {
            out.push(FieldKind::PathSegment, at..at + segment.len());
            last = Some(at..at + segment.len());
        }
        at += segment.len() + 1;
    }
    if let Some(last) = last {
        let segment = &text[last.clone()];
        // `;jsessionid=…` path parameters are not part of the extension.
        let name = segment.split(';').next().unwrap_or(segment);
        if let Some(dot) = name.rfind('.').filter(|&d| d > 0 && d + 1 < name.len()) {
            out.push(
                FieldKind::Extension,
                last.start + dot + 1..last.start + name.len(),
            );
        }
    }
}

/// An HTML-escaped separator's tail: `a=1&amp;b=2` is what a link copied from HTML source
/// sends, and the server reads a parameter `amp;b`.
const ESCAPED_SEPARATOR_TAIL: &str = "amp;";

/// `name=value&…` pairs; a part without `=` is a value without a name. A separator written as
/// `&amp;` separates too: its `amp;` belongs to neither neighbour (read as part of a value, its
/// `;` would look like a stacked SQL statement on every such link).
fn parse_params(text: &str, span: Range<usize>, kind: FieldKind, out: &mut Fields<'_>) {
    let mut at = span.start;
    for (index, part) in text[span.clone()].split('&').enumerate() {
        let mut part_span = at..at + part.len();
        at += part.len() + 1;
        let mut part = part;
        if index > 0
            && let Some(rest) = part.strip_prefix(ESCAPED_SEPARATOR_TAIL)
        {
            part_span.start += ESCAPED_SEPARATOR_TAIL.len();
            part = rest;
        }
        if part.is_empty() {
            continue;
        }
        match part.find('=') {
            Some(eq) => {
                if eq > 0 {
                    out.push(FieldKind::ParamName, part_span.start..part_span.start + eq);
                }
                out.push(kind, part_span.start + eq + 1..part_span.end);
            }
            None => out.push(kind, part_span),
        }
    }
}

fn parse_cookies(text: &str, span: Range<usize>, out: &mut Fields<'_>) {
    let mut at = span.start;
    for part in text[span.clone()].split(';') {
        let part_span = trim_span(text, at..at + part.len());
        at += part.len() + 1;
        let part = &text[part_span.clone()];
        match part.find('=') {
            Some(eq) => {
                out.push(FieldKind::ParamName, part_span.start..part_span.start + eq);
                out.push(
                    FieldKind::CookieValue,
                    part_span.start + eq + 1..part_span.end,
                );
            }
            None if !part.is_empty() => out.push(FieldKind::CookieValue, part_span),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(text: &str) -> Vec<(FieldKind, &str)> {
        let parsed = parse(text);
        parsed
            .fields
            .iter()
            .map(|f| (f.kind, &text[f.span.clone()]))
            .collect()
    }

    use FieldKind::*;

    #[test]
    fn a_path_with_its_query() {
        assert_eq!(
            fields("/skypearl/cn/index.action?valType=1&d=149&flag"),
            vec![
                (PathSegment, "skypearl"),
                (PathSegment, "cn"),
                (PathSegment, "index.action"),
                (Extension, "action"),
                (ParamName, "valType"),
                (QueryValue, "1"),
                (ParamName, "d"),
                (QueryValue, "149"),
                (QueryValue, "flag"),
            ]
        );
    }

    #[test]
    fn an_html_escaped_separator_separates() {
        assert_eq!(
            fields("/a.action?&amp;NOSSL&amp;id=1&x=amp;y"),
            vec![
                (PathSegment, "a.action"),
                (Extension, "action"),
                (QueryValue, "NOSSL"),
                (ParamName, "id"),
                (QueryValue, "1"),
                (ParamName, "x"),
                (QueryValue, "amp;y"),
            ]
        );
        // Only after a separator: the query's first part keeps it.
        assert_eq!(fields("/?amp;x")[0], (QueryValue, "amp;x"));
    }

    #[test]
    fn csic_method_absolute_url_and_body() {
        assert_eq!(
            fields(
                "POST http://localhost:8080/tienda1/miembros/editar.jsp?modo=registro login=bob&pwd=x'"
            ),
            vec![
                (Method, "POST"),
                (PathSegment, "tienda1"),
                (PathSegment, "miembros"),
                (PathSegment, "editar.jsp"),
                (Extension, "jsp"),
                (ParamName, "modo"),
                (QueryValue, "registro"),
                (ParamName, "login"),
                (BodyValue, "bob"),
                (ParamName, "pwd"),
                (BodyValue, "x'"),
            ]
        );
    }

    #[test]
    fn raw_http_with_headers_cookies_and_body() {
        let text =
            "POST /login HTTP/1.1\r\nHost: a.example\r\nCookie: sid=abc; theme=<b>\r\n\r\nuser=x";
        assert_eq!(
            fields(text),
            vec![
                (Method, "POST"),
                (PathSegment, "login"),
                (HeaderValue, "a.example"),
                (ParamName, "sid"),
                (CookieValue, "abc"),
                (ParamName, "theme"),
                (CookieValue, "<b>"),
                (ParamName, "user"),
                (BodyValue, "x"),
            ]
        );
    }

    #[test]
    fn a_tab_starts_the_query_when_there_is_no_question_mark() {
        assert_eq!(
            fields("/hr3/edit.aspx\trecid=1''"),
            vec![
                (PathSegment, "hr3"),
                (PathSegment, "edit.aspx"),
                (Extension, "aspx"),
                (ParamName, "recid"),
                (QueryValue, "1''"),
            ]
        );
    }

    #[test]
    fn a_bare_payload_is_one_field() {
        assert_eq!(fields("' or 1=1--"), vec![(Payload, "' or 1=1--")]);
        assert_eq!(
            fields("<script>alert(1)</script>"),
            vec![(Payload, "<script>alert(1)</script>")]
        );
        assert!(fields("").is_empty());
        assert_eq!(
            fields("/*!50000ORDER*/ BY 26"),
            vec![(Payload, "/*!50000ORDER*/ BY 26")]
        );
        assert_eq!(fields("/**/or 1=1"), vec![(Payload, "/**/or 1=1")]);
    }

    #[test]
    fn a_method_is_a_known_word_before_the_first_blank() {
        assert_eq!(
            fields("OPTIONS /a")[..2],
            [(Method, "OPTIONS"), (PathSegment, "a")]
        );
        assert_eq!(fields("CONNECT\t/a")[0], (Method, "CONNECT"));
        assert_eq!(fields("GETTING /a"), vec![(Payload, "GETTING /a")]);
        assert_eq!(fields("x:y://h/a")[0], (Payload, "x:y://h/a"));
        assert_eq!(fields("https://h/a?b=1")[0], (PathSegment, "a"));
    }

    #[test]
    fn path_parameters_are_not_the_extension() {
        let parsed = fields("/a/login.action;jsessionid=XY?uri=");
        assert!(parsed.contains(&(Extension, "action")));
        assert!(parsed.contains(&(ParamName, "uri")));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_spans_are_in_the_text(text in "\\PC{0,120}|(GET |POST )?[/?&=;: \t\r\nhtp:a-z%.#]{0,80}") {
            let parsed = parse(&text);
            for field in &parsed.fields {
                prop_assert!(field.span.start <= field.span.end && field.span.end <= text.len());
                prop_assert!(text.is_char_boundary(field.span.start) && text.is_char_boundary(field.span.end));
            }
            if !text.trim().is_empty() {
                prop_assert!(!parsed.fields.is_empty());
            }
        }
    }
}
