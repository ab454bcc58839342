//! MLflow's model format: the `MLmodel` file at the root of a model folder (its flavors,
//! signature, run and model ids, creation time), and the `python_function` flavor with the
//! environment files `mlflow models serve` builds its Python from.
//!
//! Every file is written through [`yaml`], so no value (a run name, a version, a flavor's
//! setting) can change a document's shape. What a flavor holds besides `python_function` is
//! the caller's: MLflow only reads `python_function`.

use crate::types::utc_timestamp;
use crate::yaml::{self, Field};

/// The model format's description, at the root of a model folder.
pub const MLMODEL_FILE: &str = "MLmodel";
/// The pip requirements of a `python_function` model, which [`PYTHON_ENV_FILE`] points at.
pub const REQUIREMENTS_FILE: &str = "requirements.txt";
/// The virtualenv description `mlflow models serve --env-manager virtualenv|uv` reads.
pub const PYTHON_ENV_FILE: &str = "python_env.yaml";
/// The conda description `mlflow models serve --env-manager conda` reads.
pub const CONDA_FILE: &str = "conda.yaml";

/// One column of a signature, as MLflow's column-based schema names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column<'a> {
    /// The column's name.
    pub name: &'a str,
    /// MLflow's data type: `string`, `double`, `long`, `boolean`, ...
    pub data_type: &'a str,
}

/// What `predict` takes and returns: required columns in, columns out, no parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature<'a> {
    /// The input columns.
    pub inputs: &'a [Column<'a>],
    /// The output columns.
    pub outputs: &'a [Column<'a>],
}

impl Signature<'_> {
    /// The `signature` mapping: each side a JSON list as MLflow's Python writes it.
    fn field(&self) -> Field<'static> {
        Field::Mapping(vec![
            ("inputs", Field::text(columns_json(self.inputs))),
            ("outputs", Field::text(columns_json(self.outputs))),
            ("params", Field::Null),
        ])
    }
}

/// `[{"type": ..., "name": ..., "required": true}, ...]`, with Python's `json.dumps` spacing.
fn columns_json(columns: &[Column<'_>]) -> String {
    let json = |s: &str| serde_json::Value::from(s).to_string();
    let items: Vec<String> = columns
        .iter()
        .map(|column| {
            format!(
                "{{\"type\": {}, \"name\": {}, \"required\": true}}",
                json(column.data_type),
                json(column.name)
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// The `MLmodel` file of one model folder.
#[derive(Debug, Clone, PartialEq)]
pub struct MlModel<'a> {
    /// Where the folder sits: `model` in its run's artifacts, or its logged model's artifact URI.
    pub artifact_path: &'a str,
    /// The flavors, in the order written.
    pub flavors: Vec<(&'a str, Field<'a>)>,
    /// The MLflow 3 logged model the folder is (written as `model_id` and `model_uuid`).
    pub model_id: Option<&'a str>,
    /// The run that made it.
    pub run_id: Option<&'a str>,
    /// What `predict` takes and returns.
    pub signature: Option<Signature<'a>>,
    /// When the model was made, in milliseconds since the epoch (`utc_time_created`).
    pub created_at_ms: i64,
}

impl MlModel<'_> {
    /// The file's text, keys in the order MLflow's Python writes them.
    pub fn render(&self) -> String {
        let mut fields = vec![
            ("artifact_path", Field::text(self.artifact_path)),
            ("flavors", Field::Mapping(self.flavors.clone())),
        ];
        if let Some(model_id) = self.model_id {
            fields.push(("model_id", Field::text(model_id)));
            fields.push(("model_uuid", Field::text(model_id)));
        }
        if let Some(run_id) = self.run_id {
            fields.push(("run_id", Field::text(run_id)));
        }
        if let Some(signature) = &self.signature {
            fields.push(("signature", signature.field()));
        }
        fields.push((
            "utc_time_created",
            Field::text(utc_timestamp(self.created_at_ms)),
        ));
        yaml::render(&fields)
    }
}

/// The Python a `python_function` model needs, as `mlflow models serve` builds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PythonEnvironment<'a> {
    /// `MAJOR.MINOR`.
    pub python_version: &'a str,
    /// pip requirement specifiers.
    pub requirements: &'a [&'a str],
    /// The conda environment's name.
    pub conda_name: &'a str,
}

impl PythonEnvironment<'_> {
    /// The environment files by name, for the root of the model folder: [`REQUIREMENTS_FILE`],
    /// [`PYTHON_ENV_FILE`] and [`CONDA_FILE`].
    pub fn files(&self) -> [(&'static str, String); 3] {
        let requirements: String = self.requirements.iter().map(|r| format!("{r}\n")).collect();
        let pip = || self.requirements.iter().map(|r| Field::text(*r)).collect();
        let python_env = yaml::render(&[
            ("python", Field::text(self.python_version)),
            ("build_dependencies", Field::List(vec![Field::text("pip")])),
            (
                "dependencies",
                Field::List(vec![Field::text(format!("-r {REQUIREMENTS_FILE}"))]),
            ),
        ]);
        let conda = yaml::render(&[
            ("channels", Field::List(vec![Field::text("conda-forge")])),
            (
                "dependencies",
                Field::List(vec![
                    Field::text(format!("python={}", self.python_version)),
                    Field::text("pip"),
                    Field::Mapping(vec![("pip", Field::List(pip()))]),
                ]),
            ),
            ("name", Field::text(self.conda_name)),
        ]);
        [
            (REQUIREMENTS_FILE, requirements),
            (PYTHON_ENV_FILE, python_env),
            (CONDA_FILE, conda),
        ]
    }
}

/// The `python_function` flavor: MLflow puts the folder's `code` directory on `sys.path`,
/// imports `loader_module` and calls its `_load_pyfunc` with the folder.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonFunction<'a> {
    /// The module MLflow imports.
    pub loader_module: &'a str,
    /// The folder, inside the model's, holding the module.
    pub code: &'a str,
    /// The model configuration keys `load_model(uri, model_config=...)` may set, with their
    /// defaults: MLflow drops keys the flavor does not declare.
    pub model_config: Vec<(&'a str, Field<'a>)>,
    /// The Python it needs; [`PythonEnvironment::files`] are the files the flavor names.
    pub environment: PythonEnvironment<'a>,
}

