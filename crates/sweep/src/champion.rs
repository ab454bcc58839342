//! The champion: the best trial's logged model, registered under the sweep's model name, and
//! given the `champion` alias only when it beats the model that holds the alias now.
//!
//! The comparison is on the sweep's objective metric, read from both runs. Whatever is
//! decided is written on the new model version as tags (decision, metric, both values), so a
//! champion is never replaced, or kept, silently.

use serde::Serialize;
use vigie_mlflow::{MlflowClient, Tag};
use vigie_models::artifact::SavedModel;
use vigie_runner::feedback::{self, FeedbackRequests};

use crate::error::{Result, SweepError};
use crate::leaderboard::{LeaderboardRow, latest_metric};
use crate::spec::{FeedbackAllowance, Objective};
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
///
/// `fresh_model_id` is the logged model of a run this process has just published (so nothing
/// of it is registered yet): the run is then not read back. The decision is made before the
/// version is created, so that its tags go with the creation: five calls for a first crown.
///
/// `feedback`: the analysts' verdicts `best` was measured on. The current champion is then
/// measured on them too; when it fails the analysts' guard and `best` passes it, `best` takes
/// the alias whatever the objective says: a champion crowned before the verdicts must not keep
/// raising the alarms they dismiss.
pub fn crown(
    client: &MlflowClient,
    name: &str,
    best: &LeaderboardRow,
    fresh_model_id: Option<&str>,
    objective: &Objective,
    feedback: Option<&FeedbackRequests>,
) -> Result<ChampionDecision> {
    let (model_id, registered) = match fresh_model_id {
        Some(model_id) => (Some(model_id.to_owned()), None),
        None => {
            let run = client.get_run(&best.run_id)?;
            let registered = run
                .data
                .tag(tags::REGISTERED_VERSION)
                .and_then(|v| v.strip_prefix(&format!("{name}/")))
                .map(str::to_owned);
            let model_id = run
                .outputs
                .model_outputs
                .first()
                .map(|m| m.model_id.clone());
            (model_id, registered)
        }
    };
    let source = match (registered, model_id) {
        (Some(version), _) => Source::Registered(version),
        (None, Some(model_id)) => Source::Unregistered(model_id),
        (None, None) => {
            return Err(SweepError::Invalid(format!(
                "the best trial {} (run {}) has no logged model to register",
                best.run_name, best.run_id
            )));
        }
    };
    let registered = match &source {
        Source::Registered(version) => Some(version.clone()),
        Source::Unregistered(_) => None,
    };

    let registered_model = match client.get_registered_model(name) {
        Ok(model) => Some(model),
        Err(error) if error.is_not_found() => None,
        Err(error) => return Err(error.into()),
    };
    let current = registered_model.as_ref().and_then(|model| {
        model
            .aliases
            .iter()
            .find(|a| a.alias == CHAMPION_ALIAS)
            .map(|a| a.version.clone())
    });
    let current_holds_it = current.is_some() && current == registered;
    let metric = objective.metric.clone();
    let mut decision = ChampionDecision {
        registered_model: name.to_owned(),
        version: registered.clone().unwrap_or_default(),
        run_id: best.run_id.clone(),
        metric: metric.clone(),
        value: best.value,
        previous: None,
        champion: false,
        reason: String::new(),
    };
    let feedback_counts = FeedbackCounts::of(best);
    let refusal = feedback_counts
        .and_then(|counts| counts.refusal(objective.feedback_allowed))
        .filter(|_| !current_holds_it);
    match current {
        _ if let Some(refusal) = refusal => {
            decision.reason = match &current {
                Some(current) => format!("{refusal}: the alias stays on {name}/{current}"),
                None => format!("{refusal}: no champion crowned"),
            };
        }
        None => {
            decision.champion = true;
            decision.reason = "first champion".to_owned();
        }
        Some(_) if current_holds_it => {
            decision.champion = true;
            decision.reason = "already the champion".to_owned();
        }
        Some(current) => {
            let current_value = champion_value(client, name, &current, &metric)?;
            let champion_refusal = match (feedback, feedback_counts) {
                (Some(requests), Some(_)) => champion_feedback(client, name, &current, requests)
                    .and_then(|counts| counts.refusal(objective.feedback_allowed)),
                _ => None,
            };
            match current_value {
                _ if let Some(why) = champion_refusal => {
                    decision.champion = true;
                    decision.reason = format!(
                        "the champion {name}/{current} {why}; this trial does not: alias moved"
                    );
                }
                Some(value) if !objective.direction.better(best.value, value) => {
                    decision.reason = format!(
                        "not better than the champion {name}/{current} ({metric} = {value:.6}): alias kept"
                    );
                }
                Some(value) => {
                    let mut champion_guard = Vec::new();
                    for guard in &objective.never_raise {
                        champion_guard.push((
                            guard.as_str(),
                            champion_value(client, name, &current, guard)?,
                        ));
                    }
                    match raised_guard(client, best, &champion_guard)? {
                        Some(raised) => {
                            decision.reason = format!(
                                "beats the champion {name}/{current} ({metric} = {value:.6}) but {raised}: alias kept"
                            );
                        }
                        None => {
                            decision.champion = true;
                            decision.reason = format!(
                                "beats the champion {name}/{current} ({metric} = {value:.6}): alias moved"
                            );
                        }
                    }
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

    let mut version_tags = vec![
        Tag::new(tags::CHAMPION_DECISION, &decision.reason),
        Tag::new(tags::CHAMPION_METRIC, &metric),
        Tag::new(tags::CHAMPION_VALUE, best.value.to_string()),
    ];
    if let Some(counts) = feedback_counts {
        version_tags.extend(counts.tags());
    }
    if let Some((previous, value)) = &decision.previous {
        version_tags.push(Tag::new(
            tags::PREVIOUS_CHAMPION,
            format!("{name}/{previous} {metric}={value}"),
        ));
    }
    match source {
        // Already the champion: its tags say why it became one; nothing changed since.
        Source::Registered(_) if current_holds_it => {}
        Source::Registered(version) => {
            for tag in &version_tags {
                client.set_model_version_tag(name, &version, &tag.key, &tag.value)?;
            }
        }
        Source::Unregistered(model_id) => {
            if registered_model.is_none() {
                client.ensure_registered_model(name)?;
            }
            let created =
                client.register_logged_model(name, &model_id, &best.run_id, version_tags)?;
            decision.version = created.version;
            // The run learns its version (so a later crown reuses it) while the alias moves.
            let version_tag = format!("{name}/{}", decision.version);
            std::thread::scope(|scope| -> Result<()> {
                let tagging = scope
                    .spawn(|| client.set_tag(&best.run_id, tags::REGISTERED_VERSION, &version_tag));
                if decision.champion {
                    client.set_registered_model_alias(name, CHAMPION_ALIAS, &decision.version)?;
                }
                tagging
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
                Ok(())
            })?;
            return Ok(decision);
        }
    }
    if decision.champion && !current_holds_it {
        client.set_registered_model_alias(name, CHAMPION_ALIAS, &decision.version)?;
    }
    Ok(decision)
}

/// The first guard (`objective.never_raise`) that `best` raises above the champion's value, said
/// in words; `None` when it raises none. A guard the champion has no value for does not hold a
/// trial back; one the trial lacks while the champion has it does.
fn raised_guard(
    client: &MlflowClient,
    best: &LeaderboardRow,
    champion: &[(&str, Option<f64>)],
) -> Result<Option<String>> {
    for &(guard, champion_value) in champion {
        let Some(champion_value) = champion_value else {
            continue;
        };
        let value = match best.metrics.get(guard) {
            Some(value) => Some(*value),
            None => latest_metric(&client.get_run(&best.run_id)?, guard),
        };
        if let Some(raised) = guard_raised(guard, value, champion_value) {
            return Ok(Some(raised));
        }
    }
    Ok(None)
}

/// Whether a trial's `value` of `guard` raises it above the champion's, said in words.
fn guard_raised(guard: &str, value: Option<f64>, champion_value: f64) -> Option<String> {
    match value {
        Some(value) if value <= champion_value => None,
        Some(value) => Some(format!(
            "raises {guard} from {champion_value:.6} to {value:.6}"
        )),
        None => Some(format!(
            "has no {guard} where the champion has {champion_value:.6}"
        )),
    }
}

/// What the best trial's model does with the analysts' verdicts (`feedback_*` metrics); the
/// guard holds only for trials measured on feedback.
#[derive(Debug, Clone, Copy, PartialEq)]
struct FeedbackCounts {
    /// Dismissed alarms raised again.
    false_alarms: u64,
    /// Confirmed attacks let through.
    missed: u64,
}

impl FeedbackCounts {
    /// From the row's metrics (every row carries them when its run has them).
    fn of(best: &LeaderboardRow) -> Option<FeedbackCounts> {
        let count = |key: &str| best.metrics.get(key).map(|v| v.max(0.0) as u64);
        Some(FeedbackCounts {
            false_alarms: count("feedback_false_alarms")?,
            missed: count("feedback_missed")?,
        })
    }

    /// Why the analysts' guard refuses the model, when it does.
    fn refusal(self, allowed: FeedbackAllowance) -> Option<String> {
        if self.false_alarms > allowed.false_alarms {
            return Some(format!(
                "raises again {} alarm(s) analysts dismissed (the sweep allows {})",
                self.false_alarms, allowed.false_alarms
            ));
        }
        if self.missed > allowed.missed {
            return Some(format!(
                "lets through {} attack(s) analysts confirmed (the sweep allows {})",
                self.missed, allowed.missed
            ));
        }
        None
    }

    fn tags(self) -> [Tag; 2] {
        [
            Tag::new(tags::FEEDBACK_FALSE_ALARMS, self.false_alarms.to_string()),
            Tag::new(tags::FEEDBACK_MISSED, self.missed.to_string()),
        ]
    }
}

/// The current champion `name`/`version` measured on `requests` at its own threshold: its
/// model downloaded into a scratch folder, scored, the folder removed. `None`, said, when that
/// fails (the champion is then judged on the objective alone).
fn champion_feedback(
    client: &MlflowClient,
    name: &str,
    version: &str,
    requests: &FeedbackRequests,
) -> Option<FeedbackCounts> {
    let scratch = std::env::temp_dir().join(format!(
        "vigie-champion-{}-{}",
        std::process::id(),
        vigie_mlflow::now_millis()
    ));
    let measured = client
        .download_model(&format!("models:/{name}/{version}"), &scratch)
        .map_err(|error| error.to_string())
        .and_then(|_| SavedModel::load(&scratch).map_err(|error| error.to_string()))
        .map(|model| {
            let metrics = feedback::measure(&model, requests, model.manifest.threshold);
            FeedbackCounts {
                false_alarms: metrics.false_alarms,
                missed: metrics.missed,
            }
        });
    let _ = std::fs::remove_dir_all(&scratch);
    match measured {
        Ok(counts) => Some(counts),
        Err(error) => {
            tracing::warn!(
                "cannot measure the champion {name}/{version} on the analysts' verdicts: {error}"
            );
            None
        }
    }
}

/// Where the best trial's model version comes from.
enum Source {
    /// Already registered under the name (an earlier crown): this version.
    Registered(String),
    /// Not registered yet: this logged model.
    Unregistered(String),
}

/// The champion version's value of `metric`: from the tags this module wrote when it crowned
/// it, else from its run.
fn champion_value(
    client: &MlflowClient,
    name: &str,
    version: &str,
    metric: &str,
) -> Result<Option<f64>> {
    let holder = client.get_model_version(name, version)?;
    if holder.tag(tags::CHAMPION_METRIC) == Some(metric)
        && let Some(value) = holder
            .tag(tags::CHAMPION_VALUE)
            .and_then(|v| v.parse::<f64>().ok())
    {
        return Ok(Some(value));
    }
    Ok(match &holder.run_id {
        Some(run_id) => latest_metric(&client.get_run(run_id)?, metric),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::{FeedbackAllowance, FeedbackCounts, guard_raised};

    #[test]
    fn the_analysts_guard_refuses_beyond_what_the_sweep_allows() {
        let counts = FeedbackCounts {
            false_alarms: 2,
            missed: 1,
        };
        let strict = FeedbackAllowance::default();
        let refusal = counts.refusal(strict).expect("refused");
        assert!(refusal.contains("raises again 2 alarm(s)"), "{refusal}");
        let lenient_alarms = FeedbackAllowance {
            false_alarms: 2,
            missed: 0,
        };
        let refusal = counts.refusal(lenient_alarms).expect("refused");
        assert!(refusal.contains("lets through 1 attack(s)"), "{refusal}");
        let lenient = FeedbackAllowance {
            false_alarms: 2,
            missed: 1,
        };
        assert_eq!(counts.refusal(lenient), None);
    }

    #[test]
    fn a_guard_holds_back_a_trial_that_raises_it_or_lacks_it() {
        assert_eq!(guard_raised("field_fpr", Some(0.0002), 0.0002), None);
        assert_eq!(guard_raised("field_fpr", Some(0.0001), 0.0002), None);
        let raised = guard_raised("field_fpr", Some(0.0126), 0.0002).expect("raised");
        assert!(
            raised.contains("raises field_fpr from 0.000200 to 0.012600"),
            "{raised}"
        );
        assert!(guard_raised("field_fpr", None, 0.0002).is_some());
    }
}
