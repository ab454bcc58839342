//! The model zoo: every model that Vigie trains, behind one interface.
//!
//! A model family turns a [`TrainData`] (training and validation splits of raw request texts)
//! into a [`Scorer`] that scores raw texts on its own: the vectoriser or vocabulary it needs
//! travels with it. The families:
//!
//! - [`linear`]: logistic regression and linear SVM on sparse TF-IDF rows;
//! - [`anomaly`]: Isolation Forest trained on benign requests, and K-means for clustering what
//!   it flags, on a dense projection of the features;
//! - [`nn`]: Burn networks (MLP, CNN, LSTM, BiLSTM) on the flex CPU backend, or wgpu;
//! - [`rules`]: libinjection's SQLi and XSS detectors on parameter values, fixed rules that
//!   learn nothing: the rule-based baseline.
//!
//! [`metrics`] scores every family the same way and draws its charts; [`artifact`] saves a
//! trained model as a self-describing folder and loads it back; [`spec`] is the `[model]`
//! table of a run config, which picks the family and its hyperparameters.

pub mod anomaly;
pub mod artifact;
pub mod error;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod random;
pub mod rules;
pub mod spec;

pub use error::{ModelError, Result};
pub use model::{
    ClassWeight, LabelledTexts, NoObserver, Persist, Scorer, TrainData, TrainObserver,
};
