//! `vigie runs compare EXPERIMENT`: a leaderboard of an experiment's runs read from the
//! tracking store.

use std::io::Write;

use anyhow::Context;
use vigie_mlflow::{Run, TrackingStore};
use vigie_sweep::{Direction, Leaderboard, RunFilter};

use super::experiment_id;
use crate::args::{CompareArgs, GlobalArgs};
use crate::cmd::train::open_store;
use crate::output::print_json;

pub fn compare(global: &GlobalArgs, args: &CompareArgs) -> anyhow::Result<()> {
    let store = open_store(args.tracking_uri.as_deref())?;
    let experiment_id = experiment_id(&store, &args.experiment)?;
    let runs = store
        .list_runs(&experiment_id)
        .with_context(|| format!("reading the runs of {:?}", args.experiment))?;
    let filter = RunFilter {
        sweep: args.sweep.clone(),
        model_kind: args.kind.clone(),
        dataset: args.dataset.clone(),
        all_statuses: args.all,
    };
    let kept: Vec<&Run> = runs.iter().filter(|run| filter.keeps(run)).collect();
    let direction = if args.minimize {
        Direction::Minimize
    } else {
        Direction::Maximize
    };
    let mut board = Leaderboard::rank(
        &format!(
            "Experiment {}: {} of {} runs, ranked by {}",
            args.experiment,
            kept.len(),
            runs.len(),
            args.metric
        ),
        &kept,
        &args.metric,
        direction,
    );
    if let Some(top) = args.top {
        board.truncate(top);
    }
    if global.json {
        print_json(&board)
    } else {
        std::io::stdout()
            .lock()
            .write_all(board.to_runs_table().as_bytes())?;
        Ok(())
    }
}
