//! One MLflow run per monitored source: the windows as metric points (stepped by the window's
//! index since the epoch, stamped with its start), the drift as tags, the report and the chart
//! as artifacts. A tracking failure is a warning, never monitoring's failure: the journal keeps
//! what did not reach the store, for `vigie mlflow sync`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use vigie_mlflow::{Metric, Param, RunLogger, RunOptions, RunStatus, Tag};
use vigie_score::Engine;
use vigie_score::monitor::MonitorReport;
use vigie_score::monitor::tracking::{drift_tags, drifted_label, rule_params, window_metrics};

use super::super::train::open_store;
use crate::args::MonitorOptions;

/// A monitored source, ready to log.
pub struct SourceRun<'a> {
    pub path: &'a Path,
    pub input_format: &'a str,
    /// `--window` as given.
    pub window: &'a str,
    pub report: &'a MonitorReport,
    pub files: &'a [PathBuf],
}

/// Where a monitoring run goes.
pub struct RunTarget<'a> {
    pub options: &'a MonitorOptions,
    pub tracking_uri: Option<&'a str>,
    /// The command that monitored (`monitor`, `score`).
    pub command: &'static str,
}

/// Where the run went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Logged {
    pub run_id: Option<String>,
    /// Whether everything reached the store (else the journal waits for `vigie mlflow sync`).
    pub synced: bool,
    pub journal: PathBuf,
}

/// Logs `source` as one run; `None` (with a warning) when even the journal failed.
pub fn log_run(target: &RunTarget<'_>, engine: &Engine, source: &SourceRun<'_>) -> Option<Logged> {
    match try_log_run(target, engine, source) {
        Ok(logged) => Some(logged),
        Err(error) => {
            tracing::warn!(
                "the monitoring of {} was not logged: {}",
                source.path.display(),
                crate::error_report(&error)
            );
            None
        }
    }
}

fn try_log_run(
    target: &RunTarget<'_>,
    engine: &Engine,
    source: &SourceRun<'_>,
) -> anyhow::Result<Logged> {
    let report = source.report;
    let kind = &engine.manifest().kind;
    let name = source
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| source.path.display().to_string());
    let mut options = RunOptions::new(&target.options.journal_dir, &target.options.experiment);
    options.run_name = Some(format!("monitor-{name}-{kind}"));
    options.flush_on_epoch = false;
    options.tags = vec![
        Tag::new("vigie.command", target.command),
        Tag::new("vigie.model", engine.origin()),
        Tag::new("vigie.model_kind", kind),
        Tag::new("vigie.source", source.path.display().to_string()),
    ];
    let store = open_store(target.tracking_uri)?;
    let mut logger = RunLogger::start(store, options).context("starting the monitoring run")?;
    logger.log_params(&params(engine, source))?;
    logger.log_metrics(&metrics(report))?;
    logger.set_tags(&drift_tags(&drift_labels(report)))?;
    for file in source.files {
        logger.log_artifact(file, None)?;
    }
    let finished = logger.finish(RunStatus::Finished)?;
    Ok(Logged {
        run_id: finished.run_id,
        synced: finished.synced,
        journal: finished.journal,
    })
}

fn params(engine: &Engine, source: &SourceRun<'_>) -> Vec<Param> {
    let report = source.report;
    let mut params = vec![Param::new("model", engine.origin())];
    params.extend(rule_params(
        source.window,
        report.window_ms,
        &report.rule,
        engine.threshold(),
    ));
    params.push(Param::new("input_format", source.input_format));
    params
}

/// Every window's metrics (see [`window_metrics`]).
fn metrics(report: &MonitorReport) -> Vec<Metric> {
    report
        .windows
        .iter()
        .flat_map(|window| window_metrics(window, &report.families))
        .collect()
}

fn drift_labels(report: &MonitorReport) -> Vec<String> {
    report
        .windows
        .iter()
        .filter_map(|window| drifted_label(window, report.window_ms))
        .collect()
}
