//! `vigie monitor`: access logs scored and counted in time windows, one MLflow run per model
//! and source, a drift flag as a tag and as the exit status ([`EXIT_DRIFT`]).

pub mod bench;
mod run;
mod source;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;
use vigie_score::Engine;
use vigie_score::monitor::chart::monitor_png;
use vigie_score::monitor::drift::expected_alert_rate;
use vigie_score::monitor::window::label;
use vigie_score::monitor::{DriftReason, DriftRule, Monitor, MonitorReference, MonitorReport};

use super::score::load_model;
use super::train::default_out_dir;
use crate::args::{GlobalArgs, MonitorArgs, MonitorOptions};
use crate::output::print_json;
use run::{Logged, RunTarget, SourceRun, log_run};
pub use source::LineCounts;
use source::{SourceSpec, monitor_source};

/// Exit status when a window drifted (1 stays for errors, 2 for usage errors).
pub const EXIT_DRIFT: u8 = 3;

/// What `--json` prints.
#[derive(Serialize)]
struct MonitorOutcome {
    model: String,
    model_kind: String,
    threshold: f64,
    drift: bool,
    sources: Vec<SourceOutcome>,
}

/// One source's result.
#[derive(Serialize)]
pub struct SourceOutcome {
    source: PathBuf,
    input_format: String,
    lines: LineCounts,
    files: Vec<PathBuf>,
    run: Option<Logged>,
    pub(crate) report: MonitorReport,
}

pub fn monitor(global: &GlobalArgs, args: &MonitorArgs) -> anyhow::Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size: must be at least 1");
    }
    window_ms(&args.window)?;
    let engine = load_model(
        super::catalog(global).ok().as_ref(),
        &args.model,
        args.tracking_uri.as_deref(),
    )?;
    let out = monitor_out_dir(args.out.as_deref(), &engine);
    let mut sources = Vec::with_capacity(args.input.len());
    for (path, folder) in args.input.iter().zip(source_folders(&args.input)) {
        let watch = Watch::new(&args.monitoring, "--window", &args.window, &engine)?;
        let outcome = monitor_one(args, &engine, watch, path, &out.join(folder))?;
        if !global.quiet && !global.json {
            eprint!("{}", summary(&outcome, &args.window));
        }
        sources.push(outcome);
    }
    let outcome = MonitorOutcome {
        model: engine.origin().to_owned(),
        model_kind: engine.manifest().kind.clone(),
        threshold: engine.threshold(),
        drift: sources.iter().any(|s| s.report.drift),
        sources,
    };
    if global.json {
        print_json(&outcome)?;
    }
    drift_status(outcome.drift)
}

/// [`EXIT_DRIFT`] when a window drifted.
pub fn drift_status(drift: bool) -> anyhow::Result<()> {
    if drift {
        return Err(crate::ExitStatus {
            code: EXIT_DRIFT,
            reason: "a window drifted",
        }
        .into());
    }
    Ok(())
}

/// `--out` (or `--monitor-out`), else `out/monitor/<model kind>-<time>`.
pub fn monitor_out_dir(out: Option<&Path>, engine: &Engine) -> PathBuf {
    out.map(Path::to_path_buf)
        .unwrap_or_else(|| default_out_dir("monitor", &engine.manifest().kind))
}

/// One source watched while it is scored: its windows as they fill, then its report, files
/// and run ([`Watch::finish`]).
pub struct Watch<'a> {
    options: &'a MonitorOptions,
    window: &'a str,
    reference: MonitorReference,
    monitor: Monitor,
}

