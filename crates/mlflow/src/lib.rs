/*!
A typed, blocking client for the REST API of an MLflow tracking server (written against
MLflow 3.17).

Any Rust program that trains something can use it to record what it did where the MLflow UI and
Python tools can read it: experiments and runs with params, metrics and tags, the datasets a run
used, artifact files, MLflow 3 logged models, and the model registry with its aliases. Against a
server it talks HTTP only and needs the server's artifact proxy (`--serve-artifacts`, on by
default) for files. Without a server, [`FileStore`] writes the same runs into a folder in MLflow's
file-store layout (`./mlruns`), which `mlflow ui` reads and `mlflow migrate-filestore` imports.
A [`RunLogger`] never loses a run: every operation goes to a local write-ahead journal first, and
[`sync_all`] replays pending journals idempotently once the server is back.

# Brief overview

* [`TrackingConfig`] says where the server is and how to reach it. [`TrackingConfig::from_env`]
  reads the variables the Python client reads (`MLFLOW_TRACKING_URI`, credentials, retries,
  timeouts); [`TrackingConfig::builder`] does the same in code. Secrets never show in `Debug`
  output, errors or logs.
* [`MlflowClient`] has one method per REST endpoint, plus helpers that follow page tokens
  (`*_all`), [`MlflowClient::get_or_create_experiment`] and [`MlflowClient::end_run`]. Every
  request retries connection errors, timeouts, 429 and 5xx answers with exponential backoff and
  full jitter; a 4xx answer is reported at once.
* [`MlflowClient::log_batch`] validates a whole batch of metrics, params and tags (key lengths and
  characters, values the server would silently cut, duplicate params) and sends it in the fewest
  `runs/log-batch` requests the server's limits allow ([`batch::split_batch`]).
* Artifacts ([`MlflowClient::upload_file`], [`MlflowClient::upload_dir`],
  [`MlflowClient::list_artifacts`], [`MlflowClient::download_file`],
  [`MlflowClient::download_dir`]) go through the server's `mlflow-artifacts` proxy and work for
  runs and logged models alike. Files are streamed, never read whole into memory.
* Models: [`MlflowClient::create_logged_model`], [`MlflowClient::finalize_logged_model`],
  [`MlflowClient::log_outputs`], the registry (registered models, versions, aliases) and
  [`MlflowClient::resolve_model_uri`] / [`MlflowClient::download_model`] for
  `models:/NAME@ALIAS` URIs ([`ModelUri`]). The [`models`] module lists the steps.
* [`TrackingStore`] is the handful of operations a run needs, implemented by [`MlflowClient`] and
  [`FileStore`]. [`RunLogger`] buffers metrics and flushes them in batches (at each epoch end, or
  on a size or time bound), journaling everything first ([`journal`]) and sending from a
  background thread, so a slow or failing server never holds the trainer; [`sync_all`] replays
  journals and [`push_store`] copies a local store's runs to a server, both idempotently.
* [`types`] holds the serde types (ids are strings, times are ms since the epoch),
  [`mlflow_tags`] the names of MLflow's system tags, and [`MlflowError`] the one error type,
  whose API variant carries MLflow's `error_code`.

# Example

```no_run
use std::path::Path;
use vigie_mlflow::{CreateLoggedModel, CreateModelVersion, CreateRun, LoggedModelStatus, Metric,
                   MlflowClient, ModelOutput, Param, RunStatus, Tag, mlflow_tags};

let client = MlflowClient::from_env()?; // MLFLOW_TRACKING_URI=http://127.0.0.1:5000
let experiment = client.get_or_create_experiment("my-trainer")?;
let run = client.create_run(&CreateRun {
    run_name: Some("baseline".into()),
    tags: vec![Tag::new(mlflow_tags::SOURCE_TYPE, mlflow_tags::source_type::LOCAL)],
    ..CreateRun::new(&experiment.experiment_id)
})?;
let run_id = &run.info.run_id;

let params = [Param::new("lr", "0.01"), Param::new("epochs", "20")];
let metrics: Vec<Metric> = (0..20)
    .map(|epoch| Metric::new("loss", 1.0 / (epoch as f64 + 1.0), epoch))
    .collect();
client.log_batch(run_id, &metrics, &params, &[])?;
client.upload_file(run_id, Path::new("out/confusion.png"), Some("plots"))?;

// An MLflow 3 logged model: created, linked to the run, uploaded, finalised.
let model = client.create_logged_model(&CreateLoggedModel {
    experiment_id: experiment.experiment_id.clone(),
    name: Some("model".into()),
    source_run_id: Some(run_id.clone()),
    ..Default::default()
})?;
let model_id = &model.info.model_id;
client.log_outputs(run_id, &[ModelOutput { model_id: model_id.clone(), step: 19 }])?;
client.upload_dir(&model.info.artifact_uri, Path::new("out/model"), None)?; // MLmodel + weights
client.finalize_logged_model(model_id, LoggedModelStatus::Ready)?;
client.end_run(run_id, RunStatus::Finished)?;

// Registered as the next version of "my-model" (created once), aliased `champion`.
let version = client.create_model_version(&CreateModelVersion {
    name: "my-model".into(),
    source: format!("models:/{model_id}"),
    run_id: Some(run_id.clone()),
    model_id: Some(model_id.clone()),
    ..Default::default()
})?;
client.set_registered_model_alias("my-model", "champion", &version.version)?;

// Elsewhere: fetch the model by alias.
client.download_model("models:/my-model@champion", Path::new("downloaded"))?;
# Ok::<(), vigie_mlflow::MlflowError>(())
```
*/

pub mod artifacts;
pub mod batch;
pub mod client;
pub mod config;
pub mod error;
pub mod filestore;
pub mod journal;
pub mod logger;
pub mod mlflow_tags;
pub mod model_format;
pub mod models;
pub mod push;
mod sender;
pub mod store;
pub mod sync;
pub mod types;
pub mod yaml;

pub use client::{MlflowClient, RequestStats};
pub use config::{Credentials, TrackingConfig, TrackingConfigBuilder};
pub use error::{MlflowError, Result};
pub use filestore::FileStore;
pub use logger::{FinishOutcome, RunLogger, RunOptions};
pub use models::ModelUri;
pub use push::{PushOptions, PushReport, push_store};
pub use store::{DefaultStore, TrackingStore};
pub use sync::{SyncReport, sync_all, sync_journal};
pub use types::*;
