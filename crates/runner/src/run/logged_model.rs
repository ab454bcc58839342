//! MLflow's model format for a run: the `MLmodel` file with its flavors, and the MLflow 3
//! logged model created, uploaded, finalised and registered on a server.

use std::fs;
use std::path::Path;

use vigie_mlflow::model_format::{Column, MLMODEL_FILE, MlModel, Signature};
use vigie_mlflow::yaml::Field;
use vigie_mlflow::{CreateLoggedModel, Param, Tag};
use vigie_models::artifact::Manifest;

use super::artifacts::write_file;
use super::start::PendingModel;
use super::{RunRequest, tags};
use crate::config::RunConfig;
use crate::error::{Result, RunError};
use crate::pyfunc::{self, PythonFlavor};

/// The signature: one string column in, one score out.
const SIGNATURE: Signature<'static> = Signature {
    inputs: &[Column {
        name: "text",
        data_type: "string",
    }],
    outputs: &[Column {
        name: "score",
        data_type: "double",
    }],
};

/// The `MLmodel` file of MLflow's model format ([`vigie_mlflow::model_format`]), with the
/// `vigie` flavor, the `python_function` flavor when the model has a Python scorer
/// ([`pyfunc`]), and a signature: one string column in, one score out.
pub fn write_mlmodel(
    dir: &Path,
    manifest: &Manifest,
    run_id: Option<&str>,
    model_id: Option<&str>,
    artifact_path: &str,
) -> Result<()> {
    let text = mlmodel_text(dir, manifest, run_id, model_id, artifact_path);
    write_file(&dir.join(MLMODEL_FILE), text.as_bytes())
}

/// The text of [`write_mlmodel`]'s file.
fn mlmodel_text(
    dir: &Path,
    manifest: &Manifest,
    run_id: Option<&str>,
    model_id: Option<&str>,
    artifact_path: &str,
) -> String {
    MlModel {
        artifact_path,
        flavors: flavors(dir, manifest),
        model_id,
        run_id,
        signature: Some(SIGNATURE),
        created_at_ms: i64::try_from(manifest.created_at_ms).unwrap_or(0),
    }
    .render()
}

/// The flavors of `MLmodel`: `vigie`, then `python_function` when the folder has a Python
/// scorer (else the `vigie` flavor says why there is none).
pub(super) fn flavors<'a>(dir: &Path, manifest: &'a Manifest) -> Vec<(&'static str, Field<'a>)> {
    let mut vigie = vec![
        ("format", Field::text(manifest.format.as_str())),
        (
            "format_version",
            Field::Int(i64::from(manifest.format_version)),
        ),
        (
            "manifest",
            Field::text(vigie_models::artifact::MANIFEST_FILE),
        ),
        ("model_kind", Field::text(manifest.kind.as_str())),
        ("threshold", Field::Float(manifest.threshold)),
        (
            "vigie_version",
            Field::text(manifest.vigie_version.as_str()),
        ),
    ];
    let mut flavors = Vec::new();
    match pyfunc::python_flavor(dir, &manifest.spec) {
        PythonFlavor::Flavor(flavor) => {
            flavors.push(("vigie", Field::Mapping(vigie)));
            flavors.push(("python_function", flavor));
        }
        PythonFlavor::Unavailable(reason) => {
            vigie.push(("python_function", pyfunc::unavailable_field(reason)));
            flavors.push(("vigie", Field::Mapping(vigie)));
        }
    }
    flavors
}

/// What creating a run's MLflow 3 logged model sends, but for its experiment and run ids:
/// the run's name and model kind, the `model.*` params of `params`, the dataset and digest.
pub(super) fn logged_model_request(
    config: &RunConfig,
    params: &[Param],
    digest: &str,
) -> CreateLoggedModel {
    CreateLoggedModel {
        name: Some(config.run_name()),
        model_type: Some(config.model.kind().to_owned()),
        params: params
            .iter()
            .filter(|param| param.key.starts_with("model."))
            .cloned()
            .collect(),
        tags: vec![
            Tag::new(tags::DATASET, &config.data.dataset),
            Tag::new(tags::DATASET_DIGEST, digest),
        ],
        ..CreateLoggedModel::default()
    }
}

