//! A trial's identity: the hash of its resolved config, written as canonical JSON.

use sha2::{Digest, Sha256};
use vigie_runner::RunConfig;
use vigie_runner::config::TrackingConfig;

/// A trial's identity: the first 16 hex digits of the sha256 of the config's canonical JSON
/// (object keys sorted), without what does not change the model: `name`, `threads` and
/// `tracking`. Same hyperparameters, data and seed: same id, in any sweep or experiment.
pub fn trial_id(config: &RunConfig) -> String {
    identity_hash(config, None)
}

/// [`trial_id`] of a config trained or measured on feedback datasets (`[data.feedback]`) that
/// now hold the verdicts of digest `feedback_digest`: feedback datasets grow as analysts judge
/// alerts, and a trial on more verdicts is another trial.
pub fn trial_id_with_feedback(config: &RunConfig, feedback_digest: &str) -> String {
    identity_hash(config, Some(feedback_digest))
}

fn identity_hash(config: &RunConfig, feedback_digest: Option<&str>) -> String {
    let mut identity = config.clone();
    identity.name = None;
    identity.threads = 0;
    identity.tracking = TrackingConfig::default();
    let mut canonical = String::new();
    match serde_json::to_value(&identity) {
        Ok(json) => write_canonical_json(&json, &mut canonical),
        // Not reachable with the config's types (serde_json writes NaN as null); the Debug
        // text still identifies the config deterministically.
        Err(_) => canonical = format!("{identity:?}"),
    }
    if let Some(feedback_digest) = feedback_digest {
        canonical.push_str("\nfeedback:");
        canonical.push_str(feedback_digest);
    }
    let digest = Sha256::digest(canonical.as_bytes());
    hex::encode(&digest[..8])
}

/// JSON with object keys sorted, whatever serde_json's map preserves.
fn write_canonical_json(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value as Json;
    match value {
        Json::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (position, (key, inner)) in entries.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(key.clone()).to_string());
                out.push(':');
                write_canonical_json(inner, out);
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (position, inner) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_canonical_json(inner, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;
    use crate::spec::test_sweeps::{BASE, base_config};

    #[test]
    fn feedback_verdicts_are_part_of_a_trials_identity() {
        let config = base_config();
        let plain = trial_id(&config);
        let on_verdicts = trial_id_with_feedback(&config, "digest-a");
        assert_ne!(on_verdicts, plain);
        assert_eq!(on_verdicts, trial_id_with_feedback(&config, "digest-a"));
        assert_ne!(on_verdicts, trial_id_with_feedback(&config, "digest-b"));
    }

    #[test]
    fn trial_ids_ignore_name_threads_and_tracking_but_nothing_else() {
        let base = base_config();
        let id = trial_id(&base);
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

        let mut renamed = base.clone();
        renamed.name = Some("another".to_owned());
        renamed.threads = 3;
        renamed.tracking = TrackingConfig {
            experiment: Some("elsewhere".to_owned()),
            registered_model: Some("champion".to_owned()),
        };
        assert_eq!(trial_id(&renamed), id);

        let mut reseeded = base.clone();
        reseeded.seed += 1;
        let mut split_reseeded = base.clone();
        split_reseeded.data.split.seed += 1;
        let mut other_data = base.clone();
        other_data.data.dataset = "csic2010".to_owned();
        let changed =
            RunConfig::from_toml(&BASE.replace("c = 5.0", "c = 5.5"), Path::new("x")).unwrap();
        let ids: HashSet<String> = [&base, &reseeded, &split_reseeded, &other_data, &changed]
            .into_iter()
            .map(trial_id)
            .collect();
        assert_eq!(ids.len(), 5);
    }
}