impl<'a> Watch<'a> {
    /// Windows of `window` (the value of `flag`), judged against `engine`'s validation scores
    /// with `options`' drift rule.
    pub fn new(
        options: &'a MonitorOptions,
        flag: &str,
        window: &'a str,
        engine: &Engine,
    ) -> anyhow::Result<Watch<'a>> {
        let window_ms = window_ms_of(flag, window)?;
        let (reference, rule) = reference_and_rule(options, engine)?;
        let monitor = Monitor::new(reference.clone(), rule, window_ms)?;
        Ok(Watch {
            options,
            window,
            reference,
            monitor,
        })
    }

    /// The windows, to count requests into.
    pub fn monitor(&mut self) -> &mut Monitor {
        &mut self.monitor
    }

    /// Judges the windows, writes monitor.json and the chart under `out` and logs the run
    /// (unless `--no-track`), made by `command` against `tracking_uri`.
    pub fn finish(
        self,
        engine: &Engine,
        (path, input_format, lines): (&Path, String, LineCounts),
        out: &Path,
        (command, tracking_uri): (&'static str, Option<&str>),
    ) -> anyhow::Result<SourceOutcome> {
        let report = self
            .monitor
            .finish()
            .with_context(|| format!("monitoring {}", path.display()))?;
        let files = write_files(out, &report, &self.reference, engine, path)?;
        let run = (!self.options.no_track)
            .then(|| {
                let target = RunTarget {
                    options: self.options,
                    tracking_uri,
                    command,
                };
                let source = SourceRun {
                    path,
                    input_format: &input_format,
                    window: self.window,
                    report: &report,
                    files: &files,
                };
                log_run(&target, engine, &source)
            })
            .flatten();
        Ok(SourceOutcome {
            source: path.to_owned(),
            input_format,
            lines,
            files,
            run,
            report,
        })
    }
}

/// The model's validation scores as the reference, and the drift rule of the options (the
/// expected alert rate from validation unless given).
fn reference_and_rule(
    options: &MonitorOptions,
    engine: &Engine,
) -> anyhow::Result<(MonitorReference, DriftRule)> {
    let validation = engine
        .validation()
        .ok_or(vigie_score::monitor::MonitorError::NoValidation)
        .with_context(|| format!("monitoring with {}", engine.origin()))?;
    let reference = MonitorReference::new(validation)
        .with_context(|| format!("monitoring with {}", engine.origin()))?;
    let expected = options
        .expected_alert_rate
        .unwrap_or_else(|| expected_alert_rate(&validation.benign, engine.threshold()));
    let rule = DriftRule {
        psi_bound: options.psi_bound,
        alert_factor: options.alert_factor,
        expected_alert_rate: expected,
        min_requests: options.min_requests,
    };
    rule.validate().map_err(anyhow::Error::msg)?;
    Ok((reference, rule))
}

/// Reads, scores and judges one source; writes its report and chart under `out`; logs its run.
fn monitor_one(
    args: &MonitorArgs,
    engine: &Engine,
    mut watch: Watch<'_>,
    path: &Path,
    out: &Path,
) -> anyhow::Result<SourceOutcome> {
    let spec = SourceSpec::new(
        path,
        args.input_format.as_deref(),
        args.column.clone(),
        args.time_field.clone(),
    );
    let lines = monitor_source(engine, path, &spec, watch.monitor(), args.batch_size)?;
    let input_format = spec.format.name().to_owned();
    watch.finish(
        engine,
        (path, input_format, lines),
        out,
        ("monitor", args.tracking_uri.as_deref()),
    )
}

fn write_files(
    out: &Path,
    report: &MonitorReport,
    reference: &MonitorReference,
    engine: &Engine,
    source: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let json = out.join("monitor.json");
    std::fs::write(&json, serde_json::to_vec_pretty(report)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let chart = out.join("monitor.png");
    let title = format!(
        "Scores per window against validation: {} on {}",
        engine.manifest().kind,
        source.file_name().unwrap_or_default().to_string_lossy()
    );
    monitor_png(&chart, report, reference, &title).map_err(anyhow::Error::msg)?;
    Ok(vec![json, chart])
}

/// A folder name per input: its file name, numbered when two inputs share one.
fn source_folders(inputs: &[PathBuf]) -> Vec<String> {
    let names: Vec<String> = inputs
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if names.iter().filter(|n| *n == name).count() > 1 {
                format!("{}-{name}", i + 1)
            } else {
                name.clone()
            }
        })
        .collect()
}

