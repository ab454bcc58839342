//! Reading the sweep file's TOML tables by hand, so that every error names the offending key as
//! a dotted path from the file's root (`search.space[1].grid."model.c"`), which serde's own
//! errors cannot do for nested tables. Dotted paths are written, and overrides applied, by
//! `vigie_runner::overrides`, which `vigie train --set` shares.

use std::path::Path;

use toml::{Table, Value};

pub(crate) use vigie_runner::overrides::{join_key, kind_of, override_keys, set_at_path};

use crate::error::{Result, SweepError};

/// A table of the sweep file and its dotted path; its readers name `path.key` in errors.
pub(crate) struct TableAt<'a> {
    pub(crate) path: String,
    pub(crate) table: &'a Table,
    pub(crate) file: &'a Path,
}

impl<'a> TableAt<'a> {
    pub(crate) fn root(table: &'a Table, file: &'a Path) -> Self {
        TableAt {
            path: String::new(),
            table,
            file,
        }
    }

    pub(crate) fn key_path(&self, key: &str) -> String {
        join_key(&self.path, key)
    }

    /// An error about `key` of this table.
    pub(crate) fn error(&self, key: &str, message: impl std::fmt::Display) -> SweepError {
        SweepError::file(self.file, format!("`{}`: {message}", self.key_path(key)))
    }

    /// Refuses any key not in `known` (the tables of a sweep file deny unknown fields).
    pub(crate) fn refuse_unknown(&self, known: &[&str]) -> Result<()> {
        match self.table.keys().find(|key| !known.contains(&key.as_str())) {
            None => Ok(()),
            Some(key) => {
                let expected = known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                Err(self.error(key, format!("unknown key (expected one of {expected})")))
            }
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.table.get(key)
    }

    fn mismatch(&self, key: &str, expected: &str, found: &Value) -> SweepError {
        self.error(
            key,
            format!("expected {expected}, found {}", kind_of(found)),
        )
    }

    pub(crate) fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(self.mismatch(key, "a string", other)),
        }
    }

    /// An array of strings.
    pub(crate) fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    other => Err(self.mismatch(key, "an array of strings", other)),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(self.mismatch(key, "an array of strings", other)),
        }
    }

    /// A string that must not be blank.
    pub(crate) fn name(&self, key: &str) -> Result<Option<String>> {
        match self.string(key)? {
            Some(text) if text.trim().is_empty() => Err(self.error(key, "empty")),
            other => Ok(other),
        }
    }

    /// A non-negative integer.
    pub(crate) fn count(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Integer(n)) => u64::try_from(*n)
                .map(Some)
                .map_err(|_| self.error(key, format!("must not be negative, got {n}"))),
            Some(other) => Err(self.mismatch(key, "an integer", other)),
        }
    }

    /// A count that must be at least 1.
    pub(crate) fn positive_count(&self, key: &str) -> Result<Option<u64>> {
        match self.count(key)? {
            Some(0) => Err(self.error(key, "must be at least 1, got 0")),
            other => Ok(other),
        }
    }

    pub(crate) fn integer(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Integer(n)) => Ok(Some(*n)),
            Some(other) => Err(self.mismatch(key, "an integer", other)),
        }
    }

    /// A number: a float, or an integer read as one.
    pub(crate) fn number(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Float(x)) => Ok(Some(*x)),
            Some(Value::Integer(n)) => Ok(Some(*n as f64)),
            Some(other) => Err(self.mismatch(key, "a number", other)),
        }
    }

    /// A sub-table, its path extended by `key`.
    pub(crate) fn table(&self, key: &str) -> Result<Option<TableAt<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Table(table)) => Ok(Some(TableAt {
                path: self.key_path(key),
                table,
                file: self.file,
            })),
            Some(other) => Err(self.mismatch(key, "a table", other)),
        }
    }

    /// Fails when `key` is missing.
    pub(crate) fn required<T>(&self, key: &str, value: Option<T>) -> Result<T> {
        value.ok_or_else(|| self.error(key, "missing"))
    }
}

/// A TOML value as JSON, for the search space logged with the sweep (datetimes as text).
pub(crate) fn toml_to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::String(text) => Json::String(text.clone()),
        Value::Integer(n) => Json::from(*n),
        Value::Float(x) => serde_json::Number::from_f64(*x)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(x.to_string())),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Datetime(datetime) => Json::String(datetime.to_string()),
        Value::Array(items) => Json::Array(items.iter().map(toml_to_json).collect()),
        Value::Table(table) => Json::Object(
            table
                .iter()
                .map(|(key, inner)| (key.clone(), toml_to_json(inner)))
                .collect(),
        ),
    }
}
