//! A [`TrackingStore`] that writes MLflow's file-store layout in a local folder (`./mlruns`),
//! the place runs go when there is no tracking server.
//!
//! The folder reads like one the Python client wrote: `MLFLOW_ALLOW_FILE_STORE=true mlflow ui
//! --backend-store-uri ./mlruns` shows the runs, `MlflowClient(tracking_uri="file:///…")` reads
//! them, and `mlflow migrate-filestore` imports them into a database store. [`FileStore`] also
//! lists what it holds ([`FileStore::list_experiments`], [`FileStore::list_runs`]), so the runs
//! can be replayed to a server later.
//!
//! # Layout (MLflow 3.17)
//!
//! ```text
//! mlruns/0/meta.yaml                         the "Default" experiment
//! mlruns/<exp>/meta.yaml                     experiment (id: a random 63-bit integer)
//! mlruns/<exp>/tags/<key>                    experiment tags
//! mlruns/<exp>/datasets/<md5>/meta.yaml      datasets the runs used
//! mlruns/<exp>/<run>/meta.yaml               run info; status 1..5 = RUNNING..KILLED
//! mlruns/<exp>/<run>/metrics/<key>           lines "timestamp value step", NaN as `nan`
//! mlruns/<exp>/<run>/params/<key>            the value, no trailing newline
//! mlruns/<exp>/<run>/tags/<key>              the value, no trailing newline
//! mlruns/<exp>/<run>/inputs/<md5>/meta.yaml  a dataset input with its tags
//! mlruns/<exp>/<run>/artifacts/…             artifact files
//! ```
//!
//! Keys with `/` are sub-folders, as in MLflow.
//!
//! # Behaviour
//!
//! * Errors look like the server's where the server would refuse: an unknown run or experiment
//!   is an [`MlflowError::Api`] with `RESOURCE_DOES_NOT_EXIST` (so
//!   [`MlflowError::is_not_found`] works for both stores), changing a param's value is
//!   `INVALID_PARAMETER_VALUE`. Their `endpoint` names the operation and the store's URI.
//! * A file that does not have the expected shape (a truncated `meta.yaml`, a garbage metric
//!   line) is an [`MlflowError::Io`] naming the file and, where there is one, the line.
//! * `meta.yaml`, param, tag and artifact files are written to a temporary file beside them and
//!   renamed, so a crash never leaves half a file (`meta.yaml` is also fsynced). Metrics are
//!   appended, one write per key and batch; an unfinished last line left by a crash is cut
//!   before the next append.
//! * A batch is validated whole ([`batch::validate_batch`], safe key paths, param conflicts)
//!   before anything is written.
//! * Concurrent writers: distinct runs are independent. Two processes creating the same
//!   experiment name at the same moment may create it twice, as MLflow's FileStore may.
//!
//! [`batch::validate_batch`]: crate::batch::validate_batch

mod layout;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use layout::{
    ARTIFACTS, DATASETS, INPUTS, META, METRICS, PARAMS, RESERVED_EXPERIMENT_FOLDERS,
    RESERVED_ROOT_FOLDERS, TAGS, TRASH,
};

use crate::batch::validate_batch;
use crate::error::{MlflowError, Result};
use crate::mlflow_tags;
use crate::store::TrackingStore;
use crate::types::{
    CreateRun, Dataset, DatasetInput, Experiment, FileInfo, LoggedModel, Metric, ModelVersion,
    Param, Run, RunData, RunInfo, RunInputs, RunStatus, Tag, now_millis,
};
use crate::yaml::{self, Field};

/// Id and name of the experiment MLflow creates in every store.
const DEFAULT_EXPERIMENT_ID: &str = "0";
const DEFAULT_EXPERIMENT_NAME: &str = "Default";
/// `lifecycle_stage` of live experiments and runs.
const ACTIVE: &str = "active";
/// `lifecycle_stage` of soft-deleted runs (restorable, hidden from listings).
const DELETED: &str = "deleted";

/// A local MLflow file store rooted at a folder (conventionally `./mlruns`).
#[derive(Debug, Clone)]
pub struct FileStore {
    /// Absolute, canonical root folder.
    root: PathBuf,
    /// `file://` URI of `root`, used in artifact locations and messages.
    root_uri: String,
}

