//! Burn networks that score raw request texts: an MLP over hashed char n-gram TF-IDF, the
//! text CNN of the original note, and an LSTM and a BiLSTM over char or token ids.
//!
//! [`fit`] encodes the splits (the vectoriser or vocabulary is fitted on the training split),
//! trains with Adam on class-weighted binary cross-entropy (see `train.rs`), keeps the epoch
//! with the best validation metric, and returns a [`NetworkModel`] that scores raw texts on
//! the flex CPU backend and saves itself ([`Persist`]) as JSON plus a burnpack weights file.
//!
//! Speed: token batches are bucketed by length and padded only to their own longest sequence,
//! and the networks mask the padding (an example's score does not depend on its batch).
//!
//! Determinism: the flex backend keeps one process-wide random generator (initialisation,
//! dropout), so training holds a process-wide lock while it seeds and uses it; the shuffles use
//! their own seeded generator. Same seed, same data, same weights, bit for bit.

mod inputs;
mod networks;
mod train;

use std::path::Path;
use std::sync::Mutex;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use vigie_data::Label;
use vigie_data::text::{
    Analyzer, HashingConfig, HashingVectorizer, Norm, SequenceConfig, SequenceUnit, Tokenizer,
    TokenizerConfig, Vocabulary,
};

use self::inputs::{Encoded, HashedTfidf, InputEncoder, stratified_subsample};
use self::networks::{CnnNet, MlpNet, RnnNet};
use self::train::{Split, predict_logits, sigmoid};
pub use crate::model::ClassWeight;
use crate::model::{Persist, Scorer, TrainData, TrainObserver};
use crate::{ModelError, Result};

/// Largest hashed input width of the MLP: every batch is a dense `[batch, n_features]` tensor.
const MAX_DENSE_FEATURES: usize = 1 << 20;

/// Which quantity early stopping watches on the validation split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// ROC-AUC, higher is better.
    #[default]
    ValidRocAuc,
    /// Mean binary cross-entropy (unweighted), lower is better.
    ValidLoss,
}

impl Monitor {
    /// The metric's name, as reported per epoch.
    pub fn name(self) -> &'static str {
        match self {
            Monitor::ValidRocAuc => "valid_roc_auc",
            Monitor::ValidLoss => "valid_loss",
        }
    }
}

/// Where the network trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Burn's flex backend (pure Rust, SIMD, rayon).
    #[default]
    Cpu,
    /// wgpu (Vulkan, Metal, DX12); only in builds with the `wgpu` cargo feature. The trained
    /// model is brought back to the CPU for scoring.
    Wgpu,
}

/// How every network trains (`model.training`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Most passes over the training split (default 10).
    pub epochs: usize,
    /// Examples per mini-batch (default 64).
    pub batch_size: usize,
    /// Adam's learning rate (default 1e-3).
    pub learning_rate: f64,
    /// Epochs without a better monitored metric before stopping; 0 never stops early. The best
    /// epoch's weights are kept either way (default 2).
    pub patience: usize,
    /// The validation metric for early stopping (default `valid_roc_auc`).
    pub monitor: Monitor,
    /// Loss weights per class (default `balanced`).
    pub class_weight: ClassWeight,
    /// Train on a seeded, stratified subsample of at most this many examples (quick runs).
    pub max_train_samples: Option<usize>,
    /// `cpu` (default) or `wgpu`.
    pub backend: Backend,
    /// Threads of the CPU backend; default: the run's thread setting.
    pub threads: Option<usize>,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            epochs: 10,
            batch_size: 64,
            learning_rate: 1e-3,
            patience: 2,
            monitor: Monitor::default(),
            class_weight: ClassWeight::default(),
            max_train_samples: None,
            backend: Backend::default(),
            threads: None,
        }
    }
}

impl TrainingConfig {
    fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(ModelError::config(
                "model.training.epochs",
                "must be at least 1",
            ));
        }
        if self.batch_size == 0 {
            return Err(ModelError::config(
                "model.training.batch_size",
                "must be at least 1",
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(ModelError::config(
                "model.training.learning_rate",
                format!("must be a positive number, not {}", self.learning_rate),
            ));
        }
        if self.max_train_samples == Some(0) {
            return Err(ModelError::config(
                "model.training.max_train_samples",
                "must be at least 1 (leave it out to use every example)",
            ));
        }
        if self.backend == Backend::Wgpu && !cfg!(feature = "wgpu") {
            return Err(ModelError::config(
                "model.training.backend",
                "this build has no wgpu backend: rebuild with `--features wgpu`, or use \"cpu\"",
            ));
        }
        Ok(())
    }
}

