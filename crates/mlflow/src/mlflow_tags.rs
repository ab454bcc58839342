//! Names of the tags MLflow itself reads (`mlflow/utils/mlflow_tags.py`); the UI uses them to
//! show names, nesting, sources and notes. Set them like any other tag.

/// Display name of a run (the server sets it from `run_name` too).
pub const RUN_NAME: &str = "mlflow.runName";
/// Id of the parent run: the UI nests this run under it.
pub const PARENT_RUN_ID: &str = "mlflow.parentRunId";
/// Who ran it.
pub const USER: &str = "mlflow.user";
/// What ran: a script, binary or notebook name.
pub const SOURCE_NAME: &str = "mlflow.source.name";
/// Kind of source; one of the [`source_type`] values.
pub const SOURCE_TYPE: &str = "mlflow.source.type";
/// Git commit of the code that ran.
pub const SOURCE_GIT_COMMIT: &str = "mlflow.source.git.commit";
/// Git branch of the code that ran.
pub const SOURCE_GIT_BRANCH: &str = "mlflow.source.git.branch";
/// Git remote URL of the code that ran.
pub const SOURCE_GIT_REPO_URL: &str = "mlflow.source.git.repoURL";
/// Markdown description shown on the run or experiment page.
pub const NOTE_CONTENT: &str = "mlflow.note.content";
/// Legacy JSON list of the models a run logged (read by the UI, set by `runs/log-model`).
pub const LOG_MODEL_HISTORY: &str = "mlflow.log-model.history";
/// Registered versions of a logged model.
pub const MODEL_VERSIONS: &str = "mlflow.modelVersions";
/// JSON list of the artifacts logged (tables, images) for the UI.
pub const LOGGED_ARTIFACTS: &str = "mlflow.loggedArtifacts";
/// Marks runs that logged images.
pub const LOGGED_IMAGES: &str = "mlflow.loggedImages";
/// Colour of the run in the UI's charts (`#rrggbb`).
pub const RUN_COLOR: &str = "mlflow.runColor";
/// Artifact location tag.
pub const ARTIFACT_LOCATION: &str = "mlflow.artifactLocation";
/// Kind of an experiment; [`EXPERIMENT_KIND_MODEL_TRAINING`] makes the UI open its training view.
pub const EXPERIMENT_KIND: &str = "mlflow.experimentKind";
/// [`EXPERIMENT_KIND`] value for model-training experiments.
pub const EXPERIMENT_KIND_MODEL_TRAINING: &str = "custom_model_development";
/// Dataset input tag: what the run used the dataset for (`train`, `eval`...).
pub const DATASET_CONTEXT: &str = "mlflow.data.context";

/// Values of [`SOURCE_TYPE`].
pub mod source_type {
    /// A notebook.
    pub const NOTEBOOK: &str = "NOTEBOOK";
    /// A scheduled or batch job.
    pub const JOB: &str = "JOB";
    /// An MLflow project.
    pub const PROJECT: &str = "PROJECT";
    /// A local program (the usual value for a Rust trainer).
    pub const LOCAL: &str = "LOCAL";
    /// Anything else.
    pub const UNKNOWN: &str = "UNKNOWN";
}
