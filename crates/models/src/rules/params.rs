//! Where a request text's parameter values are: the byte ranges the libinjection family checks.
//!
//! A stopgap until `vigie_data`'s request parser exists; it reads values the way the peer
//! reference (`libinjection_reference.py`) does: the query is what follows the first `?`, split
//! on `&` (empty parts skipped), and a part's value is what follows its first `=`, or the whole
//! part when it has none. The text is the model input, already percent-decoded once.
//!
//! Two layouts beside a bare URL are read:
//! - `METHOD target body` (CSIC 2010's texts): for `POST`, `PUT` and `PATCH` the target ends at
//!   the first space and the rest is a form body, split like a query. Other methods carry no
//!   body, so everything after the method is the target (decoded query values hold spaces).
//! - A TAB ends the path when there is no `?` (echows-urldetect's SQLi file separates path and
//!   parameters so, and the reference reads that TAB as `?`).

use std::ops::Range;

/// Which parts of a request are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts {
    pub query: bool,
    pub body: bool,
    pub path: bool,
}

/// Methods whose requests carry a form body after the target.
const BODY_METHODS: [&str; 3] = ["POST", "PUT", "PATCH"];
/// Every method recognised at the start of a text.
const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT",
];

/// Byte ranges of `text` to check, in order: the path (when asked), the query's values, the
/// body's values. Empty values are left out (libinjection flags nothing in them).
pub(crate) fn parameter_values(text: &str, parts: Parts) -> Vec<Range<usize>> {
    let (target, body) = split_request(text);
    let target_text = &text[target.clone()];
    let (path, query) = match target_text.find('?').or_else(|| target_text.find('\t')) {
        Some(at) => (
            target.start..target.start + at,
            Some(target.start + at + 1..target.end),
        ),
        None => (target, None),
    };
    let mut out = Vec::new();
    if parts.path && !path.is_empty() {
        out.push(path);
    }
    if parts.query
        && let Some(query) = query
    {
        push_values(text, query, &mut out);
    }
    if parts.body
        && let Some(body) = body
    {
        push_values(text, body, &mut out);
    }
    out
}

/// The target's range and, for a method with a body, the body's.
fn split_request(text: &str) -> (Range<usize>, Option<Range<usize>>) {
    let Some((method, _)) = text.split_once(' ') else {
        return (0..text.len(), None);
    };
    if !METHODS.contains(&method) {
        return (0..text.len(), None);
    }
    let start = method.len() + 1;
    if !BODY_METHODS.contains(&method) {
        return (start..text.len(), None);
    }
    match text[start..].find(' ') {
        Some(at) => (start..start + at, Some(start + at + 1..text.len())),
        None => (start..text.len(), None),
    }
}

/// The values of the `&`-separated parts of `range`.
fn push_values(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let mut start = range.start;
    for part in text[range].split('&') {
        let value_start = part.find('=').map_or(start, |eq| start + eq + 1);
        let end = start + part.len();
        if value_start < end {
            out.push(value_start..end);
        }
        start = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUERY: Parts = Parts {
        query: true,
        body: true,
        path: false,
    };

    fn values(text: &str, parts: Parts) -> Vec<&str> {
        parameter_values(text, parts)
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn query_values_are_read_as_the_reference_reads_them() {
        assert_eq!(
            values("/a.php?id=1&name=x=y&flag&&empty=", QUERY),
            ["1", "x=y", "flag"]
        );
        assert_eq!(values("/a.php?a=1?b=2", QUERY), ["1?b=2"]);
        assert!(values("/a.php", QUERY).is_empty());
        assert!(values("/a.php?", QUERY).is_empty());
        assert!(values("", QUERY).is_empty());
    }

    #[test]
    fn a_tab_ends_the_path_only_without_a_question_mark() {
        assert_eq!(values("/hr3/edit.aspx\trecid=1'", QUERY), ["1'"]);
        assert_eq!(values("/x?a=1\t2", QUERY), ["1\t2"]);
    }

    #[test]
    fn a_body_follows_the_target_of_post_put_and_patch() {
        let post = "POST http://h/a.jsp id=2&nombre=Jam n&B1=x y";
        assert_eq!(values(post, QUERY), ["2", "Jam n", "x y"]);
        let get = "GET http://h/a.jsp?id=2&q=a b c";
        assert_eq!(values(get, QUERY), ["2", "a b c"]);
        assert_eq!(values("PUT http://h/a.jsp", QUERY), Vec::<&str>::new());
        let no_body = Parts {
            body: false,
            ..QUERY
        };
        assert!(values(post, no_body).is_empty());
        // Not a method: the whole text is the target.
        assert_eq!(values("SELECT /a?x=1 2", QUERY), ["1 2"]);
    }

    #[test]
    fn the_path_is_one_value_when_asked() {
        let parts = Parts {
            path: true,
            ..QUERY
        };
        assert_eq!(values("GET /a b?x=1", parts), ["/a b", "1"]);
        assert_eq!(values("/etc/passwd", parts), ["/etc/passwd"]);
    }
}
