//! A run's data: the `[data]` table's dataset loaded, deduplicated, split and extended
//! (augmentation, a site's traffic, analysts' feedback), and the splits checked.

use std::sync::Arc;

use vigie_data::{PreparedDataset, Split};
use vigie_models::LabelledTexts;

use super::RunRequest;
use crate::augment;
use crate::config::{DataConfig, DataSource};
use crate::error::{Result, RunError};
use crate::feedback;
use crate::site::{self, SiteRequests};

/// Loads, dedups and splits the dataset of a `[data]` table.
pub fn prepare_data(data: &DataConfig, source: &DataSource) -> Result<PreparedDataset> {
    let mut parts = Vec::new();
    for name in data.dataset_names() {
        let (def, _) = source.catalog.get(name)?;
        parts.push(vigie_data::load(&def, &source.data_dir, |_| {})?);
    }
    let dataset = if parts.len() == 1 {
        parts.remove(0)
    } else {
        vigie_data::Dataset::union(data.dataset.clone(), parts)
    };
    let mut prepared = PreparedDataset::new(dataset, &data.prepare_config())?;
    if let Some(augment_config) = &data.augment {
        let (augmented, summary) = augment::extend_training(prepared, augment_config);
        tracing::info!(
            "data.augment: {} variants of {} training attacks added",
            summary.variants,
            summary.attacks
        );
        prepared = augmented;
    }
    if let Some(site_config) = data.site.as_ref().filter(|site| site.train) {
        let base: Vec<&str> = data.dataset_names().collect();
        let site = site::requests(site_config, &base, source)?;
        prepared = site::extend_training(prepared, &site);
    }
    if let Some(feedback_config) = &data.feedback {
        let requests = feedback::load(feedback_config, source)?;
        prepared = feedback::extend_training(prepared, &requests, feedback_config.weight);
    }
    Ok(prepared)
}

/// The site traffic of a run with `[data.site]`, from the run's data source.
pub(super) fn site_requests(request: &RunRequest) -> Result<Option<Arc<SiteRequests>>> {
    let data = &request.config.data;
    let Some(site_config) = &data.site else {
        return Ok(None);
    };
    let source = request
        .field_data
        .as_ref()
        .ok_or_else(|| RunError::Invalid {
            message: "a run with `[data.site]` needs its data source to read the site's traffic"
                .to_owned(),
        })?;
    let base: Vec<&str> = data.dataset_names().collect();
    site::requests(site_config, &base, source).map(Some)
}

pub(super) fn labelled(prepared: &PreparedDataset, part: Split) -> LabelledTexts<'_> {
    let (texts, labels) = prepared.part(part);
    LabelledTexts::new(texts, labels)
}

/// The three splits, each checked to hold both classes; and the dataset checked to be the one
/// the config asks for.
pub(super) fn checked_splits<'a>(
    request: &RunRequest,
    prepared: &'a PreparedDataset,
) -> Result<[LabelledTexts<'a>; 3]> {
    let config = &request.config;
    if prepared.data.name != config.data.dataset || prepared.config != config.data.prepare_config()
    {
        return Err(RunError::Invalid {
            message: format!(
                "the dataset was prepared as {} {:?}, the config asks for {} {:?}",
                prepared.data.name,
                prepared.config,
                config.data.dataset,
                config.data.prepare_config()
            ),
        });
    }
    let splits = [
        labelled(prepared, Split::Train),
        labelled(prepared, Split::Valid),
        labelled(prepared, Split::Test),
    ];
    for (name, part) in ["train", "valid", "test"].into_iter().zip(&splits) {
        if part.class_counts().contains(&0) {
            return Err(RunError::Invalid {
                message: format!(
                    "the {name} split of {} has {:?} [benign, malicious] requests: both classes are needed (check `data.split`)",
                    config.data.dataset,
                    part.class_counts()
                ),
            });
        }
    }
    Ok(splits)
}
