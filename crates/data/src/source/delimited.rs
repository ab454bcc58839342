//! CSV sources: a text column, an optional label column.

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use super::time::parse_time_ms;
use super::{DEFAULT_TIME_FIELDS, ReadOptions, SourceItem, SourceRecord};
use crate::error::{DataError, Result};

/// Where a CSV source's columns are (the `csv` format's settings).
pub(super) struct CsvLayout<'a> {
    pub(super) text_column: &'a str,
    pub(super) label_column: Option<&'a str>,
    pub(super) delimiter: char,
    pub(super) has_header: bool,
}

pub(super) struct CsvReader {
    path: PathBuf,
    reader: csv::Reader<Box<dyn BufRead + Send>>,
    record: csv::ByteRecord,
    text_index: usize,
    label_index: Option<usize>,
    max: usize,
    /// The column of each record's time, when asked for and present.
    time_index: Option<usize>,
    /// Kept columns: name and index.
    keep: Vec<(String, usize)>,
}

/// A CSV source's column names (none without a header: columns are then 0-based indexes).
struct Columns<'a> {
    path: &'a Path,
    names: Option<Vec<String>>,
}

impl Columns<'_> {
    fn find(&self, column: &str) -> Result<usize> {
        let Some(names) = &self.names else {
            return column.parse::<usize>().map_err(|_| DataError::Definition {
                path: self.path.to_owned(),
                message: format!("without a header, columns are 0-based indexes, not {column:?}"),
            });
        };
        names
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| DataError::Parse {
                path: self.path.to_owned(),
                line: 1,
                message: format!(
                    "no column {column:?} in the header (columns: {})",
                    names.join(", ")
                ),
            })
    }

    /// The time column: the one named, else the first of [`DEFAULT_TIME_FIELDS`] present.
    fn time(&self, named: Option<&str>) -> Result<Option<usize>> {
        if let Some(column) = named {
            return self.find(column).map(Some);
        }
        Ok(DEFAULT_TIME_FIELDS
            .iter()
            .find_map(|name| self.find(name).ok()))
    }
}

impl CsvReader {
    pub(super) fn new(
        input: Box<dyn BufRead + Send>,
        path: &Path,
        layout: &CsvLayout,
        max: usize,
        options: &ReadOptions,
    ) -> Result<Self> {
        let delimiter = layout.delimiter;
        let delimiter = u8::try_from(delimiter).map_err(|_| DataError::Definition {
            path: path.to_owned(),
            message: format!("CSV delimiter {delimiter:?} must be a single ASCII character"),
        })?;
        // With a header, the reader takes the first row as the header: it is never a record.
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(layout.has_header)
            .flexible(false)
            .from_reader(input);
        let names = if layout.has_header {
            let header = reader.byte_headers().map_err(|e| csv_error(path, e))?;
            let names = header.iter();
            Some(
                names
                    .map(|h| String::from_utf8_lossy(h).trim().to_owned())
                    .collect(),
            )
        } else {
            None
        };
        let columns = Columns { path, names };
        let time_index = if options.context {
            columns.time(options.time_field.as_deref())?
        } else {
            None
        };
        let keep = options
            .keep
            .iter()
            .map(|name| Ok((name.clone(), columns.find(name)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(CsvReader {
            path: path.to_owned(),
            reader,
            record: csv::ByteRecord::new(),
            text_index: columns.find(layout.text_column)?,
            label_index: layout.label_column.map(|c| columns.find(c)).transpose()?,
            max,
            time_index,
            keep,
        })
    }

    /// The time and the kept fields of the current record.
    fn extras(&self) -> (Option<i64>, Vec<(String, String)>) {
        let text = |index: usize| {
            self.record
                .get(index)
                .map(|field| String::from_utf8_lossy(field).into_owned())
        };
        let time_ms = self
            .time_index
            .and_then(text)
            .and_then(|time| parse_time_ms(&time));
        let kept = self
            .keep
            .iter()
            .filter_map(|(name, index)| Some((name.clone(), text(*index)?)))
            .collect();
        (time_ms, kept)
    }

    pub(super) fn next_item(&mut self) -> Result<Option<SourceItem>> {
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
                let (time_ms, kept) = self.extras();
                Ok(Some(SourceItem::Record(SourceRecord {
                    line,
                    raw: text.to_vec(),
                    label_key,
                    client: None,
                    time_ms,
                    kept,
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
