//! Helpers shared by the server tests.

use vigie_mlflow::{CreateRun, MlflowClient, Run};

pub use crate::support::{client, unique};

/// A fresh experiment and a running run in it.
pub fn new_run(client: &MlflowClient, prefix: &str) -> (String, Run) {
    let experiment = client
        .get_or_create_experiment(&unique(prefix))
        .expect("experiment");
    let run = client
        .create_run(&CreateRun::new(&experiment.experiment_id))
        .expect("run");
    (experiment.experiment_id, run)
}