/// Where a run lives: its folder and its experiment's.
struct RunLocation {
    run_dir: PathBuf,
    experiment_dir: PathBuf,
}

impl FileStore {
    /// Opens the store at `root`, creating the folder and the `Default` experiment (`0`) when
    /// missing, as MLflow does.
    pub fn new(root: impl Into<PathBuf>) -> Result<FileStore> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| MlflowError::io(&root, e))?;
        // Canonical so artifact URIs are absolute and stable whatever the working directory.
        let root = fs::canonicalize(&root).map_err(|e| MlflowError::io(&root, e))?;
        let store = FileStore {
            root_uri: layout::file_uri(&root),
            root,
        };
        let trash = store.root.join(TRASH);
        fs::create_dir_all(&trash).map_err(|e| MlflowError::io(&trash, e))?;
        let default_meta = store.root.join(DEFAULT_EXPERIMENT_ID).join(META);
        if !default_meta.exists() {
            store.write_experiment(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME)?;
        }
        Ok(store)
    }

    /// The store's root folder (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The active experiments (not those in `.trash`), with their tags, ordered by id (numeric
    /// ids in numeric order). Folders without a `meta.yaml` are skipped.
    pub fn list_experiments(&self) -> Result<Vec<Experiment>> {
        let mut experiments = Vec::new();
        for name in layout::sub_folders(&self.root, &RESERVED_ROOT_FOLDERS)? {
            let dir = self.root.join(&name);
            if dir.join(META).is_file() {
                experiments.push(read_experiment(&dir)?);
            } else {
                tracing::debug!(dir = %dir.display(), "not an experiment folder: no meta.yaml");
            }
        }
        Ok(experiments)
    }

    /// The active runs of an experiment, complete (params, latest metrics, tags, inputs),
    /// ordered by start time then id.
    pub fn list_runs(&self, experiment_id: &str) -> Result<Vec<Run>> {
        let experiment_dir = self.experiment_dir("list-runs", experiment_id)?;
        let mut runs = Vec::new();
        for name in layout::sub_folders(&experiment_dir, &RESERVED_EXPERIMENT_FOLDERS)? {
            let run_dir = experiment_dir.join(&name);
            if !run_dir.join(META).is_file() {
                tracing::debug!(dir = %run_dir.display(), "not a run folder: no meta.yaml");
                continue;
            }
            let run = read_run(&run_dir, &experiment_dir)?;
            if run.info.lifecycle_stage == ACTIVE {
                runs.push(run);
            }
        }
        runs.sort_by(|a, b| {
            (a.info.start_time, &a.info.run_id).cmp(&(b.info.start_time, &b.info.run_id))
        });
        Ok(runs)
    }

    /// The folder holding a run's artifacts (`<root>/<exp>/<run>/artifacts`).
    pub fn artifact_dir(&self, run_id: &str) -> Result<PathBuf> {
        Ok(self
            .locate_run("artifact-dir", run_id)?
            .run_dir
            .join(ARTIFACTS))
    }

    /// `operation file:///…/mlruns`, the `endpoint` of this store's errors.
    fn endpoint(&self, operation: &str) -> String {
        format!("{operation} {}", self.root_uri)
    }

    /// The folder of an active experiment.
    fn experiment_dir(&self, operation: &str, experiment_id: &str) -> Result<PathBuf> {
        layout::validate_id("experiment id", experiment_id)?;
        let dir = self.root.join(experiment_id);
        if dir.join(META).is_file() {
            Ok(dir)
        } else {
            Err(layout::not_found(
                self.endpoint(operation),
                format!("Experiment {experiment_id} does not exist."),
            ))
        }
    }

    /// Finds a run's folder among the active and the deleted experiments.
    fn locate_run(&self, operation: &str, run_id: &str) -> Result<RunLocation> {
        layout::validate_id("run id", run_id)?;
        let trash = self.root.join(TRASH);
        for parent in [&self.root, &trash] {
            if !parent.is_dir() {
                continue;
            }
            for experiment in layout::sub_folders(parent, &RESERVED_ROOT_FOLDERS)? {
                let experiment_dir = parent.join(experiment);
                let run_dir = experiment_dir.join(run_id);
                if run_dir.join(META).is_file() {
                    return Ok(RunLocation {
                        run_dir,
                        experiment_dir,
                    });
                }
            }
        }
        Err(layout::not_found(
            self.endpoint(operation),
            format!("Run '{run_id}' not found"),
        ))
    }

    /// Reads a run's info and refuses runs that are deleted, as the server does for writes.
    fn active_run_info(&self, operation: &str, location: &RunLocation) -> Result<RunInfo> {
        let info = layout::read_run_meta(&location.run_dir.join(META))?;
        if info.lifecycle_stage != ACTIVE {
            return Err(layout::invalid_value(
                self.endpoint(operation),
                format!("The run {} must be in the 'active' state.", info.run_id),
            ));
        }
        Ok(info)
    }

    /// Writes a new experiment's folder and `meta.yaml`.
    fn write_experiment(&self, experiment_id: &str, name: &str) -> Result<Experiment> {
        let dir = self.root.join(experiment_id);
        fs::create_dir_all(&dir).map_err(|e| MlflowError::io(&dir, e))?;
        let now = now_millis();
        let experiment = Experiment {
            experiment_id: experiment_id.to_owned(),
            name: name.to_owned(),
            artifact_location: format!("{}/{experiment_id}", self.root_uri),
            lifecycle_stage: ACTIVE.into(),
            creation_time: Some(now),
            last_update_time: Some(now),
            tags: Vec::new(),
        };
        let meta = layout::render_experiment_meta(&experiment);
        layout::write_atomic(&dir.join(META), &dir, meta.as_bytes(), true)?;
        Ok(experiment)
    }

    /// Creates an experiment under a fresh random id, claimed with `create_dir` so two writers
    /// can never share one.
    fn create_experiment(&self, name: &str) -> Result<Experiment> {
        loop {
            // MLflow's ids are positive 63-bit integers; 0 is the Default experiment.
            let id = fastrand::u64(1..=i64::MAX as u64).to_string();
            let dir = self.root.join(&id);
            match fs::create_dir(&dir) {
                Ok(()) => return self.write_experiment(&id, name),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(MlflowError::io(&dir, e)),
            }
        }
    }

    /// Writes a param or tag file (value as is, no newline) atomically.
    fn write_value(run_dir: &Path, path: &Path, value: &str) -> Result<()> {
        layout::write_atomic(path, run_dir, value.as_bytes(), false)
    }

    /// Rewrites a run's `meta.yaml`.
    fn write_run_meta(run_dir: &Path, info: &RunInfo) -> Result<()> {
        let meta = layout::render_run_meta(info, None);
        layout::write_atomic(&run_dir.join(META), run_dir, meta.as_bytes(), true)
    }
}

