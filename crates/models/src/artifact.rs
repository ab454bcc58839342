//! A saved model: a folder that scores raw text on its own.
//!
//! ```text
//! model/
//!   vigie-model.json   the manifest: format version, kind, hyperparameters, threshold,
//!                      training data, and the sha256 of every other file
//!   …                  the family's own files (vectoriser or vocabulary, weights)
//!   validation.json    the validation split's scores by class, when the trainer kept them:
//!                      a new threshold can be chosen later by the same rules
//!   …                  files the trainer adds ([`SavedModel::save_with_files`]), such as the
//!                      Python scorer of MLflow's `python_function` flavor
//! ```
//!
//! Loading checks the format version and every checksum before reading the family's files, so a
//! truncated download or an edited weight file is refused with the file's name. Files written
//! after the manifest (MLflow's `MLmodel`, which names the run) are not covered and not read.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vigie_data::Label;

use crate::metrics::{ThresholdChoice, ThresholdRule, choose_threshold};
use crate::model::Scorer;
use crate::spec::{Family, ModelSpec, TrainedModel};
use crate::{ModelError, Result};

/// Name of the manifest file in a model folder.
pub const MANIFEST_FILE: &str = "vigie-model.json";
/// Value of the manifest's `format` field.
pub const FORMAT_NAME: &str = "vigie-model";
/// Version of the folder layout and manifest; loading refuses other versions.
pub const FORMAT_VERSION: u32 = 1;
/// Name of the validation scores file in a model folder (optional).
pub const VALIDATION_FILE: &str = "validation.json";

/// The validation split's scores by class, kept with a model so that a threshold can be
/// chosen again later (`vigie score --target-fpr`) exactly as training would have chosen it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationScores {
    pub benign: Vec<f64>,
    pub malicious: Vec<f64>,
}

impl ValidationScores {
    /// Splits `scores` by `labels` (extra items of the longer slice are ignored).
    pub fn new(scores: &[f64], labels: &[Label]) -> Self {
        let mut kept = ValidationScores {
            benign: Vec::new(),
            malicious: Vec::new(),
        };
        for (&score, label) in scores.iter().zip(labels) {
            match label {
                Label::Benign => kept.benign.push(score),
                Label::Malicious => kept.malicious.push(score),
            }
        }
        kept
    }

    /// [`choose_threshold`] by `rule` on these scores: the threshold training would have
    /// chosen with that rule.
    pub fn choose(&self, rule: &ThresholdRule, model_default: f64) -> Result<ThresholdChoice> {
        let scores: Vec<f64> = self.benign.iter().chain(&self.malicious).copied().collect();
        let labels: Vec<Label> = std::iter::repeat_n(Label::Benign, self.benign.len())
            .chain(std::iter::repeat_n(Label::Malicious, self.malicious.len()))
            .collect();
        choose_threshold(&scores, &labels, rule, model_default)
    }
}

/// What the model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingData {
    /// Dataset name (from its definition).
    pub dataset: String,
    /// The prepared dataset's digest (texts, labels and split).
    pub digest: String,
    /// `[benign, malicious]` counts of the training split.
    pub train_counts: [usize; 2],
    /// `[benign, malicious]` counts of the validation split.
    pub valid_counts: [usize; 2],
}

/// The manifest, `vigie-model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The model's `kind` (also inside `spec`), at the top for readers.
    pub kind: String,
    pub family: Family,
    /// Hyperparameters, as in the run config's `[model]` table with every default filled in.
    pub spec: ModelSpec,
    /// The decision threshold: a text is flagged malicious when its score is >= this.
    pub threshold: f64,
    /// How the threshold was chosen, with its validation-split numbers.
    pub threshold_choice: ThresholdChoice,
    pub training_data: TrainingData,
    /// The seed the model was trained with.
    pub seed: u64,
    /// Version of the Vigie crate that wrote it.
    pub vigie_version: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// sha256 (hex) of every file of the folder but the manifest, by relative path.
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    /// The manifest of a model of `spec` trained now by this Vigie: its kind and family read
    /// from the spec, its threshold the chosen one, no files yet (saving lists them).
    pub fn new(
        spec: ModelSpec,
        threshold_choice: ThresholdChoice,
        training_data: TrainingData,
        seed: u64,
        created_at_ms: u64,
    ) -> Manifest {
        Manifest {
            format: FORMAT_NAME.to_owned(),
            format_version: FORMAT_VERSION,
            kind: spec.kind().to_owned(),
            family: spec.family(),
            spec,
            threshold: threshold_choice.threshold,
            threshold_choice,
            training_data,
            seed,
            vigie_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at_ms,
            files: BTreeMap::new(),
        }
    }
}

