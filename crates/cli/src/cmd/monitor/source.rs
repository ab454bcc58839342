//! One monitored source: its lines read with their own times, scored in batches, and counted
//! into a [`Monitor`]'s windows. Shared by `vigie monitor` and `vigie bench monitor`.

use std::borrow::Cow;
use std::path::Path;

use anyhow::Context;
use vigie_data::features::attack_family;
use vigie_data::source::{
    Limits, ReadOptions, RecordReader, SourceFormat, SourceItem, format_from_extension,
    open_maybe_gzip,
};
use vigie_score::Engine;
use vigie_score::monitor::Monitor;

/// How a source's records are read: the format and the time field.
pub struct SourceSpec {
    pub format: SourceFormat,
    pub options: ReadOptions,
}

impl SourceSpec {
    /// `--input-format` (else guessed from the file name, else an access log), `--column` and
    /// `--time-field`, reading each record's own time.
    pub fn new(
        path: &Path,
        input_format: Option<&str>,
        column: Option<String>,
        time_field: Option<String>,
    ) -> SourceSpec {
        let name = input_format
            .or_else(|| format_from_extension(path).filter(|name| *name != "lines"))
            .unwrap_or("clf");
        SourceSpec {
            format: super::super::score::input::format_by_name(name, column),
            options: ReadOptions {
                context: true,
                time_field,
                keep: Vec::new(),
            },
        }
    }
}

/// A line of a source: a request with its time (if it has one), or a line the parser could
/// not read.
pub enum Line {
    Request { time_ms: Option<i64>, raw: String },
    Unreadable,
}

/// The lines of `path` (plain or gzip), in order.
pub fn read_lines(
    path: &Path,
    spec: &SourceSpec,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Line>>> {
    let input = open_maybe_gzip(path)?;
    let records =
        RecordReader::with_options(input, path, &spec.format, &Limits::default(), &spec.options)
            .with_context(|| format!("reading {}", path.display()))?;
    // Bytes to text only (charset, trimming): the engine applies the training data's decoding.
    let to_text = vigie_data::DecodeConfig {
        percent_decode: false,
        ..vigie_data::DecodeConfig::default()
    };
    Ok(records.map(move |item| {
        Ok(match item? {
            SourceItem::Record(record) => Line::Request {
                time_ms: record.time_ms,
                raw: to_text.normalize(&record.raw).0,
            },
            SourceItem::Invalid { .. } => Line::Unreadable,
        })
    }))
}

/// Scores the requests of a batch of lines and counts them, and the unreadable lines, into
/// `monitor` in order (when given: the bench's reference side scores alone, as `Engine::score`);
/// the attack family is worked out for alerts only, on the text the model saw.
pub fn score_batch(engine: &Engine, batch: &[Line], monitor: Option<&mut Monitor>) {
    let raw = batch.iter().filter_map(|line| match line {
        Line::Request { raw, .. } => Some(raw.as_str()),
        Line::Unreadable => None,
    });
    let Some(monitor) = monitor else {
        let raw: Vec<&str> = raw.collect();
        std::hint::black_box(engine.score(&raw));
        return;
    };
    let prepared: Vec<Cow<'_, str>> = raw.map(|raw| engine.prepare(raw)).collect();
    let texts: Vec<&str> = prepared.iter().map(AsRef::as_ref).collect();
    let threshold = engine.threshold();
    let mut scored = texts.iter().zip(engine.score_prepared(&texts));
    for line in batch {
        match line {
            Line::Request { time_ms, .. } => {
                // One score per request, in order.
                let Some((text, score)) = scored.next() else {
                    return;
                };
                let alert = (score >= threshold).then(|| attack_family(text).name());
                monitor.observe(*time_ms, score, alert);
            }
            Line::Unreadable => monitor.unreadable(None),
        }
    }
}

/// Lines read from one source.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct LineCounts {
    pub requests: u64,
    pub unreadable: u64,
}

/// Reads, scores and counts every line of `path` into `monitor`.
pub fn monitor_source(
    engine: &Engine,
    path: &Path,
    spec: &SourceSpec,
    monitor: &mut Monitor,
    batch_size: usize,
) -> anyhow::Result<LineCounts> {
    let mut counts = LineCounts::default();
    let mut batch = Vec::with_capacity(batch_size);
    for line in read_lines(path, spec)? {
        let line = line?;
        match line {
            Line::Request { .. } => counts.requests += 1,
            Line::Unreadable => counts.unreadable += 1,
        }
        batch.push(line);
        if batch.len() >= batch_size {
            score_batch(engine, &batch, Some(monitor));
            batch.clear();
        }
    }
    score_batch(engine, &batch, Some(monitor));
    Ok(counts)
}
