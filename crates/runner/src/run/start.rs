//! The start of a run: its output folder, the files it has before training, and what the
//! store gets when it opens (tags, params, the dataset input, the pending logged model).

use std::fs;
use std::path::{Path, PathBuf};

use vigie_data::{PreparedDataset, Split};
use vigie_mlflow::{
    CreateLoggedModel, Dataset as MlflowDataset, DatasetInput, DefaultStore, Param, RunLogger,
    RunOptions, Tag, mlflow_tags,
};

use super::artifacts::write_file;
use super::logged_model::{create_logged_model, logged_model_request};
use super::{RunRequest, tags};
use crate::config::RunConfig;
use crate::error::{Result, RunError};
use crate::system;

/// The files a run has before it trains (its resolved config and the `Cargo.lock` it was
/// built with, for reproducing it): they go to the store as the run starts, while the model
/// trains, not with the results.
pub(super) const START_FILES: [&str; 2] = ["config.toml", "Cargo.lock"];

pub(super) fn write_start_files(request: &RunRequest) -> Result<()> {
    let out = &request.out_dir;
    write_file(
        &out.join(START_FILES[0]),
        request.config.resolved_toml()?.as_bytes(),
    )?;
    write_file(&out.join(START_FILES[1]), system::CARGO_LOCK.as_bytes())
}

pub(super) fn prepare_out_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(|e| RunError::io(dir, "cannot read", e))?;
        if entries.next().is_some() {
            return Err(RunError::Invalid {
                message: format!(
                    "the output folder {} is not empty (choose another with --out, or remove it)",
                    dir.display()
                ),
            });
        }
    }
    fs::create_dir_all(dir).map_err(|e| RunError::io(dir, "cannot create the output folder", e))
}

/// What a run starts with: its options (tags, name, parent, start time), params and inputs.
#[derive(Debug, Clone)]
pub(super) struct RunStart {
    pub(super) options: RunOptions,
    /// Where [`START_FILES`] were written.
    pub(super) out_dir: PathBuf,
    pub(super) params: Vec<Param>,
    pub(super) inputs: Vec<DatasetInput>,
    /// The run's MLflow 3 logged model, but for its experiment and run ids.
    pub(super) logged_model: CreateLoggedModel,
}

impl RunStart {
    pub(super) fn new(request: &RunRequest, prepared: &PreparedDataset) -> Result<RunStart> {
        let config = &request.config;
        let mut run_tags = vec![
            Tag::new(mlflow_tags::USER, system::user_name()),
            Tag::new(mlflow_tags::SOURCE_NAME, "vigie train"),
            Tag::new(mlflow_tags::SOURCE_TYPE, mlflow_tags::source_type::LOCAL),
            Tag::new(tags::DATASET, &config.data.dataset),
            Tag::new(tags::DATASET_DIGEST, &prepared.digest),
            Tag::new(tags::MODEL_KIND, config.model.kind()),
            Tag::new(tags::MODEL_FAMILY, config.model.family().name()),
            Tag::new(tags::BACKEND, config.model.backend()),
            Tag::new(tags::VERSION, env!("CARGO_PKG_VERSION")),
            Tag::new(tags::RUSTC, system::RUSTC_VERSION),
            Tag::new(tags::SEED, config.seed.to_string()),
        ];
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        match system::git_state(&cwd) {
            Some((commit, dirty)) => {
                run_tags.push(Tag::new(mlflow_tags::SOURCE_GIT_COMMIT, commit));
                run_tags.push(Tag::new(tags::GIT_DIRTY, dirty.to_string()));
            }
            None => run_tags.push(Tag::new(tags::GIT_DIRTY, "unknown")),
        }
        run_tags.extend(request.extra_tags.iter().cloned());
        let mut options = RunOptions::new(&request.journal_root, config.experiment());
        options.run_name = Some(config.run_name());
        options.tags = run_tags;
        options.parent_run_id = request.parent_run_id.clone();
        options.start_time = Some(vigie_mlflow::now_millis());
        // A network's epoch takes seconds to minutes: flush each one, so the MLflow UI shows
        // live curves. A linear solver's passes take milliseconds: one fsync and write per
        // pass would cost more than the fit, so they go with the logger's size and time bounds.
        options.flush_on_epoch = config.model.family() == vigie_models::spec::Family::Network;

        let mut params: Vec<Param> = config
            .flattened()?
            .into_iter()
            .map(|(key, value)| Param::new(key, value))
            .collect();
        let counts = prepared.split_counts();
        for (part, [benign, malicious]) in Split::ALL.iter().zip(counts) {
            params.push(Param::new(
                format!("data.{}_benign", part.name()),
                benign.to_string(),
            ));
            params.push(Param::new(
                format!("data.{}_malicious", part.name()),
                malicious.to_string(),
            ));
        }
        Ok(RunStart {
            options,
            out_dir: request.out_dir.clone(),
            logged_model: logged_model_request(config, &params, &prepared.digest),
            params,
            inputs: vec![dataset_input(config, prepared)],
        })
    }

    /// Starts the run in `store` with its params, inputs and [`START_FILES`] and, on a server,
    /// its MLflow 3 logged model (PENDING until its files go up): that is done while the model
    /// trains rather than after.
    pub(super) fn open(&self, store: DefaultStore) -> Result<OpenRun> {
        let mut logger = RunLogger::start(store, self.options.clone())?;
        logger.log_params(&self.params)?;
        logger.log_inputs(&self.inputs)?;
        for file in START_FILES {
            logger.log_artifact(&self.out_dir.join(file), None)?;
        }
        logger.flush()?;
        let model = match (logger.run_id(), logger.store()) {
            (Some(run_id), DefaultStore::Server(client)) => {
                match create_logged_model(client, &self.logged_model, run_id) {
                    Ok(model) => Some(model),
                    Err(error) => {
                        // Tried again once the model is trained.
                        tracing::warn!(%error, "could not create the MLflow 3 logged model");
                        None
                    }
                }
            }
            _ => None,
        };
        Ok(OpenRun { logger, model })
    }
}

/// A run started in the store, with its logged model when one was created.
#[derive(Debug)]
pub(super) struct OpenRun {
    pub(super) logger: RunLogger<DefaultStore>,
    pub(super) model: Option<PendingModel>,
}

/// An MLflow 3 logged model created (PENDING) for a run, waiting for its files.
#[derive(Debug, Clone)]
pub(super) struct PendingModel {
    pub(super) model_id: String,
    pub(super) artifact_uri: String,
}

pub(super) fn dataset_input(config: &RunConfig, prepared: &PreparedDataset) -> DatasetInput {
    let counts = prepared.split_counts();
    let profile = serde_json::json!({
        "requests": prepared.data.texts.len(),
        "split": config.data.split,
        "dedup": config.data.dedup,
        "train": {"benign": counts[0][0], "malicious": counts[0][1]},
        "valid": {"benign": counts[1][0], "malicious": counts[1][1]},
        "test": {"benign": counts[2][0], "malicious": counts[2][1]},
    });
    DatasetInput {
        tags: vec![Tag::new(mlflow_tags::DATASET_CONTEXT, "training")],
        dataset: MlflowDataset {
            name: config.data.dataset.clone(),
            digest: prepared.digest.chars().take(36).collect(),
            source_type: "local".to_owned(),
            source: serde_json::json!({"dataset": config.data.dataset, "full_digest": prepared.digest}).to_string(),
            schema: Some(r#"{"mlflow_colspec": [{"type": "string", "name": "text"}, {"type": "long", "name": "label"}]}"#.to_owned()),
            profile: Some(profile.to_string()),
        },
    }
}