/// A model with its manifest.
pub struct SavedModel {
    pub manifest: Manifest,
    pub model: TrainedModel,
    /// Saved as [`VALIDATION_FILE`] when present.
    pub validation: Option<ValidationScores>,
}

impl SavedModel {
    /// The decision threshold stored with the model.
    pub fn threshold(&self) -> f64 {
        self.manifest.threshold
    }

    /// Whether `score` is flagged malicious at the stored threshold.
    pub fn is_malicious(&self, score: f64) -> bool {
        score >= self.manifest.threshold
    }

    /// Writes the model into `dir` (created; it must not exist or be empty): the family's files,
    /// then the manifest with their checksums, last, so a folder with a manifest is complete.
    pub fn save(&mut self, dir: &Path) -> Result<()> {
        self.save_with_files(dir, &[])
    }

    /// [`SavedModel::save`] with `extra` files (a `/`-separated path inside the folder and its
    /// bytes, such as the Python scorer of the model) written before the manifest, so that its
    /// checksums cover them and loading verifies them like the family's own.
    pub fn save_with_files(&mut self, dir: &Path, extra: &[(String, Vec<u8>)]) -> Result<()> {
        if dir.exists() {
            let mut entries =
                fs::read_dir(dir).map_err(|e| ModelError::io(dir, "cannot read folder", e))?;
            if entries.next().is_some() {
                return Err(ModelError::artifact(dir, "the model folder is not empty"));
            }
        }
        fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, "cannot create folder", e))?;
        self.model.save_files(dir)?;
        for (relative, bytes) in extra {
            write_extra_file(dir, relative, bytes)?;
        }
        if let Some(validation) = &self.validation {
            let path = dir.join(VALIDATION_FILE);
            let json = serde_json::to_vec(validation)
                .map_err(|e| ModelError::artifact(&path, format!("cannot serialise: {e}")))?;
            fs::write(&path, json).map_err(|e| ModelError::io(&path, "cannot write", e))?;
        }
        self.manifest.files = checksum_files(dir)?;
        let path = dir.join(MANIFEST_FILE);
        let json = serde_json::to_vec_pretty(&self.manifest)
            .map_err(|e| ModelError::artifact(&path, format!("cannot serialise: {e}")))?;
        fs::write(&path, json).map_err(|e| ModelError::io(&path, "cannot write", e))
    }

    /// Loads a model folder written by [`SavedModel::save`], after checking its manifest and
    /// the checksum of every file it lists.
    pub fn load(dir: &Path) -> Result<Self> {
        let manifest = read_manifest(dir)?;
        verify_files(dir, &manifest)?;
        let model = TrainedModel::load_files(manifest.family, dir)?;
        // Read only when the manifest covers it: an unlisted file is not the model's.
        let validation = if manifest.files.contains_key(VALIDATION_FILE) {
            let path = dir.join(VALIDATION_FILE);
            let bytes = fs::read(&path).map_err(|e| ModelError::io(&path, "cannot read", e))?;
            Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| ModelError::artifact(&path, format!("malformed: {e}")))?,
            )
        } else {
            None
        };
        Ok(SavedModel {
            manifest,
            model,
            validation,
        })
    }
}

impl Scorer for SavedModel {
    fn score_batch(&self, texts: &[&str]) -> Vec<f64> {
        self.model.score_batch(texts)
    }

    fn score_one(&self, text: &str) -> f64 {
        self.model.score_one(text)
    }
}

/// Writes `bytes` at `relative` inside `dir`, creating its folders; a path that would leave the
/// folder or replace the manifest is refused.
fn write_extra_file(dir: &Path, relative: &str, bytes: &[u8]) -> Result<()> {
    if leaves_folder(relative) || relative == MANIFEST_FILE {
        return Err(ModelError::artifact(
            dir,
            format!("cannot write {relative:?} into the model folder"),
        ));
    }
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| ModelError::io(parent, "cannot create folder", e))?;
    }
    fs::write(&path, bytes).map_err(|e| ModelError::io(&path, "cannot write", e))
}

/// Whether a manifest path is not a plain relative path inside the folder.
fn leaves_folder(relative: &str) -> bool {
    relative.starts_with('/')
        || relative
            .split('/')
            .any(|part| part == ".." || part == "." || part.is_empty())
}

