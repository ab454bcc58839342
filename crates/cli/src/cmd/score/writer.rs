//! Verdict rows for `vigie score --input`: CSV, JSON Lines or Splunk HEC events.
//!
//! A JSON row is the verdict object `vigie score --json` and the service's `/score` give
//! (the same `Verdict`, serialized in place) with the request's context around it: `id`,
//! `line`, `client`, `time` (the request's own, RFC 3339 UTC) and `fields` (the kept input
//! fields, by name, `null` where a record lacks one). A HEC event carries the row as its
//! `event` and the request's time as its `time`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde::ser::SerializeMap;
use vigie_data::source::rfc3339_utc;
use vigie_score::Verdict;

/// The columns of a CSV row before the kept fields.
const CSV_COLUMNS: [&str; 10] = [
    "id",
    "line",
    "client",
    "score",
    "threshold",
    "verdict",
    "family",
    "features",
    "text",
    "time",
];

/// A kept field named like one of [`CSV_COLUMNS`] gets this prefix in the CSV header.
const CSV_KEPT_PREFIX: &str = "input_";

/// What the input said about a request beside its text.
pub(super) struct RequestContext {
    pub(super) line: u64,
    pub(super) client: Option<String>,
    /// Unix epoch milliseconds.
    pub(super) time_ms: Option<i64>,
    pub(super) kept: Vec<(String, String)>,
}

/// One JSON row: the request's context around its verdict.
#[derive(Serialize)]
struct Row<'a> {
    id: u64,
    line: u64,
    client: Option<&'a str>,
    time: Option<String>,
    fields: Fields<'a>,
    #[serde(flatten)]
    verdict: &'a Verdict,
}

/// The kept fields as a JSON object: every kept name, in order, `null` when absent.
struct Fields<'a> {
    names: &'a [String],
    kept: &'a [(String, String)],
}

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        let found = self.kept.iter().find(|(kept, _)| kept == name);
        found.map(|(_, value)| value.as_str())
    }
}

impl Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.names.len()))?;
        for name in self.names {
            map.serialize_entry(name, &self.get(name))?;
        }
        map.end()
    }
}

pub(super) struct VerdictWriter {
    sink: Sink,
    /// The kept fields' names, fixed for the input.
    kept_names: Vec<String>,
}

enum Sink {
    /// Boxed: the CSV writer carries its own buffer.
    Csv(Box<csv::Writer<Box<dyn Write>>>),
    Jsonl(BufWriter<Box<dyn Write>>),
    Hec(BufWriter<Box<dyn Write>>, String),
}

impl VerdictWriter {
    /// Rows in `format` (`csv`, `jsonl`, `hec`) to `path` (standard output when `None`).
    pub(super) fn open(
        path: Option<&Path>,
        format: &str,
        kept_names: Vec<String>,
    ) -> anyhow::Result<VerdictWriter> {
        let out: Box<dyn Write> = match path {
            Some(path) => Box::new(
                File::create(path).with_context(|| format!("creating {}", path.display()))?,
            ),
            None => Box::new(std::io::stdout()),
        };
        let sink = match format {
            "jsonl" => Sink::Jsonl(BufWriter::new(out)),
            "hec" => Sink::Hec(BufWriter::new(out), vigie_sweep::owner::host_name()),
            _ => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(csv_header(&kept_names))?;
                Sink::Csv(Box::new(writer))
            }
        };
        Ok(VerdictWriter { sink, kept_names })
    }

    pub(super) fn write(
        &mut self,
        id: u64,
        context: &RequestContext,
        verdict: &Verdict,
    ) -> anyhow::Result<()> {
        let row = Row {
            id,
            line: context.line,
            client: context.client.as_deref(),
            time: context.time_ms.and_then(rfc3339_utc),
            fields: Fields {
                names: &self.kept_names,
                kept: &context.kept,
            },
            verdict,
        };
        match &mut self.sink {
            Sink::Csv(writer) => writer.write_record(csv_record(&row))?,
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut *out, &row)?;
                out.write_all(b"\n")?;
            }
            Sink::Hec(out, host) => {
                // The request's own time, so the event lands where the request happened in the
                // SIEM's timeline; the scoring time when the input has none.
                let millis = context.time_ms.unwrap_or_else(vigie_mlflow::now_millis);
                let event = serde_json::json!({
                    "time": millis as f64 / 1000.0,
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
    pub(super) fn flush(&mut self) -> anyhow::Result<()> {
        match &mut self.sink {
            Sink::Csv(writer) => writer.flush()?,
            Sink::Jsonl(out) | Sink::Hec(out, _) => out.flush()?,
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> anyhow::Result<()> {
        self.flush()
    }
}

/// [`CSV_COLUMNS`], then the kept fields (prefixed where a name is taken).
fn csv_header(kept_names: &[String]) -> Vec<String> {
    let kept = kept_names.iter().map(|name| {
        if CSV_COLUMNS.contains(&name.as_str()) {
            format!("{CSV_KEPT_PREFIX}{name}")
        } else {
            name.clone()
        }
    });
    CSV_COLUMNS
        .iter()
        .map(|c| (*c).to_owned())
        .chain(kept)
        .collect()
}

/// A row's CSV cells, in [`csv_header`] order.
fn csv_record(row: &Row) -> Vec<String> {
    let verdict = row.verdict;
    let features: Vec<String> = verdict
        .features
        .iter()
        .map(|f| format!("{}:{:.4}", f.text, f.weight))
        .collect();
    let cells = [
        row.id.to_string(),
        row.line.to_string(),
        row.client.unwrap_or_default().to_owned(),
        verdict.score.to_string(),
        verdict.threshold.to_string(),
        if verdict.malicious {
            "malicious"
        } else {
            "benign"
        }
        .to_owned(),
        verdict.family.to_owned(),
        features.join(" | "),
        verdict.text.clone(),
        row.time.clone().unwrap_or_default(),
    ];
    let kept = row
        .fields
        .names
        .iter()
        .map(|name| row.fields.get(name).unwrap_or_default().to_owned());
    cells.into_iter().chain(kept).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_columns_come_last_and_never_take_a_columns_name() {
        let header = csv_header(&["event_id".to_owned(), "time".to_owned()]);
        assert_eq!(&header[..CSV_COLUMNS.len()], CSV_COLUMNS);
        assert_eq!(&header[CSV_COLUMNS.len()..], ["event_id", "input_time"]);
    }
}
