//! A run config (`configs/*.toml`): the dataset and its split, the model and its
//! hyperparameters, the threshold rule, the seed and where the run is tracked. Parsing rejects
//! unknown keys and wrong types naming the key; [`RunConfig::validate`] checks values and the
//! dataset's existence, so a bad config fails before any data is read or any model trained.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Table;
use vigie_data::{Catalog, PrepareConfig, SplitConfig};
use vigie_models::metrics::ThresholdRule;
use vigie_models::spec::ModelSpec;

use crate::augment::AugmentConfig;
use crate::config_error::{KeyError, deserialize_at_key, line_of};
use crate::error::{Result, RunError};
use crate::feedback::FeedbackConfig;
use crate::overrides::{self, Override};
use crate::robust::RobustnessConfig;
use crate::site::SiteConfig;

/// The whole run config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Run name (MLflow's run name and the default output folder); defaults to the file stem.
    #[serde(default)]
    pub name: Option<String>,
    /// Seeds the model (initialisation, shuffles, sampling). The split has its own seed.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Threads for training and scoring (0: every core).
    #[serde(default)]
    pub threads: usize,
    pub data: DataConfig,
    pub model: ModelSpec,
    #[serde(default)]
    pub threshold: ThresholdRule,
    #[serde(default)]
    pub tracking: TrackingConfig,
    /// A small evasion search on the trained model: see [`crate::robust`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robustness: Option<RobustnessConfig>,
}

fn default_seed() -> u64 {
    42
}

/// `[data]`: which dataset, deduplicated or not, split how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A dataset definition's name (`vigie data list`), or several joined by `+`
    /// (`"fwaf+csic2010"`): their requests together, deduplicated and split as one dataset.
    pub dataset: String,
    #[serde(default = "default_true")]
    pub dedup: bool,
    #[serde(default)]
    pub split: SplitConfig,
    /// A site's own traffic to adapt to (`vigie adapt` writes it): see [`crate::site`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteConfig>,
    /// Rewritten variants of the training attacks: see [`crate::augment`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentConfig>,
    /// Analysts' verdicts to train on and be measured on: see [`crate::feedback`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<FeedbackConfig>,
}

fn default_true() -> bool {
    true
}

impl DataConfig {
    /// The names of the datasets `dataset` joins (one for a plain name).
    pub fn dataset_names(&self) -> impl Iterator<Item = &str> {
        self.dataset.split('+').map(str::trim)
    }

    pub fn prepare_config(&self) -> PrepareConfig {
        PrepareConfig {
            dedup: self.dedup,
            split: self.split.clone(),
        }
    }
}

/// `[tracking]`: the MLflow experiment (the store itself comes from `MLFLOW_TRACKING_URI`, or
/// the local `./mlruns` store when unset).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingConfig {
    /// Experiment name; default `vigie-<dataset>`.
    pub experiment: Option<String>,
    /// Registered model name for the `vigie` flavor's model versions; none: not registered.
    pub registered_model: Option<String>,
}

impl RunConfig {
    /// Parses a config file; syntax errors, unknown keys and wrong types name the file, the key
    /// and the line.
    pub fn from_file(path: &Path) -> Result<RunConfig> {
        RunConfig::from_file_with(path, &[])
    }

