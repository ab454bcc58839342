//! Where the injected part of a payload lies: the byte ranges the operators may rewrite.
//!
//! A payload is either a bare value (`' or 1=1--`, `<script>alert(1)</script>`: all of it is
//! injected) or a URL whose query carries the injection (`/item.php?id=1' or 1=1--`). In a URL
//! only the query's values are rewritten: the path and the parameter names are the target
//! application's, and a rewrite there (an `=` swapped for ` like `, a digit hex-encoded) would
//! change which resource is asked for rather than what is injected. A query part whose text
//! before its first `=` is no parameter name (`?<script>document.cookie="a=1"</script>`) is a
//! value as a whole.

use std::ops::Range;

/// The ranges of `text` that hold injected values, in order, none empty.
pub fn injection_spans(text: &str) -> Vec<Range<usize>> {
    let Some(question) = text.find('?') else {
        return whole(text);
    };
    if !is_url_path(&text[..question]) {
        return whole(text);
    }
    let mut spans = Vec::new();
    let mut start = question + 1;
    for part in text[question + 1..].split('&') {
        let value_start = match part.find('=') {
            Some(eq) if is_parameter_name(&part[..eq]) => eq + 1,
            _ => 0,
        };
        if value_start < part.len() {
            spans.push(start + value_start..start + part.len());
        }
        start += part.len() + 1;
    }
    spans
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
    fn within_checks_containment() {
        let spans = [2..5, 8..10];
        assert!(within(&spans, &(2..5)));
        assert!(within(&spans, &(8..9)));
        assert!(!within(&spans, &(4..8)));
    }
}
