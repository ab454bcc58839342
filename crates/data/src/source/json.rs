//! JSON Lines and Splunk JSON exports: fields by dotted path.

use super::access_log::parse_access_log;
use super::lines::{LineSource, next_content_line};
use super::{SourceItem, SourceRecord};
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

pub(super) struct JsonReader {
    pub(super) lines: LineSource,
    pub(super) buf: Vec<u8>,
    pub(super) shape: JsonShape,
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
    pub(super) fn next_item(&mut self) -> Result<Option<SourceItem>> {
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
