//! `vigie bench mlflow`: the cost of logging one training run to an MLflow server with Vigie's
//! [`RunLogger`], beside the Python `mlflow` client logging the same run three ways.
//!
//! The run is `--params` params and `--epochs` epochs × 6 metrics. Every side creates its run and
//! ends it inside its timing; the experiment is created once beforehand and costs no side
//! anything. Each mode logs `--repeats` runs and reports the median time, since a run of a few
//! requests takes a fraction of a second that the server's load shifts. Requests are counted exactly: [`MlflowClient::stats`] for Vigie (HTTP attempts,
//! retries included), and for Python every urllib3 request to the tracking server
//! (`tests/python/mlflow_bench.py` says how). Both sides run in one invocation against the same
//! server, so the ratios hold on a shared machine even when the absolute times do not.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use vigie_mlflow::config::ENV_TRACKING_URI;
use vigie_mlflow::{Metric, MlflowClient, Param, RunLogger, RunOptions, RunStatus, TrackingConfig};

use crate::args::{BenchMlflowArgs, GlobalArgs};
use crate::output::print_json;
use crate::say;

/// The metrics logged at each epoch (the same names and values as the Python script).
const METRIC_NAMES: [&str; 6] = ["loss", "accuracy", "precision", "recall", "f1", "val_loss"];

/// The target for Vigie's run flushed at the end.
const REQUEST_TARGET: u64 = 5;

/// One way of logging the run, measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ModeResult {
    /// `vigie` or `python`.
    #[serde(default)]
    client: String,
    mode: String,
    description: String,
    /// HTTP requests to the tracking server for one run, retries included (the most of the
    /// repeats).
    requests: u64,
    /// Wall time from run creation to run end (the median over the repeats).
    seconds: f64,
    run_id: String,
    /// `seconds` divided by Vigie's end-of-run mode (filled in once all modes ran).
    #[serde(default)]
    ratio_vs_vigie: f64,
}

/// What `tests/python/mlflow_bench.py` prints.
#[derive(Debug, Deserialize)]
struct PythonReport {
    mlflow_version: String,
    modes: Vec<ModeResult>,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    tracking_uri: String,
    experiment: String,
    epochs: u32,
    params: u32,
    repeats: u32,
    metrics_per_epoch: usize,
    /// The Python client's version, when the Python side ran.
    python_mlflow_version: Option<String>,
    /// Every mode, Vigie's first; the first row is the reference of `ratio_vs_vigie`.
    modes: Vec<ModeResult>,
    /// Whether Vigie's end-of-run mode sent at most [`REQUEST_TARGET`] requests.
    meets_request_target: bool,
    /// Whether Vigie's end-of-run mode beat the Python client's fastest mode (`None`: not run).
    faster_than_python_best: Option<bool>,
}

