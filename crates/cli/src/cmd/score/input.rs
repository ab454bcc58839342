//! What `vigie score --input` reads: the file (plain or gzip), standard input or a followed
//! log; its format, given or told by the file's extension; and what each record carries
//! beside the request (its time, the kept fields).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use vigie_data::source::{Limits, ReadOptions, RecordReader, SourceFormat, format_from_extension};

use crate::args::ScoreArgs;

const FORMATS: &str = "lines, csv, jsonl, splunk, clf";

/// `--input-format`, else the one the file's extension says; standard input and unknown
/// extensions must say it (a guess would score every line of a CSV or a JSON export whole).
fn format_name<'a>(args: &'a ScoreArgs, input: &Path) -> anyhow::Result<&'a str> {
    if let Some(format) = &args.input_format {
        return Ok(format);
    }
    if input == Path::new("-") {
        return Err(anyhow!(
            "standard input has no name to tell its format by: give --input-format ({FORMATS})"
        ));
    }
    format_from_extension(input).ok_or_else(|| {
        anyhow!(
            "{}: cannot tell the format from the file name (.csv, .jsonl, .ndjson, .log, .txt, \
             optionally .gz): give --input-format ({FORMATS})",
            input.display()
        )
    })
}

/// The reader's format for `--input`.
pub(super) fn source_format(args: &ScoreArgs, input: &Path) -> anyhow::Result<SourceFormat> {
    Ok(format_by_name(
        format_name(args, input)?,
        args.column.clone(),
    ))
}

/// The `SourceFormat` of an `--input-format` name, with the request in `column` (csv, jsonl,
/// splunk); an unknown name reads lines.
pub(crate) fn format_by_name(name: &str, column: Option<String>) -> SourceFormat {
    match name {
        "csv" => SourceFormat::Csv {
            text_column: column.unwrap_or_else(|| "text".to_owned()),
            label_column: None,
            delimiter: ',',
            has_header: true,
        },
        "jsonl" => SourceFormat::Jsonl {
            text_field: column.unwrap_or_else(|| "text".to_owned()),
            label_field: None,
        },
        "splunk" => SourceFormat::Splunk {
            field_is_access_log: column.is_none(),
            field: column.unwrap_or_else(|| "_raw".to_owned()),
            client_field: "clientip".to_owned(),
        },
        "clf" => SourceFormat::Clf { with_method: false },
        _ => SourceFormat::Lines {},
    }
}

/// Each record's own time and the `--keep` fields: a verdict must join back to its event.
pub(super) fn read_options(args: &ScoreArgs) -> ReadOptions {
    ReadOptions {
        context: true,
        time_field: args.time_field.clone(),
        keep: args.keep.clone(),
    }
}

/// The records of `--input` (`-`: standard input; with `--follow`, a file read as it grows
/// until Ctrl-C).
pub(super) fn open_records(
    args: &ScoreArgs,
    input: &Path,
    format: &SourceFormat,
    options: &ReadOptions,
) -> anyhow::Result<RecordReader> {
    let reader: Box<dyn BufRead + Send> = if input == Path::new("-") {
        Box::new(BufReader::new(std::io::stdin()))
    } else if args.follow {
        Box::new(BufReader::new(Follow::until_ctrl_c(input)?))
    } else {
        vigie_data::source::open_maybe_gzip(input)?
    };
    RecordReader::with_options(reader, input, format, &Limits::default(), options)
        .with_context(|| format!("reading {}", input.display()))
}

/// A file that never ends: at its end it waits for more, until `stop` is set.
struct Follow {
    file: File,
    stop: Arc<AtomicBool>,
}

impl Follow {
    /// `path`, followed until Ctrl-C (or SIGTERM) sets the stop flag.
    fn until_ctrl_c(path: &Path) -> anyhow::Result<Follow> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let handler_stop = Arc::clone(&stop);
        ctrlc::set_handler(move || handler_stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
        Ok(Follow { file, stop })
    }
}

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 || self.stop.load(Ordering::SeqCst) {
                return Ok(n);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
