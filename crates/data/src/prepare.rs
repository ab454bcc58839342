//! From a loaded dataset to what a trainer consumes: deduplicated texts, a
//! deterministic stratified train/valid/test split, and a digest that
//! identifies exactly that data so a run can log it and a rerun can check it.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::dataset::{Dataset, Origin};
use crate::error::{DataError, Result};
use crate::label::Label;

/// What deduplication did (the reference pipeline's counters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DedupReport {
    pub rows_in: usize,
    pub distinct_texts: usize,
    /// Rows dropped because an identical text came earlier (`rows_in - distinct_texts`).
    pub duplicate_rows_dropped: usize,
    /// Distinct texts seen with both labels: every copy is dropped, since no label is right.
    pub conflicting_texts_dropped: usize,
    pub conflicting_rows_dropped: usize,
    pub rows_out: usize,
    /// A few of the conflicting texts, sorted.
    pub conflicting_examples: Vec<String>,
}

/// Keep the first copy of each text and drop texts that carry both labels.
pub fn dedup(dataset: Dataset) -> (Dataset, DedupReport) {
    const BOTH: u8 = 0b11;
    let mut seen: FxHashMap<&str, u8> = FxHashMap::default();
    for (text, label) in dataset.texts.iter().zip(&dataset.labels) {
        *seen.entry(text.as_str()).or_default() |= 1 << label.as_u8();
    }
    let mut conflicting: Vec<&str> = seen
        .iter()
        .filter(|(_, m)| **m == BOTH)
        .map(|(t, _)| *t)
        .collect();
    conflicting.sort_unstable();
    let distinct_texts = seen.len();
    let conflicting_texts_dropped = conflicting.len();
    let conflicting_examples: Vec<String> = conflicting
        .iter()
        .take(10)
        .map(|t| (*t).to_owned())
        .collect();

    // Reuse the map as the "already kept" set: a kept text is marked 0.
    let keep: Vec<bool> = dataset
        .texts
        .iter()
        .map(|t| match seen.get_mut(t.as_str()) {
            Some(mask) if *mask != BOTH && *mask != 0 => {
                *mask = 0;
                true
            }
            _ => false,
        })
        .collect();
    let conflicting_rows_dropped = dataset
        .texts
        .iter()
        .filter(|t| seen.get(t.as_str()) == Some(&BOTH))
        .count();
    let rows_in = dataset.texts.len();
    drop(seen);

    let mut out = Dataset {
        name: dataset.name,
        files: dataset.files,
        ..Dataset::default()
    };
    for (((text, label), origin), kept) in dataset
        .texts
        .into_iter()
        .zip(dataset.labels)
        .zip(dataset.origins)
        .zip(keep)
    {
        if kept {
            out.texts.push(text);
            out.labels.push(label);
            out.origins.push(origin);
        }
    }
    let report = DedupReport {
        rows_in,
        distinct_texts,
        duplicate_rows_dropped: rows_in - distinct_texts,
        conflicting_texts_dropped,
        conflicting_rows_dropped,
        rows_out: out.texts.len(),
        conflicting_examples,
    };
    (out, report)
}

/// The part of the data a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Split {
    Train = 0,
    Valid = 1,
    Test = 2,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }
}

/// Split fractions and seed (the `[split]` table of a run config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    pub train: f64,
    pub valid: f64,
    pub test: f64,
    pub seed: u64,
}

impl Default for SplitConfig {
    /// 70/10/20: the reference's 20 % test split, and a validation split for thresholds and early stopping.
    fn default() -> Self {
        SplitConfig {
            train: 0.7,
            valid: 0.1,
            test: 0.2,
            seed: 42,
        }
    }
}

impl SplitConfig {
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("split.train", self.train),
            ("split.valid", self.valid),
            ("split.test", self.test),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(DataError::InvalidOption {
                    field,
                    message: format!("{v} is not a fraction in [0, 1]"),
                });
            }
        }
        let sum = self.train + self.valid + self.test;
        if (sum - 1.0).abs() > 1e-9 {
            return Err(DataError::InvalidOption {
                field: "split",
                message: format!("train + valid + test = {sum}, expected 1"),
            });
        }
        if self.train == 0.0 {
            return Err(DataError::InvalidOption {
                field: "split.train",
                message: "the training split cannot be empty".to_owned(),
            });
        }
        Ok(())
    }
}

