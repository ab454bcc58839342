//! Dataset definitions: the TOML files in `datasets/` that say where a
//! dataset's files are, how they are laid out and labelled, how to decode them
//! and how to check them.
//!
//! ```toml
//! name = "fwaf"
//! description = "Fwaf good and bad queries"
//! [format]
//! kind = "lines"
//! [decode]
//! charset = "utf-8"
//! [[files]]
//! path = "fwaf/badqueries.txt"
//! label = "malicious"
//! url = "https://raw.githubusercontent.com/.../badqueries.txt"
//! sha256 = "f2252eb0..."
//! ```
//!
//! Unknown keys are rejected with their name, so a typo never silently
//! changes what is loaded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decode::DecodeConfig;
use crate::error::{DataError, Result};
use crate::label::Label;
use crate::source::{Limits, SourceFormat};

/// One dataset: its files and how to read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetDef {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Where the data comes from (publisher or repository page).
    #[serde(default)]
    pub homepage: Option<String>,
    #[serde(default)]
    pub license: Option<String>,
    pub format: SourceFormat,
    #[serde(default)]
    pub decode: DecodeConfig,
    #[serde(default)]
    pub limits: Limits,
    /// Label column values to classes, for CSV/JSONL sources (`"anom" = "malicious"`).
    /// Empty: the usual names (`benign`, `normal`, `0`, `malicious`, `anomalous`, `1`, ...) are accepted.
    #[serde(default)]
    pub labels: BTreeMap<String, Label>,
    pub files: Vec<FileDef>,
}

/// One file of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDef {
    /// Path relative to the data dir (`fwaf/badqueries.txt`).
    pub path: String,
    /// The class of every request in the file; absent when a label column gives it.
    #[serde(default)]
    pub label: Option<Label>,
    /// Where `vigie data fetch` downloads it from.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// The git blob id, when only that is known upstream.
    #[serde(default)]
    pub git_blob: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// Other files accepted in its place when it is absent (a known partial copy, say).
    #[serde(default)]
    pub alternatives: Vec<AlternativeFile>,
}

/// A file that may stand in for a [`FileDef`] that is not present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlternativeFile {
    pub path: String,
    /// The stand-in holds only part of the main file's data (commands then say so).
    #[serde(default)]
    pub partial: bool,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub git_blob: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// The checksums a file is expected to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedChecksums<'a> {
    pub sha256: Option<&'a str>,
    pub git_blob: Option<&'a str>,
}

/// Which of a file's candidates was found in the data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedFile<'a> {
    /// The path in the data dir.
    pub path: PathBuf,
    /// The path as written in the definition.
    pub relative: &'a str,
    pub checksums: ExpectedChecksums<'a>,
    /// True when an alternative stands in for the main file.
    pub is_alternative: bool,
    /// True when that alternative holds only part of the data.
    pub is_partial: bool,
    pub note: Option<&'a str>,
}

impl FileDef {
    pub fn checksums(&self) -> ExpectedChecksums<'_> {
        ExpectedChecksums {
            sha256: self.sha256.as_deref(),
            git_blob: self.git_blob.as_deref(),
        }
    }

    /// The main file if present in `data_dir`, else the first alternative present.
    pub fn resolve<'a>(&'a self, data_dir: &Path) -> Option<ResolvedFile<'a>> {
        let main = data_dir.join(&self.path);
        if main.is_file() {
            return Some(ResolvedFile {
                path: main,
                relative: &self.path,
                checksums: self.checksums(),
                is_alternative: false,
                is_partial: false,
                note: self.note.as_deref(),
            });
        }
        self.alternatives.iter().find_map(|alt| {
            let path = data_dir.join(&alt.path);
            path.is_file().then(|| ResolvedFile {
                path,
                relative: &alt.path,
                checksums: ExpectedChecksums {
                    sha256: alt.sha256.as_deref(),
                    git_blob: alt.git_blob.as_deref(),
                },
                is_alternative: true,
                is_partial: alt.partial,
                note: alt.note.as_deref(),
            })
        })
    }
}

