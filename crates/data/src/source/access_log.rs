//! Apache/nginx Common and Combined Log Format access logs.

use std::sync::LazyLock;

use regex::bytes::Regex;

use super::lines::{LineSource, next_content_line};
use super::{SourceItem, SourceRecord};
use crate::error::Result;

static ACCESS_LOG: LazyLock<Regex> = LazyLock::new(|| {
    // host ident user [time] "request" status bytes ["referer" "user-agent"]
    Regex::new(r#"^(\S+) \S+ \S+ \[[^\]]*\] "((?:[^"\\]|\\.)*)" (?:\d{3}|-) \S+"#)
        .expect("static regex")
});

pub(super) struct AccessLogEntry {
    pub(super) client: String,
    pub(super) text: Vec<u8>,
}

/// The client and the request text of one access-log line. A request field that
/// is not `METHOD target [protocol]` (scanners send junk) is kept whole as the text.
pub(super) fn parse_access_log(line: &[u8], with_method: bool) -> Option<AccessLogEntry> {
    let caps = ACCESS_LOG.captures(line)?;
    let client = String::from_utf8_lossy(&caps[1]).into_owned();
    let request = &caps[2];
    let parts: Vec<&[u8]> = request
        .split(|&b| b == b' ')
        .filter(|p| !p.is_empty())
        .collect();
    let text = match parts.as_slice() {
        [method, target] | [method, target, _] if method.iter().all(u8::is_ascii_alphabetic) => {
            if with_method {
                [*method, b" ", *target].concat()
            } else {
                target.to_vec()
            }
        }
        _ => request.to_vec(),
    };
    Some(AccessLogEntry { client, text })
}

pub(super) struct ClfReader {
    pub(super) lines: LineSource,
    pub(super) buf: Vec<u8>,
    pub(super) with_method: bool,
}

impl ClfReader {
    pub(super) fn next_item(&mut self) -> Result<Option<SourceItem>> {
        let line = match next_content_line(&mut self.lines, &mut self.buf)? {
            None => return Ok(None),
            Some(Err(invalid)) => return Ok(Some(invalid)),
            Some(Ok(line)) => line,
        };
        Ok(Some(match parse_access_log(&self.buf, self.with_method) {
            Some(entry) => SourceItem::Record(SourceRecord {
                line: line.number,
                raw: entry.text,
                label_key: None,
                client: Some(entry.client),
            }),
            None => SourceItem::Invalid {
                line: line.number,
                reason: "not a Common/Combined Log Format line".to_owned(),
            },
        }))
    }
}
