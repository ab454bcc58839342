//! Errors of text configuration, fitting and model loading.

use super::tfidf::DocFreq;

/// What can go wrong when building tokenisers, fitting vectorisers or
/// vocabularies, or loading them back from a model artifact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// The token pattern is not a valid `regex` crate pattern.
    #[error("invalid token pattern {pattern:?}: {cause}")]
    InvalidPattern {
        /// The pattern as configured.
        pattern: String,
        /// Why the `regex` crate rejected it.
        cause: regex::Error,
    },
    /// The token pattern has more than one capture group (scikit-learn
    /// rejects these too: only group 1 can become the token).
    #[error("token pattern {pattern:?} has {groups} capture groups; at most one is allowed")]
    TooManyCaptureGroups {
        /// The pattern as configured.
        pattern: String,
        /// How many capture groups it has.
        groups: usize,
    },
    /// The n-gram range is not `1 <= min <= max`.
    #[error("invalid n-gram range ({min}, {max}): need 1 <= min <= max")]
    InvalidNgramRange {
        /// Configured smallest n.
        min: usize,
        /// Configured largest n.
        max: usize,
    },
    /// `min_df` or `max_df` is a count below 1 or a fraction outside [0, 1].
    #[error(
        "invalid {parameter} {value:?}: a count must be at least 1 and a fraction within [0, 1]"
    )]
    InvalidDocFreq {
        /// `"min_df"` or `"max_df"`.
        parameter: &'static str,
        /// The configured value.
        value: DocFreq,
    },
    /// `max_df` resolves to fewer documents than `min_df` on this corpus.
    #[error(
        "max_df corresponds to < documents than min_df \
         (max_df allows {max_doc_count} documents, min_df requires {min_doc_count})"
    )]
    MaxDfBelowMinDf {
        /// `max_df` as a document count for this corpus.
        max_doc_count: f64,
        /// `min_df` as a document count for this corpus.
        min_doc_count: f64,
    },
    /// `max_features` is 0.
    #[error("max_features must be at least 1")]
    InvalidMaxFeatures,
    /// The training texts produced no term at all.
    #[error("empty vocabulary: the training texts produced no terms")]
    EmptyVocabulary,
    /// Every term was pruned by `min_df`, `max_df` or `min_count`.
    #[error("after pruning, no terms remain; try a lower min_df/min_count or a higher max_df")]
    NoTermsAfterPruning,
    /// More distinct terms than `u32` column indices can address.
    #[error("the vocabulary exceeds {} terms", u32::MAX)]
    VocabularyTooLarge,
    /// The hashing space size is 0 or larger than `u32` indices can address.
    #[error("n_features must be between 1 and 2^32, got {0}")]
    InvalidFeatureCount(usize),
    /// A sequence length limit of 0.
    #[error("max_len must be at least 1")]
    InvalidMaxLen,
    /// A sequence vocabulary size that leaves no id beyond PAD and OOV.
    #[error("max_size {0} leaves no id for a term beyond PAD and OOV (need at least 3)")]
    InvalidMaxSize(usize),
    /// Parts given to build a sparse matrix are inconsistent.
    #[error("invalid sparse matrix: {0}")]
    InvalidSparseMatrix(&'static str),
    /// A deserialised model is inconsistent (e.g. an edited artifact).
    #[error("invalid serialised text model: {0}")]
    InvalidModel(String),
}
