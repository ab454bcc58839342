//! `vigie runs compare EXPERIMENT` (a leaderboard read from the tracking store) and `vigie
//! reproduce RUN_ID` (a logged run trained again and compared metric by metric).

use std::io::Write;

use anyhow::{Context, bail};
use vigie_mlflow::{Run, TrackingStore};
use vigie_runner::DataSource;
use vigie_sweep::reproduce::{ReproduceOptions, reproduce as reproduce_run};
use vigie_sweep::{Direction, Leaderboard, RunFilter};

use super::progress::TerminalProgress;
use super::train::{default_out_dir, open_store, tracking_uri};
use crate::args::{CompareArgs, GlobalArgs, ReproduceArgs};
use crate::output::print_json;

/// Exit status of `vigie reproduce` when a metric differs from the original's.
const EXIT_NOT_REPRODUCED: i32 = 3;

pub fn compare(global: &GlobalArgs, args: &CompareArgs) -> anyhow::Result<()> {
    let store = open_store(args.tracking_uri.as_deref())?;
    let Some(experiment_id) = store.find_experiment(&args.experiment)? else {
        bail!(
            "no experiment {:?} in {}",
            args.experiment,
            store.describe()
        );
    };
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
            .write_all(board.to_table().as_bytes())?;
        Ok(())
    }
}

pub fn reproduce(global: &GlobalArgs, args: &ReproduceArgs) -> anyhow::Result<()> {
    let source = DataSource {
        catalog: super::catalog(global)?,
        data_dir: global.data_dir.clone(),
    };
    let options = ReproduceOptions {
        tracking_uri: tracking_uri(args.tracking_uri.as_deref()),
        out_dir: args
            .out
            .clone()
            .unwrap_or_else(|| default_out_dir("reproduce", &args.run_id)),
        journal_root: args.journal_dir.clone(),
    };
    let mut progress = TerminalProgress::new(global.quiet);
    let reproduction = reproduce_run(&args.run_id, &source, &options, &mut progress)
        .with_context(|| format!("reproducing run {}", args.run_id))?;
    progress.finish();
    if global.json {
        print_json(&reproduction)?;
    } else {
        println!(
            "run {} reproduced as run {}",
            reproduction.original_run_id,
            reproduction
                .outcome
                .run_id
                .as_deref()
                .unwrap_or("(journaled)")
        );
        println!(
            "  data digest: {} ({})",
            if reproduction.digest_matches() {
                "same"
            } else {
                "DIFFERENT"
            },
            reproduction.outcome.dataset_digest
        );
        println!("  {:<26} {:>20} {:>20}", "metric", "original", "reproduced");
        for m in &reproduction.metrics {
            println!(
                "  {:<26} {:>20} {:>20}{}",
                m.metric,
                m.original
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.10}")),
                format!("{:.10}", m.reproduced),
                if m.identical { "" } else { "  DIFFERS" }
            );
        }
        println!(
            "  {}",
            if reproduction.identical() {
                "identical"
            } else {
                "NOT identical"
            }
        );
    }
    if !reproduction.identical() {
        std::process::exit(EXIT_NOT_REPRODUCED);
    }
    Ok(())
}
