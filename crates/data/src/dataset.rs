//! Loading a labelled dataset: every file of a definition read, decoded and
//! labelled, with a per-file report of what was kept, dropped and skipped.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::definition::DatasetDef;
use crate::error::{DataError, Result};
use crate::label::Label;
use crate::source::{InvalidPolicy, RecordReader, SourceItem};

/// How many invalid-record reasons a report keeps (the count covers all of them).
const MAX_EXAMPLES: usize = 5;

/// The normalised requests of a dataset, in file order.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub name: String,
    pub texts: Vec<String>,
    pub labels: Vec<Label>,
    /// Where each text came from.
    pub origins: Vec<Origin>,
    pub files: Vec<FileReport>,
}

impl Dataset {
    /// The datasets one after the other as one dataset named `name` (a run trained on several
    /// sites' traffic): texts, labels and file reports in order, each origin pointing at its
    /// own file.
    pub fn union(name: String, parts: Vec<Dataset>) -> Dataset {
        let mut union = Dataset {
            name,
            ..Dataset::default()
        };
        for part in parts {
            let file_offset = union.files.len() as u32;
            union.texts.extend(part.texts);
            union.labels.extend(part.labels);
            union
                .origins
                .extend(part.origins.into_iter().map(|origin| Origin {
                    file: origin.file + file_offset,
                    line: origin.line,
                }));
            union.files.extend(part.files);
        }
        union
    }
}

/// The file (index into [`Dataset::files`]) and 1-based line of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub file: u32,
    pub line: u64,
}

/// What loading one file did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileReport {
    /// As written in the definition (or the alternative that stood in).
    pub file: String,
    pub path: PathBuf,
    /// True when a listed alternative stood in for the main file.
    pub alternative: bool,
    /// True when that stand-in holds only part of the data (Fwaf's benign prefix).
    pub partial: bool,
    pub label: Option<Label>,
    /// Records read (requests for HTTP dumps, lines otherwise).
    pub records: usize,
    /// Records whose text was empty after normalisation (blank lines).
    pub empty_dropped: usize,
    /// Records skipped under `limits.on_invalid = "skip"`.
    pub invalid_skipped: usize,
    /// The first few skip reasons, `line N: reason`.
    pub invalid_examples: Vec<String>,
    /// Records whose bytes were not valid in the charset (U+FFFD substituted; kept).
    pub replaced_invalid_encoding: usize,
    pub kept: usize,
    pub kept_benign: usize,
    pub kept_malicious: usize,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Count of each label, benign first.
    pub fn class_counts(&self) -> [usize; 2] {
        let malicious = self.labels.iter().filter(|l| l.is_malicious()).count();
        [self.labels.len() - malicious, malicious]
    }

    /// `file:line` of request `index`, for messages.
    pub fn describe_origin(&self, index: usize) -> String {
        self.origins.get(index).map_or_else(
            || "?".to_owned(),
            |o| {
                let file = self
                    .files
                    .get(o.file as usize)
                    .map_or("?", |f| f.file.as_str());
                format!("{file}:{}", o.line)
            },
        )
    }
}