/// Runs the benchmark and prints the table (or `--json`).
pub fn mlflow(global: &GlobalArgs, args: &BenchMlflowArgs) -> anyhow::Result<()> {
    if args.epochs == 0 || args.repeats == 0 {
        bail!("--epochs and --repeats must be at least 1");
    }
    // `--tracking-uri` replaces only the URI: credentials, retries and timeouts come from MLFLOW_*.
    let config = TrackingConfig::from_lookup(|name| {
        if name == ENV_TRACKING_URI {
            Some(args.tracking_uri.clone())
        } else {
            std::env::var(name).ok()
        }
    })
    .context("configuring the MLflow client (--tracking-uri or MLFLOW_TRACKING_URI)")?;
    let client = MlflowClient::new(config)?;
    let experiment = format!("vigie-bench-mlflow-{}", unique_suffix());
    // Created here, outside every timing; this also opens the connection the runs reuse, as the
    // Python side's warm-up does.
    let experiment_id = client
        .get_or_create_experiment(&experiment)
        .with_context(|| {
            format!(
                "creating the experiment {experiment:?} on {}",
                args.tracking_uri
            )
        })?
        .experiment_id;
    say!(
        global.quiet,
        "logging {} params and {} epochs x {} metrics to {} (experiment {experiment})",
        args.params,
        args.epochs,
        METRIC_NAMES.len(),
        args.tracking_uri
    );

    let mut modes = vec![log_with_vigie(&client, &experiment, args, false)?];
    if !args.skip_per_epoch {
        modes.push(log_with_vigie(&client, &experiment, args, true)?);
    }
    let python = if args.python.exists() {
        say!(
            global.quiet,
            "running the Python mlflow client with {}",
            args.python.display()
        );
        Some(run_python(global, args, &experiment_id)?)
    } else {
        say!(
            global.quiet,
            "no Python at {}: Python side skipped (run scripts/setup-python)",
            args.python.display()
        );
        None
    };
    let python_mlflow_version = python.as_ref().map(|p| p.mlflow_version.clone());
    if let Some(python) = python {
        modes.extend(python.modes.into_iter().map(|mode| ModeResult {
            client: "python".into(),
            ..mode
        }));
    }

    let vigie_end = &modes[0];
    let vigie_seconds = vigie_end.seconds;
    let meets_request_target = vigie_end.requests <= REQUEST_TARGET;
    let python_best = modes
        .iter()
        .filter(|m| m.client == "python")
        .map(|m| m.seconds)
        .min_by(f64::total_cmp);
    let faster_than_python_best = python_best.map(|best| vigie_seconds < best);
    for mode in &mut modes {
        mode.ratio_vs_vigie = mode.seconds / vigie_seconds;
    }
    let report = BenchReport {
        tracking_uri: args.tracking_uri.clone(),
        experiment,
        epochs: args.epochs,
        params: args.params,
        repeats: args.repeats,
        metrics_per_epoch: METRIC_NAMES.len(),
        python_mlflow_version,
        modes,
        meets_request_target,
        faster_than_python_best,
    };
    if global.json {
        return print_json(&report);
    }
    print_table(&report);
    Ok(())
}

