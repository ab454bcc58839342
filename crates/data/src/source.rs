//! Streaming readers for every request source Vigie reads: one request per
//! line, raw HTTP dumps, CSV, JSON Lines, Splunk JSON exports and access logs.
//!
//! A [`RecordReader`] turns a file (plain or gzip, detected by its magic bytes)
//! or any `BufRead` into [`SourceItem`]s one at a time, so memory stays bounded
//! on inputs of any size. It does not decode or label: [`crate::dataset`] does,
//! and a scorer can use the reader on unlabelled logs directly.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::bytes::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// How the requests of a file are laid out (the `[format]` table of a definition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SourceFormat {
    /// One request (path + query, or a whole URL) per line; `\n` or `\r\n` endings.
    /// (A struct variant so that unknown keys beside `kind` are rejected.)
    Lines {},
    /// Raw HTTP/1.x requests: request line, headers, blank line, optional body line.
    Http {
        /// Header names (case-insensitive) appended to the text as `Name: value`; `["*"]` for all.
        #[serde(default)]
        headers: Vec<String>,
        /// Drop `scheme://host:port` from absolute-form targets, leaving the path (helps transfer to path-only datasets).
        #[serde(default)]
        strip_origin: bool,
    },
    /// Comma- (or other) separated values with a text column and an optional label column.
    Csv {
        text_column: String,
        #[serde(default)]
        label_column: Option<String>,
        #[serde(default = "default_delimiter")]
        delimiter: char,
        /// When false, columns are named by their 0-based index ("0", "1", ...).
        #[serde(default = "default_true")]
        has_header: bool,
    },
    /// One JSON object per line; fields are dotted paths (`request.uri`).
    Jsonl {
        text_field: String,
        #[serde(default)]
        label_field: Option<String>,
    },
    /// Splunk's JSON export: one `{"result": {...}}` object per line.
    Splunk {
        /// The field of `result` holding the request (`uri`, or `_raw` for the whole log line).
        #[serde(default = "default_splunk_field")]
        field: String,
        /// Parse the field as a Combined Log Format line and keep its request target.
        #[serde(default)]
        field_is_access_log: bool,
        /// The field holding the client address, reported with each record.
        #[serde(default = "default_splunk_client")]
        client_field: String,
    },
    /// Apache/nginx Common or Combined Log Format access logs.
    Clf {
        /// Keep the method in the text (`GET /path`) instead of the target alone.
        #[serde(default)]
        with_method: bool,
    },
}

fn default_delimiter() -> char {
    ','
}
fn default_true() -> bool {
    true
}
fn default_splunk_field() -> String {
    "_raw".to_owned()
}
fn default_splunk_client() -> String {
    "clientip".to_owned()
}

impl SourceFormat {
    /// The short name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            SourceFormat::Lines {} => "lines",
            SourceFormat::Http { .. } => "http",
            SourceFormat::Csv { .. } => "csv",
            SourceFormat::Jsonl { .. } => "jsonl",
            SourceFormat::Splunk { .. } => "splunk",
            SourceFormat::Clf { .. } => "clf",
        }
    }

    /// Whether records of this format can carry their own label (a label column or field).
    pub fn has_label_column(&self) -> bool {
        matches!(
            self,
            SourceFormat::Csv {
                label_column: Some(_),
                ..
            } | SourceFormat::Jsonl {
                label_field: Some(_),
                ..
            }
        )
    }
}

/// What to do with a record that cannot be used (too long, binary, malformed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvalidPolicy {
    /// Stop with an error naming the file and line (the default: nothing is dropped silently).
    #[default]
    Fail,
    /// Skip it, count it in the load report and keep the first few reasons.
    Skip,
}

/// Bounds on records (the `[limits]` table of a definition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// A record (line, request or field) longer than this is invalid.
    pub max_record_bytes: usize,
    pub on_invalid: InvalidPolicy,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: 64 * 1024,
            on_invalid: InvalidPolicy::Fail,
        }
    }
}

/// One request as read from a source, before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// 1-based line where the record starts.
    pub line: u64,
    /// The request's raw bytes (for HTTP: `METHOD target body [headers]`).
    pub raw: Vec<u8>,
    /// The label as written in the source (CSV/JSONL label column), not yet mapped.
    pub label_key: Option<String>,
    /// The client address, when the source has one (access logs, Splunk).
    pub client: Option<String>,
}

/// What a reader yields: a record, or a record it could not use and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceItem {
    Record(SourceRecord),
    Invalid { line: u64, reason: String },
}

