//! `vigie eval`: a saved model scored on other datasets, or the transfer matrix (`--matrix`).

use anyhow::Context;
use vigie_mlflow::{RunLogger, RunOptions, RunStatus};
use vigie_models::artifact::SavedModel;
use vigie_runner::eval::{EvalScope, MatrixRow, evaluate_model, matrix_markdown, write_matrix};
use vigie_runner::{DataSource, RunConfig, RunRequest, Training};

use super::progress::TerminalProgress;
use super::train::{default_out_dir, open_store, tracking_uri};
use crate::args::{EvalArgs, GlobalArgs};
use crate::output::print_json;
use crate::say;

/// Training datasets of the matrix by default, and the datasets only ever evaluated on.
const MATRIX_TRAIN: [&str; 2] = ["fwaf", "csic2010"];
const MATRIX_EVAL_ONLY: [&str; 1] = ["echows-urldetect"];

pub fn eval(global: &GlobalArgs, args: &EvalArgs) -> anyhow::Result<()> {
    let source = DataSource {
        catalog: super::catalog(global)?,
        data_dir: global.data_dir.clone(),
    };
    if args.matrix {
        return matrix(global, args, &source);
    }
    let Some(model_arg) = &args.model else {
        anyhow::bail!("--model is required without --matrix");
    };
    let reference: vigie_score::ModelRef = model_arg.parse()?;
    let store = open_store(tracking_uri(args.tracking_uri.as_deref()).as_deref())?;
    let resolved = vigie_score::resolve(&reference, &store, &args.cache_dir)
        .with_context(|| format!("loading the model {model_arg}"))?;
    let model = resolved.model;
    let datasets: Vec<String> = if args.datasets.is_empty() {
        source
            .catalog
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else {
        args.datasets.clone()
    };
    let scope = if args.all {
        EvalScope::All
    } else {
        EvalScope::Test
    };
    let mut results = Vec::new();
    for dataset in &datasets {
        let result = evaluate_model(&model, dataset, scope, &source)
            .with_context(|| format!("evaluating on {dataset}"))?;
        results.push(result);
    }
    if global.json {
        return print_json(&results);
    }
    println!(
        "model {} ({}, trained on {}), threshold {:.6}",
        resolved.identity,
        model.manifest.kind,
        model.manifest.training_data.dataset,
        model.threshold()
    );
    println!(
        "| dataset | requests | malicious | F1 | ROC-AUC | FPR | alerts per 10k | TPR@FPR1e-3 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &results {
        let m = &r.metrics;
        // F1 of a set without a malicious request is 0 by convention, not a measure: a dash.
        let f1 = if m.n_malicious == 0 { f64::NAN } else { m.f1 };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.dataset,
            r.requests,
            m.n_malicious,
            cell(f1, 4),
            cell(m.roc_auc, 4),
            cell(m.fpr, 5),
            cell(m.alerts_per_10k, 1),
            cell(m.tpr_at_fpr_1e3, 4)
        );
    }
    Ok(())
}

/// A table cell: the value, or a dash where the set cannot measure it (NaN: a class is
/// missing), rather than "NaN".
fn cell(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        "–".to_owned()
    }
}

fn matrix(global: &GlobalArgs, args: &EvalArgs, source: &DataSource) -> anyhow::Result<()> {
    let base = match &args.config {
        Some(path) => RunConfig::from_file(path)?,
        None => RunConfig::from_toml(
            "[data]\ndataset = \"fwaf\"\n[model]\nkind = \"linear_svm\"\n",
            std::path::Path::new("<default matrix config>"),
        )?,
    };
    let train_on: Vec<String> = if args.train_on.is_empty() {
        MATRIX_TRAIN.iter().map(|s| (*s).to_owned()).collect()
    } else {
        args.train_on.clone()
    };
    let evaluated: Vec<String> = if args.evaluate_on.is_empty() {
        let mut evaluated = train_on.clone();
        for name in MATRIX_TRAIN.iter().chain(MATRIX_EVAL_ONLY.iter()) {
            if !evaluated.iter().any(|d| d == name) {
                evaluated.push((*name).to_owned());
            }
        }
        evaluated
    } else {
        args.evaluate_on.clone()
    };
    for name in &evaluated {
        source
            .catalog
            .get(name)
            .with_context(|| format!("--evaluate-on {name}"))?;
    }
    // Every config is checked before the first model trains.
    let mut configs = Vec::new();
    for dataset in &train_on {
        let mut config = base.clone();
        config.data.dataset = dataset.clone();
        config.name = Some(format!("matrix-{dataset}-{}", config.model.kind()));
        config.tracking.experiment = Some("vigie-eval-matrix".to_owned());
        config.validate(&source.catalog)?;
        configs.push(config);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir("matrix", base.model.kind()));
    // A parent run holds the matrix; each training run is its child.
    let parent_options = {
        let mut options = RunOptions::new(&args.journal_dir, "vigie-eval-matrix");
        options.run_name = Some(format!("matrix-{}", base.model.kind()));
        options
    };
    let mut parent = RunLogger::start(open_store(args.tracking_uri.as_deref())?, parent_options)
        .context("starting the matrix's parent run")?;
    let mut rows = Vec::new();
    for config in configs {
        let trained_on = config.data.dataset.clone();
        say!(global.quiet, "training on {trained_on}");
        let request = RunRequest {
            out_dir: out.join(format!("train-{trained_on}")),
            config,
            journal_root: args.journal_dir.clone(),
            parent_run_id: parent.run_id().map(str::to_owned),
            extra_tags: Vec::new(),
            field_data: Some(source.clone()),
        };
        let store = open_store(args.tracking_uri.as_deref())?;
        let mut progress = TerminalProgress::new(global.quiet);
        let outcome = Training::load(&request, source, &mut progress)
            .and_then(|training| training.logged(store, &mut progress))
            .with_context(|| format!("training on {trained_on}"))?;
        progress.finish();
        let model = SavedModel::load(&outcome.model_dir)?;
        let mut results = Vec::new();
        for dataset in &evaluated {
            let scope = if train_on.contains(dataset) {
                EvalScope::Test
            } else {
                EvalScope::All
            };
            results.push(
                evaluate_model(&model, dataset, scope, source)
                    .with_context(|| format!("evaluating on {dataset}"))?,
            );
        }
        rows.push(MatrixRow {
            trained_on,
            model_kind: outcome.model_kind.clone(),
            run_id: outcome.run_id.clone(),
            results,
        });
    }
    write_matrix(&out, &rows)?;
    for file in ["matrix.md", "matrix.json"] {
        parent.log_artifact(&out.join(file), None)?;
    }
    let finished = parent.finish(RunStatus::Finished)?;
    if let Some(run_id) = &finished.run_id {
        say!(
            global.quiet,
            "matrix logged as run {run_id} (experiment vigie-eval-matrix)"
        );
    }
    if global.json {
        print_json(&rows)?;
    } else {
        print!("{}", matrix_markdown(&rows));
        say!(
            global.quiet,
            "written to {} (matrix.md, matrix.json)",
            out.display()
        );
    }
    Ok(())
}
