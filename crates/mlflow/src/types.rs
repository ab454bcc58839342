//! The REST API's entities and request bodies, as serde types.
//!
//! Conventions follow MLflow's JSON: ids (experiment, run, model, version) are strings, times
//! are milliseconds since the Unix epoch (`i64`), and fields the server may leave out default
//! to empty values, so an older or newer server with more or fewer fields still decodes.
//! Enums decode unknown server values into an `Unknown` variant instead of failing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, MLflow's time unit (0 if the clock is before 1970).
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, MLflow's `utc_time_created` format. Times past
/// chrono's range (beyond ±262,000 years) are clamped to it.
pub fn utc_timestamp(millis: i64) -> String {
    let time = DateTime::from_timestamp_millis(millis).unwrap_or(if millis < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    time.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// A key/value tag, on an experiment, run, logged model, registered model, model version or
/// dataset input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Tag {
    /// Tag name (at most 250 characters; see [`crate::mlflow_tags`] for the system tags).
    pub key: String,
    /// Tag value (at most 8000 characters).
    pub value: String,
}

impl Tag {
    /// A tag from anything string-like.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A run or logged-model parameter. Params are write-once: logging a different value for an
/// existing key is refused by the server (`INVALID_PARAMETER_VALUE`), the same value is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Param {
    /// Param name (at most 250 characters).
    pub key: String,
    /// Param value (at most 6000 characters).
    pub value: String,
}

impl Param {
    /// A param from anything string-like; format numbers yourself (`lr.to_string()`).
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Param {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// One value of a metric's history.
///
/// Non-finite values are allowed: NaN travels as the JSON string `"NaN"` and comes back as NaN;
/// `±Infinity` travel as `"Infinity"`/`"-Infinity"`, which MLflow 3.17 stores as `±f64::MAX`
/// (`±1.7976931348623157e308`), so that is what reading them back returns.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Metric {
    /// Metric name (at most 250 characters).
    pub key: String,
    /// The value.
    #[serde(with = "metric_value")]
    pub value: f64,
    /// When it was measured, in ms since the epoch.
    pub timestamp: i64,
    /// Training step (epoch, batch...); 0 when not relevant.
    pub step: i64,
}

impl Metric {
    /// A metric value measured now.
    pub fn new(key: impl Into<String>, value: f64, step: i64) -> Self {
        Metric::at(key, value, step, now_millis())
    }

    /// A metric value with an explicit timestamp (ms since the epoch).
    pub fn at(key: impl Into<String>, value: f64, step: i64, timestamp: i64) -> Self {
        Metric {
            key: key.into(),
            value,
            timestamp,
            step,
        }
    }
}

/// Serde for metric values: finite numbers as JSON numbers, NaN and infinities as the strings
/// the MLflow server accepts (JSON itself has no representation for them).
pub(crate) mod metric_value {
    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if value.is_infinite() {
            serializer.serialize_str(if *value > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            })
        } else {
            serializer.serialize_f64(*value)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        deserializer.deserialize_any(MetricValueVisitor)
    }

    struct MetricValueVisitor;

    impl de::Visitor<'_> for MetricValueVisitor {
        type Value = f64;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a number or one of \"NaN\", \"Infinity\", \"-Infinity\"")
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            match v {
                "NaN" | "nan" => Ok(f64::NAN),
                "Infinity" | "inf" => Ok(f64::INFINITY),
                "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
                other => other
                    .parse::<f64>()
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(other), &self)),
            }
        }
    }
}

/// Which experiments or runs a search returns, by lifecycle stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ViewType {
    /// Only active ones (the server's default).
    ActiveOnly,
    /// Only deleted ones.
    DeletedOnly,
    /// Both.
    All,
}

/// An experiment: a named group of runs with a default artifact location.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Experiment {
    /// Id (a decimal string such as `"1"`).
    pub experiment_id: String,
    /// Unique name.
    pub name: String,
    /// Where the runs' artifacts go, e.g. `mlflow-artifacts:/1`.
    pub artifact_location: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
    /// Creation time (ms).
    pub creation_time: Option<i64>,
    /// Last change (ms).
    pub last_update_time: Option<i64>,
    /// Experiment tags.
    pub tags: Vec<Tag>,
}