fn print_table(report: &BenchReport) {
    println!(
        "1 run, {} params, {} epochs x {} metrics, to {}{}; median of {} runs per mode",
        report.params,
        report.epochs,
        report.metrics_per_epoch,
        report.tracking_uri,
        report
            .python_mlflow_version
            .as_ref()
            .map_or(String::new(), |v| format!(" (Python mlflow {v})")),
        report.repeats
    );
    println!(
        "  {:<8} {:<42} {:>8} {:>9} {:>9}",
        "client", "mode", "requests", "seconds", "x vigie"
    );
    for mode in &report.modes {
        println!(
            "  {:<8} {:<42} {:>8} {:>9.3} {:>9.2}",
            mode.client, mode.description, mode.requests, mode.seconds, mode.ratio_vs_vigie
        );
    }
    println!(
        "  target: at most {REQUEST_TARGET} requests: {}; faster than the Python client's best mode: {}",
        yes_no(report.meets_request_target),
        report
            .faster_than_python_best
            .map_or("not measured", yes_no)
    );
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// The value of a metric at an epoch; the Python script computes the same.
fn metric_value(index: usize, epoch: u32) -> f64 {
    let epoch = f64::from(epoch);
    1.0 / (epoch + 1.0) + index as f64 * 0.01 + 0.001 * epoch.sin()
}

/// Logs `--repeats` runs with a [`RunLogger`], flushed only at the end or at each epoch: the
/// median time and the most requests one run took.
fn log_with_vigie(
    client: &MlflowClient,
    experiment: &str,
    args: &BenchMlflowArgs,
    flush_per_epoch: bool,
) -> anyhow::Result<ModeResult> {
    let mut timings = Vec::new();
    let mut last = log_one_vigie_run(client, experiment, args, flush_per_epoch)?;
    timings.push(last.seconds);
    let mut requests = last.requests;
    for _ in 1..args.repeats {
        last = log_one_vigie_run(client, experiment, args, flush_per_epoch)?;
        timings.push(last.seconds);
        requests = requests.max(last.requests);
    }
    timings.sort_by(f64::total_cmp);
    Ok(ModeResult {
        seconds: timings[timings.len() / 2],
        requests,
        ..last
    })
}

/// Logs one run with a [`RunLogger`] (journal included, as a trainer would) and measures it.
fn log_one_vigie_run(
    client: &MlflowClient,
    experiment: &str,
    args: &BenchMlflowArgs,
    flush_per_epoch: bool,
) -> anyhow::Result<ModeResult> {
    let journal_root = std::env::temp_dir().join(format!("vigie-bench-mlflow-{}", unique_suffix()));
    let mut options = RunOptions::new(&journal_root, experiment);
    options.run_name = Some(format!(
        "vigie-{}",
        if flush_per_epoch { "per-epoch" } else { "end" }
    ));
    options.flush_on_epoch = flush_per_epoch;
    // The journal root is new: there is nothing else to sync.
    options.sync_pending_on_start = false;
    let params: Vec<Param> = (0..args.params)
        .map(|i| Param::new(format!("param_{i:02}"), format!("value-{i}")))
        .collect();

    let before = client.stats();
    let start = Instant::now();
    let mut logger = RunLogger::start(client.clone(), options).context("starting the run")?;
    logger.log_params(&params).context("logging params")?;
    for epoch in 0..args.epochs {
        let metrics: Vec<Metric> = METRIC_NAMES
            .iter()
            .enumerate()
            .map(|(index, name)| Metric::new(*name, metric_value(index, epoch), i64::from(epoch)))
            .collect();
        logger.log_metrics(&metrics).context("logging metrics")?;
        logger.end_epoch().context("ending an epoch")?;
    }
    let outcome = logger
        .finish(RunStatus::Finished)
        .context("finishing the run")?;
    let seconds = start.elapsed().as_secs_f64();
    let requests = client.stats().attempts - before.attempts;
    remove_journal_root(&journal_root);
    if !outcome.synced {
        bail!(
            "the run did not fully reach {} (journal kept at {})",
            client.tracking_uri(),
            outcome.journal.display()
        );
    }
    Ok(ModeResult {
        client: "vigie".into(),
        mode: if flush_per_epoch {
            "flush_per_epoch"
        } else {
            "flush_at_end"
        }
        .into(),
        description: if flush_per_epoch {
            "RunLogger, flush at each epoch (epochs handed over while a batch is in flight go in the next)"
        } else {
            "RunLogger, one flush at the end"
        }
        .into(),
        requests,
        seconds,
        run_id: outcome.run_id.unwrap_or_default(),
        ratio_vs_vigie: 0.0,
    })
}

/// Best effort: a leftover journal in the temp dir is harmless.
fn remove_journal_root(root: &Path) {
    if let Err(error) = std::fs::remove_dir_all(root) {
        tracing::debug!("could not remove {}: {error}", root.display());
    }
}

fn run_python(
    global: &GlobalArgs,
    args: &BenchMlflowArgs,
    experiment_id: &str,
) -> anyhow::Result<PythonReport> {
    let script: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/mlflow_bench.py");
    let output = Command::new(&args.python)
        .arg(&script)
        .args(["--experiment-id", experiment_id])
        .args(["--epochs", &args.epochs.to_string()])
        .args(["--params", &args.params.to_string()])
        .args(["--repeats", &args.repeats.to_string()])
        .env(ENV_TRACKING_URI, &args.tracking_uri)
        // Telemetry would send requests to another host during the timings.
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if global.quiet {
            Stdio::null()
        } else {
            Stdio::inherit()
        })
        .output()
        .with_context(|| format!("starting {}", args.python.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}); rerun without --quiet to see its errors",
            script.display(),
            output.status
        );
    }
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "reading the JSON of {}: {}",
            script.display(),
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Process id and time, so reruns against the same server never share a name.
fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}
