//! `vigie serve`: the scoring engine behind the HTTP service, reloadable, until a signal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use super::{load_engine, threshold_override};
use crate::args::{GlobalArgs, ServeArgs};

/// `vigie serve`: the model behind the HTTP service until Ctrl-C or SIGTERM.
pub fn serve(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let bearer_token = match &args.token_file {
        Some(path) => {
            let token = std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?;
            let token = token.trim().to_owned();
            if token.is_empty() {
                bail!("{}: the token file is empty", path.display());
            }
            Some(token)
        }
        None => None,
    };
    let catalog = crate::cmd::catalog(global).ok();
    let model = args.model.clone();
    let tracking = args.tracking_uri.clone();
    let cache_dir = args.cache_dir.clone();
    let threshold = threshold_override(args.threshold, args.target_fpr);
    let no_decode = args.no_decode;
    let loader: vigie_score::service::Loader = Arc::new(move || {
        load_engine(
            catalog.as_ref(),
            &model,
            tracking.as_deref(),
            &cache_dir,
            threshold,
            no_decode,
        )
        .map_err(|e| vigie_score::ScoreError::model(&model, format!("{e:#}")))
    });
    let config = vigie_score::service::ServiceConfig {
        bind: args.bind,
        max_body_bytes: args.max_body_bytes,
        max_batch: args.max_batch,
        max_request_bytes: args.max_request_bytes,
        bearer_token,
        reload_interval: args.reload_interval.map(Duration::from_secs),
        request_timeout: Duration::from_secs(args.request_timeout),
        top_features: args.top,
    };
    if !global.quiet {
        eprintln!(
            "serving {} on http://{} (POST /invocations, POST /score, GET /health /version /metrics); Ctrl-C stops",
            args.model, args.bind
        );
    }
    vigie_score::service::run_until_signal(config, loader)
        .with_context(|| format!("serving {}", args.model))?;
    Ok(())
}