/// Load every file of `def` from `data_dir`.
///
/// `on_file` is called after each file (for progress output).
pub fn load(
    def: &DatasetDef,
    data_dir: &Path,
    mut on_file: impl FnMut(&FileReport),
) -> Result<Dataset> {
    let mut dataset = Dataset {
        name: def.name.clone(),
        ..Dataset::default()
    };
    for (file_index, file) in def.files.iter().enumerate() {
        let Some(resolved) = file.resolve(data_dir) else {
            return Err(missing_file(def, data_dir, file));
        };
        let mut report = FileReport {
            file: resolved.relative.to_owned(),
            path: resolved.path.clone(),
            alternative: resolved.is_alternative,
            partial: resolved.is_partial,
            label: file.label,
            ..FileReport::default()
        };
        let reader = RecordReader::open(&resolved.path, &def.format, &def.limits)?;
        let file_no = u32::try_from(file_index).map_err(|_| DataError::Definition {
            path: PathBuf::from(&def.name),
            message: "too many files".to_owned(),
        })?;
        for item in reader {
            let skip = |report: &mut FileReport, line: u64, reason: String| -> Result<()> {
                if def.limits.on_invalid == InvalidPolicy::Fail {
                    return Err(DataError::parse(
                        &resolved.path,
                        line,
                        format!(
                            "{reason} (set limits.on_invalid = \"skip\" in the definition to skip such records)"
                        ),
                    ));
                }
                report.invalid_skipped += 1;
                if report.invalid_examples.len() < MAX_EXAMPLES {
                    report
                        .invalid_examples
                        .push(format!("line {line}: {reason}"));
                }
                Ok(())
            };
            report.records += 1;
            let record = match item? {
                SourceItem::Record(r) => r,
                SourceItem::Invalid { line, reason } => {
                    skip(&mut report, line, reason)?;
                    continue;
                }
            };
            let label = match def.label_for(file, record.label_key.as_deref()) {
                Ok(l) => l,
                Err(reason) => {
                    skip(&mut report, record.line, reason)?;
                    continue;
                }
            };
            let (text, notes) = def.decode.normalize(&record.raw);
            if notes.replaced_invalid {
                report.replaced_invalid_encoding += 1;
            }
            if text.is_empty() {
                report.empty_dropped += 1;
                continue;
            }
            report.kept += 1;
            match label {
                Label::Benign => report.kept_benign += 1,
                Label::Malicious => report.kept_malicious += 1,
            }
            dataset.texts.push(text);
            dataset.labels.push(label);
            dataset.origins.push(Origin {
                file: file_no,
                line: record.line,
            });
        }
        if report.records == 0 {
            return Err(DataError::Empty {
                path: resolved.path,
            });
        }
        on_file(&report);
        dataset.files.push(report);
    }
    Ok(dataset)
}

fn missing_file(def: &DatasetDef, data_dir: &Path, file: &crate::definition::FileDef) -> DataError {
    let mut hint = format!(
        "The data dir is {} (set it with --data-dir or VIGIE_DATA_DIR). ",
        data_dir.display()
    );
    if let Some(url) = &file.url {
        hint.push_str(&format!(
            "Run `vigie data fetch {}` to download it, or download {url} to that path yourself.",
            def.name
        ));
    } else {
        hint.push_str("This file has no download URL: copy it there by hand.");
    }
    if !file.alternatives.is_empty() {
        let alts: Vec<&str> = file.alternatives.iter().map(|a| a.path.as_str()).collect();
        hint.push_str(&format!(
            " These files are accepted in its place: {}.",
            alts.join(", ")
        ));
    }
    DataError::MissingFile {
        path: data_dir.join(&file.path),
        hint,
    }
}

#[cfg(test)]
mod union_tests {
    use super::*;

    fn part(name: &str, texts: &[&str], label: Label) -> Dataset {
        Dataset {
            name: name.to_owned(),
            texts: texts.iter().map(|t| t.to_string()).collect(),
            labels: vec![label; texts.len()],
            origins: (0..texts.len())
                .map(|i| Origin {
                    file: 0,
                    line: i as u64 + 1,
                })
                .collect(),
            files: vec![FileReport {
                file: format!("{name}.txt"),
                ..FileReport::default()
            }],
        }
    }

    #[test]
    fn a_union_keeps_order_and_points_each_origin_at_its_own_file() {
        let union = Dataset::union(
            "a+b".to_owned(),
            vec![
                part("a", &["/x", "/y"], Label::Benign),
                part("b", &["' or 1=1"], Label::Malicious),
            ],
        );
        assert_eq!(union.name, "a+b");
        assert_eq!(union.texts, ["/x", "/y", "' or 1=1"]);
        assert_eq!(
            union.labels,
            [Label::Benign, Label::Benign, Label::Malicious]
        );
        assert_eq!(union.origins[2], Origin { file: 1, line: 1 });
        assert_eq!(union.files[union.origins[2].file as usize].file, "b.txt");
    }
}
