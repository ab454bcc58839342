//! Every run config key's default and meaning, read from the tables of
//! `docs/configuration.md`: the one place they are written, which `vigie config template` copies
//! into its comments and a test checks against the config types, so that neither can drift.
//!
//! A table of keys is marked by an HTML comment just before it naming the config tables it
//! describes: `<!-- keys: data.split -->`; `top` is the top level, and `model@KIND` the
//! `[model]` keys of one family (`<!-- keys: model@lstm model@bilstm -->`). Its rows are
//! `` | `key` | default | meaning | ``.

/// The documentation, embedded when the runner is built.
pub const CONFIGURATION_MD: &str = include_str!("../../../docs/configuration.md");

/// One documented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDoc {
    pub key: String,
    pub default: String,
    pub meaning: String,
}

/// The marked tables of a configuration page.
#[derive(Debug, Clone, Default)]
pub struct KeyDocs {
    tables: Vec<(Vec<String>, Vec<KeyDoc>)>,
}

impl KeyDocs {
    /// The tables of `docs/configuration.md`.
    pub fn shipped() -> KeyDocs {
        KeyDocs::parse(CONFIGURATION_MD)
    }

    /// The marked tables of `markdown`.
    pub fn parse(markdown: &str) -> KeyDocs {
        let mut tables = Vec::new();
        let mut lines = markdown.lines().map(str::trim).peekable();
        while let Some(line) = lines.next() {
            let Some(addresses) = marker(line) else {
                continue;
            };
            while lines.next_if(|line| line.is_empty()).is_some() {}
            let mut rows = Vec::new();
            while let Some(row) = lines.next_if(|line| line.starts_with('|')) {
                rows.extend(key_row(row));
            }
            tables.push((addresses, rows));
        }
        KeyDocs { tables }
    }

    /// The documented keys of the table at `address` (`data.split`, `top`, `model@mlp`).
    pub fn table(&self, address: &str) -> impl Iterator<Item = &KeyDoc> {
        self.tables
            .iter()
            .filter(move |(addresses, _)| addresses.iter().any(|a| a == address))
            .flat_map(|(_, rows)| rows)
    }

    /// `key` of the table at `address`.
    pub fn get(&self, address: &str, key: &str) -> Option<&KeyDoc> {
        self.table(address).find(|doc| doc.key == key)
    }

    /// Whether any table is marked for `address`.
    pub fn has_table(&self, address: &str) -> bool {
        self.table(address).next().is_some()
    }

    /// `key` of the config table at dotted `path` (empty: the top level) in a config of model
    /// `kind`.
    pub fn of_key(&self, path: &str, kind: &str, key: &str) -> Option<&KeyDoc> {
        addresses(path, kind)
            .iter()
            .find_map(|address| self.get(address, key))
    }
}

/// The docs' addresses of the config table at dotted `path`, most specific first: `top` for
/// the top level, `model@KIND` then `model` for `[model]`.
pub fn addresses(path: &str, kind: &str) -> Vec<String> {
    match path {
        "" => vec!["top".to_owned()],
        "model" => vec![format!("model@{kind}"), "model".to_owned()],
        path => vec![path.to_owned()],
    }
}

/// The addresses of a `<!-- keys: ... -->` line.
fn marker(line: &str) -> Option<Vec<String>> {
    let inner = line.strip_prefix("<!-- keys:")?.strip_suffix("-->")?;
    Some(inner.split_whitespace().map(str::to_owned).collect())
}

/// `` | `key` | default | meaning | `` (or `` | `key` | meaning | ``, without a default);
/// `None` for the header, the rule and other rows.
fn key_row(row: &str) -> Option<KeyDoc> {
    let cells: Vec<&str> = split_cells(row);
    let (key, default, meaning) = match cells.as_slice() {
        [key, default, meaning] => (key, *default, meaning),
        [key, meaning] => (key, "", meaning),
        _ => return None,
    };
    let key = key.strip_prefix('`')?.strip_suffix('`')?;
    Some(KeyDoc {
        key: key.to_owned(),
        default: default.to_string(),
        meaning: meaning.to_string(),
    })
}

/// The cells of a table row; `\|` inside a cell is a literal `|`.
fn split_cells(row: &str) -> Vec<&str> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = Vec::new();
    let mut start = 0;
    let bytes = inner.as_bytes();
    for (i, &byte) in bytes.iter().enumerate() {
        if byte == b'|' && (i == 0 || bytes[i - 1] != b'\\') {
            cells.push(inner[start..i].trim());
            start = i + 1;
        }
    }
    cells.push(inner[start..].trim());
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_tables_are_read_and_others_ignored() {
        let docs = KeyDocs::parse(
            "| key | default | meaning |\n|---|---|---|\n| `x` | `1` | unmarked |\n\n\
             <!-- keys: data.split model@lstm -->\n\n\
             | key | default | meaning |\n|---|---|---|\n\
             | `seed` | `42` | the split's seed |\n| `pattern` | `a\\|b` | two cells, one pipe |\n\
             next paragraph\n| `y` | `2` | after the table |\n",
        );
        assert_eq!(
            docs.get("data.split", "seed"),
            Some(&KeyDoc {
                key: "seed".into(),
                default: "`42`".into(),
                meaning: "the split's seed".into()
            })
        );
        assert_eq!(
            docs.get("model@lstm", "pattern")
                .map(|d| d.default.as_str()),
            Some("`a\\|b`")
        );
        assert!(docs.get("data.split", "y").is_none());
        assert!(!docs.has_table("top"));
    }
}
