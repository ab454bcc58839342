//! `vigie mlflow sync`: replays the run journals that did not reach the tracking server, then
//! pushes the runs of the local file store (`./mlruns`).

use anyhow::Context;
use serde::Serialize;
use vigie_mlflow::config::ENV_TRACKING_URI;
use vigie_mlflow::{
    FileStore, MlflowClient, PushOptions, PushReport, SyncReport, TrackingConfig, push_store,
    sync_all,
};

use crate::args::{GlobalArgs, MlflowSyncArgs};
use crate::output::print_json;
use crate::say;

pub fn sync(global: &GlobalArgs, args: &MlflowSyncArgs) -> anyhow::Result<()> {
    // `--to` replaces only the URI: credentials, retries and timeouts still come from MLFLOW_*.
    let config = TrackingConfig::from_lookup(|name| match (&args.to, name) {
        (Some(uri), ENV_TRACKING_URI) => Some(uri.clone()),
        _ => std::env::var(name).ok(),
    })
    .context("configuring the MLflow client (--to or MLFLOW_TRACKING_URI)")?;
    let client = MlflowClient::new(config)?;
    let report = sync_all(&args.journal_dir, &client)
        .with_context(|| format!("syncing the run journals of {}", args.journal_dir.display()))?;
    // A missing folder means nothing was ever logged locally (FileStore::new would create it).
    let pushed = if args.from_store.is_dir() {
        let store = FileStore::new(&args.from_store)
            .with_context(|| format!("opening the local store {}", args.from_store.display()))?;
        let pushed = push_store(&store, &client, &PushOptions::default())
            .with_context(|| format!("pushing the local store {}", args.from_store.display()))?;
        Some(pushed)
    } else {
        None
    };
    if global.json {
        print_json(&SyncOutput {
            journals: &report,
            local_store: pushed.as_ref(),
        })?;
    } else {
        for run in &report.synced {
            say!(
                global.quiet,
                "synced {} -> run {} ({} metric points sent, {} already there)",
                run.journal.display(),
                run.run_id,
                run.metrics_sent,
                run.metrics_already_present
            );
        }
        for path in &report.busy {
            say!(
                global.quiet,
                "skipped {} (still being written)",
                path.display()
            );
        }
        say!(
            global.quiet,
            "{} journal(s) synced to {}, {} busy, {} failed, {} not tried",
            report.synced.len(),
            report.store,
            report.busy.len(),
            report.failed.len(),
            report.not_tried.len()
        );
    }
    if let Some(pushed) = &pushed
        && !global.json
    {
        for run in &pushed.runs {
            say!(
                global.quiet,
                "pushed {} run {} -> run {} ({}, {} metric points sent, {} already there, {} \
                 artifact file(s))",
                run.experiment,
                run.source_run_id,
                run.target_run_id,
                if run.created {
                    "created"
                } else {
                    "already present"
                },
                run.metrics_sent,
                run.metrics_skipped,
                run.artifacts_uploaded
            );
        }
        say!(
            global.quiet,
            "{} local run(s) pushed from {} to {}: {} created, {} already present, {} failed, {} \
             not tried",
            pushed.runs.len(),
            pushed.source,
            pushed.target,
            pushed.runs_created,
            pushed.runs_already_present,
            pushed.failed.len(),
            pushed.not_tried.len()
        );
    }
    let push_failures = pushed
        .as_ref()
        .map_or(0, |p| p.failed.len() + p.not_tried.len());
    if let Some(pushed) = &pushed {
        for failure in &pushed.failed {
            match &failure.source_run_id {
                Some(run) => eprintln!(
                    "failed: local run {run} of {}: {}",
                    failure.experiment, failure.reason
                ),
                None => eprintln!(
                    "failed: local experiment {}: {}",
                    failure.experiment, failure.reason
                ),
            }
        }
    }
    if !report.failed.is_empty() {
        for failure in &report.failed {
            // The error usually names the journal already; say it once when it does not.
            let journal = failure.journal.display().to_string();
            if failure.error.contains(&journal) {
                eprintln!("failed: {}", failure.error);
            } else {
                eprintln!("failed: {journal}: {}", failure.error);
            }
        }
        anyhow::bail!("{} journal(s) could not be synced", report.failed.len());
    }
    if push_failures > 0 {
        anyhow::bail!("{push_failures} local run(s) could not be pushed whole");
    }
    Ok(())
}

/// The `--json` output: both reports.
#[derive(Serialize)]
struct SyncOutput<'a> {
    /// The journal replay.
    journals: &'a SyncReport,
    /// The push of the local store, `null` when its folder does not exist.
    local_store: Option<&'a PushReport>,
}
