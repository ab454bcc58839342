//! The `[model]` table of a run config: which family, with which hyperparameters, and the
//! one place that dispatches training and scoring to the families.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::anomaly::{IsolationForestConfig, IsolationForestModel};
use crate::linear::{LinearConfig, LinearKind, LinearModel};
use crate::model::{Persist, Scorer, TrainData, TrainObserver};
use crate::nn::{CnnConfig, MlpConfig, NetworkModel, NetworkSpec, RnnConfig};
use crate::rules::{LibinjectionConfig, LibinjectionModel};
use crate::{ModelError, Result};

/// A model and its hyperparameters, tagged by `kind` in TOML:
///
/// ```toml
/// [model]
/// kind = "linear_svm"
/// c = 1.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSpec {
    LogisticRegression(LinearConfig),
    LinearSvm(LinearConfig),
    IsolationForest(IsolationForestConfig),
    Mlp(MlpConfig),
    Cnn(CnnConfig),
    Lstm(RnnConfig),
    Bilstm(RnnConfig),
    Libinjection(LibinjectionConfig),
}

/// The families of the zoo, for tags and artifact layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Linear,
    Anomaly,
    Network,
    /// Fixed rules, nothing learnt (libinjection).
    Rules,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Linear => "linear",
            Family::Anomaly => "anomaly",
            Family::Network => "network",
            Family::Rules => "rules",
        }
    }
}

impl ModelSpec {
    /// Every `kind` value, for error messages and docs.
    pub const KINDS: [&'static str; 8] = [
        "logistic_regression",
        "linear_svm",
        "isolation_forest",
        "mlp",
        "cnn",
        "lstm",
        "bilstm",
        "libinjection",
    ];

    /// The `kind` value.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::LogisticRegression(_) => "logistic_regression",
            ModelSpec::LinearSvm(_) => "linear_svm",
            ModelSpec::IsolationForest(_) => "isolation_forest",
            ModelSpec::Mlp(_) => "mlp",
            ModelSpec::Cnn(_) => "cnn",
            ModelSpec::Lstm(_) => "lstm",
            ModelSpec::Bilstm(_) => "bilstm",
            ModelSpec::Libinjection(_) => "libinjection",
        }
    }

    pub fn family(&self) -> Family {
        match self {
            ModelSpec::LogisticRegression(_) | ModelSpec::LinearSvm(_) => Family::Linear,
            ModelSpec::IsolationForest(_) => Family::Anomaly,
            ModelSpec::Mlp(_) | ModelSpec::Cnn(_) | ModelSpec::Lstm(_) | ModelSpec::Bilstm(_) => {
                Family::Network
            }
            ModelSpec::Libinjection(_) => Family::Rules,
        }
    }

    /// Whether the model is fitted again on train + valid once the threshold is chosen
    /// ([`crate::linear::LinearConfig::refit_with_valid`]).
    pub fn refits_with_valid(&self) -> bool {
        match self {
            ModelSpec::LogisticRegression(c) | ModelSpec::LinearSvm(c) => c.refit_with_valid,
            _ => false,
        }
    }

    /// The compute backend: `cpu` for every family but the networks, which may run on `wgpu`.
    pub fn backend(&self) -> &'static str {
        let backend = match self {
            ModelSpec::Mlp(c) => c.training.backend,
            ModelSpec::Cnn(c) => c.training.backend,
            ModelSpec::Lstm(c) | ModelSpec::Bilstm(c) => c.training.backend,
            _ => return "cpu",
        };
        match backend {
            crate::nn::Backend::Cpu => "cpu",
            crate::nn::Backend::Wgpu => "wgpu",
        }
    }

    /// Checks every hyperparameter; errors name the key (`model.…`).
    pub fn validate(&self) -> Result<()> {
        match self {
            ModelSpec::LogisticRegression(c) | ModelSpec::LinearSvm(c) => c.validate(),
            ModelSpec::IsolationForest(c) => c.validate(),
            ModelSpec::Libinjection(c) => c.validate(),
            _ => self.network_spec().map_or(Ok(()), |spec| spec.validate()),
        }
    }

    fn network_spec(&self) -> Option<NetworkSpec> {
        Some(match self {
            ModelSpec::Mlp(c) => NetworkSpec::Mlp(c.clone()),
            ModelSpec::Cnn(c) => NetworkSpec::Cnn(c.clone()),
            ModelSpec::Lstm(c) => NetworkSpec::Lstm(c.clone()),
            ModelSpec::Bilstm(c) => NetworkSpec::BiLstm(c.clone()),
            _ => return None,
        })
    }

    /// Trains the model on `data`.
    pub fn fit(
        &self,
        data: &TrainData<'_>,
        observer: &mut dyn TrainObserver,
    ) -> Result<TrainedModel> {
        self.validate()?;
        if data.train.is_empty() {
            return Err(ModelError::Data("the training split is empty".into()));
        }
        Ok(match self {
            ModelSpec::LogisticRegression(c) => TrainedModel::Linear(crate::linear::fit(
                LinearKind::LogisticRegression,
                c,
                data,
                observer,
            )?),
            ModelSpec::LinearSvm(c) => TrainedModel::Linear(crate::linear::fit(
                LinearKind::LinearSvm,
                c,
                data,
                observer,
            )?),
            ModelSpec::IsolationForest(c) => {
                TrainedModel::IsolationForest(crate::anomaly::fit(c, data, observer)?)
            }
            ModelSpec::Libinjection(c) => {
                TrainedModel::Libinjection(crate::rules::fit(c, data, observer)?)
            }
            _ => match self.network_spec() {
                Some(spec) => {
                    TrainedModel::Network(Box::new(crate::nn::fit(&spec, data, observer)?))
                }
                None => unreachable!("every other kind is a network"),
            },
        })
    }
}

