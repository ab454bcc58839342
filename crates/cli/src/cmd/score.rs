//! `vigie score`: requests scored with a trained model, one by one on the command line (with
//! the features that drove each score highlighted), or streamed from a file, standard input or
//! a growing log, written as CSV, JSON Lines or Splunk HEC events, with a summary at the end.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use vigie_data::source::{Limits, RecordReader, SourceFormat, SourceItem};
use vigie_score::engine::{ThresholdOverride, ThresholdSource};
use vigie_score::highlight::highlight;
use vigie_score::{Engine, ModelRef, Verdict};

use super::train::{open_store, tracking_uri};
use crate::args::{GlobalArgs, ScoreArgs, ServeArgs};
use crate::output::{print_json, spinner};

/// Distinct paths and client addresses counted for the summary; past this many, new ones are
/// not counted (memory stays bounded on endless inputs).
const MAX_COUNTED_KEYS: usize = 100_000;

/// Loads the model `--model` names, with the threshold and decoding the options ask for.
pub fn load_engine(
    catalog: Option<&vigie_data::Catalog>,
    model: &str,
    tracking: Option<&str>,
    cache_dir: &Path,
    threshold: Option<ThresholdOverride>,
    no_decode: bool,
) -> anyhow::Result<Engine> {
    let reference: ModelRef = model.parse()?;
    let uri = tracking_uri(tracking);
    let store = open_store(uri.as_deref())?;
    let resolved = vigie_score::resolve(&reference, &store, cache_dir)
        .with_context(|| format!("loading the model {model}"))?;
    // The requests are decoded like the training data: the training dataset's definition says
    // how (when it is known here), else the default (percent-decoded UTF-8, trimmed).
    let decode = if no_decode {
        None
    } else {
        let dataset = &resolved.model.manifest.training_data.dataset;
        Some(
            catalog
                .and_then(|catalog| catalog.get(dataset).ok())
                .map(|(def, _)| def.decode)
                .unwrap_or_default(),
        )
    };
    Ok(Engine::new(resolved.model, resolved.identity)
        .with_decode(decode)
        .with_override(threshold)?)
}

/// `--threshold` or `--target-fpr` (clap keeps them exclusive).
pub fn threshold_override(
    threshold: Option<f64>,
    target_fpr: Option<f64>,
) -> Option<ThresholdOverride> {
    threshold
        .map(ThresholdOverride::Value)
        .or(target_fpr.map(ThresholdOverride::TargetFpr))
}

pub fn score(global: &GlobalArgs, args: &ScoreArgs) -> anyhow::Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size: must be at least 1");
    }
    let catalog = super::catalog(global).ok();
    let engine = load_engine(
        catalog.as_ref(),
        &args.model,
        args.tracking_uri.as_deref(),
        &args.cache_dir,
        threshold_override(args.threshold, args.target_fpr),
        args.no_decode,
    )?;
    match &args.input {
        None => score_requests(global, args, &engine),
        Some(input) => score_file(global, args, &engine, input),
    }
}

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
    let catalog = super::catalog(global).ok();
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

fn score_requests(global: &GlobalArgs, args: &ScoreArgs, engine: &Engine) -> anyhow::Result<()> {
    let raw: Vec<&str> = args.requests.iter().map(String::as_str).collect();
    let verdicts = engine.verdicts(&raw, args.top);
    if global.json {
        return print_json(&verdicts);
    }
    let ansi = crate::output::color_stdout();
    let mut out = std::io::stdout().lock();
    for verdict in &verdicts {
        let label = match (verdict.malicious, ansi) {
            (true, true) => "\u{1b}[1;31mMALICIOUS\u{1b}[0m",
            (true, false) => "MALICIOUS",
            (false, _) => "benign",
        };
        writeln!(
            out,
            "{label}  score {:.6}  threshold {:.6}  family {}",
            verdict.score, verdict.threshold, verdict.family
        )?;
        writeln!(
            out,
            "  {}",
            highlight(&verdict.text, &verdict.features, ansi)
        )?;
        for feature in &verdict.features {
            writeln!(out, "    {:+.4}  {:?}", feature.weight, feature.text)?;
        }
    }
    if !global.quiet {
        eprintln!(
            "model {} ({}), threshold {}",
            engine.origin(),
            engine.manifest().kind,
            match engine.threshold_source() {
                ThresholdSource::Stored => "stored with the model".to_owned(),
                ThresholdSource::Given => "from --threshold".to_owned(),
                ThresholdSource::TargetFpr {
                    fpr,
                    valid_fpr,
                    valid_tpr,
                } => format!(
                    "for --target-fpr {fpr} (validation split: FPR {valid_fpr:.5}, TPR {valid_tpr:.5})"
                ),
            }
        );
    }
    Ok(())
}