impl Experiment {
    /// The value of an experiment tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find_value(&self.tags, key)
    }
}

/// A run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum RunStatus {
    /// Still logging.
    Running,
    /// Queued, not started.
    Scheduled,
    /// Ended successfully.
    Finished,
    /// Ended with an error.
    Failed,
    /// Stopped from outside.
    Killed,
    /// A status this client does not know (a newer server). Never send it.
    #[default]
    #[serde(other)]
    Unknown,
}

/// A run's metadata.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    /// Id: 32 hex characters.
    pub run_id: String,
    /// The experiment it belongs to.
    pub experiment_id: String,
    /// Display name (also in the `mlflow.runName` tag).
    pub run_name: String,
    /// Who ran it ("" unless given at creation).
    pub user_id: String,
    /// Current state.
    pub status: RunStatus,
    /// Start time (ms).
    pub start_time: Option<i64>,
    /// End time (ms), once ended.
    pub end_time: Option<i64>,
    /// Root of its artifacts, e.g. `mlflow-artifacts:/1/<run_id>/artifacts`.
    pub artifact_uri: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
}

/// What a run logged. `metrics` holds the latest value of each metric only; use
/// [`crate::MlflowClient::get_metric_history`] for all of them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunData {
    /// Latest value per metric key.
    pub metrics: Vec<Metric>,
    /// All params.
    pub params: Vec<Param>,
    /// All tags, including the system tags the server adds (`mlflow.runName`).
    pub tags: Vec<Tag>,
}

impl RunData {
    /// The value of a param.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }

    /// The value of a tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find_value(&self.tags, key)
    }

    /// The latest value of a metric.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.key == key).map(|m| m.value)
    }
}

fn find_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

/// A dataset a run consumed, with the tags of that use (e.g. `mlflow.data.context` = `train`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DatasetInput {
    /// Tags of this input, e.g. [`crate::mlflow_tags::DATASET_CONTEXT`].
    pub tags: Vec<Tag>,
    /// The dataset.
    pub dataset: Dataset,
}

/// A dataset's identity as MLflow records it. `source`, `schema` and `profile` are free-form
/// strings, JSON by convention.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Dataset {
    /// Name shown in the UI.
    pub name: String,
    /// Content digest: two runs with the same digest saw the same data.
    pub digest: String,
    /// Kind of source, e.g. `local`, `http`, `s3`.
    pub source_type: String,
    /// Where it came from (JSON by convention, e.g. `{"uri": "..."}`).
    pub source: String,
    /// Its schema (JSON), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Summary statistics (JSON), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// A logged model a run consumed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelInput {
    /// The logged model's id (`m-<32 hex>`).
    pub model_id: String,
}

/// A logged model a run produced, at a training step.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelOutput {
    /// The logged model's id (`m-<32 hex>`).
    pub model_id: String,
    /// Training step that produced it.
    pub step: i64,
}

/// What a run consumed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInputs {
    /// Datasets.
    pub dataset_inputs: Vec<DatasetInput>,
    /// Logged models.
    pub model_inputs: Vec<ModelInput>,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOutputs {
    /// Logged models linked with `runs/outputs`.
    pub model_outputs: Vec<ModelOutput>,
}

/// A run: metadata, logged data, inputs and outputs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Run {
    /// Metadata.
    pub info: RunInfo,
    /// Metrics (latest values), params and tags.
    pub data: RunData,
    /// Datasets and models consumed.
    pub inputs: RunInputs,
    /// Models produced.
    pub outputs: RunOutputs,
}

/// One page of a search; pass `next_page_token` back to get the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The results of this page.
    pub items: Vec<T>,
    /// Token of the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// An entry of an artifact listing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FileInfo {
    /// Path relative to the artifact root listed (not just the base name), `/`-separated.
    pub path: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Size in bytes, for files.
    pub file_size: Option<u64>,
}

