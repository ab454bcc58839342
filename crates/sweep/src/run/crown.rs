//! The champion crowned from the sweep's leaderboard.

use std::collections::BTreeMap;

use vigie_mlflow::MlflowClient;

use super::outcome::StoredTrial;
use crate::champion::{self, ChampionDecision};
use crate::error::Result;
use crate::leaderboard::LeaderboardRow;
use crate::spec::SweepSpec;

/// Crowns `best` under `name` ([`champion::crown`]); when this invocation published it, its
/// logged model is known and its run is not read back.
pub(super) fn crown_best(
    client: &MlflowClient,
    name: &str,
    spec: &SweepSpec,
    best: &LeaderboardRow,
    published: &BTreeMap<usize, &StoredTrial>,
) -> Result<ChampionDecision> {
    let fresh_model_id = published
        .values()
        .find(|p| p.row.run_id == best.run_id)
        .and_then(|p| p.logged_model_id.as_deref());
    champion::crown(client, name, best, fresh_model_id, &spec.objective)
}
