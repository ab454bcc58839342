//! `vigie runs list [EXPERIMENT]`: the runs of an experiment (or of every experiment), newest
//! first, one line each.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use anyhow::Context;
use serde::Serialize;
use vigie_mlflow::{Run, TrackingStore, mlflow_tags};
use vigie_runner::run::tags as run_tags;
use vigie_sweep::leaderboard::{latest_metric, short_id, status_name};

use super::{duration, duration_ms, experiment_id, number, table, utc_time};
use crate::args::{GlobalArgs, RunsListArgs};
use crate::cmd::train::open_store;
use crate::output::{Paint, color_stdout, paint, print_json};

/// The metrics shown by default, the first three that any listed run has.
const KEY_METRICS: [&str; 4] = ["test_f1", "test_fpr", "field_fpr", "final_valid_f1"];
/// How many metric columns are shown by default.
const DEFAULT_METRIC_COLUMNS: usize = 3;

/// `--json`: the runs listed.
#[derive(Debug, Serialize)]
struct RunList {
    store: String,
    /// The experiment asked for, or `None` for every experiment.
    experiment: Option<String>,
    runs: Vec<RunSummary>,
}

/// One run, as `runs list --json` prints it.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub run_name: String,
    pub experiment_id: String,
    pub experiment: String,
    pub status: String,
    /// ms since the epoch.
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub duration_seconds: Option<f64>,
    /// The parent run of a sweep trial.
    pub parent_run_id: Option<String>,
    pub model_kind: Option<String>,
    /// The latest value of every metric.
    pub metrics: BTreeMap<String, f64>,
}

impl RunSummary {
    pub fn of(run: &Run, experiment: &str, now: i64) -> RunSummary {
        RunSummary {
            run_id: run.info.run_id.clone(),
            run_name: run_name(run),
            experiment_id: run.info.experiment_id.clone(),
            experiment: experiment.to_owned(),
            status: status_name(run.info.status).to_owned(),
            start_time: run.info.start_time,
            end_time: run.info.end_time,
            duration_seconds: duration_ms(run, now).map(|ms| ms as f64 / 1000.0),
            parent_run_id: run.data.tag(mlflow_tags::PARENT_RUN_ID).map(str::to_owned),
            model_kind: run.data.tag(run_tags::MODEL_KIND).map(str::to_owned),
            metrics: run
                .data
                .metrics
                .iter()
                .filter_map(|m| latest_metric(run, &m.key).map(|v| (m.key.clone(), v)))
                .collect(),
        }
    }
}

/// The run's name: its `mlflow.runName` tag, else the name in its info.
pub fn run_name(run: &Run) -> String {
    run.data
        .tag(mlflow_tags::RUN_NAME)
        .map(str::to_owned)
        .unwrap_or_else(|| run.info.run_name.clone())
}

