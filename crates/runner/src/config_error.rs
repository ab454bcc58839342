//! Where a run config's deserialisation failed: the dotted key (`model.c`) and its line in the
//! file.
//!
//! toml's own errors point at the right line only outside tagged enums: serde buffers an
//! internally tagged enum (`[model]`, tagged by `kind`) before choosing the variant, so an error
//! inside it points at the `[model]` header and names no key. Here the config is deserialised
//! through `serde_path_to_error`, which tracks the key path; an error inside `[model]` is
//! located again by deserialising the family's own config from the table, and the key's line is
//! read from the spanned document.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use toml::de::{DeTable, DeValue};
use toml::{Table, Value};
use vigie_models::anomaly::IsolationForestConfig;
use vigie_models::linear::LinearConfig;
use vigie_models::nn::{CnnConfig, MlpConfig, RnnConfig};
use vigie_models::rules::LibinjectionConfig;

use crate::overrides::join_key;

/// A deserialisation error at a dotted key (empty: the whole config).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyError {
    pub keys: Vec<String>,
    pub message: String,
}

impl KeyError {
    /// The keys joined as TOML writes a dotted key (`model.tfidf.norm`).
    pub fn dotted(&self) -> String {
        self.keys
            .iter()
            .fold(String::new(), |path, key| join_key(&path, key))
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.dotted() {
            key if key.is_empty() => f.write_str(&self.message),
            key => write!(f, "{key}: {}", self.message),
        }
    }
}

/// Deserialises `table` as a `T`, an error naming its key.
pub fn deserialize_at_key<T: DeserializeOwned>(table: &Table) -> Result<T, KeyError> {
    serde_path_to_error::deserialize(Value::Table(table.clone())).map_err(|error| {
        let keys = keys_of(error.path());
        let message = error.inner().message().trim_end().to_owned();
        refine(table, KeyError { keys, message })
    })
}

fn keys_of(path: &serde_path_to_error::Path) -> Vec<String> {
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } => Some(key.clone()),
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// Narrows an error that stopped at a table: inside `[model]`, the family's own key; an
/// unknown key of a tagged table (whose path stops at the table), that key.
fn refine(root: &Table, mut error: KeyError) -> KeyError {
    if error.keys == ["model"]
        && let Some(Value::Table(model)) = root.get("model")
        && let Some(inner) = family_error(model)
    {
        error.keys.extend(inner.keys);
        error.message = inner.message;
    }
    if let Some(Value::Table(table)) = value_at(root, &error.keys)
        && let Some(key) = unknown_key(&error.message).or_else(|| mistyped_key(table, &error))
        && table.contains_key(key)
    {
        error.keys.push(key.to_owned());
    }
    error
}

/// The one key of `table` holding the value a serde "invalid type: string \"x\", expected
/// ..." names, for a wrong type inside a tagged table other than `[model]` (`[threshold]`).
fn mistyped_key<'t>(table: &'t Table, error: &KeyError) -> Option<&'t str> {
    let found = error.message.strip_prefix("invalid type: ")?;
    let mut matches = table.iter().filter(|(_, value)| {
        unexpected(value).is_some_and(|text| found.starts_with(&format!("{text},")))
    });
    match (matches.next(), matches.next()) {
        (Some((key, _)), None) => Some(key),
        _ => None,
    }
}

/// A value as serde's `Unexpected` writes it.
fn unexpected(value: &Value) -> Option<String> {
    use serde::de::Unexpected;
    let text = match value {
        Value::String(text) => Unexpected::Str(text).to_string(),
        Value::Integer(n) => Unexpected::Signed(*n).to_string(),
        Value::Float(x) => Unexpected::Float(*x).to_string(),
        Value::Boolean(b) => Unexpected::Bool(*b).to_string(),
        Value::Array(_) => Unexpected::Seq.to_string(),
        Value::Table(_) => Unexpected::Map.to_string(),
        Value::Datetime(_) => return None,
    };
    Some(text)
}

/// The error of deserialising `[model]` without its `kind` as that kind's family config.
fn family_error(model: &Table) -> Option<KeyError> {
    let kind = model.get("kind")?.as_str()?;
    let mut fields = model.clone();
    fields.remove("kind");
    let result = match kind {
        "linear_svm" | "logistic_regression" => check::<LinearConfig>(&fields),
        "isolation_forest" => check::<IsolationForestConfig>(&fields),
        "mlp" => check::<MlpConfig>(&fields),
        "cnn" => check::<CnnConfig>(&fields),
        "lstm" | "bilstm" => check::<RnnConfig>(&fields),
        "libinjection" => check::<LibinjectionConfig>(&fields),
        _ => Ok(()),
    };
    result.err()
}

fn check<T: DeserializeOwned>(table: &Table) -> Result<(), KeyError> {
    deserialize_at_key::<T>(table).map(drop)
}

/// The key serde's "unknown field `x`, expected ..." names.
fn unknown_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(key, _)| key)
}

fn value_at<'a>(root: &'a Table, keys: &[String]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    rest.iter()
        .try_fold(root.get(first)?, |value, key| match value {
            Value::Table(table) => table.get(key),
            Value::Array(items) => items.get(key.parse::<usize>().ok()?),
            _ => None,
        })
}

/// The 1-based line where the deepest of `keys` present in `text` is written; `None` when the
/// text does not parse or holds none of them.
pub fn line_of(text: &str, keys: &[String]) -> Option<usize> {
    let document = DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut start = None;
    let mut keys = keys.iter();
    while let Some(key) = keys.next() {
        let Some((spanned_key, value)) = table.get_key_value(key.as_str()) else {
            break;
        };
        start = Some(spanned_key.span().start);
        table = match value.get_ref() {
            DeValue::Table(inner) => inner,
            DeValue::Array(items) => {
                let index = keys.next().and_then(|index| index.parse::<usize>().ok());
                let Some(item) = index.and_then(|index| items.get(index)) else {
                    break;
                };
                start = Some(item.span().start);
                match item.get_ref() {
                    DeValue::Table(inner) => inner,
                    _ => break,
                }
            }
            _ => break,
        };
    }
    start.map(|offset| text[..offset].matches('\n').count() + 1)
}
