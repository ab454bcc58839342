//! Leaderboards: finished runs ranked by one metric, as a terminal table, Markdown and JSON.
//!
//! A sweep ranks its trials (one row per trial: the latest FINISHED run of each); `vigie runs
//! compare` ranks any runs of an experiment. Both read runs from the tracking store, so a
//! leaderboard is the same whether the sweep ran in one go, was resumed, or ran in shards.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use vigie_mlflow::{Run, RunStatus, mlflow_tags};
use vigie_runner::run::tags as run_tags;

use crate::spec::Direction;
use crate::tags;

/// The metrics shown beside the ranking metric: the field ones (echows-urldetect, traffic of a
/// site no model trains on) when the run has them.
pub const SHOWN_METRICS: [&str; 7] = [
    "final_valid_f1",
    "test_f1",
    "test_roc_auc",
    "test_tpr_at_fpr_1e3",
    "field_fpr",
    "field_sqli_recall",
    "train_seconds",
];

/// Metrics a row carries besides the shown ones, for the champion's guards (not shown: most
/// runs have no feedback).
const GUARD_METRICS: [&str; 2] = ["feedback_false_alarms", "feedback_missed"];

/// Every metric a row carries.
fn carried_metrics() -> impl Iterator<Item = &'static str> {
    SHOWN_METRICS.into_iter().chain(GUARD_METRICS)
}

/// One ranked run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaderboardRow {
    pub rank: usize,
    pub run_id: String,
    pub run_name: String,
    pub status: String,
    /// When the run started (ms since the epoch), when known.
    pub start_time: Option<i64>,
    pub model_kind: String,
    /// The sweep trial's id (hash of its resolved config), when the run is a trial.
    pub trial_id: Option<String>,
    /// The ranking metric's value (NaN when the run lacks it: ranked last).
    pub value: f64,
    /// The [`SHOWN_METRICS`] the run has, and the champion guards' feedback metrics.
    pub metrics: BTreeMap<String, f64>,
    /// What the trial changed from the base config, or empty.
    pub overrides: String,
}

/// Runs ranked by a metric, best first.
#[derive(Debug, Clone, Serialize)]
pub struct Leaderboard {
    pub title: String,
    pub metric: String,
    pub direction: Direction,
    pub rows: Vec<LeaderboardRow>,
}

impl LeaderboardRow {
    /// A run's row, unranked, read from what the store returned.
    pub fn of_run(run: &Run, metric: &str) -> LeaderboardRow {
        let metrics = carried_metrics()
            .filter_map(|key| latest_metric(run, key).map(|v| (key.to_owned(), v)))
            .collect();
        LeaderboardRow {
            rank: 0,
            run_id: run.info.run_id.clone(),
            run_name: run
                .data
                .tag(mlflow_tags::RUN_NAME)
                .map(str::to_owned)
                .unwrap_or_else(|| run.info.run_name.clone()),
            status: status_name(run.info.status).to_owned(),
            start_time: run.info.start_time,
            model_kind: run
                .data
                .tag(run_tags::MODEL_KIND)
                .unwrap_or_default()
                .to_owned(),
            trial_id: run.data.tag(tags::TRIAL_ID).map(str::to_owned),
            value: latest_metric(run, metric).unwrap_or(f64::NAN),
            metrics,
            overrides: run.data.tag(tags::OVERRIDES).unwrap_or_default().to_owned(),
        }
    }

    /// A FINISHED run's row, unranked, from the final metrics its process logged (the same
    /// values the store would return).
    pub fn of_finished(
        run_id: &str,
        run_name: &str,
        model_kind: &str,
        trial_id: Option<&str>,
        overrides: &str,
        final_metrics: &[(String, f64)],
        metric: &str,
    ) -> LeaderboardRow {
        let value_of = |key: &str| {
            final_metrics
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| *v)
        };
        LeaderboardRow {
            rank: 0,
            run_id: run_id.to_owned(),
            run_name: run_name.to_owned(),
            status: status_name(RunStatus::Finished).to_owned(),
            start_time: None,
            model_kind: model_kind.to_owned(),
            trial_id: trial_id.map(str::to_owned),
            value: value_of(metric).unwrap_or(f64::NAN),
            metrics: carried_metrics()
                .filter_map(|key| value_of(key).map(|v| (key.to_owned(), v)))
                .collect(),
            overrides: overrides.to_owned(),
        }
    }
}

/// What to keep when ranking an experiment's runs.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only the trials of this sweep.
    pub sweep: Option<String>,
    /// Only runs of this model kind.
    pub model_kind: Option<String>,
    /// Only runs on this dataset.
    pub dataset: Option<String>,
    /// Also rank runs that did not finish (shown with their status).
    pub all_statuses: bool,
}

