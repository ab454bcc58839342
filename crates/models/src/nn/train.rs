//! The training loop shared by every network: Adam on class-weighted binary cross-entropy,
//! seeded shuffles of length-bucketed mini-batches, a validation pass per epoch, and early
//! stopping that restores the best epoch's weights.

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use vigie_data::Label;

use super::inputs::{Encoded, inference_batches, plan_batches};
use super::networks::Network;
use super::{ClassWeight, Monitor, TrainingConfig};
use crate::metrics::roc_auc;
use crate::model::TrainObserver;
use crate::random::SplitMix64;
use crate::{ModelError, Result};

/// Examples per inference batch (validation and scoring).
pub(crate) const INFERENCE_BATCH: usize = 256;

/// One encoded split and its labels.
pub(crate) struct Split<'a> {
    pub inputs: &'a Encoded,
    pub labels: &'a [Label],
}

/// Trains `network` (built on `device`, an autodiff device) and returns the best epoch's
/// weights as an inference module, on `device` without autodiff.
pub(crate) fn train<N: Network>(
    mut network: N,
    train: Split<'_>,
    valid: Split<'_>,
    config: &TrainingConfig,
    seed: u64,
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<N> {
    let class_weights = class_weights(train.labels, config.class_weight);
    let targets: Vec<f32> = train
        .labels
        .iter()
        .map(|label| f32::from(label.as_u8()))
        .collect();
    let mut optimizer = AdamConfig::new().init();
    let mut rng = SplitMix64::new(seed);
    let mut best: Option<(usize, f64, N)> = None;
    let mut since_best = 0;
    let epochs = config.epochs;
    let inference_device = device.clone().without_autodiff();
    for epoch in 1..=epochs {
        let started = Instant::now();
        let batches = plan_batches(train.inputs, config.batch_size, &mut rng);
        observer.phase(
            &format!("epoch {epoch}/{epochs}"),
            Some(batches.len() as u64),
        );
        let mut loss_sum = 0.0f64;
        for indices in &batches {
            let batch = train.inputs.batch(indices, device);
            let logits = network.logits(&batch);
            let rows = indices.len();
            let y: Vec<f32> = indices.iter().map(|&i| targets[i]).collect();
            let w: Vec<f32> = indices
                .iter()
                .map(|&i| class_weights[usize::from(train.labels[i].as_u8())])
                .collect();
            let y = Tensor::<1>::from_data(TensorData::new(y, [rows]), device);
            let w = Tensor::<1>::from_data(TensorData::new(w, [rows]), device);
            let loss = (bce_with_logits(logits, y) * w).mean();
            let loss_value = loss.clone().into_scalar::<f32>();
            if !loss_value.is_finite() {
                return Err(ModelError::Training(format!(
                    "the loss became {loss_value} in epoch {epoch}: lower model.training.learning_rate"
                )));
            }
            loss_sum += f64::from(loss_value) * rows as f64;
            let gradients = GradientsParams::from_grads(loss.backward(), &network);
            network = optimizer.step(config.learning_rate, network, gradients);
            observer.advance(1);
            if let Some(reason) = observer.stop_requested() {
                return Err(ModelError::Stopped(reason));
            }
        }
        let train_loss = loss_sum / train.inputs.len() as f64;

        let snapshot = network.valid();
        let logits = predict_logits(&snapshot, valid.inputs, &inference_device);
        let valid_loss = mean_bce(&logits, valid.labels);
        let scores: Vec<f64> = logits.iter().map(|&z| sigmoid(z)).collect();
        let valid_roc_auc = roc_auc(&scores, valid.labels);
        observer.epoch(
            epoch as u64,
            &[
                ("train_loss", train_loss),
                ("valid_loss", valid_loss),
                ("valid_roc_auc", valid_roc_auc),
                ("epoch_seconds", started.elapsed().as_secs_f64()),
            ],
        );
        if let Some(reason) = observer.stop_requested() {
            return Err(ModelError::Stopped(reason));
        }
        let monitored = match config.monitor {
            Monitor::ValidRocAuc => valid_roc_auc,
            // Larger is better for the comparison below.
            Monitor::ValidLoss => -valid_loss,
        };
        let improved = match &best {
            None => true,
            Some((_, best_value, _)) => monitored > *best_value,
        };
        if improved {
            best = Some((epoch, monitored, snapshot));
            since_best = 0;
        } else {
            since_best += 1;
            if config.patience > 0 && since_best >= config.patience {
                if let Some((best_epoch, _, _)) = &best {
                    observer.note(&format!(
                        "early stop after epoch {epoch}: no better {} for {} epochs; best epoch {best_epoch} restored",
                        config.monitor.name(),
                        config.patience
                    ));
                }
                break;
            }
        }
        if epoch == epochs
            && let Some((best_epoch, _, _)) = &best
            && *best_epoch != epoch
        {
            observer.note(&format!("best epoch {best_epoch} restored"));
        }
    }
    best.map(|(_, _, model)| model)
        .ok_or_else(|| ModelError::config("model.training.epochs", "must be at least 1"))
}

/// Per-example binary cross-entropy of `logits` against 0/1 `targets`, in the stable form
/// `max(z, 0) - y z + ln(1 + exp(-|z|))`.
fn bce_with_logits(logits: Tensor<1>, targets: Tensor<1>) -> Tensor<1> {
    relu(logits.clone()) - logits.clone() * targets + logits.abs().neg().exp().log1p()
}

/// Loss weights of `[benign, malicious]` for the training labels.
fn class_weights(labels: &[Label], class_weight: ClassWeight) -> [f32; 2] {
    let malicious = labels.iter().filter(|l| l.is_malicious()).count();
    class_weight
        .weights([labels.len() - malicious, malicious])
        .map(|weight| weight as f32)
}

pub(crate) fn sigmoid(logit: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(logit)).exp())
}

/// Unweighted mean binary cross-entropy of logits (what `valid_loss` reports).
fn mean_bce(logits: &[f32], labels: &[Label]) -> f64 {
    if logits.is_empty() {
        return f64::NAN;
    }
    let total: f64 = logits
        .iter()
        .zip(labels)
        .map(|(&z, label)| {
            let z = f64::from(z);
            let y = f64::from(label.as_u8());
            z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
        })
        .sum();
    total / logits.len() as f64
}

/// Logits of every example of `inputs`, in their order, by batches of similar lengths.
pub(crate) fn predict_logits<N: Network>(
    network: &N,
    inputs: &Encoded,
    device: &Device,
) -> Vec<f32> {
    let mut logits = vec![0.0f32; inputs.len()];
    for indices in inference_batches(inputs, INFERENCE_BATCH) {
        let batch = inputs.batch(&indices, device);
        let values = network.logits(&batch).into_data();
        match values.as_slice::<f32>() {
            Ok(values) => {
                for (&index, &value) in indices.iter().zip(values) {
                    logits[index] = value;
                }
            }
            Err(_) => {
                for &index in &indices {
                    logits[index] = f32::NAN;
                }
            }
        }
    }
    logits
}