/// The MLP over hashed TF-IDF rows (`kind = "mlp"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpConfig {
    /// Feature hashing (default char 1-3-grams, 2^14 columns, sublinear tf, no sign). Rows are
    /// weighted by an idf per column fitted on the training split, then L2-normalised, so
    /// `norm` must stay `none`.
    pub hashing: HashingConfig,
    /// Widths of the hidden layers (default `[256]`).
    pub hidden: Vec<usize>,
    /// Dropout after each hidden layer (default 0.2).
    pub dropout: f64,
    pub training: TrainingConfig,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            hashing: HashingConfig {
                tokenizer: TokenizerConfig {
                    analyzer: Analyzer::Char {
                        ngram_min: 1,
                        ngram_max: 3,
                    },
                    lowercase: true,
                },
                n_features: 1 << 14,
                alternate_sign: false,
                sublinear_tf: true,
                norm: Norm::None,
            },
            hidden: vec![256],
            dropout: 0.2,
            training: TrainingConfig::default(),
        }
    }
}

impl MlpConfig {
    fn validate(&self) -> Result<()> {
        let n_features = self.hashing.n_features;
        if n_features == 0 || n_features > MAX_DENSE_FEATURES {
            return Err(ModelError::config(
                "model.hashing.n_features",
                format!(
                    "must be between 1 and {MAX_DENSE_FEATURES} (dense input), not {n_features}"
                ),
            ));
        }
        if self.hashing.norm != Norm::None {
            return Err(ModelError::config(
                "model.hashing.norm",
                "must be \"none\": rows are L2-normalised after the idf weighting",
            ));
        }
        Tokenizer::new(self.hashing.tokenizer.clone())
            .map_err(|err| ModelError::config("model.hashing.tokenizer", err.to_string()))?;
        if let Some(position) = self.hidden.iter().position(|&units| units == 0) {
            return Err(ModelError::config(
                format!("model.hidden[{position}]"),
                "a hidden layer needs at least 1 unit",
            ));
        }
        validate_dropout(self.dropout)?;
        self.training.validate()
    }
}

/// The text CNN (`kind = "cnn"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CnnConfig {
    /// Token ids (default characters, first 256 of each text, at most 20 000 ids).
    pub sequence: SequenceConfig,
    /// Default 64.
    pub embedding_dim: usize,
    /// Convolution filters (default 128).
    pub filters: usize,
    /// Convolution width in units (default 5).
    pub kernel_size: usize,
    /// Width of the dense layer after pooling (default 64).
    pub dense: usize,
    /// Dropout after pooling (default 0.5).
    pub dropout: f64,
    pub training: TrainingConfig,
}

impl Default for CnnConfig {
    fn default() -> Self {
        CnnConfig {
            sequence: default_sequence(),
            embedding_dim: 64,
            filters: 128,
            kernel_size: 5,
            dense: 64,
            dropout: 0.5,
            training: TrainingConfig::default(),
        }
    }
}

impl CnnConfig {
    fn validate(&self) -> Result<()> {
        validate_sequence(&self.sequence)?;
        for (key, value) in [
            ("model.embedding_dim", self.embedding_dim),
            ("model.filters", self.filters),
            ("model.kernel_size", self.kernel_size),
            ("model.dense", self.dense),
        ] {
            if value == 0 {
                return Err(ModelError::config(key, "must be at least 1"));
            }
        }
        if self.kernel_size > self.sequence.max_len {
            return Err(ModelError::config(
                "model.kernel_size",
                format!(
                    "{} is longer than model.sequence.max_len ({})",
                    self.kernel_size, self.sequence.max_len
                ),
            ));
        }
        validate_dropout(self.dropout)?;
        self.training.validate()
    }
}

/// What the RNNs hand to the output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The final hidden state of each direction.
    #[default]
    Last,
    /// The maximum of every hidden state over the sequence's units.
    Max,
}

/// The LSTM and the BiLSTM (`kind = "lstm"` / `"bilstm"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RnnConfig {
    /// Token ids (default characters, first 256 of each text, at most 20 000 ids); token
    /// level with `unit = { kind = "token" }`.
    pub sequence: SequenceConfig,
    /// Default 32.
    pub embedding_dim: usize,
    /// Hidden units per direction (default 64).
    pub hidden: usize,
    /// `last` (default) or `max`.
    pub pooling: Pooling,
    /// Dropout before the output layer (default 0.2).
    pub dropout: f64,
    pub training: TrainingConfig,
}

