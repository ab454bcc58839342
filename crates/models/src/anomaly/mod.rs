//! Anomaly detection: an Isolation Forest trained on benign requests only, and K-means to
//! group what it flags.
//!
//! This is unsupervised novelty detection. Texts are hashed and projected to a few dense
//! dimensions ([`projection`]); the forest ([`forest`]) learns what benign traffic looks like
//! from the BENIGN requests of the training split alone, and scores any request by how easily
//! it is isolated from them (higher = more anomalous). Labels serve only to evaluate (the
//! validation ROC-AUC reported while training) and, in the caller, to choose a threshold;
//! [`IsolationForestModel::default_threshold`] is the label-free alternative.
//! [`cluster_flagged`] then clusters flagged requests ([`kmeans`]) and names each cluster by
//! its most distinctive tokens.

pub mod forest;
pub mod kmeans;
pub mod projection;

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::forest::{ForestParams, IsolationForest};
use self::kmeans::KMeansConfig;
pub use self::kmeans::{ClusterReport, ClusterSummary, KMeans};
use self::projection::{Projection, ProjectionConfig, ProjectionScratch};
use crate::model::{Persist, Scorer, TrainData, TrainObserver};
use crate::{ModelError, Result};

/// Trees per forest accepted at most.
const MAX_ESTIMATORS: usize = 100_000;

/// Samples per tree: `"auto"` (`min(256, n)`), a count, or a fraction of the benign requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NumberOrWord", into = "NumberOrWord")]
pub enum MaxSamples {
    Auto,
    Count(usize),
    Fraction(f64),
}

/// Expected share of anomalies among the training requests: `"auto"` (threshold 0.5, as
/// scikit-learn's offset) or a fraction in (0, 0.5].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NumberOrWord", into = "NumberOrWord")]
pub enum Contamination {
    Auto,
    Fraction(f64),
}

/// How both appear in a config: a number or the word `"auto"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum NumberOrWord {
    Integer(u64),
    Float(f64),
    Word(String),
}

impl TryFrom<NumberOrWord> for MaxSamples {
    type Error = String;

    fn try_from(value: NumberOrWord) -> std::result::Result<Self, String> {
        match value {
            NumberOrWord::Integer(count) => Ok(MaxSamples::Count(count as usize)),
            NumberOrWord::Float(fraction) => Ok(MaxSamples::Fraction(fraction)),
            NumberOrWord::Word(word) if word == "auto" => Ok(MaxSamples::Auto),
            NumberOrWord::Word(word) => Err(format!(
                "expected \"auto\", a sample count or a fraction, got \"{word}\""
            )),
        }
    }
}

impl From<MaxSamples> for NumberOrWord {
    fn from(value: MaxSamples) -> Self {
        match value {
            MaxSamples::Auto => NumberOrWord::Word("auto".into()),
            MaxSamples::Count(count) => NumberOrWord::Integer(count as u64),
            MaxSamples::Fraction(fraction) => NumberOrWord::Float(fraction),
        }
    }
}

impl TryFrom<NumberOrWord> for Contamination {
    type Error = String;

    fn try_from(value: NumberOrWord) -> std::result::Result<Self, String> {
        match value {
            // An integer is never valid, but `validate` names the key when it says so.
            NumberOrWord::Integer(count) => Ok(Contamination::Fraction(count as f64)),
            NumberOrWord::Float(fraction) => Ok(Contamination::Fraction(fraction)),
            NumberOrWord::Word(word) if word == "auto" => Ok(Contamination::Auto),
            NumberOrWord::Word(word) => Err(format!(
                "expected \"auto\" or a fraction in (0, 0.5], got \"{word}\""
            )),
        }
    }
}

impl From<Contamination> for NumberOrWord {
    fn from(value: Contamination) -> Self {
        match value {
            Contamination::Auto => NumberOrWord::Word("auto".into()),
            Contamination::Fraction(fraction) => NumberOrWord::Float(fraction),
        }
    }
}

/// Hyperparameters of the `isolation_forest` family (the `[model]` table), with
/// scikit-learn's `IsolationForest` defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IsolationForestConfig {
    /// Number of trees (default 100).
    pub n_estimators: usize,
    /// Samples per tree (default `"auto"`: `min(256, n)`).
    pub max_samples: MaxSamples,
    /// Share of the projected dimensions each tree may cut on, in (0, 1] (default 1.0).
    pub max_features: f64,
    /// Sets [`IsolationForestModel::default_threshold`] (default `"auto"`).
    pub contamination: Contamination,
    /// From texts to dense vectors.
    pub projection: ProjectionConfig,
    /// Clustering of flagged requests.
    pub kmeans: KMeansConfig,
}

impl Default for IsolationForestConfig {
    fn default() -> Self {
        Self {
            n_estimators: 100,
            max_samples: MaxSamples::Auto,
            max_features: 1.0,
            contamination: Contamination::Auto,
            projection: ProjectionConfig::default(),
            kmeans: KMeansConfig::default(),
        }
    }
}

