//! Site adaptation: a SOC's own traffic in a run (`[data.site]`, written by `vigie adapt`).
//!
//! A model trained on public datasets meets a site whose ordinary requests it has never seen;
//! its false alarms there are the site's own habits (its parameter names, its encodings), not
//! attacks. `[data.site]` names the site's traffic (a catalog dataset's benign requests, or a
//! file of requests, one per line, mostly benign and unlabelled) and does three things with it:
//!
//! - the traffic is split by a keyed hash of each request into an *adaptation* part and a
//!   *holdout* part (a request always lands in the same part, whatever else the log holds);
//! - with `train = true` the adaptation part joins the training split as benign (requests the
//!   base dataset already holds are left out, so no test request leaks into training);
//! - with `alert_rate`, the threshold is raised, never lowered, until at most that share of the
//!   adaptation part would raise an alert, but never so far that the validation split's recall
//!   drops by more than `max_recall_loss`.
//!
//! A site's log is unlabelled and holds real attacks (echows-urldetect's "benign" day has two
//! time-based blind SQL injections). Learnt as benign they would teach the model to let that
//! attack through, and counted in the alert budget they would push the threshold over every
//! attack like them. So the adaptation part's requests that libinjection flags (SQLi or XSS in
//! a value: its false alarms are a few per 100,000 on real traffic) are *quarantined*: neither
//! trained on nor counted in the budget, and listed for an analyst.
//!
//! The run's field check then measures the holdout part (and the dataset's attacks, when the
//! site is a catalog dataset with malicious requests): false alarms on site traffic the model
//! never saw, under the same `field_*` names as every other run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vigie_data::{Catalog, Dataset, DatasetDef, Label, PreparedDataset, dedup};
use vigie_models::rules::{LibinjectionConfig, LibinjectionModel};

use crate::config::DataSource;
use crate::error::{Result, RunError};
use crate::field::FieldSet;

/// The file of a run's folder listing the quarantined requests, one per line.
pub const QUARANTINE_FILE: &str = "site-quarantine.txt";

/// `[data.site]`: the site's traffic and what the run does with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// A catalog dataset standing for the site: its benign requests are the traffic, its
    /// malicious ones (if any) measure recall. Exclusive with `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// A file of the site's requests, one per line (decoded like the base dataset). Exclusive
    /// with `dataset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Share of the traffic kept out of adaptation and measured on (0 keeps none).
    #[serde(default = "default_holdout")]
    pub holdout: f64,
    /// Keys the hash that splits the traffic.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Whether the adaptation part joins the training split as benign.
    #[serde(default = "default_true")]
    pub train: bool,
    /// The largest share of the adaptation part allowed to raise an alert; the threshold is
    /// raised until it holds. Unset: the threshold rule alone decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_rate: Option<f64>,
    /// How much validation recall (true positive rate) the alert rate may cost at most: the
    /// threshold stops rising there, and the summary says the budget was not met.
    #[serde(default = "default_max_recall_loss")]
    pub max_recall_loss: f64,
}

fn default_max_recall_loss() -> f64 {
    0.01
}

fn default_holdout() -> f64 {
    0.5
}

fn default_seed() -> u64 {
    42
}

fn default_true() -> bool {
    true
}

