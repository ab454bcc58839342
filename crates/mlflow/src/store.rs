//! The operations a run needs, over any place that keeps runs: an MLflow server
//! ([`crate::MlflowClient`]) or a local folder in MLflow's file-store layout.
//!
//! A trainer's run logger and the journal replay code only speak [`TrackingStore`],
//! so the same run can go to a server, to `./mlruns` when there is none, and from
//! `./mlruns` to a server later. The methods are the few a run needs, plus the reads
//! that make a replay idempotent (find a run by tag, read params and metric history), and the
//! reads and the soft delete that let a person manage runs (list experiments and artifacts,
//! the registered versions of a run's model).

use std::path::Path;

use crate::error::Result;
use crate::types::{
    CreateRun, DatasetInput, Experiment, FileInfo, LoggedModel, Metric, ModelVersion, Param, Run,
    RunStatus, Tag,
};

/// Where runs are kept. Ids are the store's own (a server's run ids, or the folder names
/// of a file store).
pub trait TrackingStore {
    /// A human-readable name for messages (`http://127.0.0.1:5000`, `file:///…/mlruns`).
    fn describe(&self) -> String;

    /// The id of the experiment called `name`, created when missing.
    fn experiment_id(&self, name: &str) -> Result<String>;

    /// Create a run; returns it with its id and artifact URI.
    fn create_run(&self, request: &CreateRun) -> Result<Run>;

    /// Read a run with its params, latest metrics and tags.
    fn get_run(&self, run_id: &str) -> Result<Run>;

    /// Runs of an experiment whose tag `key` equals `value` (used to find a run again
    /// after a crash, by a client-side id tag), including deleted ones is not required.
    fn find_runs_by_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<Vec<Run>>;

    /// Log metrics, params and tags; returns the number of requests (or writes) it took.
    fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<usize>;

    /// Every point of one metric of a run.
    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>>;

    /// Record the datasets a run used.
    fn log_inputs(&self, run_id: &str, datasets: &[DatasetInput]) -> Result<()>;

    /// Store a local file (or every file under a directory) as the run's artifacts under
    /// `artifact_dir` (`None`: the root). Returns the number of files stored.
    fn log_artifacts(
        &self,
        run_id: &str,
        local: &Path,
        artifact_dir: Option<&str>,
    ) -> Result<usize>;

    /// Set the run's final status and end time (ms).
    fn end_run(&self, run_id: &str, status: RunStatus, end_time: i64) -> Result<()>;

    /// Mark an ended run RUNNING again (a resumed job taking its run back).
    fn reopen_run(&self, run_id: &str) -> Result<()>;

    /// The id of the experiment called `name`, or `None` when there is none (nothing created).
    fn find_experiment(&self, name: &str) -> Result<Option<String>>;

    /// Every active run of an experiment, with params, latest metrics and tags.
    fn list_runs(&self, experiment_id: &str) -> Result<Vec<Run>>;

    /// Copy one artifact file of a run (`path` relative to the run's artifact root) to
    /// `local_file`.
    fn download_artifact(&self, run_id: &str, path: &str, local_file: &Path) -> Result<()>;

    /// Every active experiment, with its tags.
    fn list_experiments(&self) -> Result<Vec<Experiment>>;

    /// The direct children of `path` (`None`: the root) among a run's artifacts, with paths
    /// relative to the artifact root (`model/MLmodel`), as MLflow's `list_artifacts`; a missing
    /// path lists as empty.
    fn list_run_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>>;

    /// MLflow's soft delete: the run is marked `deleted` (hidden from listings, restorable) and
    /// nothing is removed. Deleting a deleted run again is not an error.
    fn delete_run(&self, run_id: &str) -> Result<()>;

    /// The registered model versions made from a run, with their aliases; none in a store
    /// without a model registry.
    fn run_model_versions(&self, run_id: &str) -> Result<Vec<ModelVersion>>;

    /// An MLflow 3 logged model by id; `None` in a store that keeps no logged models.
    fn logged_model(&self, model_id: &str) -> Result<Option<LoggedModel>>;
}

impl TrackingStore for crate::MlflowClient {
    fn describe(&self) -> String {
        self.tracking_uri().to_owned()
    }

    fn experiment_id(&self, name: &str) -> Result<String> {
        Ok(self.get_or_create_experiment(name)?.experiment_id)
    }

    fn create_run(&self, request: &CreateRun) -> Result<Run> {
        crate::MlflowClient::create_run(self, request)
    }

    fn get_run(&self, run_id: &str) -> Result<Run> {
        crate::MlflowClient::get_run(self, run_id)
    }

    fn find_runs_by_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<Vec<Run>> {
        let search = crate::SearchRuns {
            experiment_ids: vec![experiment_id.to_owned()],
            filter: Some(format!("tags.`{key}` = '{}'", value.replace('\'', "\\'"))),
            ..Default::default()
        };
        self.search_runs_all(&search)
    }

    fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<usize> {
        crate::MlflowClient::log_batch(self, run_id, metrics, params, tags)
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        self.get_metric_history(run_id, key)
    }

    fn log_inputs(&self, run_id: &str, datasets: &[DatasetInput]) -> Result<()> {
        crate::MlflowClient::log_inputs(self, run_id, datasets, &[])
    }

    fn log_artifacts(
        &self,
        run_id: &str,
        local: &Path,
        artifact_dir: Option<&str>,
    ) -> Result<usize> {
        if local.is_dir() {
            self.upload_dir(run_id, local, artifact_dir)
        } else {
            self.upload_file(run_id, local, artifact_dir).map(|_| 1)
        }
    }

    fn end_run(&self, run_id: &str, status: RunStatus, end_time: i64) -> Result<()> {
        self.update_run(&crate::UpdateRun {
            run_id: run_id.to_owned(),
            status: Some(status),
            end_time: Some(end_time),
            run_name: None,
        })?;
        Ok(())
    }

    fn reopen_run(&self, run_id: &str) -> Result<()> {
        self.update_run(&crate::UpdateRun {
            run_id: run_id.to_owned(),
            status: Some(RunStatus::Running),
            end_time: None,
            run_name: None,
        })?;
        Ok(())
    }

    fn find_experiment(&self, name: &str) -> Result<Option<String>> {
        Ok(self.get_experiment_by_name(name)?.map(|e| e.experiment_id))
    }

    fn list_runs(&self, experiment_id: &str) -> Result<Vec<Run>> {
        let search = crate::SearchRuns {
            experiment_ids: vec![experiment_id.to_owned()],
            ..Default::default()
        };
        self.search_runs_all(&search)
    }

    fn download_artifact(&self, run_id: &str, path: &str, local_file: &Path) -> Result<()> {
        let run = crate::MlflowClient::get_run(self, run_id)?;
        self.download_file(&run.info.artifact_uri, path, local_file)?;
        Ok(())
    }

    fn list_experiments(&self) -> Result<Vec<Experiment>> {
        self.search_experiments_all(&crate::SearchExperiments {
            view_type: Some(crate::ViewType::ActiveOnly),
            // The server reads a missing page size as 0 and refuses it.
            max_results: Some(1000),
            ..crate::SearchExperiments::default()
        })
    }

    fn list_run_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>> {
        let root = self.run_artifact_uri(run_id)?;
        crate::MlflowClient::list_artifacts(self, &root, path)
    }

    fn delete_run(&self, run_id: &str) -> Result<()> {
        crate::MlflowClient::delete_run(self, run_id)
    }

    fn run_model_versions(&self, run_id: &str) -> Result<Vec<ModelVersion>> {
        crate::MlflowClient::run_model_versions(self, run_id)
    }

