//! `vigie adapt`: a trained model adapted to a site's own traffic, as a new run of its parent's
//! config with a `[data.site]` table (the runner's `site` module does the adapting); the parent
//! and the adapted model are measured side by side on the traffic held out.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;
use vigie_mlflow::{DefaultStore, Tag, TrackingStore};
use vigie_runner::field::{self, FieldMetrics};
use vigie_runner::site::{self, SiteConfig};
use vigie_runner::{DataSource, RunConfig, RunOutcome, RunRequest, Training};
use vigie_score::{ModelRef, ResolvedModel};

use super::progress::TerminalProgress;
use super::train::{default_out_dir, open_store, tracking_uri};
use crate::args::{AdaptArgs, GlobalArgs};
use crate::output::{print_json, thousands};

/// Tags of an adapted run naming its parent.
const ADAPTED_FROM: &str = "vigie.adapted_from";
const ADAPTED_FROM_RUN: &str = "vigie.adapted_from_run";

/// What `vigie adapt --json` prints.
#[derive(Debug, Serialize)]
struct Adaptation {
    parent: String,
    parent_run_id: Option<String>,
    parent_threshold: f64,
    /// The parent on the site's holdout part, at its own threshold.
    parent_holdout: FieldMetrics,
    /// The parent's alerts on the adaptation part.
    parent_adapt_alerts: u64,
    outcome: RunOutcome,
}

pub fn adapt(global: &GlobalArgs, args: &AdaptArgs) -> anyhow::Result<()> {
    let source = DataSource {
        catalog: super::catalog(global)?,
        data_dir: global.data_dir.clone(),
    };
    let uri = tracking_uri(args.tracking_uri.as_deref());
    let reference: ModelRef = args.model.parse()?;
    let store = open_store(uri.as_deref())?;
    let parent = vigie_score::resolve(&reference, &store, &args.cache_dir)
        .with_context(|| format!("loading the parent model {}", args.model))?;
    let (parent_config, parent_run_id) = parent_config(args, &reference, &parent, &store)?;
    check_describes(&parent_config, &parent)?;
    let config = adapted_config(args, parent_config, &source)?;
    let site_config = config
        .data
        .site
        .clone()
        .context("the adapted config has a site")?;

    let base: Vec<&str> = config.data.dataset_names().collect();
    let site = site::requests(&site_config, &base, &source).with_context(|| {
        format!(
            "reading the site's traffic ({})",
            site_config.traffic_name()
        )
    })?;
    let threshold = parent.model.manifest.threshold;
    let parent_holdout = field::measure(&parent.model.model, &site.holdout, threshold);
    let adapt_texts: Vec<&str> = site.adapt.iter().map(String::as_str).collect();
    let parent_adapt_alerts = vigie_models::Scorer::score_batch(&parent.model.model, &adapt_texts)
        .into_iter()
        .filter(|&score| score >= threshold)
        .count() as u64;

    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir("adapt", &config.run_name()));
    let mut extra_tags = vec![Tag::new(ADAPTED_FROM, &parent.identity)];
    if let Some(run_id) = &parent_run_id {
        extra_tags.push(Tag::new(ADAPTED_FROM_RUN, run_id));
    }
    let request = RunRequest {
        config,
        out_dir,
        journal_root: args.journal_dir.clone(),
        parent_run_id: None,
        extra_tags,
        field_data: Some(source.clone()),
    };
    let mut progress = TerminalProgress::new(global.quiet);
    let outcome = Training::load(&request, &source, &mut progress)
        .and_then(|training| training.logged(store, &mut progress))
        .with_context(|| format!("adapting {} to {}", parent.identity, site.name))?;
    progress.finish();
    let adaptation = Adaptation {
        parent: parent.identity.clone(),
        parent_run_id,
        parent_threshold: threshold,
        parent_holdout,
        parent_adapt_alerts,
        outcome,
    };
    let summary_path = adaptation.outcome.out_dir.join("adaptation.json");
    std::fs::write(&summary_path, serde_json::to_vec_pretty(&adaptation)?)
        .with_context(|| format!("writing {}", summary_path.display()))?;
    if global.json {
        print_json(&adaptation)?;
    } else {
        print_side_by_side(&adaptation, site.adapt.len() as u64);
    }
    Ok(())
}

