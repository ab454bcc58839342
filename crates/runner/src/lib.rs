//! Runs: a run config trained, evaluated and logged to an MLflow tracking store.
//!
//! [`config`] parses and checks a run config (`configs/*.toml`); [`run`] trains the model it
//! names on its dataset, measures it and logs everything as one MLflow run through
//! `vigie-mlflow` (a server, or the local `./mlruns` store); [`eval`] scores other datasets
//! with a saved model; [`pyfunc`] writes the Python scorer of MLflow's `python_function` flavor
//! into the model folder; [`field`] scores every run's model on a site it never trained on;
//! [`site`] adapts a run to a site's own traffic (`vigie adapt`); [`feedback`] trains on
//! analysts' verdicts and measures the model on them. The sweep runner builds on
//! [`Training`].

pub mod adversarial;
pub mod augment;
pub mod config;
pub mod config_error;
pub mod error;
pub mod eval;
pub mod feedback;
pub mod field;
pub mod key_docs;
pub mod overrides;
pub mod pyfunc;
pub mod robust;
pub mod run;
pub mod site;
pub mod system;
pub mod template;
#[cfg(test)]
mod test_support;

pub use config::{DataSource, RunConfig};
pub use error::{Result, RunError};
pub use run::{
    DeferredStart, EpochDelivery, OpenedRun, PendingRun, RunOutcome, RunRequest, Training,
};