/// Upload state of an MLflow 3 logged model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LoggedModelStatus {
    /// Not set.
    #[serde(rename = "LOGGED_MODEL_STATUS_UNSPECIFIED")]
    Unspecified,
    /// Created, files not all uploaded yet.
    #[serde(rename = "LOGGED_MODEL_PENDING")]
    Pending,
    /// Files uploaded: the model can be used.
    #[serde(rename = "LOGGED_MODEL_READY")]
    Ready,
    /// Uploading the files failed.
    #[serde(rename = "LOGGED_MODEL_UPLOAD_FAILED")]
    UploadFailed,
    /// A status this client does not know (a newer server). Never send it.
    #[default]
    #[serde(other)]
    Unknown,
}

/// Metadata of an MLflow 3 logged model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedModelInfo {
    /// Id: `m-<32 hex>`.
    pub model_id: String,
    /// Experiment it belongs to.
    pub experiment_id: String,
    /// Name (not unique).
    pub name: String,
    /// Creation time (ms).
    pub creation_timestamp_ms: Option<i64>,
    /// Last change (ms).
    pub last_updated_timestamp_ms: Option<i64>,
    /// Root of its files, e.g. `mlflow-artifacts:/1/models/<model_id>/artifacts`.
    pub artifact_uri: String,
    /// Upload state.
    pub status: LoggedModelStatus,
    /// Free-form kind of model, e.g. `rust-mlp`.
    pub model_type: Option<String>,
    /// The run that produced it.
    pub source_run_id: Option<String>,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// Params and metrics of a logged model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedModelData {
    /// Params given at creation.
    pub params: Vec<Param>,
    /// Metrics linked to the model.
    pub metrics: Vec<Metric>,
}

/// An MLflow 3 logged model: a model's files and metadata, independent of any run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedModel {
    /// Metadata.
    pub info: LoggedModelInfo,
    /// Params and metrics.
    pub data: LoggedModelData,
}

/// An alias of a registered model (e.g. `champion` → version `3`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisteredModelAlias {
    /// Alias name.
    pub alias: String,
    /// Version it points to.
    pub version: String,
}

/// A model name in the registry, with its versions and aliases.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisteredModel {
    /// Unique name.
    pub name: String,
    /// Creation time (ms).
    pub creation_timestamp: Option<i64>,
    /// Last change (ms).
    pub last_updated_timestamp: Option<i64>,
    /// Description (markdown).
    pub description: Option<String>,
    /// Latest version per (deprecated) stage.
    pub latest_versions: Vec<ModelVersion>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Aliases.
    pub aliases: Vec<RegisteredModelAlias>,
}

/// Registration state of a model version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ModelVersionStatus {
    /// Being registered.
    PendingRegistration,
    /// Registration failed.
    FailedRegistration,
    /// Usable.
    Ready,
    /// A status this client does not know (a newer server).
    #[default]
    #[serde(other)]
    Unknown,
}

/// A numbered version of a registered model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelVersion {
    /// Registered model name.
    pub name: String,
    /// Version number, as a string (`"1"`).
    pub version: String,
    /// Creation time (ms).
    pub creation_timestamp: Option<i64>,
    /// Last change (ms).
    pub last_updated_timestamp: Option<i64>,
    /// Deprecated stage (`None`, `Staging`...).
    pub current_stage: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Where its files come from, e.g. `models:/<model_id>`.
    pub source: String,
    /// Run that produced it.
    pub run_id: Option<String>,
    /// Registration state.
    pub status: ModelVersionStatus,
    /// Link to the run, if set.
    pub run_link: Option<String>,
    /// Aliases pointing at this version (filled by the alias lookups).
    pub aliases: Vec<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// The logged model behind it, when the server reports it.
    pub model_id: Option<String>,
}

impl ModelVersion {
    /// The value of a model version tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find_value(&self.tags, key)
    }
}

