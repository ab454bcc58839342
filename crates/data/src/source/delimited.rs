//! CSV sources: a text column, an optional label column.

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use super::{SourceItem, SourceRecord};
use crate::error::{DataError, Result};

pub(super) struct CsvReader {
    pub(super) path: PathBuf,
    pub(super) reader: csv::Reader<Box<dyn BufRead + Send>>,
    pub(super) record: csv::ByteRecord,
    pub(super) text_index: usize,
    pub(super) label_index: Option<usize>,
    pub(super) max: usize,
}

impl CsvReader {
    pub(super) fn new(
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
