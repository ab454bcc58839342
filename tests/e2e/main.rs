//! End-to-end tests of the `vigie` binary, one test binary.
//!
//! - `adapt`: `vigie adapt` on a tiny dataset and a made-up site: fewer alarms on the traffic
//!   held out, recall kept, the parent named, the adapted config reproducing the run.
//! - `attack`: `vigie attack` on the tiny dataset's SVM: the JSON shape, evasions that `vigie
//!   score` scores under the threshold, the same output for a seed, the run and its rates.
//! - `bench_mlflow`: `vigie bench mlflow` against the MLflow server of `MLFLOW_TRACKING_URI`.
//! - `config`: `vigie config template` and `vigie init` write configs that train and sweeps
//!   that plan; `--set` reaches the run's params and resolved config; errors at the key's
//!   line; a missing file's OS error printed once.
//! - `data`: the data commands on the real datasets and on tiny fixtures (`--json` output,
//!   error messages).
//! - `field`: every run and sweep trial logs `field_*` metrics on echows-urldetect when its
//!   files are present (none when absent); `vigie eval` reports alerts per 10,000 requests.
//! - `feedback`: `vigie feedback add` from `vigie score`'s verdicts, the append-only file, and
//!   `[data.feedback]`: dismissed alarms measured, then trained on and raised less.
//! - `fetch`: downloads from a local HTTP server on 127.0.0.1, checksums, offline errors.
//! - `libinjection`: the libinjection family trained, evaluated, in the matrix and explained.
//! - `mlflow`: `vigie mlflow sync` pushing a local `./mlruns` store to the real MLflow server
//!   (`MLFLOW_TRACKING_URI`).
//! - `monitor`: `vigie monitor` on four days of access log with a day of attacks: PSI, alert
//!   rate, drift and exit status; the run read back with MLflow's Python client.
//! - `pyfunc`: models loaded with MLflow's `mlflow.pyfunc.load_model` (the venv's 3.17.2) score
//!   a test split as `vigie score` does, within 1e-6; `mlflow models serve` answers.
//! - `offline`: a closed port and a silent listener never hold a run; the journal syncs later.
//! - `runs`: `vigie runs list|show|delete`, the columns of `runs compare`, `vigie experiments
//!   list` on the real MLflow server and a local store; `vigie completions`.
//! - `score`: `vigie score` and `vigie serve` give the training-time scores bit for bit.
//! - `score_siem`: `vigie score --input` rows a SIEM joins back: kept fields, request times,
//!   one verdict schema with `--json` and `/score`, capped warnings, the format guess.
//! - `sweep`: `vigie sweep`, `vigie runs compare` and `vigie reproduce`: resume after SIGKILL,
//!   shards against the real MLflow server, the champion alias, malformed sweep files.
//! - `train`: `vigie train` and `vigie eval` on a tiny dataset: local store, determinism,
//!   bad configs, and the MLflow 3 logged model on the real server.
//! - `util`: running the binary, a minimal file server.

mod adapt;
mod attack;
mod bench_mlflow;
mod config;
mod data;
mod feedback;
mod fetch;
mod field;
mod libinjection;
mod mlflow;
mod monitor;
mod offline;
mod pyfunc;
mod runs;
mod score;
mod score_siem;
mod sweep;
mod train;
mod util;