/// Body of `runs/create`. `start_time` defaults to now.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CreateRun {
    /// Experiment to create the run in.
    pub experiment_id: String,
    /// Display name (the server generates one when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_name: Option<String>,
    /// Start time (ms); `None` means now.
    pub start_time: Option<i64>,
    /// Initial tags (e.g. [`crate::mlflow_tags::PARENT_RUN_ID`] for a nested run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// User name recorded on the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl CreateRun {
    /// A run in `experiment_id` with everything else defaulted.
    pub fn new(experiment_id: impl Into<String>) -> Self {
        CreateRun {
            experiment_id: experiment_id.into(),
            ..CreateRun::default()
        }
    }
}

/// Body of `runs/update`: fields left `None` are unchanged.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UpdateRun {
    /// The run.
    pub run_id: String,
    /// New status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// End time (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    /// New display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_name: Option<String>,
}

/// Body of `runs/search`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SearchRuns {
    /// Experiments to search (at least one).
    pub experiment_ids: Vec<String>,
    /// Filter, e.g. `metrics.loss < 0.3 and params.lr = "0.01"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Active, deleted or all runs (server default: active).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_view_type: Option<ViewType>,
    /// Page size (server default 1000, maximum 50000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u32>,
    /// Sort keys, e.g. `metrics.loss ASC`, `attributes.start_time DESC`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order_by: Vec<String>,
    /// Token from the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// Body of `experiments/search`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SearchExperiments {
    /// Filter, e.g. `name LIKE 'vigie-%'` or `tags.team = "soc"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u32>,
    /// Sort keys, e.g. `name ASC`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order_by: Vec<String>,
    /// Token from the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Active, deleted or all experiments (server default: active).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_type: Option<ViewType>,
}

/// Query of `registered-models/search`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchRegisteredModels {
    /// Filter, e.g. `name LIKE 'vigie-%'`.
    pub filter: Option<String>,
    /// Page size.
    pub max_results: Option<u32>,
    /// Sort keys, e.g. `name ASC`.
    pub order_by: Vec<String>,
    /// Token from the previous page.
    pub page_token: Option<String>,
}

/// Body of `POST logged-models`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CreateLoggedModel {
    /// Experiment to create it in.
    pub experiment_id: String,
    /// Name (the server generates one when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form kind of model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// Run that produced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    /// Params (hyper-parameters of the model).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// Body of `model-versions/create`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CreateModelVersion {
    /// Registered model name.
    pub name: String,
    /// Where the files are: `models:/<model_id>` for an MLflow 3 logged model.
    pub source: String,
    /// Run that produced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The logged model behind it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

// Wire types: request bodies and response envelopes the client builds or unwraps itself.

#[derive(Debug, Serialize)]
pub(crate) struct CreateExperimentBody<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_location: Option<&'a str>,
    #[serde(skip_serializing_if = "<[Tag]>::is_empty")]
    pub tags: &'a [Tag],
}

#[derive(Debug, Serialize)]
pub(crate) struct ExperimentTagBody<'a> {
    pub experiment_id: &'a str,
    pub key: &'a str,
    pub value: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct RunIdBody<'a> {
    pub run_id: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct RunKeyValueBody<'a> {
    pub run_id: &'a str,
    pub key: &'a str,
    pub value: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct RunKeyBody<'a> {
    pub run_id: &'a str,
    pub key: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct LogMetricBody<'a> {
    pub run_id: &'a str,
    pub key: &'a str,
    #[serde(with = "metric_value")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

#[derive(Debug, Serialize)]
pub(crate) struct LogBatchBody<'a> {
    pub run_id: &'a str,
    #[serde(skip_serializing_if = "<[Metric]>::is_empty")]
    pub metrics: &'a [Metric],
    #[serde(skip_serializing_if = "<[Param]>::is_empty")]
    pub params: &'a [Param],
    #[serde(skip_serializing_if = "<[Tag]>::is_empty")]
    pub tags: &'a [Tag],
}

#[derive(Debug, Serialize)]
pub(crate) struct LogInputsBody<'a> {
    pub run_id: &'a str,
    #[serde(skip_serializing_if = "<[DatasetInput]>::is_empty")]
    pub datasets: &'a [DatasetInput],
    #[serde(skip_serializing_if = "<[ModelInput]>::is_empty")]
    pub models: &'a [ModelInput],
}