/// A trained model of any family.
pub enum TrainedModel {
    Linear(LinearModel),
    IsolationForest(IsolationForestModel),
    /// Boxed: a network's module is much larger than the other families' models.
    Network(Box<NetworkModel>),
    Libinjection(LibinjectionModel),
}

impl TrainedModel {
    /// Fits a model trained with `refit_with_valid` again with `more` rows after its training
    /// rows ([`LinearModel::refit`]).
    pub fn refit(
        self,
        more: &crate::model::LabelledTexts<'_>,
        seed: u64,
        observer: &mut dyn TrainObserver,
    ) -> Result<TrainedModel> {
        match self {
            TrainedModel::Linear(model) => {
                Ok(TrainedModel::Linear(model.refit(more, seed, observer)?))
            }
            _ => Err(ModelError::InvalidConfig {
                field: "model.refit_with_valid".into(),
                message: "only the linear models refit".into(),
            }),
        }
    }

    /// The threshold the model itself implies (0.5 for probabilities, 0 for SVM margins, the
    /// contamination quantile for Isolation Forest), used by the `model` threshold rule.
    pub fn default_threshold(&self) -> f64 {
        match self {
            TrainedModel::Linear(m) => m.default_threshold(),
            TrainedModel::IsolationForest(m) => m.default_threshold(),
            TrainedModel::Network(m) => m.default_threshold(),
            TrainedModel::Libinjection(m) => m.default_threshold(),
        }
    }

    pub(crate) fn save_files(&self, dir: &Path) -> Result<()> {
        match self {
            TrainedModel::Linear(m) => m.save(dir),
            TrainedModel::IsolationForest(m) => m.save(dir),
            TrainedModel::Network(m) => m.save(dir),
            TrainedModel::Libinjection(m) => m.save(dir),
        }
    }

    pub(crate) fn load_files(family: Family, dir: &Path) -> Result<Self> {
        Ok(match family {
            Family::Linear => TrainedModel::Linear(LinearModel::load(dir)?),
            Family::Anomaly => TrainedModel::IsolationForest(IsolationForestModel::load(dir)?),
            Family::Network => TrainedModel::Network(Box::new(NetworkModel::load(dir)?)),
            Family::Rules => TrainedModel::Libinjection(LibinjectionModel::load(dir)?),
        })
    }
}

impl Scorer for TrainedModel {
    fn score_batch(&self, texts: &[&str]) -> Vec<f64> {
        match self {
            TrainedModel::Linear(m) => m.score_batch(texts),
            TrainedModel::IsolationForest(m) => m.score_batch(texts),
            TrainedModel::Network(m) => m.score_batch(texts),
            TrainedModel::Libinjection(m) => m.score_batch(texts),
        }
    }

    fn score_one(&self, text: &str) -> f64 {
        match self {
            TrainedModel::Linear(m) => m.score_one(text),
            TrainedModel::IsolationForest(m) => m.score_one(text),
            TrainedModel::Network(m) => m.score_one(text),
            TrainedModel::Libinjection(m) => m.score_one(text),
        }
    }
}
