//! Streaming readers for every request source Vigie reads: one request per
//! line, raw HTTP dumps, CSV, JSON Lines, Splunk JSON exports and access logs.
//!
//! A [`RecordReader`] turns a file (plain or gzip, detected by its magic bytes)
//! or any `BufRead` into [`SourceItem`]s one at a time, so memory stays bounded
//! on inputs of any size. It does not decode or label: [`crate::dataset`] does,
//! and a scorer can use the reader on unlabelled logs directly.

mod access_log;
mod delimited;
mod http;
mod json;
mod lines;

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

use access_log::ClfReader;
use delimited::CsvReader;
use http::HttpReader;
use json::{JsonReader, JsonShape, split_path};
use lines::{LineSource, LinesReader};

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