impl RunFilter {
    pub fn keeps(&self, run: &Run) -> bool {
        let tag = |key: &str| run.data.tag(key);
        if !self.all_statuses && run.info.status != RunStatus::Finished {
            return false;
        }
        if tag(tags::ROLE) == Some(tags::ROLE_PARENT) {
            return false;
        }
        if let Some(sweep) = &self.sweep
            && tag(tags::SWEEP) != Some(sweep.as_str())
        {
            return false;
        }
        if let Some(kind) = &self.model_kind
            && tag(run_tags::MODEL_KIND) != Some(kind.as_str())
        {
            return false;
        }
        if let Some(dataset) = &self.dataset
            && tag(run_tags::DATASET) != Some(dataset.as_str())
        {
            return false;
        }
        true
    }
}

impl Leaderboard {
    /// Ranks `runs` by `metric`. Ties keep the runs' start order, so the ranking is
    /// deterministic.
    pub fn rank(title: &str, runs: &[&Run], metric: &str, direction: Direction) -> Leaderboard {
        let rows = runs
            .iter()
            .map(|run| {
                (
                    run.info.start_time.unwrap_or(0),
                    LeaderboardRow::of_run(run, metric),
                )
            })
            .collect();
        Leaderboard::rank_rows(title, rows, metric, direction)
    }

    /// Ranks rows (each with its run's start time, which breaks ties after the run name).
    pub fn rank_rows(
        title: &str,
        mut rows: Vec<(i64, LeaderboardRow)>,
        metric: &str,
        direction: Direction,
    ) -> Leaderboard {
        rows.sort_by(|(start_a, a), (start_b, b)| {
            let order = match (a.value.is_nan(), b.value.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                (false, false) => match direction {
                    Direction::Maximize => b.value.total_cmp(&a.value),
                    Direction::Minimize => a.value.total_cmp(&b.value),
                },
            };
            order
                .then_with(|| a.run_name.cmp(&b.run_name))
                .then_with(|| start_a.cmp(start_b))
        });
        let rows = rows
            .into_iter()
            .enumerate()
            .map(|(i, (_, mut row))| {
                row.rank = i + 1;
                row
            })
            .collect();
        Leaderboard {
            title: title.to_owned(),
            metric: metric.to_owned(),
            direction,
            rows,
        }
    }

    pub fn best(&self) -> Option<&LeaderboardRow> {
        self.rows.first().filter(|row| !row.value.is_nan())
    }

    /// Keeps the first `n` rows.
    pub fn truncate(&mut self, n: usize) {
        self.rows.truncate(n);
    }

    /// The [`SHOWN_METRICS`] other than the ranking metric (already in its own column).
    fn shown(&self) -> impl Iterator<Item = &'static str> + '_ {
        SHOWN_METRICS.into_iter().filter(|m| *m != self.metric)
    }

    fn header(&self, layout: Layout) -> Vec<String> {
        let mut header = vec!["rank".to_owned()];
        if layout == Layout::Runs {
            header.extend(["id", "run", "status", "started (UTC)"].map(str::to_owned));
        } else {
            header.push("run".to_owned());
        }
        header.extend([
            "kind".to_owned(),
            format!("{} ({})", self.metric, arrow(self.direction)),
        ]);
        header.extend(self.shown().map(str::to_owned));
        header.push("changes".to_owned());
        header
    }

    fn cells(&self, layout: Layout) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|row| {
                let mut cells = vec![row.rank.to_string()];
                match layout {
                    Layout::Runs => cells.extend([
                        short_id(&row.run_id).to_owned(),
                        row.run_name.clone(),
                        row.status.clone(),
                        row.start_time.map_or("-".to_owned(), minute),
                    ]),
                    Layout::Trials => cells.push(if row.status == "FINISHED" {
                        row.run_name.clone()
                    } else {
                        format!("{} [{}]", row.run_name, row.status)
                    }),
                }
                cells.extend([row.model_kind.clone(), number(row.value)]);
                cells.extend(
                    self.shown()
                        .map(|m| row.metrics.get(m).map_or("-".to_owned(), |v| number(*v))),
                );
                cells.push(row.overrides.clone());
                cells
            })
            .collect()
    }

    /// A fixed-width table for the terminal: a sweep's trials.
    pub fn to_table(&self) -> String {
        self.table(Layout::Trials)
    }

    /// A fixed-width table of runs read from a store (`vigie runs compare`): the trials'
    /// columns plus each run's short id, status and start time, so a row leads to `vigie runs
    /// show`.
    pub fn to_runs_table(&self) -> String {
        self.table(Layout::Runs)
    }

    fn table(&self, layout: Layout) -> String {
        let mut rows = vec![self.header(layout)];
        rows.extend(self.cells(layout));
        let mut out = format!("{}\n", self.title);
        out.push_str(&text_table(&rows, |_, cell| cell.to_owned()));
        if rows.len() == 1 {
            out.push_str(match layout {
                Layout::Trials => "(no finished runs)\n",
                Layout::Runs => "(no runs kept)\n",
            });
        }
        out
    }

    /// A Markdown table, logged as a sweep artifact.
    pub fn to_markdown(&self) -> String {
        let header = self.header(Layout::Trials);
        let mut out = format!("# {}\n\n", self.title);
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
        for row in self.cells(Layout::Trials) {
            let escaped: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
            let _ = writeln!(out, "| {} |", escaped.join(" | "));
        }
        out
    }
}