/// Open a file, transparently decompressing gzip (detected by magic bytes, not by name).
pub fn open_maybe_gzip(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            DataError::MissingFile {
                path: path.to_owned(),
                hint: String::new(),
            }
        } else {
            DataError::io(path, "cannot open", e)
        }
    })?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let magic = reader
        .fill_buf()
        .map_err(|e| DataError::io(path, "cannot read", e))?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(reader);
        Ok(Box::new(BufReader::with_capacity(256 * 1024, gz)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads lines of bounded length from a `BufRead`: a longer line is consumed
/// but only its first `max` bytes are kept, so one huge line cannot exhaust memory.
struct LineSource {
    inner: Box<dyn BufRead + Send>,
    path: PathBuf,
    line_no: u64,
    max: usize,
    at_eof: bool,
}

/// One line read by [`LineSource`]: its number and whether it was cut.
struct Line {
    number: u64,
    too_long: bool,
    /// The full length in bytes (when cut, the bytes kept are fewer).
    len: usize,
}

impl LineSource {
    fn new(inner: Box<dyn BufRead + Send>, path: PathBuf, max: usize) -> Self {
        LineSource {
            inner,
            path,
            line_no: 0,
            max,
            at_eof: false,
        }
    }

    /// Read the next line into `buf` (without its `\n` or `\r\n`); `None` at end of input.
    fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<Option<Line>> {
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

/// Streams the records of one source.
pub struct RecordReader {
    kind: ReaderKind,
}

enum ReaderKind {
    Lines(LinesReader),
    Http(HttpReader),
    Csv(Box<CsvReader>),
    Json(JsonReader),
    Clf(ClfReader),
}

impl RecordReader {
    /// Open `path` (plain or gzip) for `format`.
    pub fn open(path: &Path, format: &SourceFormat, limits: &Limits) -> Result<Self> {
        let input = open_maybe_gzip(path)?;
        RecordReader::from_reader(input, path, format, limits)
    }

    /// Read from any buffered reader; `name` is used in error messages (e.g. `-` for stdin).
    pub fn from_reader(
        input: Box<dyn BufRead + Send>,
        name: &Path,
        format: &SourceFormat,
        limits: &Limits,
    ) -> Result<Self> {
        let max = limits.max_record_bytes;
        let lines = |input| LineSource::new(input, name.to_owned(), max);
        let kind = match format {
            SourceFormat::Lines {} => ReaderKind::Lines(LinesReader {
                lines: lines(input),
                buf: Vec::new(),
            }),
            SourceFormat::Http {
                headers,
                strip_origin,
            } => ReaderKind::Http(HttpReader {
                lines: lines(input),
                buf: Vec::new(),
                headers: headers.iter().map(|h| h.to_ascii_lowercase()).collect(),
                strip_origin: *strip_origin,
                max,
            }),
            SourceFormat::Csv {
                text_column,
                label_column,
                delimiter,
                has_header,
            } => ReaderKind::Csv(Box::new(CsvReader::new(
                input,
                name,
                text_column,
                label_column.as_deref(),
                *delimiter,
                *has_header,
                max,
            )?)),
            SourceFormat::Jsonl {
                text_field,
                label_field,
            } => ReaderKind::Json(JsonReader {
                lines: lines(input),
                buf: Vec::new(),
                shape: JsonShape::Plain {
                    text: split_path(text_field),
                    label: label_field.as_deref().map(split_path),
                },
            }),
            SourceFormat::Splunk {
                field,
                field_is_access_log,
                client_field,
            } => ReaderKind::Json(JsonReader {
                lines: lines(input),
                buf: Vec::new(),
                shape: JsonShape::Splunk {
                    field: split_path(field),
                    access_log: *field_is_access_log,
                    client: split_path(client_field),
                },
            }),
            SourceFormat::Clf { with_method } => ReaderKind::Clf(ClfReader {
                lines: lines(input),
                buf: Vec::new(),
                with_method: *with_method,
            }),
        };
        Ok(RecordReader { kind })
    }
}

impl Iterator for RecordReader {
    type Item = Result<SourceItem>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.kind {
            ReaderKind::Lines(r) => r.next_item().transpose(),
            ReaderKind::Http(r) => r.next_item().transpose(),
            ReaderKind::Csv(r) => r.next_item().transpose(),
            ReaderKind::Json(r) => r.next_item().transpose(),
            ReaderKind::Clf(r) => r.next_item().transpose(),
        }
    }
}

/// Checks shared by every format: size and binary content.
fn check_record(line: &Line, bytes: &[u8], max: usize) -> Option<String> {
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
fn next_content_line(
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

struct LinesReader {
    lines: LineSource,
    buf: Vec<u8>,
}

impl LinesReader {
    fn next_item(&mut self) -> Result<Option<SourceItem>> {
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
        })))
    }
}

static REQUEST_LINE: LazyLock<Regex> = LazyLock::new(|| {
    // METHOD SP target [SP HTTP/x.y]; the reference accepts uppercase methods and HTTP/d.d.
    Regex::new(r"^([A-Za-z]+) (\S+)(?: HTTP/\d(?:\.\d)?)?$").expect("static regex")
});

static ORIGIN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*").expect("static regex"));

struct HttpReader {
    lines: LineSource,
    buf: Vec<u8>,
    headers: Vec<String>,
    strip_origin: bool,
    max: usize,
}

impl HttpReader {
    fn next_item(&mut self) -> Result<Option<SourceItem>> {
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

struct CsvReader {
    path: PathBuf,
    reader: csv::Reader<Box<dyn BufRead + Send>>,
    record: csv::ByteRecord,
    text_index: usize,
    label_index: Option<usize>,
    max: usize,
}

impl CsvReader {
    fn new(
        input: Box<dyn BufRead + Send>,
        path: &Path,
        text_column: &str,
        label_column: Option<&str>,
        delimiter: char,
        has_header: bool,
        max: usize,
    ) -> Result<Self> {
        let delimiter = u8::try_from(delimiter).map_err(|_| DataError::Definition {
            path: path.to_owned(),
            message: format!("CSV delimiter {delimiter:?} must be a single ASCII character"),
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(has_header)
            .flexible(false)
            .from_reader(input);
        let headers: Vec<String> = if has_header {
            reader
                .byte_headers()
                .map_err(|e| csv_error(path, e))?
                .iter()
                .map(|h| String::from_utf8_lossy(h).trim().to_owned())
                .collect()
        } else {
            Vec::new()
        };
        let find = |column: &str| -> Result<usize> {
            if has_header {
                headers
                    .iter()
                    .position(|h| h == column)
                    .ok_or_else(|| DataError::Parse {
                        path: path.to_owned(),
                        line: 1,
                        message: format!(
                            "no column {column:?} in the header (columns: {})",
                            headers.join(", ")
                        ),
                    })
            } else {
                column.parse::<usize>().map_err(|_| DataError::Definition {
                    path: path.to_owned(),
                    message: format!(
                        "without a header, columns are 0-based indexes, not {column:?}"
                    ),
                })
            }
        };
        let text_index = find(text_column)?;
        let label_index = label_column.map(find).transpose()?;
        Ok(CsvReader {
            path: path.to_owned(),
            reader,
            record: csv::ByteRecord::new(),
            text_index,
            label_index,
            max,
        })
    }

    fn next_item(&mut self) -> Result<Option<SourceItem>> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                let line = self.record.position().map_or(0, |p| p.line());
                let Some(text) = self.record.get(self.text_index) else {
                    return Ok(Some(SourceItem::Invalid {
                        line,
                        reason: format!("no field {} in this row", self.text_index),
                    }));
                };
                if text.len() > self.max {
                    let reason = format!(
                        "text field is {} bytes, over the limit of {} (limits.max_record_bytes)",
                        text.len(),
                        self.max
                    );
                    return Ok(Some(SourceItem::Invalid { line, reason }));
                }
                if text.contains(&0) {
                    let reason = "NUL byte in the text field: binary data?".to_owned();
                    return Ok(Some(SourceItem::Invalid { line, reason }));
                }
                let label_key = self
                    .label_index
                    .and_then(|i| self.record.get(i))
                    .map(|l| String::from_utf8_lossy(l).trim().to_owned());
                Ok(Some(SourceItem::Record(SourceRecord {
                    line,
                    raw: text.to_vec(),
                    label_key,
                    client: None,
                })))
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    pos,
                    expected_len,
                    len,
                } => Ok(Some(SourceItem::Invalid {
                    line: pos.as_ref().map_or(0, |p| p.line()),
                    reason: format!("row has {len} fields, expected {expected_len}"),
                })),
                csv::ErrorKind::Io(_) => {
                    let line = e.position().map_or(0, |p| p.line());
                    Err(DataError::io(
                        &self.path,
                        format!("reading line {line}"),
                        io::Error::other(e.to_string()),
                    ))
                }
                _ => Ok(Some(SourceItem::Invalid {
                    line: e.position().map_or(0, |p| p.line()),
                    reason: e.to_string(),
                })),
            },
        }
    }
}

fn csv_error(path: &Path, e: csv::Error) -> DataError {
    let line = e.position().map_or(1, |p| p.line());
    DataError::parse(path, line, e.to_string())
}

fn split_path(path: &str) -> Vec<String> {
    path.split('.').map(str::to_owned).collect()
}

enum JsonShape {
    Plain {
        text: Vec<String>,
        label: Option<Vec<String>>,
    },
    Splunk {
        field: Vec<String>,
        access_log: bool,
        client: Vec<String>,
    },
}

struct JsonReader {
    lines: LineSource,
    buf: Vec<u8>,
    shape: JsonShape,
}

fn lookup<'v>(value: &'v serde_json::Value, path: &[String]) -> Option<&'v serde_json::Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// A JSON scalar as the text it stands for (labels may be written `1`, `true` or `"anom"`).
fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        _ => None,
    }
}

