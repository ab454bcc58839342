//! `vigie runs show RUN`: one run with everything a person looks for: params, metrics, tags,
//! datasets, artifacts, and its model (the MLflow 3 logged model and its registered versions
//! with their aliases on a server; the `model/` artifact folder in a local store).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use anyhow::Context;
use serde::Serialize;
use vigie_mlflow::{FileInfo, LoggedModel, ModelVersion, Run, TrackingStore, mlflow_tags};
use vigie_sweep::leaderboard::status_name;

use super::list::run_name;
use super::{duration, duration_ms, find_run, number, table, utc_time};
use crate::args::{GlobalArgs, RunsShowArgs};
use crate::cmd::train::open_store;
use crate::output::print_json;

/// How deep the artifact listing goes (`model/` is one level).
const MAX_ARTIFACT_DEPTH: usize = 6;
/// Most artifact entries listed (a run with more says how many were left out).
const MAX_ARTIFACTS: usize = 500;
/// The artifact folder a run keeps its model in when it has no logged model.
const MODEL_DIR: &str = "model";

/// `--json`: the run as the store returned it, with its artifacts and model.
#[derive(Debug, Serialize)]
struct RunView<'a> {
    store: String,
    experiment: Option<String>,
    run: &'a Run,
    duration_seconds: Option<f64>,
    artifacts: &'a [FileInfo],
    artifacts_truncated: bool,
    logged_models: &'a [LoggedModel],
    model_versions: &'a [ModelVersion],
    /// The artifact folder holding the model when the run has no logged model.
    model_artifact_dir: Option<&'a str>,
}

pub fn show(global: &GlobalArgs, args: &RunsShowArgs) -> anyhow::Result<()> {
    let store = open_store(args.tracking_uri.as_deref())?;
    let run = find_run(&store, &args.run)?;
    let run_id = run.info.run_id.clone();
    let experiment = store
        .list_experiments()
        .with_context(|| format!("listing the experiments of {}", store.describe()))?
        .into_iter()
        .find(|e| e.experiment_id == run.info.experiment_id)
        .map(|e| e.name);
    let (artifacts, truncated) = walk_artifacts(&store, &run_id)?;
    let mut logged_models = Vec::new();
    for output in &run.outputs.model_outputs {
        if let Some(model) = store
            .logged_model(&output.model_id)
            .with_context(|| format!("reading logged model {}", output.model_id))?
        {
            logged_models.push(model);
        }
    }
    let model_versions = store
        .run_model_versions(&run_id)
        .with_context(|| format!("reading the registered versions of run {run_id}"))?;
    let model_dir = artifacts
        .iter()
        .any(|a| a.is_dir && a.path == MODEL_DIR)
        .then_some(MODEL_DIR);
    let now = vigie_mlflow::now_millis();
    let view = RunView {
        store: store.describe(),
        experiment,
        run: &run,
        duration_seconds: duration_ms(&run, now).map(|ms| ms as f64 / 1000.0),
        artifacts: &artifacts,
        artifacts_truncated: truncated,
        logged_models: &logged_models,
        model_versions: &model_versions,
        model_artifact_dir: model_dir,
    };
    if global.json {
        return print_json(&view);
    }
    std::io::stdout()
        .lock()
        .write_all(render(&view, now).as_bytes())?;
    Ok(())
}

