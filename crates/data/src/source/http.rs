//! Raw HTTP/1.x request dumps (CSIC 2010 style): request line, headers, blank line, body line.

use std::sync::LazyLock;

use regex::bytes::Regex;

use super::lines::{LineSource, check_record};
use super::{SourceItem, SourceRecord};
use crate::error::Result;

static REQUEST_LINE: LazyLock<Regex> = LazyLock::new(|| {
    // METHOD SP target [SP HTTP/x.y]; the reference accepts uppercase methods and HTTP/d.d.
    Regex::new(r"^([A-Za-z]+) (\S+)(?: HTTP/\d(?:\.\d)?)?$").expect("static regex")
});

static ORIGIN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*").expect("static regex"));

pub(super) struct HttpReader {
    pub(super) lines: LineSource,
    pub(super) buf: Vec<u8>,
    pub(super) headers: Vec<String>,
    pub(super) strip_origin: bool,
    pub(super) max: usize,
}

impl HttpReader {
    pub(super) fn next_item(&mut self) -> Result<Option<SourceItem>> {
        // Find the request line, skipping the blank lines between requests.
        let start = loop {
            let Some(line) = self.lines.next_line(&mut self.buf)? else {
                return Ok(None);
            };
            if self.buf.iter().all(|b| b.is_ascii_whitespace()) && !line.too_long {
                continue;
            }
            break line;
        };
        if let Some(reason) = check_record(&start, &self.buf, self.max) {
            return Ok(Some(self.invalid_and_resync(start.number, reason)?));
        }
        let Some(caps) = REQUEST_LINE.captures(&self.buf) else {
            let shown = String::from_utf8_lossy(&self.buf[..self.buf.len().min(80)]).into_owned();
            let reason =
                format!("expected a request line (METHOD target HTTP/1.1), found {shown:?}");
            return Ok(Some(self.invalid_and_resync(start.number, reason)?));
        };
        let mut raw = caps[1].to_vec();
        raw.push(b' ');
        let target = &caps[2];
        let target = if self.strip_origin {
            match ORIGIN.find(target) {
                Some(m) if m.end() < target.len() => &target[m.end()..],
                Some(_) => b"/".as_slice(),
                None => target,
            }
        } else {
            target
        };
        raw.extend_from_slice(target);

        let mut content_length: u64 = 0;
        let mut kept_headers: Vec<u8> = Vec::new();
        while let Some(line) = self.lines.next_line(&mut self.buf)? {
            if self.buf.is_empty() && !line.too_long {
                break;
            }
            if let Some(reason) = check_record(&line, &self.buf, self.max) {
                return Ok(Some(self.invalid_and_resync(start.number, reason)?));
            }
            let Some(colon) = self.buf.iter().position(|&b| b == b':') else {
                let shown =
                    String::from_utf8_lossy(&self.buf[..self.buf.len().min(80)]).into_owned();
                let reason = format!("line {}: header without ':': {shown:?}", line.number);
                return Ok(Some(self.invalid_and_resync(start.number, reason)?));
            };
            let name = String::from_utf8_lossy(&self.buf[..colon])
                .trim()
                .to_ascii_lowercase();
            let value = self.buf[colon + 1..].trim_ascii();
            if name == "content-length" {
                let parsed = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok());
                match parsed {
                    Some(n) => content_length = n,
                    None => {
                        let reason = format!(
                            "line {}: Content-Length is not a number: {:?}",
                            line.number,
                            String::from_utf8_lossy(value)
                        );
                        return Ok(Some(self.invalid_and_resync(start.number, reason)?));
                    }
                }
            }
            if self.headers.iter().any(|h| h == "*" || *h == name) {
                kept_headers.push(b' ');
                kept_headers.extend_from_slice(&self.buf[..colon]);
                kept_headers.extend_from_slice(b": ");
                kept_headers.extend_from_slice(value);
            }
        }
        // As in the reference: the body is the single line after the blank line.
        raw.push(b' ');
        if content_length > 0
            && let Some(line) = self.lines.next_line(&mut self.buf)?
        {
            if let Some(reason) = check_record(&line, &self.buf, self.max) {
                return Ok(Some(SourceItem::Invalid {
                    line: start.number,
                    reason: format!("body at line {}: {reason}", line.number),
                }));
            }
            raw.extend_from_slice(&self.buf);
        }
        raw.extend_from_slice(&kept_headers);
        if raw.len() > self.max {
            let reason = format!(
                "request is {} bytes, over the limit of {} (limits.max_record_bytes)",
                raw.len(),
                self.max
            );
            return Ok(Some(SourceItem::Invalid {
                line: start.number,
                reason,
            }));
        }
        Ok(Some(SourceItem::Record(SourceRecord {
            line: start.number,
            raw,
            label_key: None,
            client: None,
            time_ms: None,
            kept: Vec::new(),
        })))
    }

    /// Report an unusable request and skip to the next blank line, so that a
    /// skipping caller resumes at the next request.
    fn invalid_and_resync(&mut self, line: u64, reason: String) -> Result<SourceItem> {
        while let Some(l) = self.lines.next_line(&mut self.buf)? {
            if self.buf.is_empty() && !l.too_long {
                break;
            }
        }
        Ok(SourceItem::Invalid { line, reason })
    }
}