pub fn list(global: &GlobalArgs, args: &RunsListArgs) -> anyhow::Result<()> {
    let store = open_store(args.tracking_uri.as_deref())?;
    let experiments: Vec<(String, String)> = match &args.experiment {
        Some(name) => vec![(experiment_id(&store, name)?, name.clone())],
        None => store
            .list_experiments()
            .with_context(|| format!("listing the experiments of {}", store.describe()))?
            .into_iter()
            .map(|e| (e.experiment_id, e.name))
            .collect(),
    };
    let mut runs: Vec<(Run, String)> = Vec::new();
    for (id, name) in &experiments {
        let found = store
            .list_runs(id)
            .with_context(|| format!("reading the runs of experiment {name:?}"))?;
        runs.extend(found.into_iter().map(|run| (run, name.clone())));
    }
    // Newest first, as in MLflow's UI; ties by id so the order is stable.
    runs.sort_by(|(a, _), (b, _)| {
        (b.info.start_time, &b.info.run_id).cmp(&(a.info.start_time, &a.info.run_id))
    });
    if let Some(limit) = args.limit {
        runs.truncate(limit);
    }
    let now = vigie_mlflow::now_millis();
    if global.json {
        return print_json(&RunList {
            store: store.describe(),
            experiment: args.experiment.clone(),
            runs: runs
                .iter()
                .map(|(run, experiment)| RunSummary::of(run, experiment, now))
                .collect(),
        });
    }
    let text = if runs.is_empty() {
        match &args.experiment {
            Some(name) => format!("no runs in experiment {name:?} ({})\n", store.describe()),
            None => format!("no runs in {}\n", store.describe()),
        }
    } else {
        let columns = metric_columns(&args.metrics, runs.iter().map(|(run, _)| run));
        render(&runs, &columns, args.experiment.is_none(), now)
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// The metric columns: those asked for, else up to three [`KEY_METRICS`] some run has, else
/// the metrics most runs have.
fn metric_columns<'a>(asked: &[String], runs: impl Iterator<Item = &'a Run>) -> Vec<String> {
    if !asked.is_empty() {
        return asked.to_vec();
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for run in runs {
        for metric in &run.data.metrics {
            *counts.entry(metric.key.as_str()).or_default() += 1;
        }
    }
    let known: Vec<String> = KEY_METRICS
        .iter()
        .filter(|key| counts.contains_key(*key))
        .take(DEFAULT_METRIC_COLUMNS)
        .map(|key| (*key).to_owned())
        .collect();
    if !known.is_empty() {
        return known;
    }
    let mut common: Vec<(&str, usize)> = counts.into_iter().collect();
    common.sort_by(|(ka, a), (kb, b)| b.cmp(a).then(ka.cmp(kb)));
    common
        .into_iter()
        .take(DEFAULT_METRIC_COLUMNS)
        .map(|(key, _)| key.to_owned())
        .collect()
}

fn render(runs: &[(Run, String)], metrics: &[String], with_experiment: bool, now: i64) -> String {
    let mut header: Vec<String> = ["id", "name", "status", "started (UTC)", "duration"]
        .map(str::to_owned)
        .to_vec();
    if with_experiment {
        header.insert(2, "experiment".to_owned());
    }
    header.extend(metrics.iter().cloned());
    let mut rows = vec![header];
    for (run, experiment) in runs {
        let mut row = vec![
            short_id(&run.info.run_id).to_owned(),
            run_name(run),
            status_name(run.info.status).to_owned(),
            run.info.start_time.map_or("-".to_owned(), utc_time),
            duration_ms(run, now).map_or("-".to_owned(), duration),
        ];
        if with_experiment {
            row.insert(2, experiment.clone());
        }
        row.extend(
            metrics
                .iter()
                .map(|key| latest_metric(run, key).map_or("-".to_owned(), number)),
        );
        rows.push(row);
    }
    let status_column = if with_experiment { 3 } else { 2 };
    let colour = color_stdout();
    table(&rows, |column, cell| {
        if column != status_column {
            return cell.to_owned();
        }
        match cell.trim_end() {
            "FINISHED" => paint(cell, Paint::Green, colour),
            "FAILED" | "KILLED" => paint(cell, Paint::Red, colour),
            "RUNNING" | "SCHEDULED" => paint(cell, Paint::Yellow, colour),
            _ => cell.to_owned(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_mlflow::{Metric, RunStatus};

    fn run(id: &str, metrics: &[&str]) -> Run {
        let mut run = Run::default();
        run.info.run_id = id.to_owned();
        run.info.run_name = format!("name-{id}");
        run.info.status = RunStatus::Finished;
        run.info.start_time = Some(1_796_418_353_677);
        run.info.end_time = Some(1_796_418_353_677 + 83_000);
        for (i, key) in metrics.iter().enumerate() {
            run.data.metrics.push(Metric::new(*key, i as f64 + 0.5, 0));
        }
        run
    }

    #[test]
    fn key_metrics_come_first_else_the_most_common_ones() {
        let runs = [
            run("a", &["loss", "test_f1", "field_fpr"]),
            run("b", &["loss", "acc"]),
        ];
        assert_eq!(metric_columns(&[], runs.iter()), ["test_f1", "field_fpr"]);
        let generic = [run("a", &["loss", "acc", "z"]), run("b", &["loss"])];
        assert_eq!(metric_columns(&[], generic.iter()), ["loss", "acc", "z"]);
        assert_eq!(metric_columns(&["acc".to_owned()], generic.iter()), ["acc"]);
    }

    #[test]
    fn a_row_has_the_short_id_status_start_and_duration() {
        let runs = vec![(
            run("0123456789abcdef0123456789abcdef", &["test_f1"]),
            "e".to_owned(),
        )];
        let text = render(&runs, &["test_f1".to_owned()], false, 0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "id        name                                   status    started (UTC)        duration  test_f1",
                "01234567  name-0123456789abcdef0123456789abcdef  FINISHED  2026-12-04 21:05:53  1m 23s    0.5",
            ]
        );
    }
}