impl Default for RnnConfig {
    fn default() -> Self {
        RnnConfig {
            sequence: default_sequence(),
            embedding_dim: 32,
            hidden: 64,
            pooling: Pooling::default(),
            dropout: 0.2,
            training: TrainingConfig::default(),
        }
    }
}

impl RnnConfig {
    fn validate(&self) -> Result<()> {
        validate_sequence(&self.sequence)?;
        if self.embedding_dim == 0 {
            return Err(ModelError::config(
                "model.embedding_dim",
                "must be at least 1",
            ));
        }
        if self.hidden == 0 {
            return Err(ModelError::config("model.hidden", "must be at least 1"));
        }
        validate_dropout(self.dropout)?;
        self.training.validate()
    }
}

fn default_sequence() -> SequenceConfig {
    SequenceConfig {
        unit: SequenceUnit::Char,
        max_len: 256,
        max_size: Some(20_000),
        ..SequenceConfig::default()
    }
}

fn validate_sequence(sequence: &SequenceConfig) -> Result<()> {
    if sequence.max_len == 0 {
        return Err(ModelError::config(
            "model.sequence.max_len",
            "must be at least 1",
        ));
    }
    if let Some(max_size) = sequence.max_size
        && max_size <= 2
    {
        return Err(ModelError::config(
            "model.sequence.max_size",
            "must be more than 2 (PAD and OOV take two ids)",
        ));
    }
    if let SequenceUnit::Token { pattern } = &sequence.unit {
        Vocabulary::fit(sequence.clone(), ["a"]).map_or_else(
            |err| match err {
                vigie_data::text::TextError::InvalidPattern { .. } => Err(ModelError::config(
                    "model.sequence.unit.pattern",
                    format!("{pattern:?}: {err}"),
                )),
                _ => Ok(()),
            },
            |_| Ok(()),
        )?;
    }
    Ok(())
}

fn validate_dropout(dropout: f64) -> Result<()> {
    if !(0.0..1.0).contains(&dropout) {
        return Err(ModelError::config(
            "model.dropout",
            format!("must be in [0, 1), not {dropout}"),
        ));
    }
    Ok(())
}

/// Which network, with its hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "config", rename_all = "lowercase")]
pub enum NetworkSpec {
    Mlp(MlpConfig),
    Cnn(CnnConfig),
    Lstm(RnnConfig),
    BiLstm(RnnConfig),
}

impl NetworkSpec {
    /// Checks every hyperparameter, naming the offending key (`model.filters`, ...).
    pub fn validate(&self) -> Result<()> {
        match self {
            NetworkSpec::Mlp(config) => config.validate(),
            NetworkSpec::Cnn(config) => config.validate(),
            NetworkSpec::Lstm(config) | NetworkSpec::BiLstm(config) => config.validate(),
        }
    }

    /// The training settings shared by every network.
    pub fn training(&self) -> &TrainingConfig {
        match self {
            NetworkSpec::Mlp(config) => &config.training,
            NetworkSpec::Cnn(config) => &config.training,
            NetworkSpec::Lstm(config) | NetworkSpec::BiLstm(config) => &config.training,
        }
    }

    /// `mlp`, `cnn`, `lstm` or `bilstm`.
    pub fn kind(&self) -> &'static str {
        match self {
            NetworkSpec::Mlp(_) => "mlp",
            NetworkSpec::Cnn(_) => "cnn",
            NetworkSpec::Lstm(_) => "lstm",
            NetworkSpec::BiLstm(_) => "bilstm",
        }
    }

    fn sequence(&self) -> Option<&SequenceConfig> {
        match self {
            NetworkSpec::Mlp(_) => None,
            NetworkSpec::Cnn(config) => Some(&config.sequence),
            NetworkSpec::Lstm(config) | NetworkSpec::BiLstm(config) => Some(&config.sequence),
        }
    }

    /// Shortest padded batch: a convolution needs at least one full window.
    fn min_len(&self) -> usize {
        match self {
            NetworkSpec::Cnn(config) => config.kernel_size,
            _ => 1,
        }
    }

    /// A fresh network for inputs of `input_size` (hashed columns or vocabulary ids).
    fn build(&self, input_size: usize, device: &Device) -> TrainedNet {
        match self {
            NetworkSpec::Mlp(config) => TrainedNet::Mlp(MlpNet::new(config, input_size, device)),
            NetworkSpec::Cnn(config) => TrainedNet::Cnn(CnnNet::new(config, input_size, device)),
            NetworkSpec::Lstm(config) => {
                TrainedNet::Rnn(RnnNet::new(config, false, input_size, device))
            }
            NetworkSpec::BiLstm(config) => {
                TrainedNet::Rnn(RnnNet::new(config, true, input_size, device))
            }
        }
    }
}

