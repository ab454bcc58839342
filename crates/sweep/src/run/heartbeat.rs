//! The parent run's heartbeat, by which other processes tell a live sweep from a dead one.

use std::sync::mpsc;

use vigie_mlflow::{DefaultStore, Tag, TrackingStore, now_millis};

use super::trial::TrialContext;
use crate::tags;

/// Refreshes the parent's heartbeat tag until `stopped` is closed. A failed refresh is only
/// logged: the trials' own runs matter more than the heartbeat.
pub(super) fn heartbeat(ctx: &TrialContext<'_>, stopped: &mpsc::Receiver<()>) {
    let Ok(store) = DefaultStore::from_uri(ctx.options.tracking_uri.as_deref()) else {
        return;
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(ctx.options.heartbeat) {
        let tag = Tag::new(tags::HEARTBEAT, now_millis().to_string());
        if let Err(error) = store.log_batch(ctx.parent_run_id, &[], &[], &[tag]) {
            tracing::warn!(%error, "could not refresh the sweep's heartbeat");
        }
    }
}
