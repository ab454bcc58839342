//! MLflow's `python_function` flavor, for the model families Python can score with numpy alone
//! (the linear models and Isolation Forest, on any analyzer but `request`): the loader
//! (`python/vigie_pyfunc.py` of this crate) and its settings, shipped into the model folder
//! before its manifest so that its checksums cover them, and the flavor's lines of `MLmodel`.
//! A family without a Python scorer gets no flavor; its `vigie` flavor says why.

use std::path::Path;

use serde_json::json;
use vigie_data::DecodeConfig;
use vigie_data::text::Analyzer;
use vigie_mlflow::model_format::{PythonEnvironment, PythonFunction};
use vigie_mlflow::yaml::Field;
use vigie_models::spec::ModelSpec;

use crate::config::{DataSource, RunConfig};
use crate::error::{Result, RunError};

/// The module MLflow imports from the model's [`CODE_DIR`].
pub const LOADER_MODULE: &str = "vigie_pyfunc";
const LOADER_SOURCE: &str = include_str!("../python/vigie_pyfunc.py");
/// The flavor's `code`: MLflow puts this folder of the model on `sys.path`.
pub const CODE_DIR: &str = "code";
/// The loader's settings (the training data's decoding), read by the loader.
pub const SETTINGS_FILE: &str = "python/pyfunc.json";
const SETTINGS_VERSION: u32 = 1;
/// The Python the loader is tested with (the project's `.venv`; MLflow only warns on others)
/// and what it imports (MLflow brings pandas), for `mlflow models serve`'s environments.
const ENVIRONMENT: PythonEnvironment<'static> = PythonEnvironment {
    python_version: "3.11",
    requirements: &["mlflow>=2.9", "numpy>=1.22", "pandas>=1.4"],
    conda_name: "vigie_env",
};

/// Why a model has no Python scorer; `None` when it has one.
pub fn unavailable_reason(spec: &ModelSpec) -> Option<&'static str> {
    match spec {
        ModelSpec::LogisticRegression(c) | ModelSpec::LinearSvm(c) => {
            request_analyzer(&c.tfidf.tokenizer.analyzer)
        }
        ModelSpec::IsolationForest(c) => request_analyzer(&c.projection.hashing.tokenizer.analyzer),
        ModelSpec::Mlp(_) | ModelSpec::Cnn(_) | ModelSpec::Lstm(_) | ModelSpec::Bilstm(_) => {
            Some("a Burn network, whose layers have no numpy port")
        }
        ModelSpec::Libinjection(_) => Some("the libinjection detectors have no numpy port"),
    }
}

fn request_analyzer(analyzer: &Analyzer) -> Option<&'static str> {
    matches!(analyzer, Analyzer::Request { .. })
        .then_some("the request analyzer parses requests with Vigie's HTTP parser, not ported")
}

/// How the run's requests were decoded, which the Python scorer repeats: the training
/// dataset's `[decode]` table, or the default when the catalog lacks it (as `vigie score`).
pub fn training_decode(config: &RunConfig, source: Option<&DataSource>) -> DecodeConfig {
    source
        .and_then(|source| source.catalog.get(&config.data.dataset).ok())
        .map(|(definition, _)| definition.decode)
        .unwrap_or_default()
}

/// The files the flavor needs in the model folder (none when the model has no Python scorer):
/// the loader, its settings, and the environment files of `mlflow models serve`.
pub fn folder_files(spec: &ModelSpec, decode: &DecodeConfig) -> Result<Vec<(String, Vec<u8>)>> {
    if unavailable_reason(spec).is_some() {
        return Ok(Vec::new());
    }
    let settings = json!({ "format_version": SETTINGS_VERSION, "decode": decode });
    let settings = serde_json::to_vec_pretty(&settings).map_err(|e| RunError::Invalid {
        message: format!("cannot serialise the Python scorer's settings: {e}"),
    })?;
    let mut files = vec![
        (loader_path(), LOADER_SOURCE.as_bytes().to_vec()),
        (SETTINGS_FILE.to_owned(), settings),
    ];
    files.extend(
        ENVIRONMENT
            .files()
            .map(|(name, text)| (name.to_owned(), text.into_bytes())),
    );
    Ok(files)
}

fn loader_path() -> String {
    format!("{CODE_DIR}/{LOADER_MODULE}.py")
}

/// The `vigie` flavor's `python_function` value saying why there is no `python_function`
/// flavor.
pub fn unavailable_field(reason: &str) -> Field<'static> {
    Field::text(format!("unavailable: {reason}"))
}