    /// Parses a config file with `overrides` (`--set`) written into it first, so that they are
    /// checked like the file's own keys and are part of the resolved config.
    pub fn from_file_with(path: &Path, overrides: &[Override]) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| RunError::Io {
            path: path.to_owned(),
            message: "cannot read the run config",
            source,
        })?;
        let mut config = RunConfig::from_toml_with(&text, path, overrides)?;
        if config.name.is_none() {
            config.name = path
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned());
        }
        Ok(config)
    }

    /// Parses config text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<RunConfig> {
        RunConfig::from_toml_with(text, origin, &[])
    }

    /// Parses config text with `overrides` applied; an error names the dotted key and, when
    /// the text holds the key, its line.
    pub fn from_toml_with(text: &str, origin: &Path, overrides: &[Override]) -> Result<RunConfig> {
        let mut table: Table = toml::from_str(text).map_err(|e| RunError::Config {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        overrides::apply(&mut table, overrides).map_err(|message| RunError::Config {
            path: origin.to_owned(),
            message: format!("--set {message}"),
        })?;
        RunConfig::from_table(&table).map_err(|error| {
            let from_set = overrides::set_by(overrides, &error.dotted());
            RunError::ConfigKey {
                path: origin.to_owned(),
                line: (!from_set).then(|| line_of(text, &error.keys)).flatten(),
                from_set,
                error,
            }
        })
    }

    /// Deserialises a config's TOML table; an error names the dotted key.
    pub fn from_table(table: &Table) -> std::result::Result<RunConfig, KeyError> {
        deserialize_at_key(table)
    }

    /// Checks every value and that the dataset is defined, without reading any data.
    pub fn validate(&self, catalog: &Catalog) -> Result<()> {
        let invalid = |message: String| RunError::Invalid { message };
        self.data
            .split
            .validate()
            .map_err(|e| invalid(e.to_string()))?;
        if self.data.split.valid == 0.0 {
            return Err(invalid(
                "invalid value for `data.split.valid`: the validation split cannot be empty \
                 (the threshold and early stopping are chosen on it)"
                    .to_owned(),
            ));
        }
        if self.data.split.test == 0.0 {
            return Err(invalid(
                "invalid value for `data.split.test`: the test split cannot be empty (the run's metrics are measured on it)"
                    .to_owned(),
            ));
        }
        for name in self.data.dataset_names() {
            catalog
                .get(name)
                .map_err(|e| invalid(format!("`data.dataset`: {e}")))?;
        }
        if let Some(site) = &self.data.site {
            let base: Vec<&str> = self.data.dataset_names().collect();
            site.validate(catalog, &base)?;
        }
        if let Some(augment) = &self.data.augment {
            augment.validate()?;
        }
        if let Some(feedback) = &self.data.feedback {
            feedback.validate(catalog)?;
        }
        if let Some(robustness) = &self.robustness {
            robustness.validate()?;
        }
        self.model.validate().map_err(|e| invalid(e.to_string()))?;
        self.threshold
            .validate()
            .map_err(|e| invalid(e.to_string()))?;
        if let Some(name) = &self.name
            && name.trim().is_empty()
        {
            return Err(invalid("invalid value for `name`: empty".to_owned()));
        }
        Ok(())
    }

    /// The run name: `name`, else the model kind and dataset.
    pub fn run_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.data.dataset, self.model.kind()))
    }

    /// The experiment: `tracking.experiment`, else `vigie-<dataset>`.
    pub fn experiment(&self) -> String {
        self.tracking
            .experiment
            .clone()
            .unwrap_or_else(|| format!("vigie-{}", self.data.dataset))
    }

    /// The config with every default written out, as TOML: what the run logs and what
    /// `vigie train` reads back to reproduce it.
    pub fn resolved_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| RunError::Invalid {
            message: format!("cannot write the resolved config: {e}"),
        })
    }

    /// Every leaf of the resolved config as a dotted key and its value, for MLflow params.
    pub fn flattened(&self) -> Result<Vec<(String, String)>> {
        let value = serde_json::to_value(self).map_err(|e| RunError::Invalid {
            message: format!("cannot flatten the config: {e}"),
        })?;
        let mut out = Vec::new();
        flatten(&value, String::new(), &mut out);
        Ok(out)
    }
}

fn flatten(value: &serde_json::Value, prefix: String, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(inner, key, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix, s.clone())),
        other => out.push((prefix, other.to_string())),
    }
}

/// Where the datasets are: the definitions and the data folder.
#[derive(Debug, Clone)]
pub struct DataSource {
    pub catalog: Catalog,
    pub data_dir: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[data]\ndataset = \"fwaf\"\n[model]\nkind = \"linear_svm\"\n";

    fn parse(text: &str) -> Result<RunConfig> {
        RunConfig::from_toml(text, Path::new("c.toml"))
    }

