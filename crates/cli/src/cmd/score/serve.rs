//! `vigie serve`: the scoring engine behind the HTTP service, reloadable, until a signal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use vigie_score::service::MonitoringConfig;

use super::load_model;
use crate::args::{GlobalArgs, ServeArgs};
use crate::cmd::monitor::window_ms_of;
use crate::cmd::train::tracking_uri;

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
    let loader: vigie_score::service::Loader = Arc::new(move || {
        load_model(catalog.as_ref(), &model, tracking.as_deref())
            .map_err(|e| vigie_score::ScoreError::model(&model.model, format!("{e:#}")))
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
        monitoring: monitoring(args)?,
    };
    if !global.quiet {
        eprintln!(
            "serving {} on http://{} (POST /invocations, POST /score, GET /health /version /metrics); Ctrl-C stops",
            args.model.model, args.bind
        );
        if let Some(window) = &args.monitor_window {
            eprintln!(
                "recording monitoring windows of {window} to the experiment {}",
                args.monitor_experiment
            );
        }
    }
    vigie_score::service::run_until_signal(config, loader)
        .with_context(|| format!("serving {}", args.model.model))?;
    Ok(())
}

/// `--monitor-window` and its options: the service's own windows, logged where
/// `--tracking-uri` (else MLFLOW_TRACKING_URI, else ./mlruns) says.
fn monitoring(args: &ServeArgs) -> anyhow::Result<Option<MonitoringConfig>> {
    let Some(window) = &args.monitor_window else {
        return Ok(None);
    };
    let window_ms = window_ms_of("--monitor-window", window)?;
    let uri = tracking_uri(args.tracking_uri.as_deref());
    Ok(Some(MonitoringConfig {
        window: Duration::from_millis(u64::try_from(window_ms)?),
        window_text: window.clone(),
        psi_bound: args.psi_bound,
        alert_factor: args.alert_factor,
        expected_alert_rate: args.expected_alert_rate,
        min_requests: args.min_requests,
        experiment: args.monitor_experiment.clone(),
        journal_dir: args.journal_dir.clone(),
        model_ref: args.model.model.clone(),
        host: vigie_sweep::owner::host_name(),
        store: Arc::new(move || vigie_mlflow::DefaultStore::from_uri(uri.as_deref())),
    }))
}