impl JsonReader {
    fn next_item(&mut self) -> Result<Option<SourceItem>> {
        loop {
            let line = match next_content_line(&mut self.lines, &mut self.buf)? {
                None => return Ok(None),
                Some(Err(invalid)) => return Ok(Some(invalid)),
                Some(Ok(line)) => line,
            };
            let value: serde_json::Value = match serde_json::from_slice(&self.buf) {
                Ok(v) => v,
                Err(e) => {
                    return Ok(Some(SourceItem::Invalid {
                        line: line.number,
                        reason: format!("invalid JSON: {e}"),
                    }));
                }
            };
            let invalid = |reason: String| {
                Ok(Some(SourceItem::Invalid {
                    line: line.number,
                    reason,
                }))
            };
            match &self.shape {
                JsonShape::Plain { text, label } => {
                    let Some(t) = lookup(&value, text).and_then(scalar_text) else {
                        return invalid(format!("no text field {:?}", text.join(".")));
                    };
                    let label_key = match label {
                        Some(path) => match lookup(&value, path).and_then(scalar_text) {
                            Some(l) => Some(l),
                            None => return invalid(format!("no label field {:?}", path.join("."))),
                        },
                        None => None,
                    };
                    return Ok(Some(SourceItem::Record(SourceRecord {
                        line: line.number,
                        raw: t.into_bytes(),
                        label_key,
                        client: None,
                    })));
                }
                JsonShape::Splunk {
                    field,
                    access_log,
                    client,
                } => {
                    // Export metadata lines ({"preview":..., "lastrow":true}) carry no result.
                    let Some(result) = value.get("result") else {
                        continue;
                    };
                    let Some(field_text) = lookup(result, field).and_then(scalar_text) else {
                        return invalid(format!("no field result.{}", field.join(".")));
                    };
                    let mut client_addr = lookup(result, client).and_then(scalar_text);
                    let raw = if *access_log {
                        match parse_access_log(field_text.as_bytes(), false) {
                            Some(entry) => {
                                client_addr = client_addr.or(Some(entry.client));
                                entry.text
                            }
                            None => {
                                return invalid(format!(
                                    "result.{} is not a Common/Combined Log Format line",
                                    field.join(".")
                                ));
                            }
                        }
                    } else {
                        field_text.into_bytes()
                    };
                    return Ok(Some(SourceItem::Record(SourceRecord {
                        line: line.number,
                        raw,
                        label_key: None,
                        client: client_addr,
                    })));
                }
            }
        }
    }
}

static ACCESS_LOG: LazyLock<Regex> = LazyLock::new(|| {
    // host ident user [time] "request" status bytes ["referer" "user-agent"]
    Regex::new(r#"^(\S+) \S+ \S+ \[[^\]]*\] "((?:[^"\\]|\\.)*)" (?:\d{3}|-) \S+"#)
        .expect("static regex")
});

struct AccessLogEntry {
    client: String,
    text: Vec<u8>,
}

/// The client and the request text of one access-log line. A request field that
/// is not `METHOD target [protocol]` (scanners send junk) is kept whole as the text.
fn parse_access_log(line: &[u8], with_method: bool) -> Option<AccessLogEntry> {
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

struct ClfReader {
    lines: LineSource,
    buf: Vec<u8>,
    with_method: bool,
}

impl ClfReader {
    fn next_item(&mut self) -> Result<Option<SourceItem>> {
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
