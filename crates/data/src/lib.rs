/*!
Data preparation for Vigie's malicious HTTP request classifiers.

This crate turns labelled request datasets into what models train on, and
describes them. It reads one-request-per-line files, raw HTTP dumps (plain
or gzip, CSIC 2010 style), CSV and JSON Lines; it also streams unlabelled
sources (Splunk JSON exports, Common/Combined Log Format access logs) for
scoring.

# Brief overview

* [`DatasetDef`] is a dataset definition (a TOML file in `datasets/`): files,
  format, labels, decoding, upstream URLs and checksums. [`Catalog`] finds
  definitions by name.
* [`load`] reads every file of a definition into a [`Dataset`]: one
  normalised text per request ([`DecodeConfig`]: percent-decoding in the
  dataset's charset, optional lowercasing, trimming), its [`Label`], and where
  it came from, with a [`FileReport`] per file.
* [`PreparedDataset`] deduplicates, splits (deterministic, stratified
  [`stratified_split`]) and computes the [`dataset_digest`] a run logs.
* [`text`] holds the tokenisers (security regex tokens, char n-grams, token
  n-grams) and vectorisers (TF-IDF into a sparse [`text::CsrMatrix`], feature
  hashing, token-id sequences for neural networks).
* [`features`] extracts the targeted script and a rule-based attack family.
* [`feedback`] keeps analysts' verdicts on alerts as an append-only dataset.
* `report` (feature `report`) describes a dataset in polars tables and PNG charts.
* [`source::RecordReader`] streams the raw records of any supported source.

# Example

```no_run
use std::path::Path;
use vigie_data::{Catalog, PrepareConfig, PreparedDataset, Split};

let (def, _origin) = Catalog::builtin()?.get("fwaf")?;
let dataset = vigie_data::load(&def, Path::new("../shared/datasets"), |_| {})?;
let prepared = PreparedDataset::new(dataset, &PrepareConfig::default())?;
let (train_texts, train_labels) = prepared.part(Split::Train);
println!("{} training requests, digest {}", train_texts.len(), prepared.digest);
# let _ = train_labels;
# Ok::<(), vigie_data::DataError>(())
```

Architecture invariant: this crate does no network IO (downloads live in the
`vigie` binary) and knows nothing of models or MLflow.
*/

pub mod catalog;
pub mod checksum;
pub mod dataset;
pub mod decode;
pub mod definition;
pub mod error;
pub mod features;
pub mod feedback;
pub mod label;
pub mod prefetch;
pub mod prepare;
#[cfg(feature = "report")]
pub mod report;
pub mod request;
pub mod source;
pub mod text;

pub use catalog::Catalog;
pub use dataset::{Dataset, FileReport, Origin, load};
pub use decode::{Charset, DecodeConfig};
pub use definition::{DatasetDef, FileDef};
pub use error::{DataError, Result};
pub use label::Label;
pub use prepare::{
    DedupReport, PrepareConfig, PreparedDataset, Split, SplitConfig, dataset_digest, dedup,
    stratified_split,
};
