//! The operations a run needs, over any place that keeps runs: an MLflow server
//! ([`crate::MlflowClient`]) or a local folder in MLflow's file-store layout.
//!
//! A trainer's run logger and the journal replay code only speak [`TrackingStore`],
//! so the same run can go to a server, to `./mlruns` when there is none, and from
//! `./mlruns` to a server later. The methods are the few a run needs, plus the reads
//! that make a replay idempotent (find a run by tag, read params and metric history).

use std::path::Path;

use crate::error::Result;
use crate::types::{CreateRun, DatasetInput, Metric, Param, Run, RunStatus, Tag};

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
}
