//! Integration tests of `vigie-data`, one binary.
//!
//! - `bad_input`: malformed, truncated, binary, huge and missing inputs give errors that
//!   name the file and line, or counted skips; never a panic.
//! - `sources`: every supported source format on tiny hand-written inputs.
//! - `record_context`: each record's own time and kept fields, read only when asked.
//! - `real_datasets`: the shipped definitions on `../shared/datasets`, checked against the
//!   counts of the scikit-learn reference pipeline.
//! - `tfidf_parity`: TF-IDF matrices equal scikit-learn's on real requests (needs the venv).
//! - `util`: shared helpers.

mod bad_input;
mod real_datasets;
mod record_context;
mod sources;
mod tfidf_parity;
mod util;
