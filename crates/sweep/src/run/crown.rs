//! The champion: the best trial so far crowned while the last trials train, and the sweep's
//! best crowned at its end while the leaderboard's files go up.

use std::collections::BTreeMap;
use std::time::Instant;

use vigie_mlflow::{DefaultStore, MlflowClient, TrackingStore};
use vigie_runner::feedback::FeedbackRequests;

use super::Sweep;
use super::outcome::{PlanSummary, StoredTrial};
use super::rank::{LeaderboardFiles, rank_trials};
use crate::champion::{self, ChampionDecision};
use crate::error::Result;
use crate::leaderboard::{Leaderboard, LeaderboardRow};

/// Crowns `best` under `name` ([`champion::crown`]); when this invocation published it, its
/// logged model is known and its run is not read back. A trial measured on analysts' verdicts
/// has them loaded, so that the current champion is measured on them too.
fn crown_best(
    client: &MlflowClient,
    name: &str,
    sweep: &Sweep<'_>,
    best: &LeaderboardRow,
    published: &BTreeMap<usize, &StoredTrial>,
) -> Result<ChampionDecision> {
    let fresh_model_id = published
        .values()
        .find(|p| p.row.run_id == best.run_id)
        .and_then(|p| p.logged_model_id.as_deref());
    let feedback = best_trial_feedback(sweep, best);
    champion::crown(
        client,
        name,
        best,
        fresh_model_id,
        &sweep.spec.objective,
        feedback.as_ref(),
    )
}

/// The verdicts `best`'s trial was measured on, as they are now; `None` when its config has
/// none or they cannot be read (said, and the champion is then judged on the objective alone).
fn best_trial_feedback(sweep: &Sweep<'_>, best: &LeaderboardRow) -> Option<FeedbackRequests> {
    let trial = sweep
        .plan
        .trials
        .iter()
        .find(|trial| best.trial_id.as_deref() == Some(trial.id.as_str()))?;
    let config = trial.config.data.feedback.as_ref()?;
    match vigie_runner::feedback::load(config, sweep.source) {
        Ok(requests) => Some(requests),
        Err(error) => {
            tracing::warn!(%error, "cannot read the feedback to measure the champion on");
            None
        }
    }
}

/// The registered model the best trial so far is crowned in while the last trials train: only
/// on a server, with a registered model, and when this invocation sees the whole sweep (no
/// shard, nothing running elsewhere), as for ranking without reading it back.
pub(super) fn early_registry<'a>(
    sweep: &Sweep<'a>,
    summary: &PlanSummary,
) -> Option<(&'a str, &'a MlflowClient)> {
    match (&sweep.spec.registered_model, sweep.store) {
        (Some(name), DefaultStore::Server(client))
            if sweep.options.shard.is_none() && summary.running_elsewhere == 0 =>
        {
            Some((name.as_str(), client))
        }
        _ => None,
    }
}

/// Crowns the best of the trials published so far when it beats the current champion, so that
/// the sweep's end has a crown to make only when one of the last trials wins; `None` when no
/// trial has finished.
pub(super) fn crown_so_far(
    sweep: &Sweep<'_>,
    (name, client): (&str, &MlflowClient),
    published: &BTreeMap<usize, &StoredTrial>,
) -> Option<Result<ChampionDecision>> {
    let leaderboard = rank_trials(sweep.spec, sweep.plan, &sweep.found.runs, published);
    let best = leaderboard.best()?;
    Some(crown_best(client, name, sweep, best, published))
}

/// Uploads the leaderboard's files to the parent while the champion is crowned
/// ([`crown_at_end`]).
pub(super) fn upload_and_crown(
    sweep: &Sweep<'_>,
    files: &LeaderboardFiles,
    leaderboard: &Leaderboard,
    early_decision: Option<Result<ChampionDecision>>,
    interrupted: bool,
    published: &BTreeMap<usize, &StoredTrial>,
) -> Result<Option<ChampionDecision>> {
    let (uploaded, crowned) = std::thread::scope(|scope| {
        let upload = scope.spawn(|| {
            sweep
                .store
                .log_artifacts(sweep.parent_run_id, &files.markdown, None)
                .and_then(|_| {
                    sweep
                        .store
                        .log_artifacts(sweep.parent_run_id, &files.json, None)
                })
        });
        let crowned = crown_at_end(sweep, leaderboard, early_decision, interrupted, published);
        let uploaded = upload
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (uploaded, crowned)
    });
    uploaded?;
    crowned
}

/// The champion decision at the sweep's end: the early crown's when it crowned the sweep's best
/// (or the sweep was interrupted after it), else the best trial crowned now; on a local store,
/// which has no registry, only a note naming the best trial.
fn crown_at_end(
    sweep: &Sweep<'_>,
    leaderboard: &Leaderboard,
    early_decision: Option<Result<ChampionDecision>>,
    interrupted: bool,
    published: &BTreeMap<usize, &StoredTrial>,
) -> Result<Option<ChampionDecision>> {
    let early_decision = match early_decision {
        Some(Err(error)) => {
            tracing::warn!(%error, "could not crown the best trial while the last trained");
            None
        }
        Some(Ok(decision)) => Some(decision),
        None => None,
    };
    match (
        &sweep.spec.registered_model,
        leaderboard.best(),
        interrupted,
    ) {
        // Crowned while the last trials trained, none of which did better.
        (Some(_), Some(best), false)
            if early_decision
                .as_ref()
                .is_some_and(|early| early.run_id == best.run_id) =>
        {
            Ok(early_decision)
        }
        // Interrupted after the early crown: it stands (it beat the champion it replaced).
        (Some(_), _, true) if early_decision.is_some() => Ok(early_decision),
        (Some(name), Some(best), false) => match sweep.store {
            DefaultStore::Server(client) => {
                let started = Instant::now();
                let decision = crown_best(client, name, sweep, best, published);
                tracing::debug!(
                    seconds = started.elapsed().as_secs_f64(),
                    "champion crowned"
                );
                decision.map(Some)
            }
            DefaultStore::Local(_) => {
                sweep.progress.note(&format!(
                    "champion: the local store has no model registry; the best trial is {} \
                     (run {}); sweep against an MLflow server to register it as {name}",
                    best.run_name, best.run_id
                ));
                Ok(None)
            }
        },
        _ => Ok(None),
    }
}