/// The parent's run config and run id: `--config`, else the `config.toml` of the run folder
/// the model sits in, else the run's `config.toml` artifact (for a run id or a registry URI).
fn parent_config(
    args: &AdaptArgs,
    reference: &ModelRef,
    parent: &ResolvedModel,
    store: &DefaultStore,
) -> anyhow::Result<(RunConfig, Option<String>)> {
    let run_id = match reference {
        ModelRef::Run(run_id) => Some(run_id.clone()),
        _ => logged_run_id(&parent.dir),
    };
    if let Some(path) = &args.config {
        return Ok((read_config(path)?, run_id));
    }
    let beside = [Some(parent.dir.as_path()), parent.dir.parent()]
        .into_iter()
        .flatten()
        .map(|dir| dir.join("config.toml"))
        .find(|path| path.is_file());
    if let Some(path) = beside {
        let run_id = run_id.or_else(|| local_run_id(path.parent()));
        return Ok((read_config(&path)?, run_id));
    }
    let Some(run_id) = run_id else {
        bail!(
            "no run config for the parent model {}: no config.toml beside it and no run id in its MLmodel (pass --config)",
            parent.identity
        );
    };
    let path = args
        .cache_dir
        .join("configs")
        .join(format!("{run_id}.toml"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    store
        .download_artifact(&run_id, "config.toml", &path)
        .with_context(|| {
            format!("downloading the config.toml of run {run_id} (or pass --config)")
        })?;
    Ok((read_config(&path)?, Some(run_id)))
}

/// Refuses a config that did not train `parent`: adapting it would train another model.
fn check_describes(config: &RunConfig, parent: &ResolvedModel) -> anyhow::Result<()> {
    let manifest = &parent.model.manifest;
    if config.model != manifest.spec
        || config.data.dataset != manifest.training_data.dataset
        || config.seed != manifest.seed
    {
        bail!(
            "the run config is not the config {} was trained with (its model, dataset or seed differ): pass the parent's own config with --config",
            parent.identity
        );
    }
    Ok(())
}

fn read_config(path: &Path) -> anyhow::Result<RunConfig> {
    RunConfig::from_file(path)
        .with_context(|| format!("reading the parent's config {}", path.display()))
}

/// The run id an MLflow logged model's `MLmodel` names (`run_id: …`).
fn logged_run_id(model_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(model_dir.join("MLmodel")).ok()?;
    vigie_mlflow::yaml::top_level_scalar(&text, "run_id").filter(|id| !id.is_empty())
}

/// The run id in a local run folder's `metrics.json`.
fn local_run_id(run_dir: Option<&Path>) -> Option<String> {
    let text = std::fs::read_to_string(run_dir?.join("metrics.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("run_id")?.as_str().map(str::to_owned)
}

/// The parent's config with the site: named after both, registered only when asked.
fn adapted_config(
    args: &AdaptArgs,
    mut config: RunConfig,
    source: &DataSource,
) -> anyhow::Result<RunConfig> {
    if config.data.site.is_some() {
        bail!("the parent model is already adapted to a site: adapt its own parent instead");
    }
    let file = match &args.traffic {
        Some(path) => Some(
            std::path::absolute(path)
                .with_context(|| format!("resolving the traffic file {}", path.display()))?,
        ),
        None => None,
    };
    let site = SiteConfig {
        dataset: args.site_dataset.clone(),
        file,
        holdout: args.holdout,
        seed: args.seed,
        train: !args.threshold_only,
        alert_rate: Some(args.alert_rate),
        max_recall_loss: args.max_recall_loss,
    };
    config.name = Some(
        args.name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", config.run_name(), site_slug(&site))),
    );
    config.data.site = Some(site);
    config.tracking.registered_model = args.register.clone();
    config
        .validate(&source.catalog)
        .context("checking the adapted config")?;
    Ok(config)
}

/// The site in a run name: the dataset, or the traffic file's stem.
fn site_slug(site: &SiteConfig) -> String {
    let name = site.traffic_name();
    let stem = Path::new(&name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or(name);
    format!("site-{stem}")
}

fn print_side_by_side(adaptation: &Adaptation, adapt_requests: u64) {
    let outcome = &adaptation.outcome;
    println!(
        "{} adapted from {} ({})",
        outcome.run_name,
        adaptation.parent,
        outcome
            .site
            .as_ref()
            .map(|s| s.traffic.as_str())
            .unwrap_or("site")
    );
    let before = &adaptation.parent_holdout;
    let after = outcome.field.as_ref();
    println!("  {:<34} {:>22} {:>22}", "", "parent", "adapted");
    let alarms = |m: &FieldMetrics| {
        format!(
            "{} of {} ({:.1}/10k)",
            thousands(m.false_alarms),
            thousands(m.benign),
            m.alerts_per_10k
        )
    };
    println!(
        "  {:<34} {:>22} {:>22}",
        "holdout false alarms",
        alarms(before),
        after.map(alarms).unwrap_or_default()
    );
    if before.malicious > 0 {
        println!(
            "  {:<34} {:>22.4} {:>22}",
            "holdout attacks detected (recall)",
            before.sqli_recall,
            after
                .map(|m| format!("{:.4}", m.sqli_recall))
                .unwrap_or_default()
        );
    }
    println!(
        "  {:<34} {:>22} {:>22}",
        "adaptation traffic alerts",
        format!(
            "{} of {}",
            thousands(adaptation.parent_adapt_alerts),
            thousands(adapt_requests)
        ),
        outcome
            .site
            .as_ref()
            .map(|s| format!(
                "{} of {}",
                thousands(s.adapt_alerts),
                thousands(adapt_requests)
            ))
            .unwrap_or_default()
    );
    println!(
        "  {:<34} {:>22} {:>22}",
        "threshold",
        format!("{:.6}", adaptation.parent_threshold),
        format!(
            "{:.6} ({})",
            outcome.threshold.threshold, outcome.threshold.rule
        )
    );
    println!(
        "  test split of {}: F1 {:.4}, FPR {:.5}",
        outcome.dataset, outcome.test.f1, outcome.test.fpr
    );
    if let Some(site) = &outcome.site {
        if site.recall_capped {
            println!(
                "  the alert rate was not met: meeting it would cost more validation recall than --max-recall-loss allows"
            );
        }
        if site.quarantined > 0 {
            println!(
                "  {} request(s) of the traffic are attacks to libinjection: not learnt, listed in {}",
                thousands(site.quarantined),
                outcome.out_dir.join(site::QUARANTINE_FILE).display()
            );
        }
    }
    eprintln!("  files: {}", outcome.out_dir.display());
    match (&outcome.run_id, outcome.synced) {
        (Some(run_id), true) => eprintln!(
            "  run {run_id} in experiment {:?} (tag {ADAPTED_FROM})",
            outcome.experiment
        ),
        _ => eprintln!(
            "  the run is journaled in {} and waits for `vigie mlflow sync`",
            outcome.journal.display()
        ),
    }
}