/// One of the networks, on some device.
// One per model, moved rarely: boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum TrainedNet {
    Mlp(MlpNet),
    Cnn(CnnNet),
    Rnn(RnnNet),
}

impl TrainedNet {
    fn logits(&self, inputs: &Encoded, device: &Device) -> Vec<f32> {
        match self {
            TrainedNet::Mlp(net) => predict_logits(net, inputs, device),
            TrainedNet::Cnn(net) => predict_logits(net, inputs, device),
            TrainedNet::Rnn(net) => predict_logits(net, inputs, device),
        }
    }

    fn save_file(&self, path: &Path) -> std::result::Result<(), burn::store::RecordError> {
        match self {
            TrainedNet::Mlp(net) => net.clone().save_file(path),
            TrainedNet::Cnn(net) => net.clone().save_file(path),
            TrainedNet::Rnn(net) => net.clone().save_file(path),
        }
    }

    fn try_load_file(self, path: &Path) -> std::result::Result<Self, burn::store::RecordError> {
        Ok(match self {
            TrainedNet::Mlp(net) => TrainedNet::Mlp(net.try_load_file(path)?),
            TrainedNet::Cnn(net) => TrainedNet::Cnn(net.try_load_file(path)?),
            TrainedNet::Rnn(net) => TrainedNet::Rnn(net.try_load_file(path)?),
        })
    }
}

/// A trained network with its vectoriser or vocabulary: scores raw texts on the CPU.
pub struct NetworkModel {
    spec: NetworkSpec,
    encoder: InputEncoder,
    // Burn modules are `Send` but not `Sync` (lazy parameters); scoring takes turns.
    net: Mutex<TrainedNet>,
    device: Device,
}

impl std::fmt::Debug for NetworkModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkModel")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl NetworkModel {
    /// The network and hyperparameters it was trained with.
    pub fn spec(&self) -> &NetworkSpec {
        &self.spec
    }

    /// Scores are sigmoid probabilities: 0.5 unless a threshold is tuned on validation data.
    pub fn default_threshold(&self) -> f64 {
        0.5
    }

    fn input_size(&self) -> usize {
        self.encoder.input_size()
    }
}

impl InputEncoder {
    fn input_size(&self) -> usize {
        match self {
            InputEncoder::HashedTfidf(tfidf) => tfidf.idf.len(),
            InputEncoder::Sequence { vocabulary, .. } => vocabulary.len(),
        }
    }
}

/// The flex backend's random generator is process-wide: two trainings at once would draw from
/// it in an interleaved, unreproducible order.
static FLEX_RANDOMNESS: Mutex<()> = Mutex::new(());

/// Trains `spec` on `data` (see the module docs).
pub fn fit(
    spec: &NetworkSpec,
    data: &TrainData<'_>,
    observer: &mut dyn TrainObserver,
) -> Result<NetworkModel> {
    spec.validate()?;
    let [benign, malicious] = data.train.class_counts();
    if benign == 0 || malicious == 0 {
        return Err(ModelError::Data(format!(
            "the training split needs both classes ({benign} benign, {malicious} malicious)"
        )));
    }
    if data.valid.is_empty() {
        return Err(ModelError::Data(
            "the validation split is empty: the networks need it for early stopping".into(),
        ));
    }
    let training = spec.training();
    let [valid_benign, valid_malicious] = data.valid.class_counts();
    if training.monitor == Monitor::ValidRocAuc && (valid_benign == 0 || valid_malicious == 0) {
        return Err(ModelError::Data(format!(
            "the validation split needs both classes to monitor valid_roc_auc ({valid_benign} benign, {valid_malicious} malicious); set model.training.monitor = \"valid_loss\""
        )));
    }
    let threads = training.threads.unwrap_or(data.threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|err| ModelError::Training(format!("cannot start {threads} threads: {err}")))?;
    let _randomness = FLEX_RANDOMNESS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    pool.install(|| fit_in_pool(spec, data, observer))
}