/// Reads an experiment folder: `meta.yaml` and the `tags/` files.
fn read_experiment(dir: &Path) -> Result<Experiment> {
    let mut experiment = layout::read_experiment_meta(&dir.join(META))?;
    experiment.tags = read_key_values(&dir.join(TAGS))?
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect();
    Ok(experiment)
}

/// The files under a params or tags folder as (key, value), sorted by key.
fn read_key_values(dir: &Path) -> Result<Vec<(String, String)>> {
    layout::keyed_files(dir)?
        .into_iter()
        .map(|(key, path)| Ok((key, layout::read_text(&path)?)))
        .collect()
}

/// Reads a whole run: info, params, latest metrics, tags and dataset inputs.
fn read_run(run_dir: &Path, experiment_dir: &Path) -> Result<Run> {
    let meta_path = run_dir.join(META);
    let mut info = layout::read_run_meta(&meta_path)?;
    // MLflow refuses a meta.yaml that names another run or experiment (a copied folder).
    let folder = |dir: &Path| dir.file_name().map(|n| n.to_string_lossy().into_owned());
    if folder(run_dir).as_deref() != Some(info.run_id.as_str())
        || folder(experiment_dir).as_deref() != Some(info.experiment_id.as_str())
    {
        return Err(layout::bad_file(
            &meta_path,
            None,
            format!(
                "names run {} of experiment {}, not the folder it is in",
                info.run_id, info.experiment_id
            ),
        ));
    }
    let params: Vec<Param> = read_key_values(&run_dir.join(PARAMS))?
        .into_iter()
        .map(|(key, value)| Param { key, value })
        .collect();
    let tags: Vec<Tag> = read_key_values(&run_dir.join(TAGS))?
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect();
    let mut metrics = Vec::new();
    for (key, path) in layout::keyed_files(&run_dir.join(METRICS))? {
        // MLflow's "latest" value: the largest (step, timestamp, value).
        let latest = layout::read_metric_file(&path, &key)?
            .into_iter()
            .max_by(|a, b| {
                (a.step, a.timestamp)
                    .cmp(&(b.step, b.timestamp))
                    .then(a.value.total_cmp(&b.value))
            });
        match latest {
            Some(metric) => metrics.push(metric),
            None => return Err(layout::bad_file(&path, None, "metric file has no value")),
        }
    }
    if info.run_name.is_empty()
        && let Some(name) = tags.iter().find(|t| t.key == mlflow_tags::RUN_NAME)
    {
        info.run_name = name.value.clone();
    }
    let dataset_inputs = read_dataset_inputs(run_dir, experiment_dir)?;
    Ok(Run {
        info,
        data: RunData {
            metrics,
            params,
            tags,
        },
        inputs: RunInputs {
            dataset_inputs,
            model_inputs: Vec::new(),
        },
        ..Run::default()
    })
}

