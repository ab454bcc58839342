//! Runs as the store returns them, for the unit tests of `run`.

use vigie_mlflow::{Run, RunStatus, Tag};

pub(super) fn run_with(status: RunStatus, tags: &[(&str, &str)], start: i64) -> Run {
    let mut run = Run::default();
    run.info.run_id = format!("r{start}");
    run.info.status = status;
    run.info.start_time = Some(start);
    run.data.tags = tags.iter().map(|(k, v)| Tag::new(*k, *v)).collect();
    run
}
