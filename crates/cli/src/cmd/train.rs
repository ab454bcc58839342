//! `vigie train CONFIG`: one model trained from a run config and logged as one MLflow run.

use std::path::PathBuf;

use anyhow::Context;
use vigie_mlflow::DefaultStore;
use vigie_runner::field::FieldMetrics;
use vigie_runner::{DataSource, RunConfig, RunOutcome, RunRequest, Training};

use super::progress::TerminalProgress;
use crate::args::{GlobalArgs, TrainArgs};
use crate::output::{print_json, thousands};

pub fn train(global: &GlobalArgs, args: &TrainArgs) -> anyhow::Result<()> {
    let mut config = RunConfig::from_file_with(&args.config, &args.set)?;
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    let source = DataSource {
        catalog: super::catalog(global)?,
        data_dir: global.data_dir.clone(),
    };
    // Checked here too (`Training::load` checks again) so that a bad config fails before the store is
    // opened or anything is created.
    config
        .validate(&source.catalog)
        .with_context(|| format!("checking {}", args.config.display()))?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir("runs", &config.run_name()));
    let store = open_store(args.tracking_uri.as_deref())?;
    let request = RunRequest {
        config,
        out_dir,
        journal_root: args.journal_dir.clone(),
        parent_run_id: None,
        extra_tags: Vec::new(),
        field_data: Some(source.clone()),
    };
    let mut progress = TerminalProgress::new(global.quiet);
    let outcome = Training::load(&request, &source, &mut progress)
        .and_then(|training| training.logged(store, &mut progress))
        .with_context(|| format!("training {}", args.config.display()))?;
    progress.finish();
    if global.json {
        print_json(&outcome)?;
    } else {
        print_summary(&outcome, global.quiet);
    }
    Ok(())
}

/// The store of `--tracking-uri`, else of MLFLOW_TRACKING_URI, else ./mlruns.
pub fn open_store(uri: Option<&str>) -> anyhow::Result<DefaultStore> {
    let store = match uri {
        Some(uri) => DefaultStore::from_uri(Some(uri)),
        None => DefaultStore::from_env(),
    };
    store.context("opening the tracking store (--tracking-uri or MLFLOW_TRACKING_URI)")
}

/// The tracking URI of `--tracking-uri`, else of MLFLOW_TRACKING_URI; `None`: ./mlruns.
pub fn tracking_uri(arg: Option<&str>) -> Option<String> {
    arg.map(str::to_owned)
        .or_else(|| std::env::var("MLFLOW_TRACKING_URI").ok())
        .filter(|uri| !uri.trim().is_empty())
}

/// `out/<kind>/<name>-<UTC time>`: a fresh folder per run.
pub fn default_out_dir(kind: &str, name: &str) -> PathBuf {
    let stamp = vigie_mlflow::utc_timestamp(vigie_mlflow::now_millis())
        .replace([' ', ':'], "-")
        .replace('.', "-");
    PathBuf::from("out")
        .join(kind)
        .join(format!("{name}-{stamp}"))
}

fn print_summary(outcome: &RunOutcome, quiet: bool) {
    let t = &outcome.test;
    println!(
        "{} ({} on {}): test F1 {:.4}  ROC-AUC {:.4}  PR-AUC {:.4}  FPR {:.5}  TPR@FPR1e-3 {:.4}  TPR@FPR1e-2 {:.4}",
        outcome.run_name,
        outcome.model_kind,
        outcome.dataset,
        t.f1,
        t.roc_auc,
        t.pr_auc,
        t.fpr,
        t.tpr_at_fpr_1e3,
        t.tpr_at_fpr_1e2
    );
    println!(
        "  confusion [[tn {}, fp {}], [fn {}, tp {}]]  threshold {:.6} ({}, valid F1 {:.4})",
        t.confusion.tn,
        t.confusion.fp,
        t.confusion.fn_,
        t.confusion.tp,
        outcome.threshold.threshold,
        outcome.threshold.rule,
        outcome.threshold.valid_f1
    );
    println!(
        "  trained in {:.1} s; scoring {:.0} requests/s (batch), p50 {:.1} us / p99 {:.1} us (one request){}",
        outcome.train_seconds,
        outcome.scoring.batch_requests_per_s,
        outcome.scoring.single_p50_us,
        outcome.scoring.single_p99_us,
        outcome
            .peak_rss_bytes
            .map(|b| format!("; peak memory {:.0} MiB", b as f64 / 1048576.0))
            .unwrap_or_default()
    );
    if quiet {
        return;
    }
    for family in &outcome.test_recall_by_family {
        eprintln!(
            "  recall on {}: {:.4} ({} of {})",
            family.family, family.recall, family.detected, family.malicious
        );
    }
    if let Some(field) = &outcome.field {
        eprintln!("  {}", field_line(field));
    }
    eprintln!("  files: {}", outcome.out_dir.display());
    match (&outcome.run_id, outcome.synced) {
        (Some(run_id), true) => eprintln!(
            "  run {run_id} in experiment {:?}{}",
            outcome.experiment,
            outcome
                .logged_model_id
                .as_ref()
                .map(|id| format!(", logged model models:/{id}"))
                .unwrap_or_default()
        ),
        _ => eprintln!(
            "  the run is journaled in {} and waits for `vigie mlflow sync`",
            outcome.journal.display()
        ),
    }
}

/// The field check in one line: the false alarms a SOC would see, and the attacks caught.
fn field_line(field: &FieldMetrics) -> String {
    let mut line = format!(
        "field ({}, never trained on): {} false alarms of {} ({:.1} per 10k)",
        field.dataset,
        thousands(field.false_alarms),
        thousands(field.benign),
        field.alerts_per_10k
    );
    if field.malicious > 0 {
        line.push_str(&format!(", SQLi recall {:.4}", field.sqli_recall));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_line_reads_like_the_issue() {
        let field = FieldMetrics {
            dataset: "echows-urldetect".to_owned(),
            requests: 28_217,
            benign: 27_190,
            malicious: 1_027,
            false_alarms: 6,
            fpr: 6.0 / 27_190.0,
            alerts_per_10k: 6.0 * 10_000.0 / 27_190.0,
            sqli_detected: 1_021,
            sqli_recall: 1_021.0 / 1_027.0,
        };
        assert_eq!(
            field_line(&field),
            "field (echows-urldetect, never trained on): 6 false alarms of 27,190 (2.2 per 10k), \
             SQLi recall 0.9942"
        );
        let benign_only = FieldMetrics {
            malicious: 0,
            sqli_detected: 0,
            sqli_recall: f64::NAN,
            ..field
        };
        assert!(!field_line(&benign_only).contains("recall"));
    }
}