/// Every artifact entry, depth first, folders before their files; at most [`MAX_ARTIFACTS`].
fn walk_artifacts(
    store: &dyn TrackingStore,
    run_id: &str,
) -> anyhow::Result<(Vec<FileInfo>, bool)> {
    let mut found = Vec::new();
    let mut pending: Vec<(Option<String>, usize)> = vec![(None, 0)];
    while let Some((dir, depth)) = pending.pop() {
        let mut entries = store
            .list_run_artifacts(run_id, dir.as_deref())
            .with_context(|| {
                format!(
                    "listing the artifacts of run {run_id}{}",
                    dir.as_deref()
                        .map(|d| format!(" under {d}"))
                        .unwrap_or_default()
                )
            })?;
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        // Sub-folders are visited in order: pushed in reverse.
        for entry in entries.iter().rev() {
            if entry.is_dir && depth + 1 < MAX_ARTIFACT_DEPTH {
                pending.push((Some(entry.path.clone()), depth + 1));
            }
        }
        for entry in entries {
            if found.len() >= MAX_ARTIFACTS {
                return Ok((found, true));
            }
            found.push(entry);
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((found, false))
}

fn render(view: &RunView<'_>, now: i64) -> String {
    let run = view.run;
    let info = &run.info;
    let mut out = String::new();
    let _ = writeln!(out, "run {}  {}", info.run_id, run_name(run));
    let mut facts: Vec<Vec<String>> = Vec::new();
    let mut fact = |name: &str, value: String| facts.push(vec![format!("  {name}"), value]);
    fact(
        "experiment",
        match &view.experiment {
            Some(name) => format!("{name} (id {})", info.experiment_id),
            None => format!("id {}", info.experiment_id),
        },
    );
    let deleted = if info.lifecycle_stage == "deleted" {
        " (deleted)"
    } else {
        ""
    };
    fact("status", format!("{}{deleted}", status_name(info.status)));
    if let Some(start) = info.start_time {
        fact("started", format!("{} UTC", utc_time(start)));
    }
    if let Some(end) = info.end_time {
        fact("ended", format!("{} UTC", utc_time(end)));
    }
    if let Some(ms) = duration_ms(run, now) {
        fact("duration", duration(ms));
    }
    if !info.user_id.is_empty() {
        fact("user", info.user_id.clone());
    }
    if let Some(parent) = run.data.tag(mlflow_tags::PARENT_RUN_ID) {
        fact("parent run", parent.to_owned());
    }
    fact("store", view.store.clone());
    out.push_str(&table(&facts, |_, cell| cell.to_owned()));

    let mut params: Vec<(&str, String)> = run
        .data
        .params
        .iter()
        .map(|p| (p.key.as_str(), p.value.clone()))
        .collect();
    params.sort();
    section(&mut out, "params", &params);

    let metrics: BTreeMap<&str, f64> = run
        .data
        .metrics
        .iter()
        .map(|m| {
            (
                m.key.as_str(),
                vigie_sweep::leaderboard::latest_metric(run, &m.key),
            )
        })
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let metrics: Vec<(&str, String)> = metrics.into_iter().map(|(k, v)| (k, number(v))).collect();
    section(&mut out, "metrics", &metrics);

    // MLflow's own tags (`mlflow.*`) are bookkeeping, hidden as in its UI; --json has them.
    let mut tags: Vec<(&str, String)> = run
        .data
        .tags
        .iter()
        .filter(|t| !t.key.starts_with("mlflow."))
        .map(|t| (t.key.as_str(), one_line(&t.value)))
        .collect();
    tags.sort();
    section(&mut out, "tags", &tags);

    if !run.inputs.dataset_inputs.is_empty() {
        let datasets: Vec<(&str, String)> = run
            .inputs
            .dataset_inputs
            .iter()
            .map(|d| {
                let context = d
                    .tags
                    .iter()
                    .find(|t| t.key == mlflow_tags::DATASET_CONTEXT)
                    .map(|t| format!(" ({})", t.value))
                    .unwrap_or_default();
                (
                    d.dataset.name.as_str(),
                    format!("digest {}{context}", d.dataset.digest),
                )
            })
            .collect();
        section(&mut out, "datasets", &datasets);
    }

    let files: Vec<(&str, String)> = view
        .artifacts
        .iter()
        .map(|f| {
            let size = match (f.is_dir, f.file_size) {
                (true, _) => "dir".to_owned(),
                (false, Some(bytes)) => size(bytes),
                (false, None) => "-".to_owned(),
            };
            (f.path.as_str(), size)
        })
        .collect();
    section(&mut out, "artifacts", &files);
    if view.artifacts_truncated {
        let _ = writeln!(out, "  (only the first {MAX_ARTIFACTS} entries are listed)");
    }

    out.push_str("\nmodel\n");
    for model in view.logged_models {
        let _ = writeln!(
            out,
            "  logged model {} {:?} {:?}, files at {}",
            model.info.model_id, model.info.name, model.info.status, model.info.artifact_uri
        );
    }
    for version in view.model_versions {
        let aliases = if version.aliases.is_empty() {
            String::new()
        } else {
            format!(", aliases: {}", version.aliases.join(", "))
        };
        let _ = writeln!(
            out,
            "  registered as {} version {}{aliases} (models:/{}/{})",
            version.name, version.version, version.name, version.version
        );
    }
    if view.logged_models.is_empty() && view.model_versions.is_empty() {
        match view.model_artifact_dir {
            Some(dir) => {
                let _ = writeln!(out, "  in the run's artifacts: {dir}/ (not registered)");
            }
            None => out.push_str("  none\n"),
        }
    } else if view.model_versions.is_empty() {
        out.push_str("  not registered\n");
    }
    out
}

/// A titled list of key/value pairs, `(none)` when empty.
fn section(out: &mut String, title: &str, pairs: &[(&str, String)]) {
    let _ = writeln!(out, "\n{title} ({})", pairs.len());
    if pairs.is_empty() {
        out.push_str("  (none)\n");
        return;
    }
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|(k, v)| vec![format!("  {k}"), v.clone()])
        .collect();
    out.push_str(&table(&rows, |_, cell| cell.to_owned()));
}

/// A value on one line: newlines shown as `\n`, long values cut with an ellipsis.
fn one_line(value: &str) -> String {
    const MAX: usize = 120;
    let flat = value.replace('\n', "\\n");
    if flat.chars().count() > MAX {
        let cut: String = flat.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

/// `812 B`, `1.2 KiB`, `3.4 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_long_values_stay_short() {
        assert_eq!(size(812), "812 B");
        assert_eq!(size(1_260), "1.2 KiB");
        assert_eq!(size(3_565_158), "3.4 MiB");
        assert_eq!(one_line("a\nb"), "a\\nb");
        assert_eq!(one_line(&"x".repeat(200)).chars().count(), 121);
    }
}
