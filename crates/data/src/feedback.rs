//! Feedback datasets: analysts' verdicts on a model's alerts, kept as data.
//!
//! A SOC's analysts dismiss false alarms and confirm attacks (or report ones the model missed)
//! every day. A feedback dataset holds those verdicts as JSON Lines, one [`FeedbackRecord`] per
//! line, and is defined like every other dataset (`datasets/<name>.toml`, see
//! [`definition_toml`]): its `verdict` field is the label (`false_alarm` benign, `confirmed`
//! and `missed` malicious), so the loader reads, checks and digests it as it does the others.
//!
//! The file only grows: [`append`] adds records at its end and refuses a request that already
//! has a different verdict (naming the line that holds it), so what analysts said is never
//! rewritten, silently or not.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::label::Label;

/// What an analyst said about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The model flagged it and it is benign: the alarm was dismissed.
    FalseAlarm,
    /// The model flagged it and it is an attack.
    Confirmed,
    /// An attack the model let through.
    Missed,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::FalseAlarm, Verdict::Confirmed, Verdict::Missed];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::FalseAlarm => "false_alarm",
            Verdict::Confirmed => "confirmed",
            Verdict::Missed => "missed",
        }
    }

    /// The class the request belongs to.
    pub fn label(self) -> Label {
        match self {
            Verdict::FalseAlarm => Label::Benign,
            Verdict::Confirmed | Verdict::Missed => Label::Malicious,
        }
    }
}

impl std::str::FromStr for Verdict {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                format!("unknown verdict {s:?}: expected false_alarm, confirmed or missed")
            })
    }
}

/// One line of a feedback file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    /// The request as the model read it (decoded as for scoring).
    pub request: String,
    pub verdict: Verdict,
    /// The model that scored it (`runs:/…`, `models:/…@champion`, a folder), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Its score by that model, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// When the verdict was given (RFC 3339, UTC).
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analyst: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where the request came from (`verdicts.jsonl:17`), when it came from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What [`append`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppendReport {
    /// Records written at the end of the file.
    pub added: usize,
    /// Records left out because the file already holds their request with the same verdict.
    pub already_known: usize,
}

/// Appends `records` to the feedback file at `path` (created when absent), leaving out those
/// whose request it already holds with the same verdict. A request it holds with another
/// verdict, or one given twice with different verdicts, fails the whole call before anything
/// is written: a contradiction is for an analyst to settle, not for the file to hide.
pub fn append(path: &Path, records: &[FeedbackRecord]) -> Result<AppendReport> {
    let mut known = read_verdicts(path)?;
    let mut report = AppendReport::default();
    let mut fresh = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match known.get(&record.request) {
            Some((verdict, _)) if *verdict == record.verdict => report.already_known += 1,
            Some((verdict, where_)) => {
                return Err(DataError::FeedbackConflict {
                    path: path.to_owned(),
                    message: format!(
                        "the request {:?} is already marked {} ({where_}); it cannot also be {}",
                        shorten(&record.request),
                        verdict.name(),
                        record.verdict.name()
                    ),
                });
            }
            None => {
                known.insert(
                    record.request.clone(),
                    (record.verdict, format!("record {} of this call", index + 1)),
                );
                fresh.push(record);
            }
        }
    }
    if fresh.is_empty() {
        return Ok(report);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, "cannot create", e))?;
    }
    let mut text = String::new();
    for record in &fresh {
        let line = serde_json::to_string(record).map_err(|e| DataError::FeedbackConflict {
            path: path.to_owned(),
            message: format!("cannot serialise a record: {e}"),
        })?;
        text.push_str(&line);
        text.push('\n');
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| DataError::io(path, "cannot open for appending", e))?;
    // One write of whole lines, then fsync: a crash leaves the file as it was or with every
    // record, and analysts' work is on disk when the command says so.
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| DataError::io(path, "cannot append to", e))?;
    report.added = fresh.len();
    Ok(report)
}

/// The verdict of every request in the feedback file at `path`, with the line that holds it
/// (empty when the file does not exist).
pub fn read_verdicts(path: &Path) -> Result<HashMap<String, (Verdict, String)>> {
    let mut known = HashMap::new();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(known),
        Err(e) => return Err(DataError::io(path, "cannot open", e)),
    };
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| DataError::io(path, "cannot read", e))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: FeedbackRecord = serde_json::from_str(&line).map_err(|e| DataError::Parse {
            path: path.to_owned(),
            line: index as u64 + 1,
            message: format!("not a feedback record: {e}"),
        })?;
        let where_ = format!("line {}", index + 1);
        known
            .entry(record.request)
            .or_insert((record.verdict, where_));
    }
    Ok(known)
}

