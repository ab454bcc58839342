//! `vigie score --input`: the records of a file scored in batches, each verdict written with
//! the request's context, invalid lines counted, and a summary at the end.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::bail;
use vigie_data::source::{SourceItem, SourceRecord};
use vigie_score::Engine;

use super::input::{open_records, read_options, source_format};
use super::invalid::InvalidLines;
use super::summary::Summary;
use super::writer::{RequestContext, VerdictWriter};
use crate::args::{GlobalArgs, ScoreArgs};
use crate::output::{print_json, spinner};

/// A request read, waiting for its batch to be scored.
struct Pending {
    context: RequestContext,
    raw: String,
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
    let mut summary = Summary::default();
    let mut invalid = InvalidLines::new(input.display().to_string());
    let mut batch: Vec<Pending> = Vec::with_capacity(batch_size);
    for item in records {
        match item? {
            SourceItem::Record(record) => batch.push(pending(record)),
            SourceItem::Invalid { line, reason } => invalid.add(line, reason),
        }
        if batch.len() >= batch_size {
            flush(engine, args.top, &mut batch, &mut writer, &mut summary)?;
            if args.follow {
                writer.flush()?;
            }
            bar.set_message(format!("scored {}", summary.total));
        }
    }
    flush(engine, args.top, &mut batch, &mut writer, &mut summary)?;
    writer.finish()?;
    bar.finish_and_clear();
    summary.invalid = invalid.count();
    if global.json && args.output.is_some() {
        print_json(&summary.report())?;
    } else if !global.quiet {
        eprint!("{}", summary.to_text(engine));
    }
    invalid.finish(summary.total)
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
    }
}

fn flush(
    engine: &Engine,
    top: usize,
    batch: &mut Vec<Pending>,
    writer: &mut VerdictWriter,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let raw: Vec<&str> = batch.iter().map(|p| p.raw.as_str()).collect();
    let verdicts = engine.verdicts(&raw, top);
    summary.set_range(&verdicts);
    for (pending, verdict) in batch.iter().zip(&verdicts) {
        summary.total += 1;
        summary.add(pending.context.client.as_deref(), verdict);
        writer.write(summary.total, &pending.context, verdict)?;
    }
    batch.clear();
    Ok(())
}
