//! Where the injected part of a payload lies: the byte ranges the operators may rewrite.
//!
//! A payload is either a bare value (`' or 1=1--`, `<script>alert(1)</script>`: all of it is
//! injected) or a URL whose query carries the injection (`/item.php?id=1' or 1=1--`). In a URL
//! only the query's values are rewritten: the path and the parameter names are the target
//! application's, and a rewrite there (an `=` swapped for ` like `, a digit hex-encoded) would
//! change which resource is asked for rather than what is injected. A query part whose text
//! before its first `=` is no parameter name (`?<script>document.cookie="a=1"</script>`) is a
//! value as a whole.
//!
//! A request line with its method (`POST http://host:8080/app/login.jsp modo=entrar&pwd=x`,
//! CSIC 2010's form, with an optional `HTTP/1.1` and header lines before a blank line) exposes
//! its target's query values and its form body's values; the method, the target's scheme,
//! host, port and path and the separators between them are the request's frame, never rewritten.

use std::ops::Range;

/// The ranges of `text` that hold injected values, in order, none empty.
pub fn injection_spans(text: &str) -> Vec<Range<usize>> {
    if let Some(after_method) = method_end(text) {
        return request_line_spans(text, after_method);
    }
    let Some(question) = text.find('?') else {
        return whole(text);
    };
    if !is_url_path(&text[..question]) {
        return whole(text);
    }
    let mut spans = Vec::new();
    parameter_value_spans(text, question + 1..text.len(), &mut spans);
    spans
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Where the target starts, when `text` opens with an HTTP method and a blank.
fn method_end(text: &str) -> Option<usize> {
    let blank = text.find([' ', '\t'])?;
    METHODS.contains(&&text[..blank]).then_some(blank + 1)
}

/// The query values of the target starting at `target_start` and the values of the form body
/// after it (past an `HTTP/x.y` version and header lines, up to a blank line).
fn request_line_spans(text: &str, target_start: usize) -> Vec<Range<usize>> {
    let target_end = text[target_start..]
        .find([' ', '\t', '\r', '\n'])
        .map_or(text.len(), |at| target_start + at);
    let mut spans = Vec::new();
    if let Some(question) = text[target_start..target_end].find('?') {
        let query_start = target_start + question + 1;
        let query_end = text[query_start..target_end]
            .find('#')
            .map_or(target_end, |at| query_start + at);
        parameter_value_spans(text, query_start..query_end, &mut spans);
    }
    let rest = &text[target_end..];
    let body_start = if rest.trim_start().starts_with("HTTP/") || rest.starts_with(['\r', '\n']) {
        // Header lines follow: the body is after the first blank line, if any.
        ["\r\n\r\n", "\n\n"]
            .iter()
            .filter_map(|blank| rest.find(blank).map(|at| at + blank.len()))
            .min()
            .map(|at| target_end + at)
    } else {
        // `METHOD target body`: one blank, then the body.
        (target_end < text.len()).then_some(target_end + 1)
    };
    if let Some(body_start) = body_start.filter(|&start| start < text.len()) {
        let body_end = text[body_start..]
            .find(['\r', '\n'])
            .map_or(text.len(), |at| body_start + at);
        parameter_value_spans(text, body_start..body_end, &mut spans);
    }
    spans
}

/// The values of the `&`-separated parameters in `text[range]` onto `spans`: after the first
/// `=` of each, or the whole part when what precedes its `=` is no parameter name.
fn parameter_value_spans(text: &str, range: Range<usize>, spans: &mut Vec<Range<usize>>) {
    let mut start = range.start;
    for part in text[range].split('&') {
        let value_start = match part.find('=') {
            Some(eq) if is_parameter_name(&part[..eq]) => eq + 1,
            _ => 0,
        };
        if value_start < part.len() {
            spans.push(start + value_start..start + part.len());
        }
        start += part.len() + 1;
    }
}

/// Whether `range` lies inside one of `spans`.
pub fn within(spans: &[Range<usize>], range: &Range<usize>) -> bool {
    spans
        .iter()
        .any(|span| span.start <= range.start && range.end <= span.end)
}

fn whole(text: &str) -> Vec<Range<usize>> {
    if text.is_empty() {
        Vec::new()
    } else {
        std::iter::once(0..text.len()).collect()
    }
}

/// A path before a query: no whitespace, quotes or markup (else the `?` is part of the value).
fn is_url_path(prefix: &str) -> bool {
    !prefix.is_empty()
        && !prefix
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '\'' | '"' | '<' | '>' | '(' | ')'))
}

/// A parameter name as applications write them (`id`, `cfg[path]`, `a.b-c`).
fn is_parameter_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        injection_spans(text)
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn bare_payloads_are_injected_as_a_whole() {
        assert_eq!(texts("' or 1=1--"), ["' or 1=1--"]);
        assert_eq!(texts("<a href='?x'>"), ["<a href='?x'>"]);
        assert!(texts("").is_empty());
    }

    #[test]
    fn urls_expose_their_query_values_only() {
        assert_eq!(
            texts("/item.php?id=1' or 1=1--&cat=2"),
            ["1' or 1=1--", "2"]
        );
        assert_eq!(
            texts("/x.do?<script>document.cookie=\"a=1\"</script>"),
            ["<script>document.cookie=\"a=1\"</script>"]
        );
        assert_eq!(texts("/a?b="), Vec::<&str>::new());
    }

    #[test]
    fn a_request_line_exposes_its_query_and_body_values_only() {
        assert_eq!(
            texts(
                "POST http://localhost:8080/tienda1/autenticar.jsp modo=entrar&pwd=x\"+AND+\"1\"=\"1"
            ),
            ["entrar", "x\"+AND+\"1\"=\"1"]
        );
        assert_eq!(
            texts("GET http://localhost:8080/a.jsp?id=2'--&b=1 HTTP/1.1"),
            ["2'--", "1"]
        );
        assert_eq!(
            texts("POST /login HTTP/1.1\r\nHost: h\r\n\r\nuser=a' or 1=1--"),
            ["a' or 1=1--"]
        );
        assert!(texts("GET http://localhost:8080/tienda1/index.jsp").is_empty());
        assert_eq!(texts("GETTING ' or 1=1"), ["GETTING ' or 1=1"]);
    }

    #[test]
    fn within_checks_containment() {
        let spans = [2..5, 8..10];
        assert!(within(&spans, &(2..5)));
        assert!(within(&spans, &(8..9)));
        assert!(!within(&spans, &(4..8)));
    }
}
