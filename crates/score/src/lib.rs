//! Scoring for SOC analysts: the model `--model` names (a folder, a run, or the MLflow
//! registry), found, cached and verified by [`model_ref`], and applied by [`engine::Engine`]
//! to requests, each getting a [`engine::Verdict`]: score, threshold, verdict, attack family
//! and the features that drove the score. [`highlight`] marks those features on a terminal.

pub mod engine;
pub mod error;
pub mod highlight;
pub mod model_ref;
pub mod monitor;
pub mod service;

pub use engine::{Engine, ExplanationMethod, Feature, Verdict};
pub use error::{Result, ScoreError};
pub use model_ref::{ModelRef, ResolvedModel, resolve};
