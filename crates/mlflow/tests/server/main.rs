//! Integration tests of `vigie-mlflow`.
//!
//! Most modules talk to a real MLflow server named by `MLFLOW_TRACKING_URI` (start one with
//! `scripts/mlflow-server start`; `scripts/test` does it for you). They use unique experiment
//! and model names, so they run in parallel and can be rerun against the same server. `retry`
//! talks only to small scripted HTTP servers on 127.0.0.1. `manage` covers the reads and the
//! soft delete behind `vigie runs` and `vigie experiments`.

mod artifacts;
mod batch;
mod common;
mod experiments;
mod fake_server;
mod manage;
mod models;
mod retry;
mod runs;
#[path = "../support/mod.rs"]
mod support;