/// Creates the run's MLflow 3 logged model (PENDING) from `request` and names it as the run's
/// output.
pub(super) fn create_logged_model(
    client: &vigie_mlflow::MlflowClient,
    request: &CreateLoggedModel,
    run_id: &str,
) -> Result<PendingModel> {
    let model = client.create_run_logged_model(run_id, request)?;
    Ok(PendingModel {
        model_id: model.info.model_id,
        artifact_uri: model.info.artifact_uri,
    })
}

/// The run's MLflow 3 logged model (`created` when the run started, else created now):
/// its files uploaded, marked ready; then registered when the config names a registered
/// model.
pub(super) fn log_model_to_server(
    client: &vigie_mlflow::MlflowClient,
    request: &RunRequest,
    manifest: &Manifest,
    model_dir: &Path,
    run_id: &str,
    created: Option<PendingModel>,
) -> Result<(String, Option<String>)> {
    let config = &request.config;
    let model = match created {
        Some(model) => model,
        None => {
            let params: Vec<Param> = config
                .flattened()?
                .into_iter()
                .map(|(key, value)| Param::new(key, value))
                .collect();
            let logged_model =
                logged_model_request(config, &params, &manifest.training_data.digest);
            create_logged_model(client, &logged_model, run_id)?
        }
    };
    let model_id = model.model_id.clone();
    // The logged model's own MLmodel names it; the copy in the run artifacts keeps `model`.
    let staging = model_dir.with_file_name("logged-model-staging");
    let upload = (|| -> Result<()> {
        copy_dir(model_dir, &staging)?;
        write_mlmodel(
            &staging,
            manifest,
            Some(run_id),
            Some(&model_id),
            &model.artifact_uri,
        )?;
        Ok(client.upload_logged_model(&model_id, &model.artifact_uri, &staging)?)
    })();
    let _ = fs::remove_dir_all(&staging);
    upload?;

    let mut version = None;
    if let Some(name) = &config.tracking.registered_model {
        client.ensure_registered_model(name)?;
        let created = client.register_logged_model(name, &model_id, run_id, Vec::new())?;
        version = Some(created.version);
    }
    Ok((model_id, version))
}

