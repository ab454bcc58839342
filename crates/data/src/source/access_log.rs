//! Apache/nginx Common and Combined Log Format access logs.

use std::sync::LazyLock;

use regex::bytes::{Captures, Regex};

use super::lines::{LineSource, next_content_line};
use super::time::parse_access_log_time;
use super::{SourceItem, SourceRecord};
use crate::error::Result;

/// host ident user [time] "request" status bytes ...: what the request alone needs.
static ACCESS_LOG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^(?<client>\S+) \S+ \S+ \[[^\]]*\] "(?<request>(?:[^"\\]|\\.)*)" (?:\d{3}|-) \S+"#,
    )
    .expect("static regex")
});

/// The same line with every field captured, including Combined Log Format's "referer"
/// "user-agent"; a second pattern so that reading the request alone stays as fast as it was.
static ACCESS_LOG_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r#"^(?<client>\S+) \S+ \S+ \[(?<time>[^\]]*)\] "(?<request>(?:[^"\\]|\\.)*)" "#,
        r#"(?<status>\d{3}|-) \S+"#,
        r#"(?: "(?<referer>(?:[^"\\]|\\.)*)" "(?<agent>(?:[^"\\]|\\.)*)")?"#,
    ))
    .expect("static regex")
});

pub(super) struct AccessLogEntry {
    pub(super) client: String,
    pub(super) text: Vec<u8>,
    /// With context: the request's time and the log's own fields.
    pub(super) time_ms: Option<i64>,
    pub(super) fields: Vec<(String, String)>,
}

/// The client and the request text of one access-log line (and, with `context`, its time
/// and fields). A request field that is not `METHOD target [protocol]` (scanners send junk)
/// is kept whole as the text.
pub(super) fn parse_access_log(
    line: &[u8],
    with_method: bool,
    context: bool,
) -> Option<AccessLogEntry> {
    let pattern = if context {
        &ACCESS_LOG_CONTEXT
    } else {
        &ACCESS_LOG
    };
    let caps = pattern.captures(line)?;
    let client = String::from_utf8_lossy(&caps["client"]).into_owned();
    let request = &caps["request"];
    let parts: Vec<&[u8]> = request
        .split(|&b| b == b' ')
        .filter(|p| !p.is_empty())
        .collect();
    let (method, text) = match parts.as_slice() {
        [method, target] | [method, target, _] if method.iter().all(u8::is_ascii_alphabetic) => {
            let text = if with_method {
                [*method, b" ", *target].concat()
            } else {
                target.to_vec()
            };
            (Some(*method), text)
        }
        _ => (None, request.to_vec()),
    };
    let (time_ms, fields) = if context {
        log_context(&caps, method)
    } else {
        (None, Vec::new())
    };
    Some(AccessLogEntry {
        client,
        text,
        time_ms,
        fields,
    })
}

/// The time and the [`super::ACCESS_LOG_FIELDS`] of a line matched by the context pattern.
fn log_context(caps: &Captures, method: Option<&[u8]>) -> (Option<i64>, Vec<(String, String)>) {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let time = caps.name("time").map(|m| text(m.as_bytes()));
    let time_ms = time.as_deref().and_then(parse_access_log_time);
    let named = [
        ("time", time),
        ("method", method.map(text)),
        ("status", caps.name("status").map(|m| text(m.as_bytes()))),
        ("user_agent", caps.name("agent").map(|m| text(m.as_bytes()))),
        ("referer", caps.name("referer").map(|m| text(m.as_bytes()))),
    ];
    let fields = named
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect();
    (time_ms, fields)
}

pub(super) struct ClfReader {
    pub(super) lines: LineSource,
    pub(super) buf: Vec<u8>,
    pub(super) with_method: bool,
    /// Read each line's time and fields too.
    pub(super) context: bool,
}

impl ClfReader {
    pub(super) fn next_item(&mut self) -> Result<Option<SourceItem>> {
        let line = match next_content_line(&mut self.lines, &mut self.buf)? {
            None => return Ok(None),
            Some(Err(invalid)) => return Ok(Some(invalid)),
            Some(Ok(line)) => line,
        };
        Ok(Some(
            match parse_access_log(&self.buf, self.with_method, self.context) {
                Some(entry) => SourceItem::Record(SourceRecord {
                    line: line.number,
                    raw: entry.text,
                    label_key: None,
                    client: Some(entry.client),
                    time_ms: entry.time_ms,
                    kept: entry.fields,
                }),
                None => SourceItem::Invalid {
                    line: line.number,
                    reason: "not a Common/Combined Log Format line".to_owned(),
                },
            },
        ))
    }
}