/// Assign every text to a split, stratified by label.
///
/// Within each class, texts are ordered by a seeded 64-bit hash of the text
/// (ties by position) and cut at the fractions: the first `round(n * test)`
/// go to test, the next `round(n * valid)` to valid, the rest to train. The
/// assignment depends only on the texts, labels and seed (not on file order),
/// is exactly stratified, and is the same on every platform and Rust version.
pub fn stratified_split(
    texts: &[String],
    labels: &[Label],
    config: &SplitConfig,
) -> Result<Vec<Split>> {
    config.validate()?;
    let mut assignment = vec![Split::Train; texts.len()];
    for class in Label::ALL {
        let mut members: Vec<(u64, usize)> = labels
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == class)
            .map(|(i, _)| (xxh3_64_with_seed(texts[i].as_bytes(), config.seed), i))
            .collect();
        members.sort_unstable();
        let n = members.len() as f64;
        let n_test = (n * config.test).round() as usize;
        let n_valid =
            ((n * config.valid).round() as usize).min(members.len() - n_test.min(members.len()));
        for (rank, (_, index)) in members.iter().enumerate() {
            assignment[*index] = if rank < n_test {
                Split::Test
            } else if rank < n_test + n_valid {
                Split::Valid
            } else {
                Split::Train
            };
        }
    }
    Ok(assignment)
}

/// The dataset digest: sha256 over, for every request in order, the length of
/// its text (u64 little-endian), the text's UTF-8 bytes, its label byte and its
/// split byte, after the tag `vigie-dataset-v1`. Any change to normalisation,
/// dedup, labels or split changes it.
pub fn dataset_digest(texts: &[String], labels: &[Label], split: &[Split]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"vigie-dataset-v1\n");
    for ((text, label), part) in texts.iter().zip(labels).zip(split) {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
        hasher.update([label.as_u8(), *part as u8]);
    }
    hex::encode(hasher.finalize())
}

/// Preparation options: dedup and split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrepareConfig {
    pub dedup: bool,
    pub split: SplitConfig,
}

impl Default for PrepareConfig {
    fn default() -> Self {
        PrepareConfig {
            dedup: true,
            split: SplitConfig::default(),
        }
    }
}

/// A dataset ready for training: deduplicated (optionally), split, digested.
#[derive(Debug, Clone)]
pub struct PreparedDataset {
    pub data: Dataset,
    /// Class counts before dedup, benign first.
    pub counts_before_dedup: [usize; 2],
    pub dedup: Option<DedupReport>,
    pub split: Vec<Split>,
    pub config: PrepareConfig,
    pub digest: String,
}

impl PreparedDataset {
    pub fn new(dataset: Dataset, config: &PrepareConfig) -> Result<Self> {
        let counts_before_dedup = dataset.class_counts();
        let (data, dedup_report) = if config.dedup {
            let (d, r) = dedup(dataset);
            (d, Some(r))
        } else {
            (dataset, None)
        };
        let split = stratified_split(&data.texts, &data.labels, &config.split)?;
        let digest = dataset_digest(&data.texts, &data.labels, &split);
        Ok(PreparedDataset {
            data,
            counts_before_dedup,
            dedup: dedup_report,
            split,
            config: config.clone(),
            digest,
        })
    }

    /// This dataset with `texts` appended to the training split under `label`, but for those
    /// it already holds (in any split, with any label, or twice in `texts`): no test request
    /// leaks into training. The added requests have no line in the dataset's files (their
    /// origins point past them); the digest covers them. Returns how many were added.
    pub fn with_training(self, texts: Vec<String>, label: Label) -> (PreparedDataset, usize) {
        self.with_training_copies(texts, label, 1)
    }

    /// [`with_training`](Self::with_training) with each new request appended `copies` times:
    /// in a loss summed over training rows, `k` copies of a request weigh it as a sample weight
    /// of `k` would. Returns how many distinct requests were added.
    pub fn with_training_copies(
        self,
        texts: Vec<String>,
        label: Label,
        copies: usize,
    ) -> (PreparedDataset, usize) {
        let mut known: std::collections::HashSet<&str> =
            self.data.texts.iter().map(String::as_str).collect();
        let keep: Vec<bool> = texts.iter().map(|t| known.insert(t.as_str())).collect();
        drop(known);
        let distinct: Vec<String> = texts
            .into_iter()
            .zip(keep)
            .filter_map(|(text, keep)| keep.then_some(text))
            .collect();
        let added_distinct = distinct.len();
        let added: Vec<String> = distinct
            .iter()
            .flat_map(|text| std::iter::repeat_n(text.clone(), copies))
            .collect();
        let count = added.len();
        let PreparedDataset {
            data,
            counts_before_dedup,
            dedup,
            mut split,
            config,
            ..
        } = self;
        split.extend(std::iter::repeat_n(Split::Train, count));
        let name = data.name.clone();
        let extra = Dataset {
            name: name.clone(),
            labels: vec![label; count],
            origins: Vec::new(),
            files: Vec::new(),
            texts: added,
        };
        let mut data = Dataset::union(name, vec![data, extra]);
        let past_files = data.files.len() as u32;
        data.origins.extend((1..=count as u64).map(|line| Origin {
            file: past_files,
            line,
        }));
        let digest = dataset_digest(&data.texts, &data.labels, &split);
        let prepared = PreparedDataset {
            data,
            counts_before_dedup,
            dedup,
            split,
            config,
            digest,
        };
        (prepared, added_distinct)
    }

