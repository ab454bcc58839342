//! `vigie score --input`: the records of a file scored in batches, each verdict written with
//! the request's context, invalid lines counted, and a summary at the end.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::bail;
use vigie_data::source::{SourceFormat, SourceItem, SourceRecord};
use vigie_score::Engine;

use super::input::{open_records, read_options, source_format};
use super::invalid::InvalidLines;
use super::summary::Summary;
use super::writer::{RequestContext, VerdictWriter};
use crate::args::{GlobalArgs, ScoreArgs};
use crate::cmd::monitor::{
    LineCounts, SourceOutcome, Watch, drift_status, monitor_out_dir, summary as monitor_summary,
};
use crate::output::{print_json, spinner};
use vigie_score::monitor::Monitor;

/// A request read, waiting for its batch to be scored.
struct Pending {
    context: RequestContext,
    raw: String,
    /// Unreadable lines read right after it, counted into the monitor's windows after it (in
    /// the input's order, as `vigie monitor` counts them).
    unreadable_after: u64,
}

/// The rows' format: `--format`, else JSON Lines when `--json` rows go to standard output
/// (`--json` always prints JSON), else CSV.
fn output_format<'a>(global: &GlobalArgs, args: &'a ScoreArgs) -> anyhow::Result<&'a str> {
    let to_stdout = args.output.is_none();
    match args.format.as_deref() {
        Some("csv") if global.json && to_stdout => bail!(
            "--json prints JSON: --format csv needs --output FILE (or use --format jsonl or hec)"
        ),
        Some(format) => Ok(format),
        None if global.json && to_stdout => Ok("jsonl"),
        None => Ok("csv"),
    }
}

pub(super) fn score_file(
    global: &GlobalArgs,
    args: &ScoreArgs,
    engine: &Engine,
    input: &Path,
) -> anyhow::Result<()> {
    let format = source_format(args, input)?;
    let options = read_options(args);
    let output_format = output_format(global, args)?;
    let records = open_records(args, input, &format, &options)?;
    let kept_names = options.kept_names(&format);
    let mut writer = VerdictWriter::open(args.output.as_deref(), output_format, kept_names)?;
    let bar = spinner(
        global.quiet || args.output.is_none() && std::io::stdout().is_terminal(),
        "scoring",
    );
    let batch_size = if args.follow { 1 } else { args.batch_size };
    let mut watch = match &args.monitor {
        Some(window) => Some(Watch::new(&args.monitoring, "--monitor", window, engine)?),
        None => None,
    };
    let mut summary = Summary::default();
    let mut invalid = InvalidLines::new(input.display().to_string());
    let mut batch: Vec<Pending> = Vec::with_capacity(batch_size);
    let mut out = Scored {
        writer: &mut writer,
        summary: &mut summary,
        monitor: watch.as_mut().map(Watch::monitor),
    };
    for item in records {
        match item? {
            SourceItem::Record(record) => batch.push(pending(record)),
            SourceItem::Invalid { line, reason } => {
                match (batch.last_mut(), out.monitor.as_deref_mut()) {
                    (Some(last), _) => last.unreadable_after += 1,
                    (None, Some(monitor)) => monitor.unreadable(None),
                    (None, None) => {}
                }
                invalid.add(line, reason);
            }
        }
        if batch.len() >= batch_size {
            flush(engine, args.top, &mut batch, &mut out)?;
            if args.follow {
                out.writer.flush()?;
            }
            bar.set_message(format!("scored {}", out.summary.total));
        }
    }
    flush(engine, args.top, &mut batch, &mut out)?;
    writer.finish()?;
    bar.finish_and_clear();
    summary.invalid = invalid.count();
    let monitored = watch
        .map(|watch| finish_monitoring(args, engine, (input, &format), watch, &summary))
        .transpose()?;
    report(global, args, engine, &summary, monitored.as_ref())?;
    invalid.finish(summary.total)?;
    drift_status(monitored.is_some_and(|outcome| outcome.report.drift))
}

/// `--monitor`'s windows judged, written to `--monitor-out` and logged as a run.
fn finish_monitoring(
    args: &ScoreArgs,
    engine: &Engine,
    (input, format): (&Path, &SourceFormat),
    watch: Watch<'_>,
    summary: &Summary,
) -> anyhow::Result<SourceOutcome> {
    let lines = LineCounts {
        requests: summary.total,
        unreadable: summary.invalid,
    };
    let out = monitor_out_dir(args.monitor_out.as_deref(), engine);
    watch.finish(
        engine,
        (input, format.name().to_owned(), lines),
        &out,
        ("score", args.tracking_uri.as_deref()),
    )
}

/// The summary: JSON on stdout with `--json` when the rows went to a file, else text on
/// stderr (with the monitoring's windows), unless `--quiet`.
fn report(
    global: &GlobalArgs,
    args: &ScoreArgs,
    engine: &Engine,
    summary: &Summary,
    monitored: Option<&SourceOutcome>,
) -> anyhow::Result<()> {
    if global.json && args.output.is_some() {
        print_json(&ScoreReport {
            summary: summary.report(),
            monitor: monitored,
        })?;
    } else if !global.quiet {
        eprint!("{}", summary.to_text(engine));
        if let (Some(outcome), Some(window)) = (monitored, &args.monitor) {
            eprint!("{}", monitor_summary(outcome, window));
        }
    }
    Ok(())
}

/// What `--json` prints with `--output`: the summary, and the monitoring's outcome with
/// `--monitor`.
#[derive(serde::Serialize)]
struct ScoreReport<'a, S: serde::Serialize> {
    #[serde(flatten)]
    summary: S,
    #[serde(skip_serializing_if = "Option::is_none")]
    monitor: Option<&'a SourceOutcome>,
}

/// Where a batch's verdicts go: the output, the summary and, with `--monitor`, the windows.
struct Scored<'a> {
    writer: &'a mut VerdictWriter,
    summary: &'a mut Summary,
    monitor: Option<&'a mut Monitor>,
}

/// A record as the engine takes it: bytes to text only (charset, trimming); the engine
/// applies the training data's decoding itself, as it does for every request.
fn pending(record: SourceRecord) -> Pending {
    let decode_for_text = vigie_data::DecodeConfig {
        percent_decode: false,
        ..vigie_data::DecodeConfig::default()
    };
    let (raw, _) = decode_for_text.normalize(&record.raw);
    Pending {
        context: RequestContext {
            line: record.line,
            client: record.client,
            time_ms: record.time_ms,
            kept: record.kept,
        },
        raw,
        unreadable_after: 0,
    }
}

fn flush(
    engine: &Engine,
    top: usize,
    batch: &mut Vec<Pending>,
    out: &mut Scored<'_>,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let raw: Vec<&str> = batch.iter().map(|p| p.raw.as_str()).collect();
    let verdicts = engine.verdicts(&raw, top);
    out.summary.set_range(&verdicts);
    for (pending, verdict) in batch.iter().zip(&verdicts) {
        out.summary.total += 1;
        out.summary.add(pending.context.client.as_deref(), verdict);
        out.writer
            .write(out.summary.total, &pending.context, verdict)?;
        if let Some(monitor) = out.monitor.as_deref_mut() {
            let alert = verdict.malicious.then_some(verdict.family);
            monitor.observe(pending.context.time_ms, verdict.score, alert);
            for _ in 0..pending.unreadable_after {
                monitor.unreadable(None);
            }
        }
    }
    batch.clear();
    Ok(())
}