    fn logged_model(&self, model_id: &str) -> Result<Option<LoggedModel>> {
        match self.get_logged_model(model_id) {
            Ok(model) => Ok(Some(model)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The store a trainer logs to when it is not told otherwise, chosen the way MLflow users
/// expect: an `http(s)://` tracking URI is a server, a `file:` URI or a plain path is a local
/// file store there, and no URI at all is the local default, `./mlruns`.
#[derive(Debug)]
pub enum DefaultStore {
    /// An MLflow tracking server (boxed: a client is much larger than a folder path).
    Server(Box<crate::MlflowClient>),
    /// A folder in MLflow's file-store layout.
    Local(crate::FileStore),
}

/// The folder runs go to when no tracking URI is set.
pub const LOCAL_DEFAULT_DIR: &str = "mlruns";

impl DefaultStore {
    /// From `MLFLOW_TRACKING_URI` (and, for a server, the other `MLFLOW_*` variables).
    pub fn from_env() -> Result<DefaultStore> {
        let uri = std::env::var(crate::config::ENV_TRACKING_URI)
            .ok()
            .filter(|u| !u.trim().is_empty());
        DefaultStore::from_uri(uri.as_deref())
    }

    /// From a tracking URI (`None`: the local default). A server takes its credentials,
    /// retries and timeouts from the `MLFLOW_*` variables, with `uri` replacing the URI.
    pub fn from_uri(uri: Option<&str>) -> Result<DefaultStore> {
        match local_store_path(uri) {
            Some(path) => Ok(DefaultStore::Local(crate::FileStore::new(path)?)),
            None => {
                let uri = uri.unwrap_or_default().to_owned();
                let config = crate::TrackingConfig::from_lookup(|name| {
                    if name == crate::config::ENV_TRACKING_URI {
                        Some(uri.clone())
                    } else {
                        std::env::var(name).ok()
                    }
                })?;
                Ok(DefaultStore::Server(Box::new(crate::MlflowClient::new(
                    config,
                )?)))
            }
        }
    }

    fn inner(&self) -> &dyn TrackingStore {
        match self {
            DefaultStore::Server(client) => client.as_ref(),
            DefaultStore::Local(store) => store,
        }
    }
}

/// The folder of a local store named by `uri`, or `None` when `uri` names a server.
fn local_store_path(uri: Option<&str>) -> Option<std::path::PathBuf> {
    let uri = uri.map(str::trim).filter(|u| !u.is_empty());
    match uri {
        None => Some(std::path::PathBuf::from(LOCAL_DEFAULT_DIR)),
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => None,
        Some(u) => {
            let path = u.strip_prefix("file://").unwrap_or(u);
            Some(std::path::PathBuf::from(
                path.strip_prefix("file:").unwrap_or(path),
            ))
        }
    }
}

impl TrackingStore for DefaultStore {
    fn describe(&self) -> String {
        self.inner().describe()
    }
    fn experiment_id(&self, name: &str) -> Result<String> {
        self.inner().experiment_id(name)
    }
    fn create_run(&self, request: &CreateRun) -> Result<Run> {
        self.inner().create_run(request)
    }
    fn get_run(&self, run_id: &str) -> Result<Run> {
        self.inner().get_run(run_id)
    }
    fn find_runs_by_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<Vec<Run>> {
        self.inner().find_runs_by_tag(experiment_id, key, value)
    }
    fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<usize> {
        self.inner().log_batch(run_id, metrics, params, tags)
    }
    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        self.inner().metric_history(run_id, key)
    }
    fn log_inputs(&self, run_id: &str, datasets: &[DatasetInput]) -> Result<()> {
        self.inner().log_inputs(run_id, datasets)
    }
    fn log_artifacts(
        &self,
        run_id: &str,
        local: &Path,
        artifact_dir: Option<&str>,
    ) -> Result<usize> {
        self.inner().log_artifacts(run_id, local, artifact_dir)
    }
    fn end_run(&self, run_id: &str, status: RunStatus, end_time: i64) -> Result<()> {
        self.inner().end_run(run_id, status, end_time)
    }
    fn reopen_run(&self, run_id: &str) -> Result<()> {
        self.inner().reopen_run(run_id)
    }
    fn find_experiment(&self, name: &str) -> Result<Option<String>> {
        self.inner().find_experiment(name)
    }
    fn list_runs(&self, experiment_id: &str) -> Result<Vec<Run>> {
        self.inner().list_runs(experiment_id)
    }
    fn download_artifact(&self, run_id: &str, path: &str, local_file: &Path) -> Result<()> {
        self.inner().download_artifact(run_id, path, local_file)
    }
    fn list_experiments(&self) -> Result<Vec<Experiment>> {
        self.inner().list_experiments()
    }
    fn list_run_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>> {
        self.inner().list_run_artifacts(run_id, path)
    }
    fn delete_run(&self, run_id: &str) -> Result<()> {
        self.inner().delete_run(run_id)
    }
    fn run_model_versions(&self, run_id: &str) -> Result<Vec<ModelVersion>> {
        self.inner().run_model_versions(run_id)
    }
    fn logged_model(&self, model_id: &str) -> Result<Option<LoggedModel>> {
        self.inner().logged_model(model_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_uri_is_the_local_default_and_paths_are_local_stores() {
        assert_eq!(local_store_path(None), Some("mlruns".into()));
        assert_eq!(local_store_path(Some("  ")), Some("mlruns".into()));
        assert_eq!(
            local_store_path(Some("file:///tmp/runs")),
            Some("/tmp/runs".into())
        );
        assert_eq!(
            local_store_path(Some("file:rel/runs")),
            Some("rel/runs".into())
        );
        assert_eq!(
            local_store_path(Some("./elsewhere")),
            Some("./elsewhere".into())
        );
        assert_eq!(local_store_path(Some("http://127.0.0.1:5000")), None);
        assert_eq!(local_store_path(Some("https://mlflow.example")), None);
    }

    #[test]
    fn a_file_uri_opens_a_file_store_that_runs_can_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let uri = format!("file://{}", dir.path().join("runs").display());
        let store = DefaultStore::from_uri(Some(&uri)).expect("store");
        assert!(matches!(store, DefaultStore::Local(_)));
        let experiment = store.experiment_id("e").expect("experiment");
        let run = store.create_run(&CreateRun::new(experiment)).expect("run");
        store
            .log_batch(&run.info.run_id, &[Metric::new("loss", 0.5, 1)], &[], &[])
            .expect("log");
        assert_eq!(
            store
                .metric_history(&run.info.run_id, "loss")
                .expect("history")
                .len(),
            1
        );
        assert!(dir.path().join("runs/0/meta.yaml").is_file());
    }
}
