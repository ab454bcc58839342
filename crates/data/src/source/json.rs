//! JSON Lines and Splunk JSON exports: fields by dotted path.

use serde_json::Value;

use super::access_log::parse_access_log;
use super::lines::{LineSource, next_content_line};
use super::time::{epoch_ms, parse_time_ms};
use super::{DEFAULT_TIME_FIELDS, ReadOptions, SourceItem, SourceRecord};
use crate::error::Result;

pub(super) fn split_path(path: &str) -> Vec<String> {
    path.split('.').map(str::to_owned).collect()
}

pub(super) enum JsonShape {
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

/// What a record carries beside the request, looked up in the object (Splunk: in `result`).
#[derive(Default)]
pub(super) struct JsonExtras {
    /// Where the time may be, first found wins; `None`: not read.
    time: Option<Vec<Vec<String>>>,
    /// Kept fields: their name and path.
    keep: Vec<(String, Vec<String>)>,
    /// Keep an access log line's own time and fields (Splunk `_raw`).
    access_log_context: bool,
}

impl JsonExtras {
    pub(super) fn new(options: &ReadOptions) -> JsonExtras {
        let time = options.context.then(|| match &options.time_field {
            Some(field) => vec![split_path(field)],
            None => DEFAULT_TIME_FIELDS.iter().map(|f| split_path(f)).collect(),
        });
        JsonExtras {
            time,
            keep: options
                .keep
                .iter()
                .map(|name| (name.clone(), split_path(name)))
                .collect(),
            access_log_context: options.context,
        }
    }

    /// The time of `object` (first candidate field present), when asked for.
    fn time_ms(&self, object: &Value) -> Option<i64> {
        let field = self
            .time
            .as_ref()?
            .iter()
            .find_map(|path| lookup(object, path))?;
        match field {
            Value::Number(n) => n.as_f64().and_then(epoch_ms),
            Value::String(s) => parse_time_ms(s),
            _ => None,
        }
    }

    /// The kept fields `object` has, as text (an object or a list as its JSON).
    fn kept(&self, object: &Value) -> Vec<(String, String)> {
        self.keep
            .iter()
            .filter_map(|(name, path)| {
                let text = match lookup(object, path)? {
                    Value::Null => return None,
                    value @ (Value::Object(_) | Value::Array(_)) => value.to_string(),
                    value => scalar_text(value)?,
                };
                Some((name.clone(), text))
            })
            .collect()
    }
}

pub(super) struct JsonReader {
    pub(super) lines: LineSource,
    pub(super) buf: Vec<u8>,
    pub(super) shape: JsonShape,
    pub(super) extras: JsonExtras,
}

fn lookup<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// A JSON scalar as the text it stands for (labels may be written `1`, `true` or `"anom"`).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        _ => None,
    }
}

impl JsonReader {
    pub(super) fn next_item(&mut self) -> Result<Option<SourceItem>> {
        loop {
            let line = match next_content_line(&mut self.lines, &mut self.buf)? {
                None => return Ok(None),
                Some(Err(invalid)) => return Ok(Some(invalid)),
                Some(Ok(line)) => line,
            };
            let value: Value = match serde_json::from_slice(&self.buf) {
                Ok(v) => v,
                Err(e) => {
                    return Ok(Some(SourceItem::Invalid {
                        line: line.number,
                        reason: format!("invalid JSON: {e}"),
                    }));
                }
            };
            let item = match &self.shape {
                JsonShape::Plain { text, label } => {
                    Some(self.plain_record(&value, text, label.as_deref()))
                }
                JsonShape::Splunk {
                    field,
                    access_log,
                    client,
                } => self.splunk_record(&value, field, *access_log, client),
            };
            // Splunk's export metadata lines ({"preview":..., "lastrow":true}) carry no result.
            if let Some(item) = item {
                return Ok(Some(match item {
                    Ok(mut record) => {
                        record.line = line.number;
                        SourceItem::Record(record)
                    }
                    Err(reason) => SourceItem::Invalid {
                        line: line.number,
                        reason,
                    },
                }));
            }
        }
    }

    /// A JSON Lines record (its line number set by the caller), or why it is invalid.
    fn plain_record(
        &self,
        value: &Value,
        text: &[String],
        label: Option<&[String]>,
    ) -> std::result::Result<SourceRecord, String> {
        let Some(t) = lookup(value, text).and_then(scalar_text) else {
            return Err(format!("no text field {:?}", text.join(".")));
        };
        let label_key = match label {
            Some(path) => match lookup(value, path).and_then(scalar_text) {
                Some(l) => Some(l),
                None => return Err(format!("no label field {:?}", path.join("."))),
            },
            None => None,
        };
        Ok(SourceRecord {
            line: 0,
            raw: t.into_bytes(),
            label_key,
            client: None,
            time_ms: self.extras.time_ms(value),
            kept: self.extras.kept(value),
        })
    }

    /// A Splunk export's record, or why it is invalid; `None` for a line without a result.
    fn splunk_record(
        &self,
        value: &Value,
        field: &[String],
        access_log: bool,
        client: &[String],
    ) -> Option<std::result::Result<SourceRecord, String>> {
        let result = value.get("result")?;
        let Some(field_text) = lookup(result, field).and_then(scalar_text) else {
            return Some(Err(format!("no field result.{}", field.join("."))));
        };
        let mut record = SourceRecord {
            line: 0,
            raw: Vec::new(),
            label_key: None,
            client: lookup(result, client).and_then(scalar_text),
            time_ms: self.extras.time_ms(result),
            kept: Vec::new(),
        };
        if access_log {
            let context = self.extras.access_log_context;
            let Some(entry) = parse_access_log(field_text.as_bytes(), false, context) else {
                return Some(Err(format!(
                    "result.{} is not a Common/Combined Log Format line",
                    field.join(".")
                )));
            };
            record.client = record.client.or(Some(entry.client));
            record.time_ms = record.time_ms.or(entry.time_ms);
            record.raw = entry.text;
            record.kept = entry.fields;
        } else {
            record.raw = field_text.into_bytes();
        }
        record.kept.extend(self.extras.kept(result));
        Some(Ok(record))
    }
}