    /// Indices of the requests in `part`.
    pub fn indices(&self, part: Split) -> Vec<usize> {
        self.split
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == part)
            .map(|(i, _)| i)
            .collect()
    }

    /// Texts and labels of `part`.
    pub fn part(&self, part: Split) -> (Vec<&str>, Vec<Label>) {
        self.indices(part)
            .into_iter()
            .map(|i| (self.data.texts[i].as_str(), self.data.labels[i]))
            .unzip()
    }

    /// `[benign, malicious]` counts per split, in [`Split::ALL`] order.
    pub fn split_counts(&self) -> [[usize; 2]; 3] {
        let mut counts = [[0usize; 2]; 3];
        for (part, label) in self.split.iter().zip(&self.data.labels) {
            counts[*part as usize][label.as_u8() as usize] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dataset(rows: &[(&str, Label)]) -> Dataset {
        Dataset {
            name: "t".into(),
            texts: rows.iter().map(|(t, _)| (*t).to_owned()).collect(),
            labels: rows.iter().map(|(_, l)| *l).collect(),
            origins: (0..rows.len())
                .map(|i| crate::dataset::Origin {
                    file: 0,
                    line: i as u64 + 1,
                })
                .collect(),
            files: Vec::new(),
        }
    }

    use Label::{Benign as B, Malicious as M};

    #[test]
    fn dedup_keeps_first_copies_and_drops_conflicts() {
        let d = dataset(&[
            ("a", B),
            ("x", M),
            ("a", B),
            ("c", B),
            ("c", M),
            ("x", M),
            ("c", B),
        ]);
        let (out, r) = dedup(d);
        assert_eq!(out.texts, ["a", "x"]);
        assert_eq!(out.labels, [B, M]);
        assert_eq!(
            out.origins.iter().map(|o| o.line).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(r.rows_in, 7);
        assert_eq!(r.distinct_texts, 3);
        assert_eq!(r.duplicate_rows_dropped, 4);
        assert_eq!(r.conflicting_texts_dropped, 1);
        assert_eq!(r.conflicting_rows_dropped, 3);
        assert_eq!(r.rows_out, 2);
        assert_eq!(r.conflicting_examples, ["c"]);
    }

    #[test]
    fn split_is_stratified_and_seeded() {
        let texts: Vec<String> = (0..1000).map(|i| format!("/page{i}")).collect();
        let labels: Vec<Label> = (0..1000).map(|i| if i % 4 == 0 { M } else { B }).collect();
        let cfg = SplitConfig::default();
        let s = stratified_split(&texts, &labels, &cfg).expect("split");
        let count = |part, class| {
            s.iter()
                .zip(&labels)
                .filter(|(p, l)| **p == part && **l == class)
                .count()
        };
        assert_eq!(count(Split::Test, M), 50);
        assert_eq!(count(Split::Valid, M), 25);
        assert_eq!(count(Split::Train, M), 175);
        assert_eq!(count(Split::Test, B), 150);
        assert_eq!(s, stratified_split(&texts, &labels, &cfg).expect("split"));
        let other =
            stratified_split(&texts, &labels, &SplitConfig { seed: 7, ..cfg }).expect("split");
        assert_ne!(s, other);
    }

    #[test]
    fn invalid_fractions_are_rejected() {
        let bad = SplitConfig {
            train: 0.8,
            valid: 0.1,
            test: 0.2,
            seed: 1,
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("expected 1")
        );
        let neg = SplitConfig {
            train: 1.2,
            valid: -0.2,
            test: 0.0,
            seed: 1,
        };
        assert!(
            neg.validate()
                .unwrap_err()
                .to_string()
                .contains("split.train")
        );
    }

    #[test]
    fn digest_changes_with_text_label_or_split() {
        let t = vec!["a".to_owned(), "b".to_owned()];
        let base = dataset_digest(&t, &[B, M], &[Split::Train, Split::Test]);
        assert_eq!(base.len(), 64);
        assert_ne!(
            base,
            dataset_digest(&t, &[M, M], &[Split::Train, Split::Test])
        );
        assert_ne!(
            base,
            dataset_digest(&t, &[B, M], &[Split::Test, Split::Test])
        );
        let t2 = vec!["ab".to_owned(), String::new()];
        assert_ne!(
            base,
            dataset_digest(&t2, &[B, M], &[Split::Train, Split::Test])
        );
    }

    proptest! {
        #[test]
        fn split_does_not_depend_on_row_order(n in 1usize..200, seed in any::<u64>(), rot in 0usize..200) {
            let texts: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
            let labels: Vec<Label> = (0..n).map(|i| if i % 3 == 0 { M } else { B }).collect();
            let cfg = SplitConfig { seed, ..SplitConfig::default() };
            let s = stratified_split(&texts, &labels, &cfg).expect("split");
            let k = rot % n;
            let mut t2 = texts.clone(); t2.rotate_left(k);
            let mut l2 = labels.clone(); l2.rotate_left(k);
            let mut s2 = stratified_split(&t2, &l2, &cfg).expect("split");
            s2.rotate_right(k);
            prop_assert_eq!(s, s2);
        }
    }
}