fn source_format(args: &ScoreArgs) -> SourceFormat {
    input_format(&args.input_format, args.column.clone())
}

/// The `SourceFormat` of an `--input-format` name, with the request in `column` (csv, jsonl,
/// splunk).
pub fn input_format(name: &str, column: Option<String>) -> SourceFormat {
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

/// A file that never ends: at its end it waits for more, until `stop` is set.
struct Follow {
    file: File,
    stop: Arc<AtomicBool>,
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

fn score_file(
    global: &GlobalArgs,
    args: &ScoreArgs,
    engine: &Engine,
    input: &Path,
) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let reader: Box<dyn BufRead + Send> = if input == Path::new("-") {
        Box::new(BufReader::new(std::io::stdin()))
    } else if args.follow {
        let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
        let handler_stop = Arc::clone(&stop);
        ctrlc::set_handler(move || handler_stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
        Box::new(BufReader::new(Follow {
            file,
            stop: Arc::clone(&stop),
        }))
    } else {
        vigie_data::source::open_maybe_gzip(input)?
    };
    let format = source_format(args);
    let records = RecordReader::from_reader(reader, input, &format, &Limits::default())?;
    let mut writer = VerdictWriter::open(
        args.output.as_deref(),
        args.format.as_deref().unwrap_or("csv"),
    )?;
    let decode_for_text = vigie_data::DecodeConfig {
        percent_decode: false,
        ..vigie_data::DecodeConfig::default()
    };
    let bar = spinner(
        global.quiet || args.output.is_none() && std::io::stdout().is_terminal(),
        "scoring",
    );
    let batch_size = if args.follow { 1 } else { args.batch_size };
    let mut summary = Summary::default();
    let mut batch: Vec<Pending> = Vec::with_capacity(batch_size);
    for item in records {
        match item? {
            SourceItem::Record(record) => {
                // Bytes to text only (charset, trimming): the engine applies the training
                // data's decoding itself, as it does for every request.
                let (text, _) = decode_for_text.normalize(&record.raw);
                batch.push(Pending {
                    line: record.line,
                    client: record.client,
                    raw: text,
                });
            }
            SourceItem::Invalid { line, reason } => {
                summary.invalid += 1;
                tracing::warn!("{}:{line}: skipped: {reason}", input.display());
            }
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
    if global.json && args.output.is_some() {
        print_json(&summary.report())?;
    } else if !global.quiet {
        eprint!("{}", summary.to_text(engine));
    }
    Ok(())
}

struct Pending {
    line: u64,
    client: Option<String>,
    raw: String,
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
    if summary.range.is_none() {
        let (lo, hi) = verdicts
            .iter()
            .map(|v| v.score)
            .filter(|s| s.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
                (lo.min(s), hi.max(s))
            });
        if lo.is_finite() {
            summary.range = Some(if hi > lo {
                (lo, hi)
            } else {
                (lo - 1.0, hi + 1.0)
            });
        }
    }
    for (pending, verdict) in batch.iter().zip(&verdicts) {
        summary.total += 1;
        summary.add(pending, verdict);
        writer.write(summary.total, pending, verdict)?;
    }
    batch.clear();
    Ok(())
}

/// One output row.
#[derive(Serialize)]
struct Row<'a> {
    id: u64,
    line: u64,
    client: Option<&'a str>,
    text: &'a str,
    score: f64,
    threshold: f64,
    malicious: bool,
    family: &'static str,
    features: Vec<(&'a str, f64)>,
}

enum VerdictWriter {
    /// Boxed: the CSV writer carries its own buffer.
    Csv(Box<csv::Writer<Box<dyn Write>>>),
    Jsonl(BufWriter<Box<dyn Write>>),
    Hec(BufWriter<Box<dyn Write>>, String),
}

impl VerdictWriter {
    fn open(path: Option<&Path>, format: &str) -> anyhow::Result<VerdictWriter> {
        let sink: Box<dyn Write> = match path {
            Some(path) => Box::new(
                File::create(path).with_context(|| format!("creating {}", path.display()))?,
            ),
            None => Box::new(std::io::stdout()),
        };
        Ok(match format {
            "jsonl" => VerdictWriter::Jsonl(BufWriter::new(sink)),
            "hec" => VerdictWriter::Hec(BufWriter::new(sink), vigie_sweep::owner::host_name()),
            _ => {
                let mut writer = csv::Writer::from_writer(sink);
                writer.write_record([
                    "id",
                    "line",
                    "client",
                    "score",
                    "threshold",
                    "verdict",
                    "family",
                    "features",
                    "text",
                ])?;
                VerdictWriter::Csv(Box::new(writer))
            }
        })
    }

    fn write(&mut self, id: u64, pending: &Pending, verdict: &Verdict) -> anyhow::Result<()> {
        let row = Row {
            id,
            line: pending.line,
            client: pending.client.as_deref(),
            text: &verdict.text,
            score: verdict.score,
            threshold: verdict.threshold,
            malicious: verdict.malicious,
            family: verdict.family,
            features: verdict
                .features
                .iter()
                .map(|f| (f.text.as_str(), f.weight))
                .collect(),
        };
        match self {
            VerdictWriter::Csv(writer) => {
                let features: Vec<String> = row
                    .features
                    .iter()
                    .map(|(t, w)| format!("{t}:{w:.4}"))
                    .collect();
                writer.write_record([
                    id.to_string(),
                    row.line.to_string(),
                    row.client.unwrap_or_default().to_owned(),
                    row.score.to_string(),
                    row.threshold.to_string(),
                    if row.malicious { "malicious" } else { "benign" }.to_owned(),
                    row.family.to_owned(),
                    features.join(" | "),
                    row.text.to_owned(),
                ])?;
            }
            VerdictWriter::Jsonl(out) => {
                serde_json::to_writer(&mut *out, &row)?;
                out.write_all(b"\n")?;
            }
            VerdictWriter::Hec(out, host) => {
                let event = serde_json::json!({
                    "time": vigie_mlflow::now_millis() as f64 / 1000.0,
                    "host": host,
                    "source": "vigie",
                    "sourcetype": "vigie:verdict",
                    "event": row,
                });
                serde_json::to_writer(&mut *out, &event)?;
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// Sends what is buffered on: a followed log's verdicts must reach the reader (a pipe to
    /// the SIEM's forwarder) as they are made, not 8 KiB at a time.
    fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            VerdictWriter::Csv(writer) => writer.flush()?,
            VerdictWriter::Jsonl(out) | VerdictWriter::Hec(out, _) => out.flush()?,
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.flush()
    }
}

/// Counts for the end-of-input summary, in bounded memory.
#[derive(Default)]
struct Summary {
    total: u64,
    malicious: u64,
    invalid: u64,
    /// Score histogram: 10 bins over the first batch's score range (set by `flush`; later
    /// scores outside it land in the edge bins).
    range: Option<(f64, f64)>,
    bins: [u64; 10],
    families: HashMap<&'static str, u64>,
    flagged_paths: HashMap<String, u64>,
    flagged_clients: HashMap<String, u64>,
}

impl Summary {
    fn add(&mut self, pending: &Pending, verdict: &Verdict) {
        let (lo, hi) = self
            .range
            .unwrap_or((verdict.score - 1.0, verdict.score + 1.0));
        let position = ((verdict.score - lo) / (hi - lo) * 10.0).floor();
        let bin = if position.is_finite() {
            position.clamp(0.0, 9.0) as usize
        } else {
            0
        };
        self.bins[bin] += 1;
        if !verdict.malicious {
            return;
        }
        self.malicious += 1;
        *self.families.entry(verdict.family).or_default() += 1;
        let path = request_path(&verdict.text).to_owned();
        count(&mut self.flagged_paths, path);
        if let Some(client) = &pending.client {
            count(&mut self.flagged_clients, client.clone());
        }
    }

    fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "total": self.total,
            "malicious": self.malicious,
            "benign": self.total - self.malicious,
            "invalid": self.invalid,
            "score_range": self.range,
            "score_histogram": self.bins,
            "families": self.families,
            "top_flagged_paths": top(&self.flagged_paths, 10),
            "top_flagged_clients": top(&self.flagged_clients, 10),
        })
    }

    fn to_text(&self, engine: &Engine) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} requests: {} malicious ({:.2} %), {} benign, {} invalid (skipped); model {}, threshold {:.6}",
            self.total,
            self.malicious,
            100.0 * self.malicious as f64 / self.total.max(1) as f64,
            self.total - self.malicious,
            self.invalid,
            engine.origin(),
            engine.threshold()
        );
        if let Some((lo, hi)) = self.range {
            let peak = self.bins.iter().copied().max().unwrap_or(1).max(1);
            let _ = writeln!(out, "scores:");
            for (i, n) in self.bins.iter().enumerate() {
                let from = lo + (hi - lo) * i as f64 / 10.0;
                let bar = "#".repeat((40 * n).div_ceil(peak) as usize);
                let _ = writeln!(out, "  {from:>10.4}  {n:>8}  {bar}");
            }
        }
        if !self.families.is_empty() {
            let mut families: Vec<(&&str, &u64)> = self.families.iter().collect();
            families.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let listed: Vec<String> = families.iter().map(|(f, n)| format!("{f} {n}")).collect();
            let _ = writeln!(out, "flagged by family: {}", listed.join(", "));
        }
        for (title, counts) in [
            ("most flagged paths", &self.flagged_paths),
            ("most flagged clients", &self.flagged_clients),
        ] {
            if counts.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title}:");
            for (key, n) in top(counts, 10) {
                let _ = writeln!(out, "  {n:>8}  {key}");
            }
        }
        out
    }
}