/// The dataset inputs of a run (`inputs/<id>/meta.yaml` pointing at
/// `<exp>/datasets/<id>/meta.yaml`); inputs whose dataset is missing are skipped, as MLflow does.
fn read_dataset_inputs(run_dir: &Path, experiment_dir: &Path) -> Result<Vec<DatasetInput>> {
    let inputs_dir = run_dir.join(INPUTS);
    if !inputs_dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut inputs = Vec::new();
    for input in layout::sub_folders(&inputs_dir, &[])? {
        let input_path = inputs_dir.join(&input).join(META);
        let input_meta = layout::MetaFile::read(&input_path)?;
        if input_meta.str("source_type")? != "DATASET" {
            continue;
        }
        let dataset_id = input_meta.str("source_id")?;
        let dataset_path = experiment_dir.join(DATASETS).join(&dataset_id).join(META);
        if !dataset_path.is_file() {
            tracing::warn!(input = %input_path.display(), "dataset {dataset_id} of a run input is missing; skipped");
            continue;
        }
        let dataset_meta = layout::MetaFile::read(&dataset_path)?;
        inputs.push(DatasetInput {
            tags: input_meta
                .map("tags")?
                .into_iter()
                .map(|(key, value)| Tag { key, value })
                .collect(),
            dataset: Dataset {
                name: dataset_meta.str("name")?,
                digest: dataset_meta.str("digest")?,
                source_type: dataset_meta.str("source_type")?,
                source: dataset_meta.str("source")?,
                schema: dataset_meta.opt_str("schema")?,
                profile: dataset_meta.opt_str("profile")?,
            },
        });
    }
    Ok(inputs)
}

