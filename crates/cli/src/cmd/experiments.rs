//! `vigie experiments list`: the experiments of the tracking store.

use std::io::Write;

use anyhow::Context;
use serde::Serialize;
use vigie_mlflow::TrackingStore;

use super::runs::{table, utc_time};
use crate::args::{ExperimentsListArgs, GlobalArgs};
use crate::cmd::train::open_store;
use crate::output::print_json;

/// One experiment, as `--json` prints it.
#[derive(Debug, Serialize)]
struct ExperimentSummary {
    experiment_id: String,
    name: String,
    /// ms since the epoch.
    creation_time: Option<i64>,
    last_update_time: Option<i64>,
    artifact_location: String,
}

#[derive(Debug, Serialize)]
struct ExperimentList {
    store: String,
    experiments: Vec<ExperimentSummary>,
}

pub fn list(global: &GlobalArgs, args: &ExperimentsListArgs) -> anyhow::Result<()> {
    let store = open_store(args.tracking_uri.as_deref())?;
    let mut experiments = store
        .list_experiments()
        .with_context(|| format!("listing the experiments of {}", store.describe()))?;
    experiments.sort_by(|a, b| a.name.cmp(&b.name));
    if global.json {
        return print_json(&ExperimentList {
            store: store.describe(),
            experiments: experiments
                .into_iter()
                .map(|e| ExperimentSummary {
                    experiment_id: e.experiment_id,
                    name: e.name,
                    creation_time: e.creation_time,
                    last_update_time: e.last_update_time,
                    artifact_location: e.artifact_location,
                })
                .collect(),
        });
    }
    let mut rows = vec![
        ["id", "name", "created (UTC)", "artifacts"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for e in experiments {
        rows.push(vec![
            e.experiment_id,
            e.name,
            e.creation_time.map_or("-".to_owned(), utc_time),
            e.artifact_location,
        ]);
    }
    std::io::stdout()
        .lock()
        .write_all(table(&rows, |_, cell| cell.to_owned()).as_bytes())?;
    Ok(())
}
