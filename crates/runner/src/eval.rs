//! Scoring other data with a saved model: `vigie eval`, and the transfer matrix (train on each
//! dataset, evaluate on every other), which shows how far models carry over between sites.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use vigie_data::{PreparedDataset, Split};
use vigie_models::Scorer;
use vigie_models::artifact::SavedModel;
use vigie_models::metrics::{self, BinaryMetrics};

use crate::config::{DataConfig, DataSource};
use crate::error::{Result, RunError};
use crate::run::prepare_data;

/// Which requests of a dataset are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalScope {
    /// The test split (with the dataset's default split settings): what a model trained on
    /// this dataset never saw.
    Test,
    /// Every request (for datasets no model trains on).
    All,
}

/// A saved model's numbers on one dataset, at its stored threshold.
#[derive(Debug, Clone, Serialize)]
pub struct EvalResult {
    pub dataset: String,
    pub scope: EvalScope,
    pub requests: usize,
    pub metrics: BinaryMetrics,
}

/// Scores `scope` of `dataset` with `model` at the model's stored threshold.
pub fn evaluate_model(
    model: &SavedModel,
    dataset: &str,
    scope: EvalScope,
    source: &DataSource,
) -> Result<EvalResult> {
    let prepared = prepare_named(dataset, source)?;
    Ok(evaluate_prepared(model, &prepared, scope))
}

fn prepare_named(dataset: &str, source: &DataSource) -> Result<PreparedDataset> {
    source.catalog.get(dataset).map_err(|e| RunError::Invalid {
        message: format!("dataset {dataset:?}: {e}"),
    })?;
    // The default split: the dataset's test split is the same as in any run config that keeps
    // the default split settings.
    let data = DataConfig {
        dataset: dataset.to_owned(),
        dedup: true,
        split: Default::default(),
        site: None,
        augment: None,
        feedback: None,
    };
    prepare_data(&data, source)
}

/// Scores the requests of `scope` of a prepared dataset.
pub fn evaluate_prepared(
    model: &SavedModel,
    prepared: &PreparedDataset,
    scope: EvalScope,
) -> EvalResult {
    let (texts, labels) = match scope {
        EvalScope::Test => prepared.part(Split::Test),
        EvalScope::All => (
            prepared.data.texts.iter().map(String::as_str).collect(),
            prepared.data.labels.clone(),
        ),
    };
    let scores = model.score_batch(&texts);
    EvalResult {
        dataset: prepared.data.name.clone(),
        scope,
        requests: texts.len(),
        metrics: metrics::evaluate(&scores, &labels, model.threshold()),
    }
}

/// One row of the transfer matrix: a model trained on `trained_on`, evaluated everywhere.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixRow {
    pub trained_on: String,
    pub model_kind: String,
    pub run_id: Option<String>,
    pub results: Vec<EvalResult>,
}

/// The transfer matrix as a Markdown table: F1, ROC-AUC, FPR and TPR at FPR 1e-3 per cell;
/// FPR and false alarms per 10,000 benign requests for a set with one class.
pub fn matrix_markdown(rows: &[MatrixRow]) -> String {
    let mut out = String::new();
    let Some(first) = rows.first() else {
        return out;
    };
    let _ = write!(out, "| trained on \\ evaluated on |");
    for result in &first.results {
        let scope = match result.scope {
            EvalScope::Test => "test split",
            EvalScope::All => "all",
        };
        let _ = write!(out, " {} ({scope}) |", result.dataset);
    }
    out.push('\n');
    out.push_str("|---|");
    for _ in &first.results {
        out.push_str("---|");
    }
    out.push('\n');
    for row in rows {
        let _ = write!(out, "| {} ({}) |", row.trained_on, row.model_kind);
        for result in &row.results {
            let m = &result.metrics;
            if m.n_malicious == m.n {
                // No benign request: no false alarm to count.
                let _ = write!(out, " recall {:.4} (n={}) |", m.recall, m.n);
            } else if m.n_malicious == 0 {
                let _ = write!(
                    out,
                    " FPR {:.4}, {:.1} alerts/10k (n={}) |",
                    m.fpr, m.alerts_per_10k, m.n
                );
            } else {
                let _ = write!(
                    out,
                    " F1 {:.4}, AUC {:.4}, FPR {:.4}, TPR@1e-3 {:.3} |",
                    m.f1, m.roc_auc, m.fpr, m.tpr_at_fpr_1e3
                );
            }
        }
        out.push('\n');
    }
    out
}

/// Writes the matrix as `matrix.md` and `matrix.json` into `dir`.
pub fn write_matrix(dir: &Path, rows: &[MatrixRow]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| RunError::io(dir, "cannot create", e))?;
    let md = dir.join("matrix.md");
    std::fs::write(&md, matrix_markdown(rows)).map_err(|e| RunError::io(&md, "cannot write", e))?;
    let json = dir.join("matrix.json");
    let text = serde_json::to_vec_pretty(rows).map_err(|e| RunError::Invalid {
        message: format!("cannot serialise the matrix: {e}"),
    })?;
    std::fs::write(&json, text).map_err(|e| RunError::io(&json, "cannot write", e))
}