impl IsolationForestConfig {
    /// Checks every field; errors name the dotted key (`model.n_estimators`, …).
    pub fn validate(&self) -> Result<()> {
        if self.n_estimators == 0 || self.n_estimators > MAX_ESTIMATORS {
            return Err(ModelError::config(
                "model.n_estimators",
                format!(
                    "must be between 1 and {MAX_ESTIMATORS}, got {}",
                    self.n_estimators
                ),
            ));
        }
        match self.max_samples {
            MaxSamples::Auto => {}
            MaxSamples::Count(count) => {
                if count == 0 || count > u32::MAX as usize {
                    return Err(ModelError::config(
                        "model.max_samples",
                        format!("a sample count must be between 1 and 2^32 - 1, got {count}"),
                    ));
                }
            }
            MaxSamples::Fraction(fraction) => {
                if !(fraction > 0.0 && fraction <= 1.0) {
                    return Err(ModelError::config(
                        "model.max_samples",
                        format!("a fraction must be in (0, 1], got {fraction}"),
                    ));
                }
            }
        }
        if !(self.max_features > 0.0 && self.max_features <= 1.0) {
            return Err(ModelError::config(
                "model.max_features",
                format!("must be in (0, 1], got {}", self.max_features),
            ));
        }
        if let Contamination::Fraction(fraction) = self.contamination
            && !(fraction > 0.0 && fraction <= 0.5)
        {
            return Err(ModelError::config(
                "model.contamination",
                format!("must be \"auto\" or in (0, 0.5], got {fraction}"),
            ));
        }
        self.projection.validate()?;
        self.kmeans.validate()
    }

    /// Samples per tree for `n` training points.
    pub fn samples_per_tree(&self, n: usize) -> usize {
        match self.max_samples {
            MaxSamples::Auto => n.min(256),
            MaxSamples::Count(count) => count.min(n),
            MaxSamples::Fraction(fraction) => ((fraction * n as f64) as usize).clamp(1, n.max(1)),
        }
    }
}

/// A trained Isolation Forest with the projection that feeds it.
#[derive(Debug, Clone)]
pub struct IsolationForestModel {
    config: IsolationForestConfig,
    projection: Projection,
    forest: IsolationForest,
    default_threshold: f64,
    /// Seed of the run, reused to seed the clustering of flagged requests.
    seed: u64,
}

/// Trains the forest on the benign requests of `data.train` (see the module docs).
pub fn fit(
    config: &IsolationForestConfig,
    data: &TrainData<'_>,
    observer: &mut dyn TrainObserver,
) -> Result<IsolationForestModel> {
    config.validate()?;
    let benign: Vec<&str> = data
        .train
        .texts
        .iter()
        .zip(&data.train.labels)
        .filter(|(_, label)| !label.is_malicious())
        .map(|(text, _)| *text)
        .collect();
    if benign.len() < 2 {
        return Err(ModelError::Data(format!(
            "an isolation forest learns from benign requests: the training split has {}",
            benign.len()
        )));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(data.threads)
        .build()
        .map_err(|err| ModelError::Training(format!("cannot start the thread pool: {err}")))?;
    let projection = Projection::new(&config.projection, data.seed)?;
    let dims = projection.dims();

    observer.phase("project", Some((benign.len() + data.valid.len()) as u64));
    let train_points = pool.install(|| projection.project(&benign));
    let valid_points = pool.install(|| projection.project(&data.valid.texts));
    observer.advance((benign.len() + data.valid.len()) as u64);

    let params = ForestParams {
        n_estimators: config.n_estimators,
        max_samples: config.samples_per_tree(benign.len()),
        max_features: config.max_features,
        seed: data.seed,
    };
    observer.phase("trees", Some(config.n_estimators as u64));
    let forest =
        IsolationForest::fit_with_progress(&train_points, dims, &params, Some(&pool), |done| {
            observer.advance(done)
        })?;

    let train_scores = pool.install(|| forest.score_samples(&train_points));
    let default_threshold = match config.contamination {
        Contamination::Auto => 0.5,
        Contamination::Fraction(fraction) => quantile(&train_scores, 1.0 - fraction),
    };
    if !data.valid.is_empty() {
        let valid_scores = pool.install(|| forest.score_samples(&valid_points));
        let auc = crate::metrics::roc_auc(&valid_scores, &data.valid.labels);
        if auc.is_finite() {
            observer.epoch(1, &[("valid_roc_auc", auc)]);
        } else {
            observer.note("validation split lacks a class: no ROC-AUC");
        }
    }
    observer.note(&format!(
        "{} trees on {} benign requests ({} per tree, {dims} dimensions); default threshold {default_threshold:.4}",
        config.n_estimators,
        benign.len(),
        forest.samples_per_tree()
    ));
    Ok(IsolationForestModel {
        config: config.clone(),
        projection,
        forest,
        default_threshold,
        seed: data.seed,
    })
}

/// The `q` quantile of `values` with linear interpolation (NumPy's default `percentile`).
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n => {
            let position = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let below = position.floor() as usize;
            let above = (below + 1).min(n - 1);
            let weight = position - below as f64;
            sorted[below] + (sorted[above] - sorted[below]) * weight
        }
    }
}

