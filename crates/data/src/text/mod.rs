//! Text processing: HTTP request text to model features.
//!
//! Everything here reproduces scikit-learn's text feature extraction term for
//! term and value for value, so models trained in Python and in Rust see the
//! same inputs, and it does so without allocating per term.
//!
//! - [`Tokenizer`] ([`TokenizerConfig`], [`Analyzer`]): scikit-learn's
//!   `"char"`, `"char_wb"` and `"word"` analyzers; words default to the
//!   security pattern [`SECURITY_TOKEN_PATTERN`], which keeps every
//!   punctuation character as a token. Token patterns are read with Python's
//!   `\w`, `\d` and `\s` classes, as scikit-learn reads them.
//! - [`TfidfVectorizer`] / [`FittedTfidf`] ([`TfidfConfig`]): scikit-learn's
//!   `TfidfVectorizer` (vocabulary pruning, smooth idf, sublinear tf, L1/L2
//!   norms), serialisable into model artifacts.
//! - [`TfidfDot`]: a fitted TF-IDF fused with a weight vector, `w · tfidf(text)` without
//!   building the row (what a linear model scores).
//! - [`HashingVectorizer`] ([`HashingConfig`]): stateless xxh3 feature hashing.
//! - [`Vocabulary`] ([`SequenceConfig`]): char or token id sequences with
//!   PAD/OOV ids for neural models.
//! - [`RowVectorizer`]: what TF-IDF and hashing share (a text to a sparse
//!   row; whole matrices and single rows built the same way).
//! - [`CsrMatrix`]: the sparse row-major output of the vectorisers.
//! - [`is_python_space`], [`python_strip`]: Python's whitespace, which
//!   scikit-learn's whitespace handling follows.
//!
//! Hot loops take a scratch value ([`TokenScratch`], [`TfidfScratch`], [`TfidfDotScratch`],
//! [`HashingScratch`], [`SequenceScratch`]) holding reusable buffers; keep one
//! per thread.

mod ascii_ngrams;
mod dot;
mod error;
mod hashing;
mod pyspace;
mod request_dot;
mod sequence;
mod sparse;
mod term_index;
mod tfidf;
mod tokenize;
mod vectorize;

pub use dot::{TfidfDot, TfidfDotScratch};
pub use error::TextError;
pub use hashing::{HashingConfig, HashingScratch, HashingVectorizer};
pub use pyspace::{is_python_space, python_strip};
pub use sequence::{OOV_ID, PAD_ID, SequenceConfig, SequenceScratch, SequenceUnit, Vocabulary};
pub use sparse::CsrMatrix;
pub use tfidf::{DocFreq, FittedTfidf, Norm, TfidfConfig, TfidfScratch, TfidfVectorizer};
pub use tokenize::{
    Analyzer, SECURITY_TOKEN_PATTERN, SKLEARN_TOKEN_PATTERN, TokenScratch, Tokenizer,
    TokenizerConfig,
};
pub use vectorize::RowVectorizer;
