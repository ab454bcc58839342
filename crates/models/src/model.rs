//! The interface every model family implements: training data in, per-epoch reports out,
//! a scorer of raw request texts at the end.

use vigie_data::Label;

/// Texts and labels of one split.
#[derive(Debug, Clone, Default)]
pub struct LabelledTexts<'a> {
    pub texts: Vec<&'a str>,
    pub labels: Vec<Label>,
}

impl<'a> LabelledTexts<'a> {
    pub fn new(texts: Vec<&'a str>, labels: Vec<Label>) -> Self {
        debug_assert_eq!(texts.len(), labels.len());
        LabelledTexts { texts, labels }
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// `[benign, malicious]` counts.
    pub fn class_counts(&self) -> [usize; 2] {
        let malicious = self.labels.iter().filter(|l| l.is_malicious()).count();
        [self.labels.len() - malicious, malicious]
    }

    /// 1.0 for malicious, 0.0 for benign, in order.
    pub fn targets(&self) -> Vec<f32> {
        self.labels
            .iter()
            .map(|l| if l.is_malicious() { 1.0 } else { 0.0 })
            .collect()
    }
}

/// What a model family is trained on: the training split, and the validation split for early
/// stopping and per-epoch reports (the threshold is chosen on it afterwards, by the caller).
#[derive(Debug, Clone)]
pub struct TrainData<'a> {
    pub train: LabelledTexts<'a>,
    pub valid: LabelledTexts<'a>,
    /// Seeds every random choice (shuffles, initialisation, sampling, dropout).
    pub seed: u64,
    /// Threads the family may use (rayon pools, backend threads); 0 means all cores.
    pub threads: usize,
}

/// Receives progress and per-epoch metrics while a model trains (`Send`: training may run on
/// a sized thread pool); the CLI feeds a progress bar
/// and the tracker from it. Every method has a no-op default.
pub trait TrainObserver: Send {
    /// A new phase starts ("vectorise", "fit", "epoch 3/20", …), with its size in units when known.
    fn phase(&mut self, _name: &str, _total: Option<u64>) {}

    /// `units` more units of the current phase are done.
    fn advance(&mut self, _units: u64) {}

    /// End of an epoch (or outer solver iteration): `step` counts from 1; metric names are
    /// plain keys such as `train_loss`, `valid_loss`, `valid_f1`, `valid_roc_auc`.
    fn epoch(&mut self, _step: u64, _metrics: &[(&str, f64)]) {}

    /// A free-form note worth showing (e.g. "early stop: best epoch 7 restored").
    fn note(&mut self, _message: &str) {}

    /// Asked between batches and after each epoch by families that train long (the networks):
    /// `Some(reason)` stops training with [`crate::ModelError::Stopped`] (Ctrl-C, a pruning rule).
    fn stop_requested(&mut self) -> Option<String> {
        None
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl TrainObserver for NoObserver {}

/// A trained model's scoring function: one score per raw request text, higher meaning more
/// likely malicious. Scores are comparable only within one model (a probability for logistic
/// regression and the networks, a margin for the SVM, an anomaly score for Isolation Forest).
pub trait Scorer: Send + Sync {
    fn score_batch(&self, texts: &[&str]) -> Vec<f64>;

    fn score_one(&self, text: &str) -> f64 {
        self.score_batch(&[text])
            .first()
            .copied()
            .unwrap_or(f64::NAN)
    }
}

/// Saving and loading a family's own files. The [`crate::artifact`] module wraps them in a
/// self-describing folder (manifest, threshold, checksums).
pub trait Persist: Sized {
    /// Writes everything needed to score raw texts again (hyperparameters, vectoriser or
    /// vocabulary, weights) into `dir`, which exists and is empty.
    fn save(&self, dir: &std::path::Path) -> crate::Result<()>;

    /// Reads back what [`Persist::save`] wrote; a malformed file is a
    /// [`crate::ModelError::Artifact`] naming it.
    fn load(dir: &std::path::Path) -> crate::Result<Self>;
}

/// How each class's errors weigh in a family's loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// `n_samples / (2 × n_class)`, as scikit-learn's `"balanced"`: both classes count as much
    /// in total, whatever their sizes.
    #[default]
    Balanced,
    /// Every sample weighs 1.
    None,
}

impl ClassWeight {
    /// The weights of `[benign, malicious]` for classes of `counts` samples (a class with no
    /// sample weighs 1: there is nothing to balance).
    pub fn weights(self, counts: [usize; 2]) -> [f64; 2] {
        let total = (counts[0] + counts[1]) as f64;
        match self {
            ClassWeight::None => [1.0, 1.0],
            ClassWeight::Balanced => counts.map(|count| {
                if count == 0 {
                    1.0
                } else {
                    total / (2.0 * count as f64)
                }
            }),
        }
    }
}

#[cfg(test)]
mod class_weight_tests {
    use super::ClassWeight;

    #[test]
    fn balanced_weights_make_both_classes_count_as_much() {
        let [benign, malicious] = ClassWeight::Balanced.weights([300, 100]);
        assert_eq!([benign, malicious], [400.0 / 600.0, 400.0 / 200.0]);
        assert_eq!(benign * 300.0, malicious * 100.0);
        assert_eq!(ClassWeight::Balanced.weights([5, 0]), [0.5, 1.0]);
        assert_eq!(ClassWeight::None.weights([300, 100]), [1.0, 1.0]);
    }
}