/// Texts projected and scored per parallel task.
const TEXTS_PER_TASK: usize = 256;

impl IsolationForestModel {
    /// The hyperparameters it was trained with.
    pub fn config(&self) -> &IsolationForestConfig {
        &self.config
    }

    /// The projection from texts to dense vectors.
    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    /// The trees.
    pub fn forest(&self) -> &IsolationForest {
        &self.forest
    }

    /// The label-free threshold: with `contamination` a fraction, the `1 - contamination`
    /// quantile of the benign training scores; with `"auto"`, 0.5 (scikit-learn's offset).
    pub fn default_threshold(&self) -> f64 {
        self.default_threshold
    }

    /// Dense rows (row-major, `texts.len() * dims`) of `texts`, as the forest sees them.
    pub fn project(&self, texts: &[&str]) -> Vec<f32> {
        self.projection.project(texts)
    }
}

/// Groups `texts` (typically the requests the forest flagged) into at most `k` clusters of
/// their projections, seeded by `seed`, with `model.kmeans.max_iter` Lloyd iterations.
pub fn cluster_flagged(
    model: &IsolationForestModel,
    texts: &[&str],
    k: usize,
    seed: u64,
) -> Result<ClusterReport> {
    kmeans::cluster_texts(
        &model.projection,
        texts,
        k,
        model.config.kmeans.max_iter,
        seed,
    )
}

impl Scorer for IsolationForestModel {
    /// Projects and scores chunk by chunk on the caller's rayon pool.
    fn score_batch(&self, texts: &[&str]) -> Vec<f64> {
        let dims = self.projection.dims();
        let mut scores = vec![0.0; texts.len()];
        scores
            .par_chunks_mut(TEXTS_PER_TASK)
            .zip(texts.par_chunks(TEXTS_PER_TASK))
            .for_each(|(out, chunk)| {
                let mut scratch = ProjectionScratch::default();
                let mut row = vec![0.0f32; dims];
                for (score, text) in out.iter_mut().zip(chunk) {
                    self.projection
                        .project_one_into(text, &mut scratch, &mut row);
                    *score = self.forest.score_point(&row);
                }
            });
        scores
    }
}

/// The JSON file of a saved model.
const META_FILE: &str = "isolation_forest.json";
/// The binary file of the trees.
const TREES_FILE: &str = "trees.bin";
const META_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedMeta {
    format_version: u32,
    /// The projection is rebuilt from `config.projection` and this seed.
    config: IsolationForestConfig,
    projection_seed: u64,
    default_threshold: f64,
    seed: u64,
}

impl Persist for IsolationForestModel {
    fn save(&self, dir: &Path) -> Result<()> {
        let meta = SavedMeta {
            format_version: META_VERSION,
            config: self.config.clone(),
            projection_seed: self.projection.seed(),
            default_threshold: self.default_threshold,
            seed: self.seed,
        };
        let meta_path = dir.join(META_FILE);
        let json = serde_json::to_vec_pretty(&meta)
            .map_err(|err| ModelError::artifact(&meta_path, format!("cannot serialise: {err}")))?;
        std::fs::write(&meta_path, json)
            .map_err(|err| ModelError::io(&meta_path, "cannot write", err))?;
        let trees_path = dir.join(TREES_FILE);
        std::fs::write(&trees_path, self.forest.to_bytes())
            .map_err(|err| ModelError::io(&trees_path, "cannot write", err))
    }

    fn load(dir: &Path) -> Result<Self> {
        let meta_path = dir.join(META_FILE);
        let raw = std::fs::read(&meta_path)
            .map_err(|err| ModelError::io(&meta_path, "cannot read", err))?;
        let meta: SavedMeta = serde_json::from_slice(&raw)
            .map_err(|err| ModelError::artifact(&meta_path, format!("malformed: {err}")))?;
        if meta.format_version != META_VERSION {
            return Err(ModelError::artifact(
                &meta_path,
                format!("unknown format version {}", meta.format_version),
            ));
        }
        let invalid = |err: ModelError| ModelError::artifact(&meta_path, err.to_string());
        meta.config.validate().map_err(invalid)?;
        let projection = Projection::with_seed(&meta.config.projection, meta.projection_seed)
            .map_err(invalid)?;
        if !meta.default_threshold.is_finite() {
            return Err(ModelError::artifact(
                &meta_path,
                "default_threshold is not finite",
            ));
        }
        let trees_path = dir.join(TREES_FILE);
        let bytes = std::fs::read(&trees_path)
            .map_err(|err| ModelError::io(&trees_path, "cannot read", err))?;
        let forest = IsolationForest::from_bytes(&bytes, &trees_path)?;
        if forest.dims() != projection.dims() {
            return Err(ModelError::artifact(
                &trees_path,
                format!(
                    "trees cut {} dimensions but the projection makes {}",
                    forest.dims(),
                    projection.dims()
                ),
            ));
        }
        Ok(Self {
            config: meta.config,
            projection,
            forest,
            default_threshold: meta.default_threshold,
            seed: meta.seed,
        })
    }
}