impl DatasetDef {
    /// Parse a definition from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let def: DatasetDef = toml::from_str(text).map_err(|e| DataError::Definition {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        def.validate(origin)?;
        Ok(def)
    }

    /// Read and parse a definition file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DataError::io(path, "cannot read dataset definition", e))?;
        DatasetDef::from_toml(&text, path)
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let fail = |message: String| {
            Err(DataError::Definition {
                path: origin.to_owned(),
                message,
            })
        };
        if self.name.trim().is_empty() {
            return fail("`name` is empty".to_owned());
        }
        if self.files.is_empty() {
            return fail("`files` is empty: a dataset needs at least one file".to_owned());
        }
        if self.limits.max_record_bytes == 0 {
            return fail("`limits.max_record_bytes` must be positive".to_owned());
        }
        let label_column = self.format.has_label_column();
        for (i, file) in self.files.iter().enumerate() {
            if file.label.is_some() && label_column {
                return fail(format!(
                    "files[{i}] ({}) has a `label` but the format also has a label column: keep one",
                    file.path
                ));
            }
            let candidates = std::iter::once((&file.sha256, &file.git_blob))
                .chain(file.alternatives.iter().map(|a| (&a.sha256, &a.git_blob)));
            for (sha, blob) in candidates {
                if let Some(sha) = sha {
                    check_hex(sha, 64, "sha256", i, &file.path).or_else(fail)?;
                }
                if let Some(blob) = blob {
                    check_hex(blob, 40, "git_blob", i, &file.path).or_else(fail)?;
                }
            }
        }
        Ok(())
    }

    /// The label of a record: the file's class, or the label column mapped through `labels`.
    pub fn label_for(
        &self,
        file: &FileDef,
        key: Option<&str>,
    ) -> std::result::Result<Label, String> {
        if let Some(label) = file.label {
            return Ok(label);
        }
        let Some(key) = key else {
            return Err(format!(
                "file {} has no `label` and the format has no label column",
                file.path
            ));
        };
        if self.labels.is_empty() {
            return key.parse();
        }
        self.labels.get(key).copied().ok_or_else(|| {
            let known: Vec<&str> = self.labels.keys().map(String::as_str).collect();
            format!(
                "label {key:?} is not in the definition's [labels] ({})",
                known.join(", ")
            )
        })
    }
}

fn check_hex(
    value: &str,
    len: usize,
    field: &str,
    index: usize,
    file: &str,
) -> std::result::Result<(), String> {
    if value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!(
            "files[{index}] ({file}): `{field}` must be {len} hex digits, got {value:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DatasetDef> {
        DatasetDef::from_toml(text, Path::new("test.toml"))
    }

    const MINIMAL: &str = r#"
name = "t"
[format]
kind = "lines"
[[files]]
path = "t/bad.txt"
label = "malicious"
"#;

    #[test]
    fn minimal_definition_parses_with_defaults() {
        let def = parse(MINIMAL).expect("valid");
        assert_eq!(def.format, SourceFormat::Lines {});
        assert!(def.decode.percent_decode);
        assert_eq!(def.files[0].label, Some(Label::Malicious));
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err =
            parse(&MINIMAL.replace("label = \"malicious\"", "lable = \"malicious\"")).unwrap_err();
        assert!(err.to_string().contains("lable"), "{err}");
        let err = parse(&MINIMAL.replace("kind = \"lines\"", "kind = \"lines\"\nheaders = []"))
            .unwrap_err();
        assert!(err.to_string().contains("headers"), "{err}");
        let err = parse(&format!(
            "{MINIMAL}\n[decode]\ncharset = \"utf-8\"\nlowercse = true\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("lowercse"), "{err}");
    }

    #[test]
    fn bad_checksums_and_empty_files_are_rejected() {
        let err = parse(&format!("{MINIMAL}sha256 = \"abc\"\n")).unwrap_err();
        assert!(err.to_string().contains("sha256"), "{err}");
        let err = parse("name = \"t\"\nfiles = []\n[format]\nkind = \"lines\"\n").unwrap_err();
        assert!(err.to_string().contains("files"), "{err}");
    }

    #[test]
    fn label_mapping_is_applied_and_unknown_values_named() {
        let def = parse(
            r#"
name = "t"
[format]
kind = "csv"
text_column = "payload"
label_column = "class"
[labels]
norm = "benign"
anom = "malicious"
[[files]]
path = "t/x.csv"
"#,
        )
        .expect("valid");
        let file = &def.files[0];
        assert_eq!(def.label_for(file, Some("anom")), Ok(Label::Malicious));
        let err = def.label_for(file, Some("weird")).unwrap_err();
        assert!(err.contains("weird") && err.contains("anom"), "{err}");
    }

    #[test]
    fn resolve_prefers_the_main_file_then_alternatives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let def = parse(&format!(
            "{MINIMAL}[[files.alternatives]]\npath = \"t/partial.txt\"\nnote = \"prefix\"\n"
        ))
        .expect("valid");
        let file = &def.files[0];
        assert!(file.resolve(dir.path()).is_none());
        std::fs::create_dir_all(dir.path().join("t")).expect("mkdir");
        std::fs::write(dir.path().join("t/partial.txt"), "x\n").expect("write");
        let r = file.resolve(dir.path()).expect("alternative");
        assert!(r.is_alternative);
        std::fs::write(dir.path().join("t/bad.txt"), "x\n").expect("write");
        assert!(!file.resolve(dir.path()).expect("main").is_alternative);
    }
}