fn fit_in_pool(
    spec: &NetworkSpec,
    data: &TrainData<'_>,
    observer: &mut dyn TrainObserver,
) -> Result<NetworkModel> {
    let training = spec.training();
    let (train_texts, train_labels): (Vec<&str>, Vec<Label>) = match training.max_train_samples {
        Some(cap) if cap < data.train.len() => {
            let kept = stratified_subsample(&data.train.labels, cap, data.seed);
            observer.note(&format!(
                "training on a stratified subsample of {} of {} examples",
                kept.len(),
                data.train.len()
            ));
            kept.iter()
                .map(|&i| (data.train.texts[i], data.train.labels[i]))
                .unzip()
        }
        _ => (data.train.texts.clone(), data.train.labels.clone()),
    };

    observer.phase("vectorise", None);
    let encoder = match spec {
        NetworkSpec::Mlp(config) => {
            let vectorizer = HashingVectorizer::new(config.hashing.clone())?;
            InputEncoder::HashedTfidf(HashedTfidf::fit(vectorizer, &train_texts))
        }
        _ => {
            let sequence = spec.sequence().cloned().unwrap_or_default();
            InputEncoder::Sequence {
                vocabulary: Vocabulary::fit(sequence, &train_texts)?,
                min_len: spec.min_len(),
            }
        }
    };
    let train_inputs = encoder.encode(&train_texts);
    let valid_inputs = encoder.encode(&data.valid.texts);

    let device = training_device(training.backend)?;
    device.seed(data.seed);
    let untrained = spec.build(encoder.input_size(), &device);
    let train_split = Split {
        inputs: &train_inputs,
        labels: &train_labels,
    };
    let valid_split = Split {
        inputs: &valid_inputs,
        labels: &data.valid.labels,
    };
    let seed = data.seed;
    let trained = match untrained {
        TrainedNet::Mlp(net) => TrainedNet::Mlp(train::train(
            net,
            train_split,
            valid_split,
            training,
            seed,
            &device,
            observer,
        )?),
        TrainedNet::Cnn(net) => TrainedNet::Cnn(train::train(
            net,
            train_split,
            valid_split,
            training,
            seed,
            &device,
            observer,
        )?),
        TrainedNet::Rnn(net) => TrainedNet::Rnn(train::train(
            net,
            train_split,
            valid_split,
            training,
            seed,
            &device,
            observer,
        )?),
    };
    let cpu = Device::flex();
    let net = if training.backend == Backend::Cpu {
        trained
    } else {
        to_cpu(spec, trained, encoder.input_size(), &cpu)?
    };
    Ok(NetworkModel {
        spec: spec.clone(),
        encoder,
        net: Mutex::new(net),
        device: cpu,
    })
}

/// The autodiff device of `backend`.
fn training_device(backend: Backend) -> Result<Device> {
    match backend {
        Backend::Cpu => Ok(Device::flex().autodiff()),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice).autodiff()),
        #[cfg(not(feature = "wgpu"))]
        Backend::Wgpu => Err(ModelError::config(
            "model.training.backend",
            "this build has no wgpu backend: rebuild with `--features wgpu`",
        )),
    }
}

/// Copies weights trained elsewhere into a fresh network on the CPU.
fn to_cpu(
    spec: &NetworkSpec,
    trained: TrainedNet,
    input_size: usize,
    cpu: &Device,
) -> Result<TrainedNet> {
    let failed = |err: burn::store::RecordError| {
        ModelError::Training(format!("cannot move the trained weights to the CPU: {err}"))
    };
    Ok(match (spec.build(input_size, cpu), trained) {
        (TrainedNet::Mlp(fresh), TrainedNet::Mlp(net)) => {
            TrainedNet::Mlp(fresh.try_load_record(net.into_record()).map_err(failed)?)
        }
        (TrainedNet::Cnn(fresh), TrainedNet::Cnn(net)) => {
            TrainedNet::Cnn(fresh.try_load_record(net.into_record()).map_err(failed)?)
        }
        (TrainedNet::Rnn(fresh), TrainedNet::Rnn(net)) => {
            TrainedNet::Rnn(fresh.try_load_record(net.into_record()).map_err(failed)?)
        }
        _ => return Err(ModelError::Training("network kinds differ".into())),
    })
}

impl Scorer for NetworkModel {
    fn score_batch(&self, texts: &[&str]) -> Vec<f64> {
        if texts.is_empty() {
            return Vec::new();
        }
        let inputs = self.encoder.encode(texts);
        let net = self
            .net
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        net.logits(&inputs, &self.device)
            .into_iter()
            .map(sigmoid)
            .collect()
    }
}