impl<'a> PythonFunction<'a> {
    /// The flavor's mapping, under `flavors:` as `python_function`.
    pub fn field(&self) -> Field<'a> {
        let mut flavor = vec![
            ("code", Field::text(self.code)),
            (
                "env",
                Field::Mapping(vec![
                    ("conda", Field::text(CONDA_FILE)),
                    ("virtualenv", Field::text(PYTHON_ENV_FILE)),
                ]),
            ),
            ("loader_module", Field::text(self.loader_module)),
        ];
        if !self.model_config.is_empty() {
            flavor.push(("config", Field::Mapping(self.model_config.clone())));
        }
        flavor.push((
            "python_version",
            Field::text(self.environment.python_version),
        ));
        Field::Mapping(flavor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENVIRONMENT: PythonEnvironment<'static> = PythonEnvironment {
        python_version: "3.11",
        requirements: &["mlflow>=2.9", "numpy>=1.22"],
        conda_name: "vigie_env",
    };

    #[test]
    fn the_mlmodel_lists_its_parts_in_mlflows_order() {
        let flavor = PythonFunction {
            loader_module: "loader",
            code: "code",
            model_config: vec![("decode", Field::Bool(true))],
            environment: ENVIRONMENT,
        };
        let model = MlModel {
            artifact_path: "model",
            flavors: vec![
                ("custom", Field::Mapping(vec![("k", Field::Int(1))])),
                ("python_function", flavor.field()),
            ],
            model_id: Some("m-1"),
            run_id: Some("0123"),
            signature: Some(Signature {
                inputs: &[Column {
                    name: "te\"xt",
                    data_type: "string",
                }],
                outputs: &[],
            }),
            // 2000-02-29, a leap day.
            created_at_ms: 951_782_400_000,
        };
        assert_eq!(
            model.render(),
            "artifact_path: model\nflavors:\n  custom:\n    k: 1\n  python_function:\n    \
             code: code\n    env:\n      conda: conda.yaml\n      virtualenv: python_env.yaml\n    \
             loader_module: loader\n    config:\n      decode: true\n    python_version: '3.11'\n\
             model_id: m-1\nmodel_uuid: m-1\nrun_id: '0123'\nsignature:\n  inputs: '[{\"type\": \
             \"string\", \"name\": \"te\\\"xt\", \"required\": true}]'\n  outputs: '[]'\n  \
             params: null\nutc_time_created: '2000-02-29 00:00:00.000000'\n"
        );
        let bare = MlModel {
            model_id: None,
            run_id: None,
            signature: None,
            flavors: Vec::new(),
            ..model
        };
        assert_eq!(
            bare.render(),
            "artifact_path: model\nflavors: {}\nutc_time_created: '2000-02-29 00:00:00.000000'\n"
        );
    }

    #[test]
    fn the_environment_files_name_the_requirements_for_pip_and_conda() {
        let [
            (requirements_name, requirements),
            (env_name, env),
            (conda_name, conda),
        ] = ENVIRONMENT.files();
        assert_eq!(
            (requirements_name, env_name, conda_name),
            (REQUIREMENTS_FILE, PYTHON_ENV_FILE, CONDA_FILE)
        );
        assert_eq!(requirements, "mlflow>=2.9\nnumpy>=1.22\n");
        assert_eq!(
            env,
            "python: '3.11'\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"
        );
        assert_eq!(
            conda,
            "channels:\n- conda-forge\ndependencies:\n- python=3.11\n- pip\n- pip:\n  - \
             mlflow>=2.9\n  - numpy>=1.22\nname: vigie_env\n"
        );
    }
}