/// Reads and checks `vigie-model.json` without loading the model.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let bytes =
        fs::read(&path).map_err(|e| ModelError::io(&path, "cannot read the model manifest", e))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ModelError::artifact(&path, format!("not a JSON manifest: {e}")))?;
    if value.get("format").and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
        return Err(ModelError::artifact(
            &path,
            format!("not a Vigie model manifest (no \"format\": \"{FORMAT_NAME}\")"),
        ));
    }
    let version = value.get("format_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(FORMAT_VERSION)) {
        return Err(ModelError::artifact(
            &path,
            format!(
                "format version {version:?} is not supported (this Vigie reads version {FORMAT_VERSION})"
            ),
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| ModelError::artifact(&path, format!("malformed manifest: {e}")))
}

fn verify_files(dir: &Path, manifest: &Manifest) -> Result<()> {
    for (relative, expected) in &manifest.files {
        if leaves_folder(relative) {
            return Err(ModelError::artifact(
                &dir.join(MANIFEST_FILE),
                format!("file path {relative:?} leaves the model folder"),
            ));
        }
        let path = dir.join(relative);
        let actual = sha256_file(&path)?;
        if &actual != expected {
            return Err(ModelError::artifact(
                &path,
                format!(
                    "checksum mismatch (sha256 {actual}, the manifest says {expected}): the file was modified or truncated"
                ),
            ));
        }
    }
    Ok(())
}

/// sha256 of every file under `dir` except the manifest, by `/`-separated relative path.
fn checksum_files(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = stack.pop() {
        let entries =
            fs::read_dir(&folder).map_err(|e| ModelError::io(&folder, "cannot read folder", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ModelError::io(&folder, "cannot read folder", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let path = entry.path();
            if path.is_dir() {
                stack.push((path, relative));
            } else if relative != MANIFEST_FILE {
                files.insert(relative, sha256_file(&path)?);
            }
        }
    }
    Ok(files)
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).map_err(|e| ModelError::io(path, "cannot open", e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| ModelError::io(path, "cannot read", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{LibinjectionConfig, LibinjectionModel};

    fn rules_model() -> SavedModel {
        let config = LibinjectionConfig::default();
        SavedModel {
            manifest: Manifest::new(
                ModelSpec::Libinjection(config.clone()),
                ThresholdChoice {
                    threshold: 0.5,
                    rule: "model".to_owned(),
                    valid_f1: 1.0,
                    valid_fpr: 0.0,
                    valid_tpr: 1.0,
                },
                TrainingData {
                    dataset: "tiny".to_owned(),
                    digest: "0".to_owned(),
                    train_counts: [1, 1],
                    valid_counts: [1, 1],
                },
                0,
                0,
            ),
            model: TrainedModel::Libinjection(LibinjectionModel::new(config)),
            validation: None,
        }
    }

    #[test]
    fn extra_files_are_covered_by_the_manifest_and_verified_on_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("model");
        let extra = vec![("code/loader.py".to_owned(), b"print(1)\n".to_vec())];
        rules_model()
            .save_with_files(&folder, &extra)
            .expect("save");
        let manifest = read_manifest(&folder).expect("manifest");
        assert!(
            manifest.files.contains_key("code/loader.py"),
            "{manifest:?}"
        );
        assert!(SavedModel::load(&folder).is_ok());

        fs::write(folder.join("code/loader.py"), b"print(2)\n").expect("edit");
        let refused = SavedModel::load(&folder)
            .err()
            .expect("an edited extra file is refused");
        assert!(
            refused.to_string().contains("checksum mismatch"),
            "{refused}"
        );
    }

    #[test]
    fn extra_files_cannot_leave_the_folder_or_replace_the_manifest() {
        for path in ["../escape.py", "/abs.py", "a//b", MANIFEST_FILE] {
            let dir = tempfile::tempdir().expect("tempdir");
            let extra = vec![(path.to_owned(), Vec::new())];
            let saved = rules_model().save_with_files(&dir.path().join("model"), &extra);
            assert!(saved.is_err(), "{path} was written");
        }
    }

    #[test]
    fn validation_scores_choose_what_training_chose_on_the_original_order() {
        // Interleaved classes, ties across classes, repeated scores.
        let scores = [0.9, 0.1, 0.8, 0.8, 0.3, 0.7, 0.2, 0.95, 0.3, 0.6, 0.05, 0.8];
        let labels: Vec<Label> = [1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1]
            .iter()
            .map(|&l| {
                if l == 1 {
                    Label::Malicious
                } else {
                    Label::Benign
                }
            })
            .collect();
        let kept = ValidationScores::new(&scores, &labels);
        assert_eq!(kept.benign.len(), 6);
        assert_eq!(kept.malicious.len(), 6);
        for rule in [
            ThresholdRule::MaxF1 {},
            ThresholdRule::TargetFpr { fpr: 0.2 },
            ThresholdRule::TargetFpr { fpr: 0.5 },
            ThresholdRule::TargetFpr { fpr: 0.01 },
            ThresholdRule::Model {},
        ] {
            let original = choose_threshold(&scores, &labels, &rule, 0.5).expect("original");
            assert_eq!(kept.choose(&rule, 0.5).expect("kept"), original, "{rule:?}");
        }
    }
}