    #[test]
    fn a_union_of_datasets_names_each_and_refuses_an_unknown_one() {
        let catalog = Catalog::builtin().expect("catalog");
        let union = parse(&MINIMAL.replace("\"fwaf\"", "\"fwaf+csic2010\"")).expect("parses");
        assert_eq!(
            union.data.dataset_names().collect::<Vec<_>>(),
            ["fwaf", "csic2010"]
        );
        union.validate(&catalog).expect("valid");
        let unknown = parse(&MINIMAL.replace("\"fwaf\"", "\"fwaf+nowhere\"")).expect("parses");
        let message = unknown.validate(&catalog).expect_err("unknown").to_string();
        assert!(
            message.contains("data.dataset") && message.contains("nowhere"),
            "{message}"
        );
    }

    #[test]
    fn a_minimal_config_takes_the_defaults() {
        let config = parse(MINIMAL).expect("parses");
        assert_eq!(config.seed, 42);
        assert_eq!(config.data.split, SplitConfig::default());
        assert!(config.data.dedup);
        assert_eq!(config.model.kind(), "linear_svm");
        assert_eq!(config.threshold, ThresholdRule::default());
        assert_eq!(config.experiment(), "vigie-fwaf");
        config
            .validate(&Catalog::builtin().expect("catalog"))
            .expect("valid");
    }

    #[test]
    fn unknown_keys_are_named_at_every_level() {
        for (text, key) in [
            (format!("colour = 1\n{MINIMAL}"), "colour"),
            (
                MINIMAL.replace("dataset = \"fwaf\"", "dataset = \"fwaf\"\nsplitt = 1"),
                "splitt",
            ),
            (format!("{MINIMAL}cee = 1.0\n"), "cee"),
            (
                format!("{MINIMAL}[threshold]\nrule = \"max_f1\"\nfpr2 = 1\n"),
                "fpr2",
            ),
        ] {
            let err = parse(&text).expect_err(key).to_string();
            assert!(err.contains(key) && err.contains("c.toml"), "{key}: {err}");
        }
    }

    #[test]
    fn wrong_types_and_kinds_are_named() {
        let err = parse(&MINIMAL.replace("[model]", "seed = \"x\"\n[model]"))
            .expect_err("type")
            .to_string();
        assert!(err.contains("seed"), "{err}");
        let err = parse(&MINIMAL.replace("linear_svm", "random_forest"))
            .expect_err("kind")
            .to_string();
        assert!(err.contains("random_forest"), "{err}");
    }

    /// `(text, expected error)`: each error names the file, the key's line and dotted name.
    const MISPLACED: [(&str, &str); 6] = [
        (
            "[data]\ndataset = \"fwaf\"\n[model]\nkind = \"linear_svm\"\nc = \"ten\"\n",
            "c.toml:5: model.c: invalid type: string \"ten\", expected f64",
        ),
        (
            "[data]\ndataset = \"fwaf\"\n[model]\nkind = \"linear_svm\"\n\
             [model.tfidf]\nsublinear_tf = true\nngrams = 3\n",
            "c.toml:7: model.tfidf.ngrams: unknown field `ngrams`",
        ),
        (
            "[data]\ndataset = \"fwaf\"\n[data.split]\ntrain = 0.7\nseed = \"seven\"\n\
             [model]\nkind = \"linear_svm\"\n",
            "c.toml:5: data.split.seed: invalid type: string \"seven\", expected u64",
        ),
        (
            "[data]\ndataset = \"fwaf\"\n[model]\nkind = \"mlp\"\n\
             [model.training]\nepochs = 2\nbatch = 3\n",
            "c.toml:7: model.training.batch: unknown field `batch`",
        ),
        (
            "[data]\ndataset = \"fwaf\"\n[model]\nkind = \"linear_svm\"\n\
             [model.tfidf.tokenizer.analyzer]\nkind = \"char\"\nngram = 3\n",
            "c.toml:7: model.tfidf.tokenizer.analyzer.ngram: unknown field `ngram`",
        ),
        (
            "[data]\ndataset = \"fwaf\"\n[model]\nkind = \"linear_svm\"\n\
             [threshold]\nrule = \"target_fpr\"\nfpr = \"1%\"\n",
            "c.toml:7: threshold.fpr: invalid type: string \"1%\", expected f64",
        ),
    ];