pub(super) fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| RunError::io(to, "cannot create", e))?;
    for entry in fs::read_dir(from).map_err(|e| RunError::io(from, "cannot read", e))? {
        let entry = entry.map_err(|e| RunError::io(from, "cannot read", e))?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target).map_err(|e| RunError::io(&target, "cannot copy", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use vigie_data::DecodeConfig;
    use vigie_models::artifact::{FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, TrainingData};
    use vigie_models::linear::LinearConfig;
    use vigie_models::metrics::ThresholdChoice;
    use vigie_models::rules::LibinjectionConfig;
    use vigie_models::spec::ModelSpec;

    use super::*;

    fn manifest(spec: ModelSpec, kind: &str, vigie_version: &str) -> Manifest {
        let choice = ThresholdChoice {
            threshold: 0.375,
            rule: "max_f1".to_owned(),
            valid_f1: 1.0,
            valid_fpr: 0.0,
            valid_tpr: 1.0,
        };
        let data = TrainingData {
            dataset: "tiny".to_owned(),
            digest: "0".to_owned(),
            train_counts: [1, 1],
            valid_counts: [1, 1],
        };
        // 2000-02-29, a leap day.
        let mut manifest = Manifest::new(spec, choice, data, 0, 951_782_400_000);
        manifest.kind = kind.to_owned();
        manifest.vigie_version = vigie_version.to_owned();
        manifest
    }

    /// A model folder holding the Python scorer's files.
    fn folder_with_loader(spec: &ModelSpec) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, bytes) in pyfunc::folder_files(spec, &DecodeConfig::default()).expect("files") {
            let target = dir.path().join(path);
            fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            fs::write(target, bytes).expect("write");
        }
        dir
    }

    #[test]
    fn the_mlmodel_keeps_its_layout() {
        let spec = ModelSpec::LinearSvm(LinearConfig::default());
        let dir = folder_with_loader(&spec);
        let manifest = manifest(spec, "linear_svm", "0.1.0");
        let run_id = "90c943b10bb841c5b562d1c2c374cec4";
        let text = mlmodel_text(dir.path(), &manifest, Some(run_id), Some("m-1a2b"), "model");
        assert_eq!(
            text,
            format!(
                "artifact_path: model\nflavors:\n  vigie:\n    format: {FORMAT_NAME}\n    \
                 format_version: {FORMAT_VERSION}\n    manifest: {MANIFEST_FILE}\n    \
                 model_kind: linear_svm\n    threshold: 0.375\n    vigie_version: 0.1.0\n  \
                 python_function:\n    code: code\n    env:\n      conda: conda.yaml\n      \
                 virtualenv: python_env.yaml\n    loader_module: vigie_pyfunc\n    config:\n      \
                 decode: true\n    python_version: '3.11'\nmodel_id: m-1a2b\nmodel_uuid: m-1a2b\n\
                 run_id: {run_id}\nsignature:\n  inputs: '[{{\"type\": \"string\", \"name\": \
                 \"text\", \"required\": true}}]'\n  outputs: '[{{\"type\": \"double\", \"name\": \
                 \"score\", \"required\": true}}]'\n  params: null\n\
                 utc_time_created: '2000-02-29 00:00:00.000000'\n"
            )
        );
    }

    #[test]
    fn hostile_values_cannot_break_the_mlmodel() {
        const HOSTILE: &str = "a: b # c\n'x'";
        let Some(python) = vigie_test_support::venv_python_if_present() else {
            eprintln!("no venv Python: the MLmodel not read back");
            return;
        };
        for spec in [
            ModelSpec::LinearSvm(LinearConfig::default()),
            ModelSpec::Libinjection(LibinjectionConfig::default()),
        ] {
            let dir = folder_with_loader(&spec);
            let manifest = manifest(spec, HOSTILE, HOSTILE);
            write_mlmodel(dir.path(), &manifest, Some(HOSTILE), Some(HOSTILE), HOSTILE)
                .expect("written");
            // As PyYAML reads it, and as MLflow's own `Model.load` does.
            let read = "import json, sys, yaml\n\
                        from mlflow.models import Model\n\
                        doc = yaml.safe_load(open(sys.argv[1], encoding='utf-8'))\n\
                        model = Model.load(sys.argv[1])\n\
                        doc['loaded'] = [model.run_id, model.artifact_path, model.model_id]\n\
                        print(json.dumps(doc))";
            let out = std::process::Command::new(&python)
                .args(["-c", read])
                .arg(dir.path().join("MLmodel"))
                .output()
                .expect("run python");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
            for key in ["artifact_path", "model_id", "model_uuid", "run_id"] {
                assert_eq!(doc[key], HOSTILE, "{key}: {doc}");
            }
            assert_eq!(
                doc["loaded"],
                serde_json::json!([HOSTILE, HOSTILE, HOSTILE])
            );
            let vigie = &doc["flavors"]["vigie"];
            assert_eq!(vigie["model_kind"], HOSTILE);
            assert_eq!(vigie["vigie_version"], HOSTILE);
            assert_eq!(vigie["threshold"], 0.375);
            assert_eq!(vigie["format_version"], FORMAT_VERSION);
            assert_eq!(doc["signature"]["params"], serde_json::Value::Null);
            assert_eq!(doc["utc_time_created"], "2000-02-29 00:00:00.000000");
            match &manifest.spec {
                ModelSpec::Libinjection(_) => assert_eq!(
                    vigie["python_function"],
                    "unavailable: the libinjection detectors have no numpy port"
                ),
                _ => {
                    let flavor = &doc["flavors"]["python_function"];
                    assert_eq!(flavor["loader_module"], "vigie_pyfunc");
                    assert_eq!(flavor["python_version"], "3.11");
                    assert_eq!(flavor["config"]["decode"], true);
                    assert_eq!(flavor["env"]["virtualenv"], "python_env.yaml");
                }
            }
        }
    }
}
