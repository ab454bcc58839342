//! Streaming readers for every request source Vigie reads: one request per
//! line, raw HTTP dumps, CSV, JSON Lines, Splunk JSON exports and access logs.
//!
//! A [`RecordReader`] turns a file (plain or gzip, detected by its magic bytes)
//! or any `BufRead` into [`SourceItem`]s one at a time, so memory stays bounded
//! on inputs of any size. It does not decode or label: [`crate::dataset`] does,
//! and a scorer can use the reader on unlabelled logs directly.
//!
//! Asked through [`ReadOptions`] (all off by default, so dataset loading reads the request
//! alone at full speed), a reader also gives each record its own time and the input fields a
//! SIEM needs to join a verdict back to its event.

mod access_log;
mod delimited;
mod http;
mod json;
mod lines;
mod time;

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

use access_log::ClfReader;
use delimited::{CsvLayout, CsvReader};
use http::HttpReader;
use json::{JsonExtras, JsonReader, JsonShape, split_path};
use lines::{LineSource, LinesReader};

pub use time::{epoch_ms, parse_access_log_time, parse_time_ms, rfc3339_utc};

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
    /// When the request was made (Unix epoch milliseconds), when asked for
    /// ([`ReadOptions::context`]) and the source says.
    pub time_ms: Option<i64>,
    /// The input fields asked for ([`ReadOptions`]), by name, in [`ReadOptions::kept_names`]
    /// order; a field the record lacks is left out.
    pub kept: Vec<(String, String)>,
}

/// The fields an access log keeps with [`ReadOptions::context`]: its time as written, the
/// method, the status, and (Combined Log Format) the user agent and the referer.
pub const ACCESS_LOG_FIELDS: [&str; 5] = ["time", "method", "status", "user_agent", "referer"];

/// The fields that hold a record's time when [`ReadOptions::time_field`] names none: the
/// first of these the record has.
pub const DEFAULT_TIME_FIELDS: [&str; 3] = ["_time", "time", "timestamp"];

/// What a reader reads beside the request. All off by default: dataset loading reads the
/// request alone, at full speed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read each record's own time ([`SourceRecord::time_ms`]) and, for access logs (`clf`,
    /// Splunk `_raw` lines), keep [`ACCESS_LOG_FIELDS`].
    pub context: bool,
    /// The field holding the time (CSV column, JSON or Splunk `result` dotted path); `None`:
    /// the first of [`DEFAULT_TIME_FIELDS`] present (an access log's own time otherwise).
    pub time_field: Option<String>,
    /// Input fields copied into [`SourceRecord::kept`]: CSV columns, JSON Lines dotted paths,
    /// Splunk `result` fields.
    pub keep: Vec<String>,
}

impl ReadOptions {
    /// The names of the fields records of `format` keep, in order: the access log's own (with
    /// [`ReadOptions::context`]), then [`ReadOptions::keep`]. Fixed for a reader, so a writer
    /// can make them columns.
    pub fn kept_names(&self, format: &SourceFormat) -> Vec<String> {
        let access_log = matches!(
            format,
            SourceFormat::Clf { .. }
                | SourceFormat::Splunk {
                    field_is_access_log: true,
                    ..
                }
        );
        let own = ACCESS_LOG_FIELDS
            .iter()
            .filter(|_| access_log && self.context)
            .map(|name| (*name).to_owned());
        own.chain(self.keep.iter().cloned()).collect()
    }

    /// An error when `format` has no fields to keep.
    fn check(&self, format: &SourceFormat) -> Result<()> {
        let reason = match format {
            SourceFormat::Lines {} | SourceFormat::Http { .. } => "its records have no fields",
            SourceFormat::Clf { .. } => {
                "an access log keeps its time, method, status, user_agent and referer on its own"
            }
            _ => return Ok(()),
        };
        match self.keep.first() {
            Some(first) => Err(DataError::InvalidOption {
                field: "keep",
                message: format!(
                    "{first:?}: nothing to keep from {} input: {reason}",
                    format.name()
                ),
            }),
            None => Ok(()),
        }
    }
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

/// The input format a file's name says, by the name [`SourceFormat::name`] gives: `csv`,
/// `jsonl` (`.jsonl`, `.ndjson`), `clf` (`.log`), `lines` (`.txt`); a `.gz` ending and a
/// rotation number (`access.log.1.gz`) are looked through. `None` for any other name.
pub fn format_from_extension(path: &Path) -> Option<&'static str> {
    let mut name = path.file_name()?.to_str()?.to_ascii_lowercase();
    for suffix_is_noise in [
        |ext: &str| ext == "gz",
        |ext: &str| !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_digit()),
    ] {
        if let Some((stem, ext)) = name.rsplit_once('.')
            && suffix_is_noise(ext)
        {
            name = stem.to_owned();
        }
    }
    match name.rsplit_once('.')?.1 {
        "csv" => Some("csv"),
        "jsonl" | "ndjson" => Some("jsonl"),
        "log" => Some("clf"),
        "txt" => Some("lines"),
        _ => None,
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
        RecordReader::with_options(input, name, format, limits, &ReadOptions::default())
    }

    /// As [`RecordReader::from_reader`], with each record's time and kept fields as `options`
    /// ask.
    pub fn with_options(
        input: Box<dyn BufRead + Send>,
        name: &Path,
        format: &SourceFormat,
        limits: &Limits,
        options: &ReadOptions,
    ) -> Result<Self> {
        options.check(format)?;
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
            } => {
                let layout = CsvLayout {
                    text_column,
                    label_column: label_column.as_deref(),
                    delimiter: *delimiter,
                    has_header: *has_header,
                };
                let reader = CsvReader::new(input, name, &layout, max, options)?;
                ReaderKind::Csv(Box::new(reader))
            }
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
                extras: JsonExtras::new(options),
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
                extras: JsonExtras::new(options),
            }),
            SourceFormat::Clf { with_method } => ReaderKind::Clf(ClfReader {
                lines: lines(input),
                buf: Vec::new(),
                with_method: *with_method,
                context: options.context,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_says_the_format_through_gzip_and_rotation() {
        for (name, expected) in [
            ("requests.csv", Some("csv")),
            ("dir.v2/export.CSV.gz", Some("csv")),
            ("events.jsonl", Some("jsonl")),
            ("events.ndjson.gz", Some("jsonl")),
            ("access.log", Some("clf")),
            ("access.log.1", Some("clf")),
            ("access.log.2.gz", Some("clf")),
            ("urls.txt", Some("lines")),
            ("export.json", None),
            ("access", None),
            ("archive.gz", None),
            ("-", None),
            ("", None),
        ] {
            assert_eq!(format_from_extension(Path::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn access_logs_keep_their_own_fields_before_the_asked_ones() {
        let options = ReadOptions {
            context: true,
            time_field: None,
            keep: vec!["host".to_owned()],
        };
        let splunk_raw = SourceFormat::Splunk {
            field: "_raw".to_owned(),
            field_is_access_log: true,
            client_field: "clientip".to_owned(),
        };
        assert_eq!(
            options.kept_names(&splunk_raw),
            ["time", "method", "status", "user_agent", "referer", "host"]
        );
        let jsonl = SourceFormat::Jsonl {
            text_field: "text".to_owned(),
            label_field: None,
        };
        assert_eq!(options.kept_names(&jsonl), ["host"]);
        let without_context = ReadOptions {
            context: false,
            ..options
        };
        assert_eq!(without_context.kept_names(&splunk_raw), ["host"]);
    }
}
