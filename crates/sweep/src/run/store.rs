//! The tracking store a sweep runs on, and the local one it falls back to when the server
//! cannot be reached.

use std::path::{Path, PathBuf};

use vigie_mlflow::DefaultStore;

use super::options::SweepOptions;
use crate::error::Result;
use crate::spec::SweepSpec;

/// The folder, in a sweep's `out_dir`, of the local store it falls back to.
const OFFLINE_STORE_DIR: &str = "offline-mlruns";

/// The store the sweep runs on: its tracking URI's; or, when that is a server that cannot be
/// reached at all, a local store in the sweep's folder (every trial still runs, and
/// `vigie mlflow sync --from-store` sends the whole sweep once the server is back), said once.
pub(super) fn reachable_store(
    spec: &SweepSpec,
    options: &SweepOptions,
) -> Result<(DefaultStore, Option<PathBuf>)> {
    let store = DefaultStore::from_uri(options.tracking_uri.as_deref())?;
    let DefaultStore::Server(client) = &store else {
        return Ok((store, None));
    };
    match client.get_experiment_by_name(&spec.experiment) {
        Err(error) if vigie_mlflow::sync::is_unreachable(&error) => {
            let dir = std::path::absolute(options.out_dir.join(OFFLINE_STORE_DIR))
                .unwrap_or_else(|_| options.out_dir.join(OFFLINE_STORE_DIR));
            let message = format!(
                "cannot reach the tracking server {} ({error}): the sweep runs on the local store {} \
                 (resume, shards and the champion need the server); `vigie mlflow sync --to {} \
                 --from-store {}` sends it when the server is back",
                client.tracking_uri(),
                dir.display(),
                client.tracking_uri(),
                dir.display()
            );
            tracing::warn!("{message}");
            Ok((
                DefaultStore::from_uri(Some(&dir.display().to_string()))?,
                Some(dir),
            ))
        }
        _ => Ok((store, None)),
    }
}

/// `options` aimed at the local store the sweep fell back to, if it did.
pub(super) fn on_offline_store(
    options: &SweepOptions,
    offline_store: Option<&Path>,
) -> SweepOptions {
    match offline_store {
        Some(dir) => SweepOptions {
            tracking_uri: Some(dir.display().to_string()),
            ..options.clone()
        },
        None => options.clone(),
    }
}
