//! What the networks read: raw texts encoded once (hashed TF-IDF rows for the MLP, token-id
//! sequences for the CNN and the RNNs), then cut into mini-batches that become tensors.
//!
//! Sequence batches are padded only to their own longest sequence (at least the CNN kernel),
//! and every network masks the padding, so a text's score does not depend on the other texts
//! of its batch; batches of similar lengths (see [`plan_batches`]) keep the padding small.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use vigie_data::Label;

use crate::random::SplitMix64;
use vigie_data::text::{
    HashingScratch, HashingVectorizer, PAD_ID, RowVectorizer, SequenceScratch, Vocabulary,
};

/// Additive bias that removes a masked position from a max pool: far below any activation,
/// far from f32 overflow.
pub(crate) const MASKED: f32 = -1.0e9;

/// Turns raw texts into network inputs; fitted on the training split and saved with the model.
#[derive(Debug, Clone)]
pub(crate) enum InputEncoder {
    /// Hashed char n-gram counts (sublinear tf), times an idf per hashed column, L2-normalised.
    HashedTfidf(HashedTfidf),
    /// Token ids; batches are padded to at least `min_len` positions (the CNN kernel).
    Sequence {
        vocabulary: Vocabulary,
        min_len: usize,
    },
}

/// The MLP's vectoriser: feature hashing plus the idf of each hashed column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HashedTfidf {
    pub vectorizer: HashingVectorizer,
    /// scikit-learn's smooth idf, `ln((1 + n) / (1 + df)) + 1`, one per column.
    pub idf: Vec<f32>,
}

impl HashedTfidf {
    /// Hashes every training text once to count, per column, the texts that use it.
    pub fn fit(vectorizer: HashingVectorizer, texts: &[&str]) -> Self {
        let n_features = vectorizer.n_features();
        let doc_freq = texts
            .par_chunks(1024)
            .map_init(HashingScratch::new, |scratch, chunk| {
                let mut counts = vec![0u32; n_features];
                let (mut indices, mut values) = (Vec::new(), Vec::new());
                for text in chunk {
                    indices.clear();
                    values.clear();
                    vectorizer.transform_one_into(text, scratch, &mut indices, &mut values);
                    for &column in &indices {
                        counts[column as usize] += 1;
                    }
                }
                counts
            })
            .reduce(
                || vec![0u32; n_features],
                |mut total, part| {
                    total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
                    total
                },
            );
        let n = texts.len() as f64;
        let idf = doc_freq
            .iter()
            .map(|&df| (((1.0 + n) / (1.0 + f64::from(df))).ln() + 1.0) as f32)
            .collect();
        HashedTfidf { vectorizer, idf }
    }

    /// The weighted, L2-normalised sparse row of `text`.
    fn row(&self, text: &str, scratch: &mut HashingScratch) -> SparseRow {
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        self.vectorizer
            .transform_one_into(text, scratch, &mut indices, &mut values);
        for (value, &column) in values.iter_mut().zip(&indices) {
            *value *= self.idf[column as usize];
        }
        let norm = values
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            values
                .iter_mut()
                .for_each(|v| *v = (f64::from(*v) / norm) as f32);
        }
        SparseRow { indices, values }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SparseRow {
    indices: Vec<u32>,
    values: Vec<f32>,
}

/// A split encoded for one network, ready to be cut into batches.
#[derive(Debug)]
pub(crate) enum Encoded {
    Dense {
        n_features: usize,
        rows: Vec<SparseRow>,
    },
    Tokens {
        sequences: Vec<Vec<u32>>,
        min_len: usize,
    },
}

impl InputEncoder {
    /// Encodes `texts` in parallel on the current rayon pool; order is kept.
    pub fn encode(&self, texts: &[&str]) -> Encoded {
        match self {
            InputEncoder::HashedTfidf(tfidf) => Encoded::Dense {
                n_features: tfidf.idf.len(),
                rows: texts
                    .par_iter()
                    .map_init(HashingScratch::new, |scratch, text| {
                        tfidf.row(text, scratch)
                    })
                    .collect(),
            },
            InputEncoder::Sequence {
                vocabulary,
                min_len,
            } => Encoded::Tokens {
                sequences: texts
                    .par_iter()
                    .map_init(SequenceScratch::new, |scratch, text| {
                        let mut ids = Vec::new();
                        vocabulary.encode_into(text, scratch, &mut ids);
                        ids
                    })
                    .collect(),
                min_len: *min_len,
            },
        }
    }
}

/// One mini-batch as tensors on the training or inference device.
pub(crate) enum Batch {
    /// `[batch, n_features]`.
    Dense(Tensor<2>),
    Tokens(TokenBatch),
}

/// Right-padded token ids with what the networks need to mask the padding.
pub(crate) struct TokenBatch {
    /// `[batch, time]`, PAD after each sequence's end.
    pub ids: Tensor<2, Int>,
    /// Units of each sequence, at least 1 (an empty text reads as one PAD).
    pub lengths: Vec<usize>,
    /// Padded length of the batch, `max(longest, min_len)`.
    pub time: usize,
}

impl TokenBatch {
    /// `[batch, time]` with 1.0 where a position holds a unit, 0.0 on padding.
    pub fn valid_mask(&self, device: &Device) -> Tensor<2> {
        let mut mask = vec![0.0f32; self.lengths.len() * self.time];
        for (row, &length) in mask.chunks_mut(self.time).zip(&self.lengths) {
            row[..length].fill(1.0);
        }
        Tensor::from_data(
            TensorData::new(mask, [self.lengths.len(), self.time]),
            device,
        )
    }

