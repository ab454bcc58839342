//! `vigie runs delete RUN`: MLflow's soft delete (the run is marked deleted, hidden from
//! listings, and stays restorable), after a confirmation on a terminal or with `--yes`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use serde::Serialize;
use vigie_mlflow::TrackingStore;

use super::find_run;
use super::list::run_name;
use crate::args::{GlobalArgs, RunsDeleteArgs};
use crate::cmd::train::open_store;
use crate::output::print_json;

/// `--json`: what was deleted.
#[derive(Debug, Serialize)]
struct Deleted {
    run_id: String,
    run_name: String,
    experiment_id: String,
    /// False when the run was already deleted.
    deleted_now: bool,
}

pub fn delete(global: &GlobalArgs, args: &RunsDeleteArgs) -> anyhow::Result<()> {
    let store = open_store(args.tracking_uri.as_deref())?;
    let run = find_run(&store, &args.run)?;
    let run_id = run.info.run_id.clone();
    let name = run_name(&run);
    let already = run.info.lifecycle_stage == "deleted";
    if !already && !args.yes {
        confirm(&run_id, &name, &store.describe())?;
    }
    if !already {
        store
            .delete_run(&run_id)
            .with_context(|| format!("deleting run {run_id} in {}", store.describe()))?;
    }
    if global.json {
        return print_json(&Deleted {
            run_id,
            run_name: name,
            experiment_id: run.info.experiment_id,
            deleted_now: !already,
        });
    }
    if already {
        println!("run {run_id} ({name}) was already deleted");
    } else {
        println!("deleted run {run_id} ({name})");
    }
    crate::say!(
        global.quiet,
        "it stays restorable: mlflow runs restore --run-id {run_id} (with MLFLOW_TRACKING_URI={})",
        store.describe()
    );
    Ok(())
}

/// Asks on the terminal; refuses when standard input is not one (a script must say --yes).
fn confirm(run_id: &str, name: &str, store: &str) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "not deleting run {run_id} ({name}): standard input is not a terminal to confirm on; \
             pass --yes to delete it"
        );
    }
    eprint!("Delete run {run_id} ({name}) in {store}? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        bail!("run {run_id} not deleted")
    }
}
