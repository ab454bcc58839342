//! Bounded lines: the line source every line-based reader reads through, the checks shared
//! by every format (size, binary content), and the one-request-per-line reader.

use std::io::{self, BufRead};
use std::path::PathBuf;

use super::{SourceItem, SourceRecord};
use crate::error::{DataError, Result};

/// Reads lines of bounded length from a `BufRead`: a longer line is consumed
/// but only its first `max` bytes are kept, so one huge line cannot exhaust memory.
pub(super) struct LineSource {
    pub(super) inner: Box<dyn BufRead + Send>,
    pub(super) path: PathBuf,
    pub(super) line_no: u64,
    pub(super) max: usize,
    pub(super) at_eof: bool,
}

/// One line read by [`LineSource`]: its number and whether it was cut.
pub(super) struct Line {
    pub(super) number: u64,
    pub(super) too_long: bool,
    /// The full length in bytes (when cut, the bytes kept are fewer).
    pub(super) len: usize,
}

impl LineSource {
    pub(super) fn new(inner: Box<dyn BufRead + Send>, path: PathBuf, max: usize) -> Self {
        LineSource {
            inner,
            path,
            line_no: 0,
            max,
            at_eof: false,
        }
    }

    /// Read the next line into `buf` (without its `\n` or `\r\n`); `None` at end of input.
    pub(super) fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<Option<Line>> {
        buf.clear();
        if self.at_eof {
            return Ok(None);
        }
        let number = self.line_no + 1;
        let mut len = 0usize;
        let mut saw_any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let context = format!("reading line {number}");
                    return Err(DataError::io(&self.path, context, e));
                }
            };
            if chunk.is_empty() {
                self.at_eof = true;
                if !saw_any {
                    return Ok(None);
                }
                break;
            }
            saw_any = true;
            let (take, done) = match memchr_newline(chunk) {
                Some(pos) => (pos, true),
                None => (chunk.len(), false),
            };
            let room = self.max.saturating_add(1).saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..take.min(room)]);
            len += take;
            self.inner.consume(if done { take + 1 } else { take });
            if done {
                break;
            }
        }
        self.line_no = number;
        if buf.last() == Some(&b'\r') && len <= self.max {
            buf.pop();
            len -= 1;
        }
        let too_long = len > self.max;
        if too_long {
            buf.truncate(self.max);
        }
        Ok(Some(Line {
            number,
            too_long,
            len,
        }))
    }
}

fn memchr_newline(haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == b'\n')
}

/// Checks shared by every format: size and binary content.
pub(super) fn check_record(line: &Line, bytes: &[u8], max: usize) -> Option<String> {
    if line.too_long {
        return Some(format!(
            "record is {} bytes, over the limit of {max} (limits.max_record_bytes)",
            line.len
        ));
    }
    if bytes.contains(&0) {
        return Some("NUL byte in the record: binary data?".to_owned());
    }
    None
}

/// The next line that is not blank, already checked for size and binary content; blank lines
/// (between JSON or log records) are skipped.
pub(super) fn next_content_line(
    lines: &mut LineSource,
    buf: &mut Vec<u8>,
) -> Result<Option<Result<Line, SourceItem>>> {
    while let Some(line) = lines.next_line(buf)? {
        if !line.too_long && buf.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if let Some(reason) = check_record(&line, buf, lines.max) {
            return Ok(Some(Err(SourceItem::Invalid {
                line: line.number,
                reason,
            })));
        }
        return Ok(Some(Ok(line)));
    }
    Ok(None)
}

pub(super) struct LinesReader {
    pub(super) lines: LineSource,
    pub(super) buf: Vec<u8>,
}

impl LinesReader {
    pub(super) fn next_item(&mut self) -> Result<Option<SourceItem>> {
        let Some(line) = self.lines.next_line(&mut self.buf)? else {
            return Ok(None);
        };
        if let Some(reason) = check_record(&line, &self.buf, self.lines.max) {
            return Ok(Some(SourceItem::Invalid {
                line: line.number,
                reason,
            }));
        }
        Ok(Some(SourceItem::Record(SourceRecord {
            line: line.number,
            raw: self.buf.clone(),
            label_key: None,
            client: None,
            time_ms: None,
            kept: Vec::new(),
        })))
    }
}