    #[test]
    fn wrong_types_and_unknown_keys_are_reported_at_their_line_with_their_dotted_name() {
        for (text, expected) in MISPLACED {
            let err = parse(text).expect_err(expected).to_string();
            assert!(err.starts_with(expected), "expected {expected}\ngot {err}");
        }
    }

    #[test]
    fn overrides_are_checked_like_the_files_keys_and_resolved_into_the_config() {
        let set = |texts: &[&str]| -> Vec<Override> {
            texts.iter().map(|t| t.parse().expect("override")).collect()
        };
        let config = RunConfig::from_toml_with(
            MINIMAL,
            Path::new("c.toml"),
            &set(&[
                "model.c=2",
                "data.split.seed=7",
                "threshold.rule=target_fpr",
                "threshold.fpr=0.01",
            ]),
        )
        .expect("parses");
        let resolved = config.resolved_toml().expect("toml");
        for line in ["c = 2.0", "seed = 7", "rule = \"target_fpr\"", "fpr = 0.01"] {
            assert!(resolved.contains(line), "{line} in\n{resolved}");
        }
        let err = RunConfig::from_toml_with(MINIMAL, Path::new("c.toml"), &set(&["model.cee=2"]))
            .expect_err("unknown")
            .to_string();
        assert!(
            err.starts_with("c.toml: model.cee: unknown field `cee`")
                && err.ends_with("(from --set)"),
            "{err}"
        );
        let err = RunConfig::from_toml_with(MINIMAL, Path::new("c.toml"), &set(&["seed=x"]))
            .expect_err("type")
            .to_string();
        assert!(
            err.starts_with("c.toml: seed: invalid type: string \"x\""),
            "{err}"
        );
    }

    #[test]
    fn impossible_values_fail_validation_naming_the_key() {
        let catalog = Catalog::builtin().expect("catalog");
        for (text, key) in [
            (MINIMAL.replace("fwaf", "no-such-dataset"), "data.dataset"),
            (
                format!("{MINIMAL}[data.split]\ntrain = 0.9\nvalid = 0.2\ntest = 0.2\n")
                    .replace("[model]\nkind = \"linear_svm\"\n", "")
                    + "[model]\nkind = \"linear_svm\"\n",
                "split",
            ),
            (
                MINIMAL.replace(
                    "dataset = \"fwaf\"",
                    "dataset = \"fwaf\"\n[data.split]\ntrain = 0.8\nvalid = 0.0\ntest = 0.2",
                ),
                "data.split.valid",
            ),
        ] {
            let config = parse(&text).expect("parses");
            let err = config.validate(&catalog).expect_err(key).to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn the_resolved_config_reads_back_identically_and_flattens_to_params() {
        let config = parse(MINIMAL).expect("parses");
        let resolved = config.resolved_toml().expect("toml");
        let again = parse(&resolved).expect("reparses");
        assert_eq!(again, config);
        let params = config.flattened().expect("flat");
        assert!(
            params
                .iter()
                .any(|(k, v)| k == "data.dataset" && v == "fwaf")
        );
        assert!(
            params
                .iter()
                .any(|(k, v)| k == "model.kind" && v == "linear_svm")
        );
        assert!(params.iter().any(|(k, _)| k == "data.split.seed"));
    }
}

#[cfg(test)]
mod shipped_configs {
    use super::*;

    /// Every config in `configs/` parses, validates, names itself after its file, and its
    /// resolved form reads back identically.
    #[test]
    fn every_shipped_config_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let catalog = Catalog::builtin().expect("catalog");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("configs folder") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let config = RunConfig::from_file(&path).expect("parses");
            config
                .validate(&catalog)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("stem");
            assert_eq!(config.name.as_deref(), Some(stem), "{}", path.display());
            // A union's file is named with `-` where the dataset has `+` (`fwaf-csic2010-…`).
            assert!(
                stem.starts_with(&config.data.dataset.replace('+', "-")),
                "{} trains on {}",
                path.display(),
                config.data.dataset
            );
            let again = RunConfig::from_toml(&config.resolved_toml().expect("toml"), &path)
                .expect("resolved config parses");
            assert_eq!(again, config, "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 12, "only {seen} configs in {}", dir.display());
    }
}
