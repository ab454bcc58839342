//! The end of a run: its results logged (final metrics, artifacts, the logged model) and the
//! run ended FINISHED, or FAILED or KILLED with the reason.

use std::time::Instant;

use vigie_mlflow::{
    DefaultStore, LoggedModelStatus, Metric, RunLogger, RunStatus, Tag, mlflow_tags,
};
use vigie_models::TrainObserver;

use super::logged_model::{log_model_to_server, write_mlmodel};
use super::start::{OpenRun, PendingModel};
use super::train::Trained;
use super::{RunOutcome, RunRequest};
use crate::error::{Result, RunError};

/// The end of both flows: a trained run whose earlier logging (`logged`) went well gets its
/// results logged; then [`close_run`] with the first error, if any.
pub(super) fn finish_run(
    request: &RunRequest,
    trained: Result<Trained>,
    logged: std::result::Result<(), vigie_mlflow::MlflowError>,
    run: OpenRun,
    progress: &mut dyn TrainObserver,
    tracking_seconds: f64,
) -> Result<RunOutcome> {
    let OpenRun { mut logger, model } = run;
    let failed_model = model.as_ref().map(|m| m.model_id.clone());
    let result = match (trained, logged) {
        (Ok(trained), Ok(())) => log_results(request, trained, &mut logger, model, progress),
        (Ok(_), Err(error)) => Err(error.into()),
        (Err(error), _) => Err(error),
    };
    // A failed run's logged model (created when it started) is marked failed, not left PENDING.
    if let (Err(_), Some(model_id), DefaultStore::Server(client)) =
        (&result, failed_model, logger.store())
    {
        let _ = client.finalize_logged_model(&model_id, LoggedModelStatus::UploadFailed);
    }
    close_run(logger, result, tracking_seconds)
}

/// Ends the run: FINISHED with the outcome, or (after a note saying why) KILLED when training
/// was stopped on purpose and FAILED otherwise. `tracking_seconds` is added to the outcome's.
pub(super) fn close_run(
    logger: RunLogger<DefaultStore>,
    result: Result<RunOutcome>,
    tracking_seconds: f64,
) -> Result<RunOutcome> {
    match result {
        Ok(mut outcome) => {
            let ending = Instant::now();
            let finished = logger.finish(RunStatus::Finished)?;
            let end_seconds = ending.elapsed().as_secs_f64();
            tracing::debug!(
                tracking_seconds,
                end_seconds,
                rest_seconds = outcome.tracking_seconds,
                "time in tracking calls"
            );
            outcome.tracking_seconds += tracking_seconds + end_seconds;
            outcome.run_id = finished.run_id;
            outcome.synced = finished.synced;
            outcome.journal = finished.journal;
            Ok(outcome)
        }
        Err(error) => {
            let mut logger = logger;
            let _ = logger.set_tags(&[Tag::new(
                mlflow_tags::NOTE_CONTENT,
                format!("failed: {error}"),
            )]);
            // Stopped on purpose (Ctrl-C, pruning): KILLED, as MLflow's own clients do.
            let status = match &error {
                RunError::Model(vigie_models::ModelError::Stopped(_)) => RunStatus::Killed,
                _ => RunStatus::Failed,
            };
            if let Err(finish_error) = logger.finish(status) {
                tracing::warn!(%finish_error, "could not record the failed run");
            }
            Err(error)
        }
    }
}

/// Logs a trained run's final metrics, files and (on a server) logged model to its run.
/// `RunOutcome::tracking_seconds` is the time this took.
pub(super) fn log_results(
    request: &RunRequest,
    trained: Trained,
    logger: &mut RunLogger<DefaultStore>,
    model: Option<PendingModel>,
    progress: &mut dyn TrainObserver,
) -> Result<RunOutcome> {
    let logging = Instant::now();
    let Trained {
        mut outcome,
        manifest,
        final_metrics,
        last_step,
    } = trained;
    let step = i64::try_from(last_step).unwrap_or(i64::MAX);
    let logged: Vec<Metric> = final_metrics
        .iter()
        .map(|(key, value)| Metric::new(key.clone(), *value, step))
        .collect();
    logger.log_metrics(&logged)?;
    outcome.final_metrics = final_metrics;

    // MLmodel sits beside the manifest (not covered by its checksums): the run id is known only
    // once the run reached the store.
    let out = &outcome.out_dir;
    let model_dir = &outcome.model_dir;
    let run_id = logger.run_id().map(str::to_owned);
    write_mlmodel(model_dir, &manifest, run_id.as_deref(), None, "model")?;
    // On a server, the MLflow 3 logged model (its own copy of the model's files) goes up
    // beside the run's artifacts.
    let server = match (&run_id, logger.store()) {
        (Some(run_id), DefaultStore::Server(client)) => Some((run_id.clone(), client.clone())),
        _ => None,
    };
    let logged_model = std::thread::scope(|scope| -> Result<_> {
        let logging_model = server.as_ref().map(|(run_id, client)| {
            scope
                .spawn(|| log_model_to_server(client, request, &manifest, model_dir, run_id, model))
        });
        // A folder's files are logged under its own name (`model/…`, `plots/…`). On a server
        // the model goes up once, as the logged model (MLflow 3's layout; a run id resolves
        // to it), and into the run's own artifacts only if that failed.
        if logging_model.is_none() {
            logger.log_artifact(model_dir, Some("model"))?;
        }
        for (entry, artifact_dir) in [
            ("plots", Some("plots")),
            ("metrics.json", None),
            ("clusters.json", None),
            ("clusters.md", None),
        ] {
            let path = out.join(entry);
            if path.exists() {
                logger.log_artifact(&path, artifact_dir)?;
            }
        }
        logger.flush()?;
        Ok(logging_model.map(|handle| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }))
    })?;
    match logged_model {
        Some(Ok((model_id, version))) => {
            outcome.logged_model_id = Some(model_id);
            outcome.registered_version = version;
        }
        Some(Err(error)) => {
            // The model goes to the run's artifacts instead (a run id still finds it there):
            // log the failure, do not fail a run whose training and metrics are safe.
            tracing::warn!(%error, "could not log the MLflow 3 logged model");
            progress.note(&format!(
                "warning: the logged model could not be created ({error}); the model is in the \
                 run's artifacts instead"
            ));
            logger.log_artifact(model_dir, Some("model"))?;
            logger.flush()?;
        }
        None => {}
    }
    outcome.tracking_seconds = logging.elapsed().as_secs_f64();
    Ok(outcome)
}