/// The user a run is recorded under when the request names none: the login name, as the
/// Python client does, else `unknown`.
fn default_user() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// A run id: 32 lower-case hex characters, a random UUID v4 like MLflow's `uuid4().hex`.
fn new_run_id() -> String {
    let random = (u128::from(fastrand::u64(..)) << 64) | u128::from(fastrand::u64(..));
    let uuid = (random & !(0xF << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    format!("{uuid:032x}")
}

/// A display name for runs created without one (MLflow picks `adjective-animal-NNN`).
fn new_run_name() -> String {
    format!("run-{:08x}", fastrand::u32(..))
}

/// Files to copy for `log_artifacts`: (source, path relative to the destination). Symlinks to
/// files are followed, symlinks to folders skipped (they can loop), like `upload_dir`.
fn artifact_files(local: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let metadata = fs::metadata(local).map_err(|e| MlflowError::io(local, e))?;
    if metadata.is_file() {
        let name = local
            .file_name()
            .ok_or_else(|| MlflowError::invalid("artifact path", "the path has no file name"))?;
        return Ok(vec![(local.to_path_buf(), PathBuf::from(name))]);
    }
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = local.join(&relative);
        for entry in fs::read_dir(&dir).map_err(|e| MlflowError::io(&dir, e))? {
            let entry = entry.map_err(|e| MlflowError::io(&dir, e))?;
            let path = entry.path();
            let link = entry
                .file_type()
                .map_err(|e| MlflowError::io(&path, e))?
                .is_symlink();
            let target = fs::metadata(&path).map_err(|e| MlflowError::io(&path, e))?;
            let child = relative.join(entry.file_name());
            if target.is_dir() {
                if !link {
                    pending.push(child);
                }
            } else {
                files.push((path, child));
            }
        }
    }
    files.sort();
    Ok(files)
}

impl TrackingStore for FileStore {
    fn describe(&self) -> String {
        self.root_uri.clone()
    }

    fn experiment_id(&self, name: &str) -> Result<String> {
        if name.trim().is_empty() {
            return Err(MlflowError::invalid("experiment name", "empty name"));
        }
        if let Some(found) = self
            .list_experiments()?
            .into_iter()
            .find(|e| e.name == name)
        {
            return Ok(found.experiment_id);
        }
        // MLflow refuses to reuse the name of a deleted experiment until it is purged.
        let trash = self.root.join(TRASH);
        let deleted = if trash.is_dir() {
            layout::sub_folders(&trash, &[])?
        } else {
            Vec::new()
        };
        for id in deleted {
            let meta = trash.join(&id).join(META);
            if meta.is_file() && layout::read_experiment_meta(&meta)?.name == name {
                return Err(layout::already_exists(
                    self.endpoint("create-experiment"),
                    format!("Experiment {name:?} already exists in deleted state."),
                ));
            }
        }
        Ok(self.create_experiment(name)?.experiment_id)
    }

    fn create_run(&self, request: &CreateRun) -> Result<Run> {
        let experiment_dir = self.experiment_dir("create-run", &request.experiment_id)?;
        let experiment = read_experiment(&experiment_dir)?;
        if experiment.lifecycle_stage != ACTIVE {
            return Err(layout::invalid_value(
                self.endpoint("create-run"),
                format!(
                    "Could not create run under non-active experiment with ID {}.",
                    request.experiment_id
                ),
            ));
        }
        validate_batch(&[], &[], &request.tags)?;
        let tag_value = |key: &str| {
            request
                .tags
                .iter()
                .find(|t| t.key == key)
                .map(|t| t.value.clone())
        };
        let name_tag = tag_value(mlflow_tags::RUN_NAME);
        if let (Some(name), Some(tag)) = (&request.run_name, &name_tag)
            && name != tag
        {
            return Err(layout::invalid_value(
                self.endpoint("create-run"),
                format!(
                    "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with \
                     different values (run_name='{name}', mlflow.runName='{tag}')."
                ),
            ));
        }
        let run_name = request
            .run_name
            .clone()
            .or(name_tag)
            .unwrap_or_else(new_run_name);
        let user_id = request
            .user_id
            .clone()
            .or_else(|| tag_value(mlflow_tags::USER))
            .unwrap_or_else(default_user);
        let mut tags = request.tags.clone();
        for (key, value) in [
            (mlflow_tags::RUN_NAME, &run_name),
            (mlflow_tags::USER, &user_id),
        ] {
            if !tags.iter().any(|t| t.key == key) {
                tags.push(Tag::new(key, value.as_str()));
            }
        }

        let run_id = new_run_id();
        let run_dir = experiment_dir.join(&run_id);
        fs::create_dir(&run_dir).map_err(|e| MlflowError::io(&run_dir, e))?;
        for sub in [METRICS, PARAMS, ARTIFACTS, TAGS] {
            let dir = run_dir.join(sub);
            fs::create_dir_all(&dir).map_err(|e| MlflowError::io(&dir, e))?;
        }
        for tag in &tags {
            let path = layout::key_path(&run_dir.join(TAGS), "tag key", &tag.key)?;
            Self::write_value(&run_dir, &path, &tag.value)?;
        }
        let info = RunInfo {
            run_id: run_id.clone(),
            experiment_id: request.experiment_id.clone(),
            run_name,
            user_id,
            status: RunStatus::Running,
            start_time: Some(request.start_time.unwrap_or_else(now_millis)),
            end_time: None,
            artifact_uri: layout::file_uri(&run_dir.join(ARTIFACTS)),
            lifecycle_stage: ACTIVE.into(),
        };
        // Written last: a run becomes visible only once its folders and tags are there.
        Self::write_run_meta(&run_dir, &info)?;
        read_run(&run_dir, &experiment_dir)
    }

    fn get_run(&self, run_id: &str) -> Result<Run> {
        let location = self.locate_run("get-run", run_id)?;
        read_run(&location.run_dir, &location.experiment_dir)
    }

    fn find_runs_by_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<Vec<Run>> {
        let experiment_dir = self.experiment_dir("search-runs", experiment_id)?;
        let mut runs = Vec::new();
        for name in layout::sub_folders(&experiment_dir, &RESERVED_EXPERIMENT_FOLDERS)? {
            let run_dir = experiment_dir.join(&name);
            // Only the one tag file is read per run; whole runs only for the matches.
            let tag_path = layout::key_path(&run_dir.join(TAGS), "tag key", key)?;
            if !run_dir.join(META).is_file() || !tag_path.is_file() {
                continue;
            }
            if layout::read_text(&tag_path)? == value {
                let run = read_run(&run_dir, &experiment_dir)?;
                if run.info.lifecycle_stage == ACTIVE {
                    runs.push(run);
                }
            }
        }
        Ok(runs)
    }

    fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<usize> {
        validate_batch(metrics, params, tags)?;
        let location = self.locate_run("log-batch", run_id)?;
        let mut info = self.active_run_info("log-batch", &location)?;
        let run_dir = &location.run_dir;

        // Everything is checked before the first write, so a refused batch writes nothing.
        let mut param_writes = Vec::with_capacity(params.len());
        for param in params {
            let path = layout::key_path(&run_dir.join(PARAMS), "param key", &param.key)?;
            if path.is_file() {
                let current = layout::read_text(&path)?;
                if current != param.value {
                    return Err(layout::invalid_value(
                        self.endpoint("log-batch"),
                        format!(
                            "Changing param values is not allowed. Param with key='{}' was \
                             already logged with value='{current}' for run ID='{run_id}'. \
                             Attempted logging new value '{}'.",
                            param.key, param.value
                        ),
                    ));
                }
                continue; // Same value: nothing to write.
            }
            param_writes.push((path, param.value.as_str()));
        }
        let mut metric_lines: BTreeMap<&str, String> = BTreeMap::new();
        for metric in metrics {
            layout::key_path(&run_dir.join(METRICS), "metric key", &metric.key)?;
            metric_lines
                .entry(&metric.key)
                .or_default()
                .push_str(&layout::format_metric_line(metric));
        }
        let mut tag_writes = Vec::with_capacity(tags.len());
        for tag in tags {
            let path = layout::key_path(&run_dir.join(TAGS), "tag key", &tag.key)?;
            tag_writes.push((path, tag.value.as_str()));
        }

        let mut writes = 0;
        for (path, value) in param_writes {
            Self::write_value(run_dir, &path, value)?;
            writes += 1;
        }
        for (key, lines) in &metric_lines {
            let path = layout::key_path(&run_dir.join(METRICS), "metric key", key)?;
            layout::append_lines(&path, lines)?;
            writes += 1;
        }
        for (path, value) in tag_writes {
            Self::write_value(run_dir, &path, value)?;
            writes += 1;
        }
        // Renaming through the tag also renames the run, as MLflow's set_tag does.
        if let Some(name) = tags.iter().rev().find(|t| t.key == mlflow_tags::RUN_NAME)
            && name.value != info.run_name
        {
            info.run_name = name.value.clone();
            Self::write_run_meta(run_dir, &info)?;
            writes += 1;
        }
        Ok(writes)
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        let location = self.locate_run("get-metric-history", run_id)?;
        let path = layout::key_path(&location.run_dir.join(METRICS), "metric key", key)?;
        if !path.is_file() {
            return Ok(Vec::new()); // As MLflow: an unknown metric has an empty history.
        }
        layout::read_metric_file(&path, key)
    }

    fn log_inputs(&self, run_id: &str, datasets: &[DatasetInput]) -> Result<()> {
        let location = self.locate_run("log-inputs", run_id)?;
        self.active_run_info("log-inputs", &location)?;
        for input in datasets {
            if input.dataset.name.is_empty() {
                return Err(MlflowError::invalid("dataset name", "empty name"));
            }
            validate_batch(&[], &[], &input.tags)?;
        }
        for input in datasets {
            let dataset = &input.dataset;
            // The same ids as MLflow's FileStore, so Python and Rust share dataset folders.
            let dataset_id = md5_hex(&[dataset.name.as_bytes(), dataset.digest.as_bytes()]);
            let dataset_dir = location.experiment_dir.join(DATASETS).join(&dataset_id);
            if !dataset_dir.join(META).is_file() {
                let meta = yaml::render(&[
                    ("digest", Field::Str(&dataset.digest)),
                    ("name", Field::Str(&dataset.name)),
                    (
                        "profile",
                        dataset.profile.as_deref().map_or(Field::Null, Field::Str),
                    ),
                    (
                        "schema",
                        dataset.schema.as_deref().map_or(Field::Null, Field::Str),
                    ),
                    ("source", Field::Str(&dataset.source)),
                    ("source_type", Field::Str(&dataset.source_type)),
                ]);
                fs::create_dir_all(&dataset_dir).map_err(|e| MlflowError::io(&dataset_dir, e))?;
                layout::write_atomic(&dataset_dir.join(META), &dataset_dir, meta.as_bytes(), true)?;
            }
            let input_id = md5_hex(&[dataset_id.as_bytes(), run_id.as_bytes()]);
            let input_dir = location.run_dir.join(INPUTS).join(&input_id);
            if input_dir.join(META).is_file() {
                continue; // Logged before: MLflow keeps the first record.
            }
            let tags: Vec<(String, String)> = input
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            // `destination_id` repeats the dataset id: MLflow's FileStore writes it so.
            let meta = yaml::render(&[
                ("destination_id", Field::Str(&dataset_id)),
                ("destination_type", Field::Str("RUN")),
                ("source_id", Field::Str(&dataset_id)),
                ("source_type", Field::Str("DATASET")),
                ("tags", Field::Map(&tags)),
            ]);
            fs::create_dir_all(&input_dir).map_err(|e| MlflowError::io(&input_dir, e))?;
            layout::write_atomic(&input_dir.join(META), &input_dir, meta.as_bytes(), true)?;
        }
        Ok(())
    }

    fn log_artifacts(
        &self,
        run_id: &str,
        local: &Path,
        artifact_dir: Option<&str>,
    ) -> Result<usize> {
        let location = self.locate_run("log-artifacts", run_id)?;
        let mut destination = location.run_dir.join(ARTIFACTS);
        if let Some(dir) = artifact_dir
            .map(|d| d.trim_matches('/'))
            .filter(|d| !d.is_empty())
        {
            destination = layout::key_path(&destination, "artifact path", dir)?;
        }
        let files = artifact_files(local)?;
        for (source, relative) in &files {
            layout::copy_atomic(source, &destination.join(relative), &location.run_dir)?;
        }
        Ok(files.len())
    }

    fn end_run(&self, run_id: &str, status: RunStatus, end_time: i64) -> Result<()> {
        if layout::status_code(status).is_none() {
            return Err(MlflowError::invalid(
                "run status",
                "UNKNOWN cannot be stored",
            ));
        }
        let location = self.locate_run("update-run", run_id)?;
        let mut info = self.active_run_info("update-run", &location)?;
        info.status = status;
        info.end_time = Some(end_time);
        Self::write_run_meta(&location.run_dir, &info)
    }

    fn reopen_run(&self, run_id: &str) -> Result<()> {
        let location = self.locate_run("update-run", run_id)?;
        let mut info = self.active_run_info("update-run", &location)?;
        info.status = RunStatus::Running;
        info.end_time = None;
        Self::write_run_meta(&location.run_dir, &info)
    }

    fn find_experiment(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .list_experiments()?
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.experiment_id))
    }

    fn list_runs(&self, experiment_id: &str) -> Result<Vec<Run>> {
        FileStore::list_runs(self, experiment_id)
    }

    fn download_artifact(&self, run_id: &str, path: &str, local_file: &Path) -> Result<()> {
        let segments = crate::artifacts::relative_segments("artifact path", path)?;
        if segments.is_empty() {
            return Err(MlflowError::invalid("artifact path", "empty: name a file"));
        }
        let mut source = self.artifact_dir(run_id)?;
        source.extend(&segments);
        if !source.is_file() {
            return Err(layout::not_found(
                self.endpoint("get-artifact"),
                format!("Run {run_id} has no artifact {path}."),
            ));
        }
        let temp_dir = local_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(temp_dir).map_err(|e| MlflowError::io(temp_dir, e))?;
        layout::copy_atomic(&source, local_file, temp_dir)
    }

    fn list_experiments(&self) -> Result<Vec<Experiment>> {
        FileStore::list_experiments(self)
    }

    fn list_run_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>> {
        let relative = match path {
            Some(path) => crate::artifacts::relative_segments("artifact path", path)?,
            None => Vec::new(),
        };
        let mut dir = self.artifact_dir(run_id)?;
        dir.extend(&relative);
        if !dir.is_dir() {
            return Ok(Vec::new()); // As MLflow: a missing path lists as empty.
        }
        let mut files = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| MlflowError::io(&dir, e))? {
            let entry = entry.map_err(|e| MlflowError::io(&dir, e))?;
            let entry_path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return Err(layout::bad_file(
                    &entry_path,
                    None,
                    "file name is not valid UTF-8",
                ));
            };
            if name.starts_with(".tmp-") {
                continue; // An atomic write in progress (or left by a crash).
            }
            let metadata =
                fs::metadata(&entry_path).map_err(|e| MlflowError::io(&entry_path, e))?;
            let mut full = relative.clone();
            full.push(name);
            files.push(FileInfo {
                path: full.join("/"),
                is_dir: metadata.is_dir(),
                file_size: (!metadata.is_dir()).then_some(metadata.len()),
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    fn delete_run(&self, run_id: &str) -> Result<()> {
        let location = self.locate_run("delete-run", run_id)?;
        let mut info = layout::read_run_meta(&location.run_dir.join(META))?;
        if info.lifecycle_stage == DELETED {
            return Ok(()); // As the server: deleting again changes nothing.
        }
        info.lifecycle_stage = DELETED.into();
        // MLflow's FileStore records when, for `mlflow gc`.
        let meta = layout::render_run_meta(&info, Some(now_millis()));
        let run_dir = &location.run_dir;
        layout::write_atomic(&run_dir.join(META), run_dir, meta.as_bytes(), true)
    }

    fn run_model_versions(&self, _run_id: &str) -> Result<Vec<ModelVersion>> {
        Ok(Vec::new()) // No model registry in a file store.
    }

    fn logged_model(&self, _model_id: &str) -> Result<Option<LoggedModel>> {
        Ok(None) // Runs of this store keep their model among their artifacts.
    }
}

/// Lower-case hex MD5 of the concatenation of `parts`: the folder names of MLflow's FileStore
/// (`md5(name + digest)` for a dataset, `md5(dataset_id + run_id)` for a run input), so a
/// dataset logged from Python and from Rust lands in the same folder. Not for security.
fn md5_hex(parts: &[&[u8]]) -> String {
    use md5::{Digest, Md5};
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part);
    }
    format!("{:x}", hasher.finalize())
}

#[cfg(test)]
mod tests;
