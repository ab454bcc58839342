//! MLflow's model format for a run: the `MLmodel` file with its flavors, and the MLflow 3
//! logged model created, uploaded, finalised and registered on a server.

use std::fs;
use std::path::Path;

use vigie_mlflow::{
    CreateLoggedModel, CreateModelVersion, LoggedModelStatus, ModelOutput, Param, Tag,
};
use vigie_models::artifact::Manifest;

use super::artifacts::write_file;
use super::start::PendingModel;
use super::{RunRequest, tags};
use crate::config::RunConfig;
use crate::error::{Result, RunError};
use crate::pyfunc::{self, PythonFlavor};
use crate::system;

/// The `MLmodel` file of MLflow's model format, with the `vigie` flavor, the `python_function`
/// flavor when the model has a Python scorer ([`pyfunc`]), and a signature: one string column
/// in, one score out.
pub fn write_mlmodel(
    dir: &Path,
    manifest: &Manifest,
    run_id: Option<&str>,
    model_id: Option<&str>,
    artifact_path: &str,
) -> Result<()> {
    let mut text = String::new();
    text.push_str(&format!("artifact_path: {artifact_path}\n"));
    text.push_str("flavors:\n");
    text.push_str(&flavor_lines(dir, manifest));
    if let Some(model_id) = model_id {
        text.push_str(&format!("model_id: {model_id}\nmodel_uuid: {model_id}\n"));
    }
    if let Some(run_id) = run_id {
        text.push_str(&format!("run_id: {run_id}\n"));
    }
    text.push_str("signature:\n");
    text.push_str("  inputs: '[{\"type\": \"string\", \"name\": \"text\", \"required\": true}]'\n");
    text.push_str(
        "  outputs: '[{\"type\": \"double\", \"name\": \"score\", \"required\": true}]'\n",
    );
    text.push_str("  params: null\n");
    let created = i64::try_from(manifest.created_at_ms).unwrap_or(0);
    text.push_str(&format!(
        "utc_time_created: '{}'\n",
        system::utc_timestamp(created)
    ));
    write_file(&dir.join("MLmodel"), text.as_bytes())
}

/// The flavors' lines of `MLmodel`: `vigie`, then `python_function` when the folder has a
/// Python scorer (else the `vigie` flavor says why there is none).
pub(super) fn flavor_lines(dir: &Path, manifest: &Manifest) -> String {
    let mut text = String::from("  vigie:\n");
    text.push_str(&format!("    format: {}\n", manifest.format));
    text.push_str(&format!(
        "    format_version: {}\n",
        manifest.format_version
    ));
    text.push_str(&format!(
        "    manifest: {}\n",
        vigie_models::artifact::MANIFEST_FILE
    ));
    text.push_str(&format!("    model_kind: {}\n", manifest.kind));
    text.push_str(&format!("    threshold: {}\n", manifest.threshold));
    text.push_str(&format!("    vigie_version: {}\n", manifest.vigie_version));
    match pyfunc::python_flavor(dir, &manifest.spec) {
        PythonFlavor::Lines(lines) => text.push_str(&lines),
        PythonFlavor::Unavailable(reason) => text.push_str(&pyfunc::unavailable_line(reason)),
    }
    text
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
    let run = client.get_run(run_id)?;
    let model = client.create_logged_model(&CreateLoggedModel {
        experiment_id: run.info.experiment_id.clone(),
        source_run_id: Some(run_id.to_owned()),
        ..request.clone()
    })?;
    client.log_outputs(
        run_id,
        &[ModelOutput {
            model_id: model.info.model_id.clone(),
            step: 0,
        }],
    )?;
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
        client.upload_dir(&model.artifact_uri, &staging, None)?;
        Ok(())
    })();
    let _ = fs::remove_dir_all(&staging);
    if let Err(error) = upload {
        let _ = client.finalize_logged_model(&model_id, LoggedModelStatus::UploadFailed);
        return Err(error);
    }
    client.finalize_logged_model(&model_id, LoggedModelStatus::Ready)?;

    let mut version = None;
    if let Some(name) = &config.tracking.registered_model {
        if let Err(error) = client.create_registered_model(name, None, &[])
            && !error.is_already_exists()
        {
            return Err(error.into());
        }
        let created = client.create_model_version(&CreateModelVersion {
            name: name.clone(),
            source: format!("models:/{model_id}"),
            run_id: Some(run_id.to_owned()),
            model_id: Some(model_id.clone()),
            ..CreateModelVersion::default()
        })?;
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