/// What `MLmodel` says of Python for one model folder.
#[derive(Debug, Clone, PartialEq)]
pub enum PythonFlavor {
    /// The `python_function` flavor, under `flavors:`.
    Flavor(Field<'static>),
    /// Why there is none, for the `vigie` flavor.
    Unavailable(&'static str),
}

/// The `python_function` flavor of the model in `dir` with `spec`, when the folder holds the
/// loader ([`folder_files`] wrote it).
pub fn python_flavor(dir: &Path, spec: &ModelSpec) -> PythonFlavor {
    if let Some(reason) = unavailable_reason(spec) {
        return PythonFlavor::Unavailable(reason);
    }
    if !dir.join(loader_path()).is_file() {
        return PythonFlavor::Unavailable("the folder holds no Python scorer (an older Vigie)");
    }
    // The flavor's model configuration (`config`) is declared so that `load_model(uri,
    // model_config={"decode": False})` reaches the loader: MLflow drops undeclared keys.
    PythonFlavor::Flavor(
        PythonFunction {
            loader_module: LOADER_MODULE,
            code: CODE_DIR,
            model_config: vec![("decode", Field::Bool(true))],
            environment: ENVIRONMENT,
        }
        .field(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_models::anomaly::IsolationForestConfig;
    use vigie_models::linear::LinearConfig;
    use vigie_models::rules::LibinjectionConfig;

    fn request_svm() -> ModelSpec {
        let mut config = LinearConfig::default();
        config.tfidf.tokenizer.analyzer = Analyzer::Request {
            ngram_min: 1,
            ngram_max: 2,
            rules: true,
        };
        ModelSpec::LinearSvm(config)
    }

    #[test]
    fn the_linear_models_and_the_forest_have_a_python_scorer_the_others_say_why_not() {
        for spec in [
            ModelSpec::LinearSvm(LinearConfig::default()),
            ModelSpec::LogisticRegression(LinearConfig::default()),
            ModelSpec::IsolationForest(IsolationForestConfig::default()),
        ] {
            assert_eq!(unavailable_reason(&spec), None, "{spec:?}");
        }
        let rules = ModelSpec::Libinjection(LibinjectionConfig::default());
        for spec in [request_svm(), rules] {
            assert!(unavailable_reason(&spec).is_some(), "{spec:?}");
            assert!(
                folder_files(&spec, &DecodeConfig::default())
                    .expect("files")
                    .is_empty()
            );
        }
    }

    #[test]
    fn the_flavor_names_the_loader_only_when_the_folder_holds_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = ModelSpec::LinearSvm(LinearConfig::default());
        assert!(matches!(
            python_flavor(dir.path(), &spec),
            PythonFlavor::Unavailable(_)
        ));
        for (path, bytes) in folder_files(&spec, &DecodeConfig::default()).expect("files") {
            let target = dir.path().join(path);
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(target, bytes).expect("write");
        }
        let PythonFlavor::Flavor(flavor) = python_flavor(dir.path(), &spec) else {
            panic!("no flavor with the loader present");
        };
        let lines = vigie_mlflow::yaml::render(&[("python_function", flavor)]);
        assert!(lines.contains("loader_module: vigie_pyfunc\n"), "{lines}");
        assert!(lines.contains("code: code\n"), "{lines}");
        assert!(dir.path().join("code/vigie_pyfunc.py").is_file());
        assert_eq!(
            python_flavor(dir.path(), &request_svm()),
            PythonFlavor::Unavailable(unavailable_reason(&request_svm()).expect("reason"))
        );
    }

    #[test]
    fn the_unavailable_reason_is_one_yaml_scalar_whatever_the_reason() {
        assert_eq!(
            vigie_mlflow::yaml::render(&[(
                "python_function",
                unavailable_field("the model's layers")
            )]),
            "python_function: 'unavailable: the model''s layers'\n"
        );
    }

    #[test]
    fn the_settings_carry_the_decoding() {
        let decode = DecodeConfig {
            charset: vigie_data::Charset::Latin1,
            plus_as_space: true,
            ..DecodeConfig::default()
        };
        let files =
            folder_files(&ModelSpec::LinearSvm(LinearConfig::default()), &decode).expect("files");
        let (_, settings) = files
            .iter()
            .find(|(path, _)| path == SETTINGS_FILE)
            .expect("settings");
        let settings: serde_json::Value = serde_json::from_slice(settings).expect("json");
        assert_eq!(settings["decode"]["charset"], "latin-1");
        assert_eq!(settings["decode"]["plus_as_space"], true);
    }
}