    /// `[batch, positions]` additive bias: 0 for the first `valid(length)` positions of each
    /// row, [`MASKED`] after them.
    pub fn pool_bias(
        &self,
        positions: usize,
        valid: impl Fn(usize) -> usize,
        device: &Device,
    ) -> Tensor<2> {
        let mut bias = vec![MASKED; self.lengths.len() * positions];
        for (row, &length) in bias.chunks_mut(positions).zip(&self.lengths) {
            row[..valid(length).min(positions)].fill(0.0);
        }
        Tensor::from_data(
            TensorData::new(bias, [self.lengths.len(), positions]),
            device,
        )
    }
}

impl Encoded {
    pub fn len(&self) -> usize {
        match self {
            Encoded::Dense { rows, .. } => rows.len(),
            Encoded::Tokens { sequences, .. } => sequences.len(),
        }
    }

    /// What batches are bucketed by: the sequence length (0 for dense rows, all alike).
    pub fn length(&self, index: usize) -> usize {
        match self {
            Encoded::Dense { .. } => 0,
            Encoded::Tokens { sequences, .. } => sequences[index].len(),
        }
    }

    /// The tensors of the examples `indices`, in that order.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        match self {
            Encoded::Dense { n_features, rows } => {
                let mut dense = vec![0.0f32; indices.len() * n_features];
                for (out, &index) in dense.chunks_mut(*n_features).zip(indices) {
                    let row = &rows[index];
                    for (&column, &value) in row.indices.iter().zip(&row.values) {
                        out[column as usize] = value;
                    }
                }
                Batch::Dense(Tensor::from_data(
                    TensorData::new(dense, [indices.len(), *n_features]),
                    device,
                ))
            }
            Encoded::Tokens { sequences, min_len } => {
                let lengths: Vec<usize> = indices
                    .iter()
                    .map(|&index| sequences[index].len().max(1))
                    .collect();
                let time = lengths.iter().copied().max().unwrap_or(1).max(*min_len);
                let mut ids = vec![PAD_ID as i64; indices.len() * time];
                for (out, &index) in ids.chunks_mut(time).zip(indices) {
                    for (slot, &id) in out.iter_mut().zip(&sequences[index]) {
                        *slot = i64::from(id);
                    }
                }
                Batch::Tokens(TokenBatch {
                    ids: Tensor::from_data(TensorData::new(ids, [indices.len(), time]), device),
                    lengths,
                    time,
                })
            }
        }
    }
}

/// Indices of a seeded subsample of at most `cap` examples that keeps the class proportions
/// (each class gets its share, rounded, at least one example when present), in input order.
pub(crate) fn stratified_subsample(labels: &[Label], cap: usize, seed: u64) -> Vec<usize> {
    if labels.len() <= cap {
        return (0..labels.len()).collect();
    }
    let mut rng = SplitMix64::new(seed ^ 0x5EED_5AB5_A3F1_E000);
    let mut kept = Vec::with_capacity(cap);
    let mut budget = cap;
    let classes: Vec<Vec<usize>> = Label::ALL
        .iter()
        .map(|&class| (0..labels.len()).filter(|&i| labels[i] == class).collect())
        .collect();
    for (position, mut members) in classes.into_iter().enumerate() {
        let share = if position + 1 == Label::ALL.len() {
            budget
        } else {
            let exact = members.len() as f64 * cap as f64 / labels.len() as f64;
            (exact.round() as usize).clamp(usize::from(!members.is_empty()), budget)
        };
        let share = share.min(members.len());
        rng.shuffle(&mut members);
        kept.extend_from_slice(&members[..share]);
        budget -= share;
    }
    kept.sort_unstable();
    kept
}

/// The mini-batches of one training epoch: a seeded shuffle, then, for sequences, windows of
/// 50 batches sorted by length and cut into batches (little padding), whose order is shuffled
/// again so that lengths do not drift through the epoch.
pub(crate) fn plan_batches(
    encoded: &Encoded,
    batch_size: usize,
    rng: &mut SplitMix64,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    rng.shuffle(&mut order);
    if matches!(encoded, Encoded::Tokens { .. }) {
        for window in order.chunks_mut(batch_size * 50) {
            window.sort_by_key(|&index| encoded.length(index));
        }
    }
    let mut batches: Vec<Vec<usize>> = order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    rng.shuffle(&mut batches);
    batches
}

/// Inference batches: every example once, sorted by length so that each batch pads little.
pub(crate) fn inference_batches(encoded: &Encoded, batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|&index| encoded.length(index));
    order.chunks(batch_size).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsample_keeps_class_shares_and_is_seeded() {
        let labels: Vec<Label> = (0..1000)
            .map(|i| {
                if i % 4 == 0 {
                    Label::Malicious
                } else {
                    Label::Benign
                }
            })
            .collect();
        let kept = stratified_subsample(&labels, 100, 7);
        assert_eq!(kept.len(), 100);
        let malicious = kept.iter().filter(|&&i| labels[i].is_malicious()).count();
        assert_eq!(malicious, 25);
        assert_eq!(kept, stratified_subsample(&labels, 100, 7));
        assert_ne!(kept, stratified_subsample(&labels, 100, 8));
        assert!(kept.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn batches_cover_every_example_once() {
        let encoded = Encoded::Tokens {
            sequences: (0..1000).map(|i| vec![2; i % 37]).collect(),
            min_len: 1,
        };
        let mut rng = SplitMix64::new(3);
        let batches = plan_batches(&encoded, 64, &mut rng);
        let mut seen: Vec<usize> = batches.concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert!(batches.iter().all(|batch| batch.len() <= 64));
    }
}