fn count(counts: &mut HashMap<String, u64>, key: String) {
    if let Some(n) = counts.get_mut(&key) {
        *n += 1;
    } else if counts.len() < MAX_COUNTED_KEYS {
        counts.insert(key, 1);
    }
}

fn top(counts: &HashMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut all: Vec<(&str, u64)> = counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    all.truncate(n);
    all
}

/// The path of a request text: the method (if any) and the query string left out.
fn request_path(text: &str) -> &str {
    let target = match text.split_once(' ') {
        Some((method, rest)) if method.chars().all(|c| c.is_ascii_uppercase()) => rest,
        _ => text,
    };
    let target = target.split(' ').next().unwrap_or(target);
    target.split('?').next().unwrap_or(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_drop_the_method_and_the_query() {
        assert_eq!(request_path("GET /a/b.php?id=1 HTTP/1.1"), "/a/b.php");
        assert_eq!(request_path("/x?q=<script>"), "/x");
        assert_eq!(request_path("/plain"), "/plain");
    }

    #[test]
    fn counted_keys_are_bounded_and_ranked() {
        let mut counts = HashMap::new();
        for key in ["a", "b", "a", "c", "a", "b"] {
            count(&mut counts, key.to_owned());
        }
        assert_eq!(top(&counts, 2), vec![("a", 3), ("b", 2)]);
    }
}