impl SiteConfig {
    /// What the traffic is, for names and messages: the dataset, or the file's name.
    pub fn traffic_name(&self) -> String {
        match (&self.dataset, &self.file) {
            (Some(dataset), _) => dataset.clone(),
            (None, Some(file)) => file
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| file.display().to_string()),
            (None, None) => "site".to_owned(),
        }
    }

    /// Checks values, without reading the traffic.
    pub fn validate(&self, catalog: &Catalog, base_datasets: &[&str]) -> Result<()> {
        let invalid = |message: String| RunError::Invalid { message };
        match (&self.dataset, &self.file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "`data.site`: give `dataset` or `file`, not both".to_owned(),
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "`data.site`: name the site's traffic with `dataset` (a catalog name) or `file` (requests, one per line)"
                        .to_owned(),
                ));
            }
            (Some(name), None) => {
                catalog
                    .get(name)
                    .map_err(|e| invalid(format!("`data.site.dataset`: {e}")))?;
                if base_datasets.contains(&name.as_str()) {
                    return Err(invalid(format!(
                        "`data.site.dataset`: {name} is already the run's dataset; the site must be traffic the base model never saw"
                    )));
                }
            }
            (None, Some(_)) => {}
        }
        if !(0.0..1.0).contains(&self.holdout) {
            return Err(invalid(format!(
                "invalid value for `data.site.holdout`: {} (expected 0 <= holdout < 1: a share of the traffic)",
                self.holdout
            )));
        }
        if let Some(rate) = self.alert_rate
            && !(0.0..1.0).contains(&rate)
        {
            return Err(invalid(format!(
                "invalid value for `data.site.alert_rate`: {rate} (expected 0 <= rate < 1, e.g. 0.0001 for one alert per 10,000 requests)"
            )));
        }
        if !(0.0..=1.0).contains(&self.max_recall_loss) {
            return Err(invalid(format!(
                "invalid value for `data.site.max_recall_loss`: {} (expected a share of recall in [0, 1])",
                self.max_recall_loss
            )));
        }
        if !self.train && self.alert_rate.is_none() {
            return Err(invalid(
                "`data.site`: with `train = false` and no `alert_rate` the site changes nothing (set one of them)"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

/// The site's traffic, loaded, deduplicated and split.
#[derive(Debug)]
pub struct SiteRequests {
    /// [`SiteConfig::traffic_name`].
    pub name: String,
    /// sha256 of the traffic file(s) as read, in order: what the adaptation saw.
    pub sha256: String,
    /// The adaptation part: benign requests the run learns from and sets its alert rate on.
    pub adapt: Vec<String>,
    /// Requests of the adaptation part libinjection flags: attacks, most likely; kept out of
    /// training and of the alert budget.
    pub quarantined: Vec<String>,
    /// The holdout part (benign) and the site's attacks, measured by the field check.
    pub holdout: FieldSet,
}

/// What adaptation did, in the run's metrics.json.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteSummary {
    pub traffic: String,
    pub sha256: String,
    pub adapt_requests: u64,
    /// Adaptation requests added to the training split (those the base dataset lacked).
    pub added_to_training: u64,
    /// Requests of the adaptation part libinjection flags, kept out (`site-quarantine.txt`).
    pub quarantined: u64,
    pub holdout_requests: u64,
    pub alert_rate: Option<f64>,
    /// The threshold the alert rate asks for, when set.
    pub site_threshold: Option<f64>,
    /// Whether the alert rate raised the threshold rule's choice.
    pub threshold_raised: bool,
    /// Whether `max_recall_loss` stopped the threshold below the alert rate's.
    pub recall_capped: bool,
    /// Adaptation requests flagged at the run's final threshold.
    pub adapt_alerts: u64,
}

impl SiteSummary {
    /// The metrics a run logs for its site (`site_*`), finite values only.
    pub fn metric_values(&self) -> Vec<(String, f64)> {
        let mut out = vec![
            ("site_adapt_requests".to_owned(), self.adapt_requests as f64),
            (
                "site_added_to_training".to_owned(),
                self.added_to_training as f64,
            ),
            (
                "site_holdout_requests".to_owned(),
                self.holdout_requests as f64,
            ),
            ("site_adapt_alerts".to_owned(), self.adapt_alerts as f64),
            ("site_quarantined".to_owned(), self.quarantined as f64),
        ];
        if let Some(threshold) = self.site_threshold.filter(|t| t.is_finite()) {
            out.push(("site_threshold".to_owned(), threshold));
        }
        out
    }
}

/// The site traffic of `config`, loaded once per process for a given config and data dir (a
/// run reads it twice: to extend the training split, then to measure).
pub fn requests(
    config: &SiteConfig,
    base_datasets: &[&str],
    source: &DataSource,
) -> Result<Arc<SiteRequests>> {
    static LOADED: OnceLock<Mutex<HashMap<String, Arc<SiteRequests>>>> = OnceLock::new();
    let key = format!(
        "{}\u{0}{}\u{0}{}",
        source.data_dir.display(),
        base_datasets.join("+"),
        serde_json::to_string(config).unwrap_or_default()
    );
    let cache = LOADED.get_or_init(Default::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = cache.get(&key) {
        return Ok(Arc::clone(found));
    }
    let loaded = Arc::new(load(config, base_datasets, source)?);
    cache.insert(key, Arc::clone(&loaded));
    Ok(loaded)
}

fn load(config: &SiteConfig, base_datasets: &[&str], source: &DataSource) -> Result<SiteRequests> {
    let def = traffic_definition(config, base_datasets, &source.catalog)?;
    let dataset = vigie_data::load(&def, &source.data_dir, |_| {})?;
    let sha256 = files_sha256(&dataset)?;
    let (dataset, _) = dedup(dataset);
    let rules = LibinjectionModel::new(LibinjectionConfig::default());
    let mut adapt = Vec::new();
    let mut quarantined = Vec::new();
    let mut holdout = FieldSet {
        dataset: format!(
            "{} (holdout {:.0} %)",
            config.traffic_name(),
            config.holdout * 100.0
        ),
        texts: Vec::new(),
        labels: Vec::new(),
    };
    for (text, label) in dataset.texts.into_iter().zip(dataset.labels) {
        // Attacks are never adapted to: they only measure recall.
        if label == Label::Malicious || in_holdout(&text, config) {
            holdout.texts.push(text);
            holdout.labels.push(label);
        } else if rules.flags(&text) {
            quarantined.push(text);
        } else {
            adapt.push(text);
        }
    }
    if adapt.is_empty() {
        return Err(RunError::Invalid {
            message: format!(
                "`data.site`: {} holds no benign request for adaptation (holdout {})",
                config.traffic_name(),
                config.holdout
            ),
        });
    }
    Ok(SiteRequests {
        name: config.traffic_name(),
        sha256,
        adapt,
        quarantined,
        holdout,
    })
}

/// The definition the traffic is read with: the catalog's for a dataset; for a file, one
/// benign `lines` file decoded like the base dataset (as `vigie score` decodes requests).
fn traffic_definition(
    config: &SiteConfig,
    base_datasets: &[&str],
    catalog: &Catalog,
) -> Result<DatasetDef> {
    if let Some(name) = &config.dataset {
        return Ok(catalog.get(name)?.0);
    }
    let file = config.file.as_deref().unwrap_or(Path::new(""));
    if !file.is_file() {
        return Err(RunError::Invalid {
            message: format!(
                "`data.site.file`: {} is not a readable file",
                file.display()
            ),
        });
    }
    let decode = base_datasets
        .first()
        .and_then(|name| catalog.get(name).ok())
        .map(|(def, _)| def.decode)
        .unwrap_or_default();
    let def = serde_json::json!({
        "name": config.traffic_name(),
        "format": {"kind": "lines"},
        "decode": decode,
        "files": [{"path": file.to_string_lossy(), "label": "benign"}],
    });
    serde_json::from_value(def).map_err(|e| RunError::Invalid {
        message: format!("`data.site.file`: {e}"),
    })
}

fn files_sha256(dataset: &Dataset) -> Result<String> {
    let mut hasher = Sha256::new();
    for file in &dataset.files {
        let bytes =
            std::fs::read(&file.path).map_err(|e| RunError::io(&file.path, "cannot read", e))?;
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Whether `text` belongs to the holdout part: a keyed hash, so the split depends on the
/// request alone, not on its position or on the rest of the log.
fn in_holdout(text: &str, config: &SiteConfig) -> bool {
    let hash = xxhash_rust::xxh3::xxh3_64_with_seed(text.as_bytes(), config.seed);
    (hash as f64 / u64::MAX as f64) < config.holdout
}

/// `prepared` with the site's adaptation requests appended to its training split as benign,
/// but for those the base dataset already holds (in any split, with any label). The digest
/// covers them, so a reproduction with other traffic is told apart.
pub fn extend_training(prepared: PreparedDataset, site: &SiteRequests) -> PreparedDataset {
    prepared.with_training(site.adapt.clone(), Label::Benign).0
}

/// The lowest threshold at which at most `rate` of `scores` are flagged (`score >=
/// threshold`): just above the score of the first request past the budget.
pub fn alert_threshold(scores: &[f64], rate: f64) -> f64 {
    let mut sorted: Vec<f64> = scores.iter().copied().filter(|s| !s.is_nan()).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let budget = (rate * scores.len() as f64).floor() as usize;
    match sorted.get(budget) {
        Some(&first_past) => first_past.next_up(),
        None => f64::NEG_INFINITY,
    }
}

/// The highest threshold that keeps at least `tpr - max_loss` of `malicious` scores flagged
/// (`score >= threshold`), where `tpr` is their share flagged at `threshold`.
pub fn recall_floor_threshold(malicious: &[f64], threshold: f64, max_loss: f64) -> f64 {
    let mut sorted: Vec<f64> = malicious.iter().copied().filter(|s| !s.is_nan()).collect();
    if sorted.is_empty() {
        return f64::INFINITY;
    }
    sorted.sort_by(|a, b| b.total_cmp(a));
    let flagged = sorted.iter().filter(|&&s| s >= threshold).count();
    let lost = (max_loss * sorted.len() as f64).floor() as usize;
    let keep = flagged.saturating_sub(lost).max(1);
    sorted[keep - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_data::Split;

    #[test]
    fn the_alert_threshold_flags_at_most_the_budget() {
        let scores: Vec<f64> = (0..10_000).map(|i| f64::from(i) / 10_000.0).collect();
        for rate in [0.0, 0.0001, 0.001, 0.01, 0.5] {
            let threshold = alert_threshold(&scores, rate);
            let flagged = scores.iter().filter(|&&s| s >= threshold).count();
            let budget = (rate * scores.len() as f64).floor() as usize;
            assert_eq!(flagged, budget, "rate {rate}");
        }
        // Ties past the budget are all let through rather than flagged.
        let tied = [1.0, 1.0, 1.0, 0.0];
        let threshold = alert_threshold(&tied, 0.25);
        assert_eq!(tied.iter().filter(|&&s| s >= threshold).count(), 0);
        assert_eq!(alert_threshold(&[], 0.1), f64::NEG_INFINITY);
    }

    #[test]
    fn the_recall_floor_gives_up_at_most_the_allowed_share_of_attacks() {
        let malicious: Vec<f64> = (0..1_000).map(|i| f64::from(i) / 1_000.0).collect();
        let flagged = |t: f64| malicious.iter().filter(|&&s| s >= t).count();
        // 900 flagged at 0.1; 1 % of 1,000 may be lost: 890 stay flagged.
        let floor = recall_floor_threshold(&malicious, 0.1, 0.01);
        assert_eq!(flagged(floor), 890);
        assert_eq!(flagged(recall_floor_threshold(&malicious, 0.1, 0.0)), 900);
        // Never above the highest attack.
        assert_eq!(recall_floor_threshold(&malicious, 0.1, 1.0), 0.999);
        assert_eq!(recall_floor_threshold(&[], 0.1, 0.01), f64::INFINITY);
    }

    #[test]
    fn the_holdout_depends_on_the_request_and_the_seed_only() {
        let config = |seed| SiteConfig {
            dataset: Some("x".to_owned()),
            file: None,
            holdout: 0.5,
            seed,
            train: true,
            alert_rate: None,
            max_recall_loss: 0.01,
        };
        let texts: Vec<String> = (0..4_000).map(|i| format!("/page?id={i}")).collect();
        let held: Vec<bool> = texts.iter().map(|t| in_holdout(t, &config(7))).collect();
        let share = held.iter().filter(|h| **h).count() as f64 / texts.len() as f64;
        assert!((0.45..0.55).contains(&share), "{share}");
        // The same request, the same side, in any order.
        let again: Vec<bool> = texts
            .iter()
            .rev()
            .map(|t| in_holdout(t, &config(7)))
            .collect();
        assert!(held.iter().eq(again.iter().rev()));
        let other_seed = texts
            .iter()
            .filter(|t| in_holdout(t, &config(8)) != in_holdout(t, &config(7)))
            .count();
        assert!(other_seed > 1_000, "{other_seed}");
    }

    fn prepared(texts: &[&str], labels: &[Label]) -> PreparedDataset {
        let dataset = Dataset {
            name: "base".to_owned(),
            texts: texts.iter().map(|t| (*t).to_owned()).collect(),
            labels: labels.to_vec(),
            origins: (1..=texts.len() as u64)
                .map(|line| vigie_data::Origin { file: 0, line })
                .collect(),
            files: Vec::new(),
        };
        let config = vigie_data::PrepareConfig::default();
        PreparedDataset::new(dataset, &config).expect("prepared")
    }

    #[test]
    fn adaptation_requests_join_training_as_benign_unless_already_known() {
        let texts: Vec<String> = (0..40).map(|i| format!("/base/{i}")).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let labels: Vec<Label> = (0..40)
            .map(|i| {
                if i % 2 == 0 {
                    Label::Benign
                } else {
                    Label::Malicious
                }
            })
            .collect();
        let base = prepared(&texts, &labels);
        let before = base.split_counts();
        let site = SiteRequests {
            name: "site".to_owned(),
            sha256: String::new(),
            adapt: vec![
                "/site/a".to_owned(),
                "/base/3".to_owned(),
                "/site/b".to_owned(),
            ],
            quarantined: Vec::new(),
            holdout: FieldSet {
                dataset: "site".to_owned(),
                texts: Vec::new(),
                labels: Vec::new(),
            },
        };
        let digest = base.digest.clone();
        let extended = extend_training(base, &site);
        let after = extended.split_counts();
        assert_eq!(after[0], [before[0][0] + 2, before[0][1]], "two new benign");
        assert_eq!(&after[1..], &before[1..], "valid and test unchanged");
        assert_ne!(extended.digest, digest);
        assert_eq!(extended.data.origins.len(), extended.data.texts.len());
        let (train, labels) = extended.part(Split::Train);
        let site_rows: Vec<(&str, Label)> = train
            .into_iter()
            .zip(labels)
            .filter(|(t, _)| t.starts_with("/site/"))
            .collect();
        assert_eq!(
            site_rows,
            [("/site/a", Label::Benign), ("/site/b", Label::Benign)]
        );
    }

    #[test]
    fn a_site_needs_one_source_and_sane_shares() {
        let catalog = Catalog::builtin().expect("catalog");
        let base = SiteConfig {
            dataset: Some("echows-urldetect".to_owned()),
            file: None,
            holdout: 0.5,
            seed: 1,
            train: true,
            alert_rate: Some(0.0001),
            max_recall_loss: 0.01,
        };
        assert!(base.validate(&catalog, &["fwaf"]).is_ok());
        let message = |c: SiteConfig| {
            c.validate(&catalog, &["fwaf"])
                .expect_err("invalid")
                .to_string()
        };
        assert!(
            message(SiteConfig {
                file: Some("a.txt".into()),
                ..base.clone()
            })
            .contains("not both")
        );
        assert!(
            message(SiteConfig {
                dataset: None,
                ..base.clone()
            })
            .contains("name the site")
        );
        assert!(
            message(SiteConfig {
                holdout: 1.0,
                ..base.clone()
            })
            .contains("data.site.holdout")
        );
        assert!(
            message(SiteConfig {
                alert_rate: Some(2.0),
                ..base.clone()
            })
            .contains("data.site.alert_rate")
        );
        assert!(
            message(SiteConfig {
                train: false,
                alert_rate: None,
                ..base.clone()
            })
            .contains("changes nothing")
        );
        assert!(
            base.validate(&catalog, &["echows-urldetect"])
                .expect_err("same dataset")
                .to_string()
                .contains("never saw")
        );
    }
}
