//! The files a run writes beside its model: charts and family-specific reports.

use std::fs;
use std::path::Path;

use vigie_data::Label;
use vigie_models::artifact::SavedModel;
use vigie_models::metrics::{self, BinaryMetrics, plots};
use vigie_models::spec::TrainedModel;

use crate::error::{Result, RunError};

pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(|e| RunError::io(path, "cannot write", e))
}

pub(super) fn draw_charts(
    dir: &Path,
    scores: &[f64],
    labels: &[Label],
    test: &BinaryMetrics,
    title: &str,
) -> Result<()> {
    let roc = metrics::roc_curve(scores, labels);
    let pr = metrics::precision_recall_curve(scores, labels);
    plots::roc_png(&dir.join("roc.png"), &[(title, &roc)])?;
    plots::roc_low_fpr_png(&dir.join("roc_low_fpr.png"), &[(title, &roc)])?;
    plots::pr_png(&dir.join("precision_recall.png"), &[(title, &pr)])?;
    plots::confusion_png(
        &dir.join("confusion_matrix.png"),
        &test.confusion,
        &format!("{title}: test split"),
    )?;
    plots::score_histogram_png(&dir.join("scores.png"), scores, labels, test.threshold)?;
    Ok(())
}

/// Family-specific artifacts: the clusters of the test requests an Isolation Forest flags
/// (`clusters.json` and `clusters.md`), for an analyst to see what kinds of anomalies it finds.
pub(super) fn write_extra_artifacts(
    saved: &SavedModel,
    out: &Path,
    texts: &[&str],
    scores: &[f64],
    threshold: f64,
    seed: u64,
) -> Result<()> {
    let TrainedModel::IsolationForest(forest) = &saved.model else {
        return Ok(());
    };
    let k = forest.config().kmeans.k;
    let flagged: Vec<&str> = texts
        .iter()
        .zip(scores)
        .filter(|(_, score)| **score >= threshold)
        .map(|(text, _)| *text)
        .collect();
    if k == 0 || flagged.len() < k {
        return Ok(());
    }
    let report = vigie_models::anomaly::cluster_flagged(forest, &flagged, k, seed)?;
    let json = serde_json::to_vec_pretty(&report).map_err(|e| RunError::Invalid {
        message: format!("cannot serialise the clusters: {e}"),
    })?;
    write_file(&out.join("clusters.json"), &json)?;
    write_file(&out.join("clusters.md"), report.to_markdown().as_bytes())
}