/// Version of the files [`NetworkModel`] saves.
const FORMAT_VERSION: u32 = 1;
const NETWORK_FILE: &str = "network.json";
const VOCABULARY_FILE: &str = "vocabulary.json";
const HASHING_FILE: &str = "hashing.json";
const IDF_FILE: &str = "idf.f32le";
const WEIGHTS_FILE: &str = "weights.bpk";

/// `network.json`: what to rebuild before the weights load.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    format_version: u32,
    spec: NetworkSpec,
    /// Hashed columns or vocabulary ids: the input width of the first layer.
    input_size: usize,
}

impl Persist for NetworkModel {
    fn save(&self, dir: &Path) -> Result<()> {
        write_json(
            &dir.join(NETWORK_FILE),
            &NetworkFile {
                format_version: FORMAT_VERSION,
                spec: self.spec.clone(),
                input_size: self.input_size(),
            },
        )?;
        match &self.encoder {
            InputEncoder::HashedTfidf(tfidf) => {
                write_json(&dir.join(HASHING_FILE), &tfidf.vectorizer)?;
                let bytes: Vec<u8> = tfidf.idf.iter().flat_map(|v| v.to_le_bytes()).collect();
                let path = dir.join(IDF_FILE);
                std::fs::write(&path, bytes)
                    .map_err(|err| ModelError::io(&path, "cannot write the idf weights", err))?;
            }
            InputEncoder::Sequence { vocabulary, .. } => {
                write_json(&dir.join(VOCABULARY_FILE), vocabulary)?;
            }
        }
        let path = dir.join(WEIGHTS_FILE);
        let net = self
            .net
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        net.save_file(&path).map_err(|err| {
            ModelError::io(
                &path,
                "cannot write the network weights",
                std::io::Error::other(err.to_string()),
            )
        })
    }

    fn load(dir: &Path) -> Result<Self> {
        let network_path = dir.join(NETWORK_FILE);
        let network: NetworkFile = read_json(&network_path)?;
        if network.format_version != FORMAT_VERSION {
            return Err(ModelError::artifact(
                &network_path,
                format!(
                    "format version {} (this build reads {FORMAT_VERSION})",
                    network.format_version
                ),
            ));
        }
        let spec = network.spec;
        spec.validate()
            .map_err(|err| ModelError::artifact(&network_path, err.to_string()))?;
        let encoder = match &spec {
            NetworkSpec::Mlp(_) => {
                let vectorizer: HashingVectorizer = read_json(&dir.join(HASHING_FILE))?;
                let idf_path = dir.join(IDF_FILE);
                let bytes = std::fs::read(&idf_path)
                    .map_err(|err| ModelError::io(&idf_path, "cannot read the idf weights", err))?;
                if bytes.len() != 4 * vectorizer.n_features() {
                    return Err(ModelError::artifact(
                        &idf_path,
                        format!(
                            "{} bytes, expected 4 x {} columns",
                            bytes.len(),
                            vectorizer.n_features()
                        ),
                    ));
                }
                let idf = bytes
                    .chunks_exact(4)
                    .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
                    .collect();
                InputEncoder::HashedTfidf(HashedTfidf { vectorizer, idf })
            }
            _ => InputEncoder::Sequence {
                vocabulary: read_json(&dir.join(VOCABULARY_FILE))?,
                min_len: spec.min_len(),
            },
        };
        if encoder.input_size() != network.input_size {
            return Err(ModelError::artifact(
                &network_path,
                format!(
                    "input_size {} does not match the saved vectoriser or vocabulary ({})",
                    network.input_size,
                    encoder.input_size()
                ),
            ));
        }
        let device = Device::flex();
        let weights_path = dir.join(WEIGHTS_FILE);
        if !weights_path.is_file() {
            return Err(ModelError::artifact(&weights_path, "missing weights file"));
        }
        let net = spec
            .build(encoder.input_size(), &device)
            .try_load_file(&weights_path)
            .map_err(|err| {
                ModelError::artifact(&weights_path, format!("cannot load the weights: {err}"))
            })?;
        Ok(NetworkModel {
            spec,
            encoder,
            net: Mutex::new(net),
            device,
        })
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|err| ModelError::io(path, "cannot serialise", std::io::Error::other(err)))?;
    std::fs::write(path, json).map_err(|err| ModelError::io(path, "cannot write", err))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|err| ModelError::io(path, "cannot read", err))?;
    serde_json::from_slice(&bytes).map_err(|err| ModelError::artifact(path, err.to_string()))
}