/// Which columns a table has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A sweep's trials: rank, run name (with its status when not FINISHED), metrics.
    Trials,
    /// Runs from a store: also the short run id, status and start time.
    Runs,
}

/// Rows padded into columns two spaces apart, each line's trailing blanks trimmed; `paint` may
/// colour a cell after it is padded (colour codes take no width on a terminal).
pub fn text_table(rows: &[Vec<String>], paint: impl Fn(usize, &str) -> String) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, width))| paint(column, &format!("{cell:<width$}")))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The first 8 characters of a run id, as `vigie runs list` shows it.
pub fn short_id(run_id: &str) -> &str {
    run_id.get(..8).unwrap_or(run_id)
}

/// `YYYY-MM-DD HH:MM` in UTC.
fn minute(millis: i64) -> String {
    let stamp = vigie_mlflow::utc_timestamp(millis);
    stamp.get(..16).unwrap_or(&stamp).to_owned()
}

/// The latest value of a metric of a run.
pub fn latest_metric(run: &Run, key: &str) -> Option<f64> {
    run.data
        .metrics
        .iter()
        .filter(|m| m.key == key)
        .max_by_key(|m| (m.step, m.timestamp))
        .map(|m| m.value)
}

/// MLflow's name of a run status.
pub fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "RUNNING",
        RunStatus::Scheduled => "SCHEDULED",
        RunStatus::Finished => "FINISHED",
        RunStatus::Failed => "FAILED",
        RunStatus::Killed => "KILLED",
        _ => "UNKNOWN",
    }
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "-".to_owned()
    } else if value.abs() >= 1000.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}

fn arrow(direction: Direction) -> &'static str {
    match direction {
        Direction::Maximize => "max",
        Direction::Minimize => "min",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_mlflow::{Metric, Tag};

    fn run(name: &str, start: i64, value: Option<f64>) -> Run {
        let mut run = Run::default();
        run.info.run_id = format!("id-{name}");
        run.info.run_name = name.to_owned();
        run.info.start_time = Some(start);
        run.info.status = RunStatus::Finished;
        if let Some(value) = value {
            run.data
                .metrics
                .push(Metric::new("final_valid_f1", value, 0));
        }
        run.data
            .tags
            .push(Tag::new(run_tags::MODEL_KIND, "linear_svm"));
        run
    }

    #[test]
    fn ranks_best_first_in_either_direction_with_missing_values_last() {
        let runs = [
            run("a", 1, Some(0.5)),
            run("b", 2, None),
            run("c", 3, Some(0.9)),
            run("d", 4, Some(0.7)),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let board = Leaderboard::rank("t", &refs, "final_valid_f1", Direction::Maximize);
        let names: Vec<&str> = board.rows.iter().map(|r| r.run_name.as_str()).collect();
        assert_eq!(names, ["c", "d", "a", "b"]);
        assert_eq!(board.best().map(|r| r.run_name.as_str()), Some("c"));
        let ranks: Vec<usize> = board.rows.iter().map(|r| r.rank).collect();
        assert_eq!(ranks, [1, 2, 3, 4]);
        let board = Leaderboard::rank("t", &refs, "final_valid_f1", Direction::Minimize);
        let names: Vec<&str> = board.rows.iter().map(|r| r.run_name.as_str()).collect();
        assert_eq!(names, ["a", "d", "c", "b"]);
        let table = board.to_table();
        assert!(table.contains("final_valid_f1 (min)"), "{table}");
        let runs = board.to_runs_table();
        let header = runs.lines().nth(1).expect("header");
        assert!(
            header.starts_with("rank  id    run  status    started (UTC)     kind"),
            "{runs}"
        );
        // Run "a" started at 1 ms after the epoch; its id is shorter than 8 characters.
        assert!(
            runs.lines()
                .any(|l| l.starts_with("1     id-a  a    FINISHED  1970-01-01 00:00")),
            "{runs}"
        );
        assert_eq!(board.to_markdown().lines().count(), 2 + 2 + 4);
    }

    #[test]
    fn filters_keep_finished_trials_of_one_sweep() {
        let mut trial = run("t", 1, Some(0.5));
        trial.data.tags.push(Tag::new(tags::SWEEP, "s"));
        let mut parent = trial.clone();
        parent
            .data
            .tags
            .push(Tag::new(tags::ROLE, tags::ROLE_PARENT));
        let mut failed = trial.clone();
        failed.info.status = RunStatus::Failed;
        let filter = RunFilter {
            sweep: Some("s".into()),
            ..Default::default()
        };
        assert!(filter.keeps(&trial));
        assert!(!filter.keeps(&parent));
        assert!(!filter.keeps(&failed));
        assert!(!filter.keeps(&run("other", 1, Some(0.5))));
        let kind = RunFilter {
            model_kind: Some("cnn".into()),
            ..Default::default()
        };
        assert!(!kind.keeps(&trial));
    }
}
