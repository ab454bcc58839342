//! The champion: the best trial's logged model, registered under the sweep's model name, and
//! given the `champion` alias only when it beats the model that holds the alias now.
//!
//! The comparison is on the sweep's objective metric, read from both runs. Whatever is
//! decided is written on the new model version as tags (decision, metric, both values), so a
//! champion is never replaced, or kept, silently.

use serde::Serialize;
use vigie_mlflow::{CreateModelVersion, MlflowClient, Tag};

use crate::error::{Result, SweepError};
use crate::leaderboard::{LeaderboardRow, latest_metric};
use crate::spec::Objective;
use crate::tags;

/// The alias that names the model to serve.
pub const CHAMPION_ALIAS: &str = "champion";

/// What the champion step did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChampionDecision {
    pub registered_model: String,
    /// The version holding the best trial's model.
    pub version: String,
    pub run_id: String,
    pub metric: String,
    pub value: f64,
    /// The version that held the alias before, and its value.
    pub previous: Option<(String, f64)>,
    /// Whether the alias now points at `version`.
    pub champion: bool,
    pub reason: String,
}

impl ChampionDecision {
    pub fn summary(&self) -> String {
        format!(
            "champion: {}/{} ({} = {:.6}): {}",
            self.registered_model, self.version, self.metric, self.value, self.reason
        )
    }
}

/// Registers `best`'s logged model under `name` (once: a version already registered for that
/// run is reused) and moves the `champion` alias to it when it beats the current champion.
pub fn crown(
    client: &MlflowClient,
    name: &str,
    best: &LeaderboardRow,
    objective: &Objective,
) -> Result<ChampionDecision> {
    let run = client.get_run(&best.run_id)?;
    let version = match run
        .data
        .tag(tags::REGISTERED_VERSION)
        .and_then(|v| v.strip_prefix(&format!("{name}/")))
    {
        Some(version) => version.to_owned(),
        None => {
            let model_id = run
                .outputs
                .model_outputs
                .first()
                .map(|m| m.model_id.clone())
                .ok_or_else(|| {
                    SweepError::Invalid(format!(
                        "the best trial {} (run {}) has no logged model to register",
                        best.run_name, best.run_id
                    ))
                })?;
            if let Err(error) = client.create_registered_model(name, None, &[])
                && !error.is_already_exists()
            {
                return Err(error.into());
            }
            let created = client.create_model_version(&CreateModelVersion {
                name: name.to_owned(),
                source: format!("models:/{model_id}"),
                run_id: Some(best.run_id.clone()),
                model_id: Some(model_id),
                ..CreateModelVersion::default()
            })?;
            client.set_tag(
                &best.run_id,
                tags::REGISTERED_VERSION,
                &format!("{name}/{}", created.version),
            )?;
            created.version
        }
    };

    let registered = client.get_registered_model(name)?;
    let current = registered
        .aliases
        .iter()
        .find(|a| a.alias == CHAMPION_ALIAS)
        .map(|a| a.version.clone());
    let metric = objective.metric.clone();
    let mut decision = ChampionDecision {
        registered_model: name.to_owned(),
        version: version.clone(),
        run_id: best.run_id.clone(),
        metric: metric.clone(),
        value: best.value,
        previous: None,
        champion: false,
        reason: String::new(),
    };
    match current {
        None => {
            decision.champion = true;
            decision.reason = "first champion".to_owned();
        }
        Some(current) if current == version => {
            decision.champion = true;
            decision.reason = "already the champion".to_owned();
        }
        Some(current) => {
            let holder = client.get_model_version(name, &current)?;
            let current_value = match &holder.run_id {
                Some(run_id) => latest_metric(&client.get_run(run_id)?, &metric),
                None => None,
            };
            match current_value {
                Some(value) if !objective.direction.better(best.value, value) => {
                    decision.reason = format!(
                        "not better than the champion {name}/{current} ({metric} = {value:.6}): alias kept"
                    );
                }
                Some(value) => {
                    decision.champion = true;
                    decision.reason = format!(
                        "beats the champion {name}/{current} ({metric} = {value:.6}): alias moved"
                    );
                }
                None => {
                    decision.reason = format!(
                        "the champion {name}/{current} has no {metric} to compare with: alias kept"
                    );
                }
            }
            decision.previous = current_value.map(|value| (current, value));
        }
    }
    if decision.champion {
        client.set_registered_model_alias(name, CHAMPION_ALIAS, &version)?;
    }
    let mut version_tags = vec![
        Tag::new(tags::CHAMPION_DECISION, &decision.reason),
        Tag::new(tags::CHAMPION_METRIC, &metric),
        Tag::new(tags::CHAMPION_VALUE, best.value.to_string()),
    ];
    if let Some((previous, value)) = &decision.previous {
        version_tags.push(Tag::new(
            tags::PREVIOUS_CHAMPION,
            format!("{name}/{previous} {metric}={value}"),
        ));
    }
    for tag in version_tags {
        client.set_model_version_tag(name, &version, &tag.key, &tag.value)?;
    }
    Ok(decision)
}
