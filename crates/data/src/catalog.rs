//! Where dataset definitions come from: the ones built into Vigie (the
//! project's `datasets/*.toml`, embedded at compile time so the binary works
//! from any directory) overridden by the `*.toml` files of a definitions folder.

use std::path::{Path, PathBuf};

use crate::definition::DatasetDef;
use crate::error::{DataError, Result};

const BUILTIN: &[(&str, &str)] = &[
    ("fwaf", include_str!("../../../datasets/fwaf.toml")),
    ("csic2010", include_str!("../../../datasets/csic2010.toml")),
    (
        "echows-urldetect",
        include_str!("../../../datasets/echows-urldetect.toml"),
    ),
];

/// A set of dataset definitions, each with where it was read from.
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: Vec<(DatasetDef, PathBuf)>,
}

impl Catalog {
    /// The definitions shipped with Vigie.
    pub fn builtin() -> Result<Self> {
        let entries = BUILTIN
            .iter()
            .map(|(name, text)| {
                let origin = PathBuf::from(format!("<builtin>/datasets/{name}.toml"));
                DatasetDef::from_toml(text, &origin).map(|d| (d, origin))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Catalog { entries })
    }

    /// The built-in definitions, replaced or extended by every `*.toml` in `dir`.
    pub fn with_dir(dir: &Path) -> Result<Self> {
        let mut catalog = Catalog::builtin()?;
        let listing = std::fs::read_dir(dir)
            .map_err(|e| DataError::io(dir, "cannot list dataset definitions", e))?;
        let mut paths: Vec<PathBuf> = listing
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            catalog.insert(DatasetDef::from_file(&path)?, path);
        }
        Ok(catalog)
    }

    fn insert(&mut self, def: DatasetDef, origin: PathBuf) {
        match self.entries.iter_mut().find(|(d, _)| d.name == def.name) {
            Some(slot) => *slot = (def, origin),
            None => self.entries.push((def, origin)),
        }
    }

    /// A definition by name, or by path when `name` ends in `.toml`.
    pub fn get(&self, name: &str) -> Result<(DatasetDef, PathBuf)> {
        if name.ends_with(".toml") {
            let path = PathBuf::from(name);
            return DatasetDef::from_file(&path).map(|d| (d, path));
        }
        self.entries
            .iter()
            .find(|(d, _)| d.name == name)
            .cloned()
            .ok_or_else(|| DataError::UnknownDataset {
                name: name.to_owned(),
                known: self.names().join(", "),
            })
    }

    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(d, _)| d.name.as_str()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&DatasetDef, &Path)> {
        self.entries.iter().map(|(d, p)| (d, p.as_path()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_definitions_parse() {
        let catalog = Catalog::builtin().expect("builtin definitions are valid");
        assert_eq!(catalog.names(), ["fwaf", "csic2010", "echows-urldetect"]);
        let err = catalog.get("nope").unwrap_err().to_string();
        assert!(err.contains("fwaf"), "{err}");
    }

    #[test]
    fn a_folder_overrides_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "name = \"fwaf\"\ndescription = \"mine\"\n[format]\nkind = \"lines\"\n[[files]]\npath = \"x\"\nlabel = \"benign\"\n";
        std::fs::write(dir.path().join("fwaf.toml"), text).expect("write");
        let catalog = Catalog::with_dir(dir.path()).expect("catalog");
        assert_eq!(catalog.get("fwaf").expect("fwaf").0.description, "mine");
        assert_eq!(catalog.names().len(), 3);
    }
}