#[derive(Debug, Serialize)]
pub(crate) struct LogOutputsBody<'a> {
    pub run_id: &'a str,
    pub models: &'a [ModelOutput],
}

#[derive(Debug, Serialize)]
pub(crate) struct FinalizeLoggedModelBody<'a> {
    pub model_id: &'a str,
    pub status: LoggedModelStatus,
}

#[derive(Debug, Serialize)]
pub(crate) struct CreateRegisteredModelBody<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "<[Tag]>::is_empty")]
    pub tags: &'a [Tag],
}

#[derive(Debug, Serialize)]
pub(crate) struct AliasBody<'a> {
    pub name: &'a str,
    pub alias: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExperimentIdResponse {
    pub experiment_id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExperimentResponse {
    pub experiment: Experiment,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExperimentsPage {
    #[serde(default)]
    pub experiments: Vec<Experiment>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunResponse {
    pub run: Run,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunInfoResponse {
    pub run_info: RunInfo,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunsPage {
    #[serde(default)]
    pub runs: Vec<Run>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MetricsPage {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ArtifactListResponse {
    #[serde(default)]
    pub files: Vec<FileInfo>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoggedModelResponse {
    pub model: LoggedModel,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RegisteredModelResponse {
    pub registered_model: RegisteredModel,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RegisteredModelsPage {
    #[serde(default)]
    pub registered_models: Vec<RegisteredModel>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ModelVersionsPage {
    #[serde(default)]
    pub model_versions: Vec<ModelVersion>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ModelVersionResponse {
    pub model_version: ModelVersion,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DownloadUriResponse {
    pub artifact_uri: String,
}

/// The server sends `""` or nothing on the last page; both mean "no more pages".
pub(crate) fn page<T>(items: Vec<T>, next_page_token: Option<String>) -> Page<T> {
    Page {
        items,
        next_page_token: next_page_token.filter(|t| !t.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn utc_timestamps_match_known_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00.000000");
        // 2026-11-27 20:16:00.123 UTC
        assert_eq!(
            utc_timestamp(1_795_810_560_123),
            "2026-11-27 20:16:00.123000"
        );
        // A leap day.
        assert_eq!(utc_timestamp(951_782_400_000), "2000-02-29 00:00:00.000000");
        // Before 1970: the millisecond counts forward from the second before.
        assert_eq!(utc_timestamp(-1), "1969-12-31 23:59:59.999000");
        // 1900 was no leap year: the day after February 28 is March 1.
        assert_eq!(
            utc_timestamp(-2_203_891_200_000),
            "1900-03-01 00:00:00.000000"
        );
    }

    fn to_json<T: Serialize>(value: &T) -> Value {
        serde_json::to_value(value).expect("serialisable")
    }

    #[test]
    fn non_finite_metric_values_are_strings_on_the_wire() {
        let body = LogMetricBody {
            run_id: "r",
            key: "loss",
            value: f64::NAN,
            timestamp: 1,
            step: 2,
        };
        assert_eq!(
            to_json(&body),
            json!({"run_id": "r", "key": "loss", "value": "NaN", "timestamp": 1, "step": 2})
        );
        let metrics = [
            Metric::at("a", f64::INFINITY, 0, 1),
            Metric::at("a", f64::NEG_INFINITY, 1, 1),
            Metric::at("a", 0.25, 2, 1),
        ];
        let values: Vec<Value> = metrics
            .iter()
            .map(|m| to_json(m)["value"].clone())
            .collect();
        assert_eq!(
            values,
            vec![json!("Infinity"), json!("-Infinity"), json!(0.25)]
        );
    }

    #[test]
    fn metric_history_decodes_strings_numbers_and_clamped_infinity() {
        let page: MetricsPage =
            serde_json::from_str(include_str!("../tests/fixtures/metric_history_page.json"))
                .expect("fixture parses");
        let values: Vec<f64> = page.metrics.iter().map(|m| m.value).collect();
        assert!(values[0].is_nan());
        assert_eq!(values[1], f64::MAX);
        assert_eq!(values[2], f64::MIN);
        assert_eq!(values[3], f64::INFINITY);
        assert_eq!(values[4], 1.5);
        assert_eq!(page.metrics[4].step, 4);
        assert_eq!(
            page.next_page_token.as_deref(),
            Some("eyJvZmZzZXQiOiAyfQ==")
        );
    }

    #[test]
    fn metric_values_reject_garbage_strings_and_accept_integers() {
        assert!(serde_json::from_str::<Metric>(r#"{"key":"a","value":"lots"}"#).is_err());
        let m: Metric =
            serde_json::from_str(r#"{"key":"a","value":3,"timestamp":1}"#).expect("int");
        assert_eq!((m.value, m.step), (3.0, 0));
    }

    #[test]
    fn run_fixture_decodes_every_part() {
        let run: RunResponse =
            serde_json::from_str(include_str!("../tests/fixtures/run_get.json")).expect("parses");
        let run = run.run;
        assert_eq!(run.info.run_id, "b2a44eb0894b44e4aec66ff57b1e49c3");
        assert_eq!(run.info.status, RunStatus::Finished);
        assert_eq!(run.info.end_time, Some(1_700_000_001_000));
        assert_eq!(run.data.param("p"), Some("1"));
        assert_eq!(run.data.tag("mlflow.runName"), Some("r1b"));
        assert_eq!(run.data.metric("m"), Some(1.5));
        assert!(run.data.metric("x").is_some_and(f64::is_nan));
        assert_eq!(run.inputs.dataset_inputs[0].dataset.digest, "abc");
        assert_eq!(run.inputs.dataset_inputs[0].tags[0].value, "train");
        assert_eq!(run.outputs.model_outputs[0].step, 0);
    }

    #[test]
    fn unknown_enum_values_do_not_break_decoding() {
        let info: RunInfo =
            serde_json::from_str(r#"{"run_id":"x","status":"PAUSED"}"#).expect("parses");
        assert_eq!(info.status, RunStatus::Unknown);
        let status: LoggedModelStatus =
            serde_json::from_str(r#""LOGGED_MODEL_ARCHIVED""#).expect("parses");
        assert_eq!(status, LoggedModelStatus::Unknown);
    }

    #[test]
    fn logged_model_and_registry_fixtures_decode() {
        let model: LoggedModelResponse =
            serde_json::from_str(include_str!("../tests/fixtures/logged_model.json"))
                .expect("parses");
        let info = &model.model.info;
        assert_eq!(info.status, LoggedModelStatus::Pending);
        assert_eq!(
            info.artifact_uri,
            "mlflow-artifacts:/1/models/m-b69ae460a2d14c329b6b14f1e7200b39/artifacts"
        );
        assert_eq!(model.model.data.params, vec![Param::new("p", "1")]);

        let registered: RegisteredModelResponse =
            serde_json::from_str(include_str!("../tests/fixtures/registered_model.json"))
                .expect("parses");
        let registered = registered.registered_model;
        assert_eq!(
            registered.aliases,
            vec![RegisteredModelAlias {
                alias: "champion".into(),
                version: "1".into()
            }]
        );
        assert_eq!(
            registered.latest_versions[0].status,
            ModelVersionStatus::Ready
        );

        let version: ModelVersionResponse = serde_json::from_str(include_str!(
            "../tests/fixtures/model_version_by_alias.json"
        ))
        .expect("parses");
        assert_eq!(version.model_version.aliases, vec!["champion".to_string()]);
        assert_eq!(
            version.model_version.source,
            "models:/m-b69ae460a2d14c329b6b14f1e7200b39"
        );
    }

    #[test]
    fn experiment_fixture_decodes() {
        let exp: ExperimentResponse =
            serde_json::from_str(include_str!("../tests/fixtures/experiment_get.json"))
                .expect("parses");
        assert_eq!(exp.experiment.experiment_id, "1");
        assert_eq!(exp.experiment.artifact_location, "mlflow-artifacts:/1");
        assert_eq!(exp.experiment.tag("a"), Some("b"));
    }

    #[test]
    fn request_bodies_have_the_servers_shapes() {
        let create = CreateRun {
            experiment_id: "1".into(),
            run_name: Some("r1".into()),
            start_time: Some(1_700_000_000_000),
            tags: vec![Tag::new("t", "v")],
            user_id: None,
        };
        assert_eq!(
            to_json(&create),
            json!({"experiment_id": "1", "run_name": "r1", "start_time": 1_700_000_000_000_i64,
                   "tags": [{"key": "t", "value": "v"}]})
        );
        let update = UpdateRun {
            run_id: "r".into(),
            status: Some(RunStatus::Finished),
            end_time: Some(5),
            run_name: None,
        };
        assert_eq!(
            to_json(&update),
            json!({"run_id": "r", "status": "FINISHED", "end_time": 5})
        );
        let search = SearchRuns {
            experiment_ids: vec!["1".into()],
            filter: Some("metrics.loss < 0.3".into()),
            run_view_type: Some(ViewType::All),
            max_results: Some(3),
            order_by: vec!["metrics.loss ASC".into()],
            page_token: None,
        };
        assert_eq!(
            to_json(&search),
            json!({"experiment_ids": ["1"], "filter": "metrics.loss < 0.3", "run_view_type": "ALL",
                   "max_results": 3, "order_by": ["metrics.loss ASC"]})
        );
        let experiments = SearchExperiments {
            view_type: Some(ViewType::ActiveOnly),
            ..SearchExperiments::default()
        };
        assert_eq!(to_json(&experiments), json!({"view_type": "ACTIVE_ONLY"}));
        let finalize = FinalizeLoggedModelBody {
            model_id: "m-1",
            status: LoggedModelStatus::Ready,
        };
        assert_eq!(
            to_json(&finalize),
            json!({"model_id": "m-1", "status": "LOGGED_MODEL_READY"})
        );
        let outputs = LogOutputsBody {
            run_id: "r",
            models: &[ModelOutput {
                model_id: "m-1".into(),
                step: 7,
            }],
        };
        assert_eq!(
            to_json(&outputs),
            json!({"run_id": "r", "models": [{"model_id": "m-1", "step": 7}]})
        );
        let inputs = LogInputsBody {
            run_id: "r",
            datasets: &[DatasetInput {
                tags: vec![Tag::new("mlflow.data.context", "train")],
                dataset: Dataset {
                    name: "ds".into(),
                    digest: "abc".into(),
                    source_type: "local".into(),
                    source: r#"{"uri":"x"}"#.into(),
                    schema: None,
                    profile: Some(r#"{"rows":3}"#.into()),
                },
            }],
            models: &[],
        };
        assert_eq!(
            to_json(&inputs),
            json!({"run_id": "r", "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "train"}],
                   "dataset": {"name": "ds", "digest": "abc", "source_type": "local",
                               "source": "{\"uri\":\"x\"}", "profile": "{\"rows\":3}"}}]})
        );
        let version = CreateModelVersion {
            name: "n".into(),
            source: "models:/m-1".into(),
            run_id: Some("r".into()),
            model_id: Some("m-1".into()),
            ..CreateModelVersion::default()
        };
        assert_eq!(
            to_json(&version),
            json!({"name": "n", "source": "models:/m-1", "run_id": "r", "model_id": "m-1"})
        );
        let alias = AliasBody {
            name: "n",
            alias: "champion",
            version: None,
        };
        assert_eq!(to_json(&alias), json!({"name": "n", "alias": "champion"}));
        let batch = LogBatchBody {
            run_id: "r",
            metrics: &[],
            params: &[Param::new("p", "1")],
            tags: &[],
        };
        assert_eq!(
            to_json(&batch),
            json!({"run_id": "r", "params": [{"key": "p", "value": "1"}]})
        );
    }

    #[test]
    fn empty_page_tokens_mean_last_page() {
        assert_eq!(page(vec![1], Some(String::new())).next_page_token, None);
        assert_eq!(
            page(vec![1], Some("t".into())).next_page_token.as_deref(),
            Some("t")
        );
    }
}
