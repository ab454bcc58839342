//! Times the networks on a real dataset: seconds per epoch, total training time, test ROC-AUC,
//! F1 at the threshold that maximises F1 on the validation split, and scoring throughput.
//!
//! ```text
//! cargo run --profile ci -p vigie-models --example nn_timing -- \
//!     [--dataset fwaf] [--epochs 3] [--max-train N] [--batch 64] [--threads 0] cnn lstm bilstm bilstm-token mlp
//! ```
//! Datasets come from `VIGIE_DATA_DIR`, else `../shared/datasets` beside the workspace.

use std::path::PathBuf;
use std::time::Instant;

use vigie_data::text::{SECURITY_TOKEN_PATTERN, SequenceUnit};
use vigie_data::{Catalog, Label, PrepareConfig, PreparedDataset, Split, load};
use vigie_models::metrics::roc_auc;
use vigie_models::nn::{CnnConfig, MlpConfig, NetworkSpec, RnnConfig, TrainingConfig, fit};
use vigie_models::{LabelledTexts, Scorer, TrainData, TrainObserver};

struct Printer {
    started: Instant,
}

impl TrainObserver for Printer {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        eprintln!(
            "  [{:>7.1}s] {name} ({} units)",
            self.started.elapsed().as_secs_f64(),
            total.map_or("?".to_string(), |t| t.to_string())
        );
    }

    fn epoch(&mut self, step: u64, metrics: &[(&str, f64)]) {
        let line: Vec<String> = metrics.iter().map(|(k, v)| format!("{k}={v:.4}")).collect();
        eprintln!("  epoch {step}: {}", line.join(" "));
    }

    fn note(&mut self, message: &str) {
        eprintln!("  note: {message}");
    }
}

fn best_f1_threshold(scores: &[f64], labels: &[Label]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let positives = labels.iter().filter(|l| l.is_malicious()).count() as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let (mut best, mut threshold) = (-1.0, 0.5);
    for (rank, &i) in order.iter().enumerate() {
        if labels[i].is_malicious() {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let next_differs = order.get(rank + 1).is_none_or(|&j| scores[j] != scores[i]);
        if next_differs {
            let f1 = 2.0 * tp / (tp + fp + positives);
            if f1 > best {
                best = f1;
                threshold = scores[i];
            }
        }
    }
    threshold
}

fn f1_at(scores: &[f64], labels: &[Label], threshold: f64) -> f64 {
    let (mut tp, mut fp, mut fneg) = (0.0, 0.0, 0.0);
    for (&s, l) in scores.iter().zip(labels) {
        match (s >= threshold, l.is_malicious()) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fneg += 1.0,
            _ => {}
        }
    }
    2.0 * tp / (2.0 * tp + fp + fneg)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut dataset, mut epochs, mut max_train, mut batch, mut threads) =
        ("fwaf".to_string(), 3usize, None, 64usize, 0usize);
    let mut kinds = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--dataset" => dataset = value(),
            "--epochs" => epochs = value().parse().expect("epochs"),
            "--max-train" => max_train = Some(value().parse().expect("max-train")),
            "--batch" => batch = value().parse().expect("batch"),
            "--threads" => threads = value().parse().expect("threads"),
            other => kinds.push(other.to_string()),
        }
    }
    let data_dir = std::env::var_os("VIGIE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
        });
    let (def, _) = Catalog::builtin()
        .expect("catalog")
        .get(&dataset)
        .expect("definition");
    let loaded = load(&def, &data_dir, |_| {}).expect("load");
    let prepared = PreparedDataset::new(loaded, &PrepareConfig::default()).expect("prepare");
    let (train_texts, train_labels) = prepared.part(Split::Train);
    let (valid_texts, valid_labels) = prepared.part(Split::Valid);
    let (test_texts, test_labels) = prepared.part(Split::Test);
    eprintln!(
        "{dataset}: train {}, valid {}, test {}",
        train_texts.len(),
        valid_texts.len(),
        test_texts.len()
    );
    let data = TrainData {
        train: LabelledTexts::new(train_texts, train_labels),
        valid: LabelledTexts::new(valid_texts.clone(), valid_labels.clone()),
        seed: 42,
        threads,
    };
    let training = TrainingConfig {
        epochs,
        batch_size: batch,
        max_train_samples: max_train,
        ..TrainingConfig::default()
    };
    for kind in kinds {
        let spec = match kind.as_str() {
            "mlp" => NetworkSpec::Mlp(MlpConfig {
                training: training.clone(),
                ..MlpConfig::default()
            }),
            "cnn" => NetworkSpec::Cnn(CnnConfig {
                training: training.clone(),
                ..CnnConfig::default()
            }),
            "lstm" | "lstm-max" => NetworkSpec::Lstm(RnnConfig {
                training: training.clone(),
                pooling: if kind.ends_with("max") {
                    vigie_models::nn::Pooling::Max
                } else {
                    vigie_models::nn::Pooling::Last
                },
                ..RnnConfig::default()
            }),
            "bilstm" => NetworkSpec::BiLstm(RnnConfig {
                training: training.clone(),
                ..RnnConfig::default()
            }),
            "bilstm-token" => {
                let mut config = RnnConfig {
                    training: training.clone(),
                    ..RnnConfig::default()
                };
                config.sequence.unit = SequenceUnit::Token {
                    pattern: SECURITY_TOKEN_PATTERN.to_owned(),
                };
                config.sequence.max_len = 128;
                NetworkSpec::BiLstm(config)
            }
            other => panic!("unknown network {other}"),
        };
        eprintln!("== {kind}");
        let started = Instant::now();
        let mut printer = Printer { started };
        let model = fit(&spec, &data, &mut printer).expect("fit");
        let train_seconds = started.elapsed().as_secs_f64();
        let valid_scores = model.score_batch(&valid_texts);
        let threshold = best_f1_threshold(&valid_scores, &valid_labels);
        let scoring = Instant::now();
        let test_scores = model.score_batch(&test_texts);
        let scoring_seconds = scoring.elapsed().as_secs_f64();
        println!(
            "{kind}: train {train_seconds:.1}s, test roc_auc {:.4}, f1@valid-best {:.4} (threshold {threshold:.3}), valid roc_auc {:.4}, scoring {:.0} texts/s",
            roc_auc(&test_scores, &test_labels),
            f1_at(&test_scores, &test_labels, threshold),
            roc_auc(&valid_scores, &valid_labels),
            test_texts.len() as f64 / scoring_seconds
        );
    }
}