/// `--window`: a whole number and a unit, s, m, h or d.
pub fn window_ms(text: &str) -> anyhow::Result<i64> {
    window_ms_of("--window", text)
}

/// A window length given to `flag`: a whole number and a unit, s, m, h or d (four units do
/// not need a crate).
pub fn window_ms_of(flag: &str, text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let unit_ms: i64 = match unit.trim() {
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("{flag}: {text:?} is not a length like 30m, 1h or 1d (units: s, m, h, d)"),
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(unit_ms))
        .with_context(|| format!("{flag}: {text:?} needs a positive whole number before its unit"))
}

/// The source's summary for the terminal: a line, then a table of windows.
pub fn summary(outcome: &SourceOutcome, window: &str) -> String {
    let report = &outcome.report;
    let drifted = report.drifted().count();
    let mut text = format!(
        "{}: {} windows of {window}, {} requests, {} unreadable lines; {}\n",
        outcome.source.display(),
        report.windows.len(),
        outcome.lines.requests,
        outcome.lines.unreadable,
        if drifted == 0 {
            "no drift".to_owned()
        } else {
            format!("DRIFT in {drifted} window(s)")
        }
    );
    let mut rows = vec![
        [
            "window",
            "requests",
            "alerts",
            "alert rate",
            "p50",
            "p99",
            "PSI",
            "unreadable",
            "drift",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let number = |v: Option<f64>| {
        v.map(|v| format!("{v:.4}"))
            .unwrap_or_else(|| "-".to_owned())
    };
    for w in &report.windows {
        rows.push(vec![
            label(w.start_ms, report.window_ms),
            w.requests.to_string(),
            w.alerts.to_string(),
            format!("{:.2} %", 100.0 * w.alert_rate),
            number(w.score_p50),
            number(w.score_p99),
            number(w.psi),
            format!("{:.2} %", 100.0 * w.unreadable_share),
            drift_cell(&w.drift),
        ]);
    }
    text.push_str(&vigie_sweep::leaderboard::text_table(&rows, |_, cell| {
        cell.to_owned()
    }));
    match outcome.run.as_ref() {
        Some(Logged {
            run_id: Some(id),
            synced: true,
            ..
        }) => {
            text.push_str(&format!("run {id}\n"));
        }
        Some(logged) => text.push_str(&format!(
            "the run is journaled in {} and waits for `vigie mlflow sync`\n",
            logged.journal.display()
        )),
        None => {}
    }
    text
}

fn drift_cell(reasons: &[DriftReason]) -> String {
    let parts: Vec<String> = reasons
        .iter()
        .map(|reason| match reason {
            DriftReason::Psi { bound, .. } => format!("PSI > {bound}"),
            DriftReason::AlertRate { limit, .. } => {
                format!("alerts > {:.2} %", 100.0 * limit)
            }
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_as_a_number_and_a_unit() {
        assert_eq!(window_ms("1h").expect("1h"), 3_600_000);
        assert_eq!(window_ms("1d").expect("1d"), 86_400_000);
        assert_eq!(window_ms("30m").expect("30m"), 1_800_000);
        assert_eq!(window_ms("15 min").expect("15 min"), 900_000);
        for bad in ["", "h", "0h", "1w", "-1h", "1.5h"] {
            let error = window_ms(bad).expect_err(bad).to_string();
            assert!(error.contains("--window"), "{bad}: {error}");
        }
    }

    #[test]
    fn sources_sharing_a_file_name_get_numbered_folders() {
        let inputs = [
            PathBuf::from("a/access.log"),
            PathBuf::from("b/access.log"),
            PathBuf::from("x.log"),
        ];
        assert_eq!(
            source_folders(&inputs),
            ["1-access.log", "2-access.log", "x.log"]
        );
    }
}
