//! Dotted-key overrides of a run config's TOML (`--set model.c=2` on `vigie train` and
//! `vigie sweep`, a sweep's search points): parsed, and written into the config's table before
//! it is deserialised, so that an unknown key or a wrong type is refused like one in the file.

use std::str::FromStr;

use toml::{Table, Value};

/// One key of a dotted path as TOML writes it: bare when it can be, quoted otherwise.
pub fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// `parent.key`, with `key` quoted when needed; `parent` may be empty (the root).
pub fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key_segment(key)
    } else {
        format!("{parent}.{}", key_segment(key))
    }
}

/// The kind of a TOML value, for "expected X, found Y" messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// Splits an override's dotted path into its keys (`model.tfidf.sublinear_tf`); `None` when a
/// key is empty (`model..c`, `.c`).
pub fn override_keys(path: &str) -> Option<Vec<&str>> {
    let keys: Vec<&str> = path.split('.').collect();
    keys.iter().all(|key| !key.is_empty()).then_some(keys)
}

/// Writes `value` at the dotted `path` of `config`: missing tables on the way are created, the
/// leaf is replaced whatever it held (a table value replaces the whole table). Fails, saying
/// why, when a key on the way holds something other than a table.
pub fn set_at_path(config: &mut Table, path: &str, value: Value) -> Result<(), String> {
    let keys = override_keys(path).ok_or_else(|| format!("`{path}`: an empty key in the path"))?;
    let Some((leaf, parents)) = keys.split_last() else {
        return Err(format!("`{path}`: an empty path"));
    };
    let mut table = config;
    let mut walked = String::new();
    for key in parents {
        walked = join_key(&walked, key);
        let entry = table
            .entry(key.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        table = match entry {
            Value::Table(inner) => inner,
            other => {
                return Err(format!(
                    "`{path}`: `{walked}` is {}, not a table",
                    kind_of(other)
                ));
            }
        };
    }
    table.insert(leaf.to_string(), value);
    Ok(())
}

/// A `--set KEY=VALUE` override: a dotted key of the run config and a TOML value.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: Value,
}

impl FromStr for Override {
    type Err = String;

    /// `key=value`: the value is read as a TOML value (`2`, `0.5`, `true`, `[64, 32]`,
    /// `{ kind = "char" }`, `"text"`), and as a plain string when it is none (`max_f1`).
    fn from_str(text: &str) -> Result<Override, String> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: expected KEY=VALUE (`model.c=2`)"))?;
        let key = key.trim();
        override_keys(key).ok_or_else(|| format!("`{text}`: an empty key in `{key}`"))?;
        Ok(Override {
            key: key.to_owned(),
            value: toml_value(value.trim()),
        })
    }
}

/// `text` as a TOML value, else as a string.
fn toml_value(text: &str) -> Value {
    toml::from_str::<Table>(&format!("value = {text}"))
        .ok()
        .and_then(|mut table| table.remove("value"))
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

/// Applies `overrides` in order to `config`.
pub fn apply(config: &mut Table, overrides: &[Override]) -> Result<(), String> {
    overrides
        .iter()
        .try_for_each(|o| set_at_path(config, &o.key, o.value.clone()))
}

/// Whether `key` (a dotted path) was written by one of `overrides`: it or one of its tables.
pub fn set_by(overrides: &[Override], key: &str) -> bool {
    overrides.iter().any(|o| {
        key == o.key
            || key
                .strip_prefix(o.key.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Override {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn values_are_read_as_toml_else_as_strings() {
        assert_eq!(parsed("model.c=2").value, Value::Integer(2));
        assert_eq!(parsed("model.c = 0.5").value, Value::Float(0.5));
        assert_eq!(parsed("data.dedup=false").value, Value::Boolean(false));
        assert_eq!(
            parsed("threshold.rule=max_f1").value,
            Value::String("max_f1".into())
        );
        assert_eq!(
            parsed("data.dataset=\"fwaf+csic2010\"").value,
            Value::String("fwaf+csic2010".into())
        );
        assert_eq!(
            parsed("model.hidden=[64, 32]").value,
            Value::Array(vec![Value::Integer(64), Value::Integer(32)])
        );
        // Only the first `=` splits: the rest is the value.
        assert_eq!(
            parsed("name=a=b").value,
            Value::String("a=b".into()),
            "{:?}",
            parsed("name=a=b")
        );
        assert_eq!(parsed("model.tfidf.norm=l2").key, "model.tfidf.norm");
    }

    #[test]
    fn a_malformed_override_is_refused() {
        for text in ["model.c", "model..c=1", "=1", ".c=1"] {
            assert!(text.parse::<Override>().is_err(), "{text}");
        }
    }

    #[test]
    fn overrides_create_tables_and_refuse_to_walk_through_a_value() {
        let mut config: Table = toml::from_str("seed = 1\n[model]\nc = 1.0\n").unwrap();
        apply(
            &mut config,
            &[parsed("data.split.seed=7"), parsed("model.c=2")],
        )
        .unwrap();
        assert_eq!(config["data"]["split"]["seed"], Value::Integer(7));
        assert_eq!(config["model"]["c"], Value::Integer(2));
        let err = apply(&mut config, &[parsed("seed.x=1")]).unwrap_err();
        assert!(err.contains("`seed` is an integer"), "{err}");
    }

    #[test]
    fn a_key_is_set_by_an_override_of_it_or_of_its_table() {
        let overrides = [parsed("model.tfidf={}"), parsed("seed=1")];
        assert!(set_by(&overrides, "seed"));
        assert!(set_by(&overrides, "model.tfidf.norm"));
        assert!(!set_by(&overrides, "model.tfidf_x"));
        assert!(!set_by(&overrides, "model.c"));
    }
}