/// The definition of a feedback dataset `name` whose file is `path` (relative to the data dir):
/// what `vigie feedback add` writes when the dataset does not exist yet.
pub fn definition_toml(name: &str, path: &str) -> String {
    format!(
        "# Analysts' verdicts on Vigie's alerts, appended by `vigie feedback add`.\n\
         # The file only grows; a run lists it under [data.feedback] to train on it and be\n\
         # measured on it.\n\
         name = {name:?}\n\
         description = \"Analysts' verdicts (vigie feedback add)\"\n\
         \n\
         [format]\n\
         kind = \"jsonl\"\n\
         text_field = \"request\"\n\
         label_field = \"verdict\"\n\
         \n\
         # The requests are stored as the model read them: already decoded.\n\
         [decode]\n\
         percent_decode = false\n\
         \n\
         [labels]\n\
         false_alarm = \"benign\"\n\
         confirmed = \"malicious\"\n\
         missed = \"malicious\"\n\
         \n\
         [[files]]\n\
         path = {path:?}\n"
    )
}

/// The first 80 characters of a request, for messages.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::DatasetDef;

    fn record(request: &str, verdict: Verdict) -> FeedbackRecord {
        FeedbackRecord {
            request: request.to_owned(),
            verdict,
            model: None,
            score: Some(1.5),
            time: "2026-12-04T10:00:00Z".to_owned(),
            analyst: Some("ana".to_owned()),
            note: None,
            source: None,
        }
    }

    #[test]
    fn appends_only_what_is_new_and_keeps_the_earlier_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fb/soc.jsonl");
        let first = append(&path, &[record("/a?x=1", Verdict::FalseAlarm)]).expect("append");
        assert_eq!((first.added, first.already_known), (1, 0));
        let before = std::fs::read_to_string(&path).expect("read");
        let second = append(
            &path,
            &[
                record("/a?x=1", Verdict::FalseAlarm),
                record("/b?id=1' or 1=1--", Verdict::Confirmed),
            ],
        )
        .expect("append");
        assert_eq!((second.added, second.already_known), (1, 1));
        let after = std::fs::read_to_string(&path).expect("read");
        assert!(
            after.starts_with(&before),
            "earlier lines kept as they were"
        );
        assert_eq!(after.lines().count(), 2);
    }

    #[test]
    fn a_contradicting_verdict_is_refused_with_its_line_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("soc.jsonl");
        append(&path, &[record("/a", Verdict::FalseAlarm)]).expect("append");
        let before = std::fs::read_to_string(&path).expect("read");
        let error = append(
            &path,
            &[
                record("/new", Verdict::Missed),
                record("/a", Verdict::Confirmed),
            ],
        )
        .expect_err("contradiction");
        let message = error.to_string();
        assert!(
            message.contains("already marked false_alarm (line 1)"),
            "{message}"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), before);
        let within = append(
            &path,
            &[
                record("/z", Verdict::Missed),
                record("/z", Verdict::FalseAlarm),
            ],
        )
        .expect_err("contradiction within one call");
        assert!(
            within.to_string().contains("record 1 of this call"),
            "{within}"
        );
    }

    #[test]
    fn a_broken_line_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("soc.jsonl");
        std::fs::write(
            &path,
            "{\"request\":\"/a\",\"verdict\":\"false_alarm\",\"time\":\"t\"}\nnot json\n",
        )
        .expect("write");
        let error = read_verdicts(&path).expect_err("broken");
        assert!(error.to_string().contains("soc.jsonl:2"), "{error}");
    }

    #[test]
    fn the_written_definition_loads_the_file_with_verdicts_as_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = definition_toml("soc", "feedback/soc.jsonl");
        let def = DatasetDef::from_toml(&text, Path::new("soc.toml")).expect("definition");
        append(
            &dir.path().join("feedback/soc.jsonl"),
            &[
                record("/a%20b", Verdict::FalseAlarm),
                record("/x?id=1 union select", Verdict::Confirmed),
                record("/y?q=<script>", Verdict::Missed),
            ],
        )
        .expect("append");
        let data = crate::load(&def, dir.path(), |_| {}).expect("loads");
        assert_eq!(data.texts[0], "/a%20b", "stored text read back undecoded");
        assert_eq!(
            data.labels,
            [Label::Benign, Label::Malicious, Label::Malicious]
        );
    }

    #[test]
    fn verdicts_parse_by_name() {
        for verdict in Verdict::ALL {
            assert_eq!(verdict.name().parse::<Verdict>(), Ok(verdict));
        }
        assert!("dismissed".parse::<Verdict>().is_err());
    }
}
