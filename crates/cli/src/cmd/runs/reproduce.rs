//! `vigie reproduce RUN_ID`: a logged run trained again and compared metric by metric.

use anyhow::Context;
use vigie_runner::DataSource;
use vigie_sweep::reproduce::{ReproduceOptions, reproduce as reproduce_run};

use crate::args::{GlobalArgs, ReproduceArgs};
use crate::cmd::progress::TerminalProgress;
use crate::cmd::train::{default_out_dir, tracking_uri};
use crate::output::print_json;

/// Exit status of `vigie reproduce` when a metric differs from the original's.
const EXIT_NOT_REPRODUCED: u8 = 3;

pub fn reproduce(global: &GlobalArgs, args: &ReproduceArgs) -> anyhow::Result<()> {
    let source = DataSource {
        catalog: crate::cmd::catalog(global)?,
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
        return Err(crate::ExitStatus {
            code: EXIT_NOT_REPRODUCED,
            reason: "the run was not reproduced",
        }
        .into());
    }
    Ok(())
}
