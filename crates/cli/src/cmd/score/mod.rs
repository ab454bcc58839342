//! `vigie score`: requests scored with a trained model, one by one on the command line (with
//! the features that drove each score highlighted), or streamed from a file, standard input or
//! a growing log, written as CSV, JSON Lines or Splunk HEC events, with a summary at the end.

mod file;
pub(crate) mod input;
mod invalid;
mod requests;
mod serve;
mod summary;
mod writer;

use std::path::Path;

use anyhow::{Context, bail};
use vigie_score::engine::ThresholdOverride;
use vigie_score::{Engine, ModelRef};

use super::train::{open_store, tracking_uri};
use crate::args::{GlobalArgs, ModelArgs, ScoreArgs};

pub use serve::serve;

/// Loads the model `--model` names, with the threshold and decoding the options ask for.
pub fn load_engine(
    catalog: Option<&vigie_data::Catalog>,
    model: &str,
    tracking: Option<&str>,
    cache_dir: &Path,
    threshold: Option<ThresholdOverride>,
    no_decode: bool,
) -> anyhow::Result<Engine> {
    let reference: ModelRef = model.parse()?;
    let uri = tracking_uri(tracking);
    let store = open_store(uri.as_deref())?;
    let resolved = vigie_score::resolve(&reference, &store, cache_dir)
        .with_context(|| format!("loading the model {model}"))?;
    // The requests are decoded like the training data: the training dataset's definition says
    // how (when it is known here), else the default (percent-decoded UTF-8, trimmed).
    let decode = if no_decode {
        None
    } else {
        let dataset = &resolved.model.manifest.training_data.dataset;
        Some(
            catalog
                .and_then(|catalog| catalog.get(dataset).ok())
                .map(|(def, _)| def.decode)
                .unwrap_or_default(),
        )
    };
    Ok(Engine::new(resolved.model, resolved.identity)
        .with_decode(decode)
        .with_override(threshold)?)
}

/// `--threshold` or `--target-fpr` (clap keeps them exclusive).
fn threshold_override(
    threshold: Option<f64>,
    target_fpr: Option<f64>,
) -> Option<ThresholdOverride> {
    threshold
        .map(ThresholdOverride::Value)
        .or(target_fpr.map(ThresholdOverride::TargetFpr))
}

/// The engine of a scoring command's `--model` and threshold options.
pub fn load_model(
    catalog: Option<&vigie_data::Catalog>,
    model: &ModelArgs,
    tracking: Option<&str>,
) -> anyhow::Result<Engine> {
    load_engine(
        catalog,
        &model.model,
        tracking,
        &model.cache_dir,
        threshold_override(model.threshold, model.target_fpr),
        model.no_decode,
    )
}

pub fn score(global: &GlobalArgs, args: &ScoreArgs) -> anyhow::Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size: must be at least 1");
    }
    let catalog = super::catalog(global).ok();
    let engine = load_model(catalog.as_ref(), &args.model, args.tracking_uri.as_deref())?;
    match &args.input {
        None => requests::score_requests(global, args, &engine),
        Some(input) => file::score_file(global, args, &engine, input),
    }
}
