//! `vigie feedback`: analysts' verdicts appended to a feedback dataset ([`vigie_data::feedback`]),
//! from a verdicts file of `vigie score` or from requests given on the command line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use vigie_data::DatasetDef;
use vigie_data::feedback::{self, FeedbackRecord, Verdict};
use vigie_data::source::SourceFormat;

use crate::args::{FeedbackAddArgs, FeedbackShowArgs, GlobalArgs};
use crate::output::print_json;

pub fn add(global: &GlobalArgs, args: &FeedbackAddArgs) -> anyhow::Result<()> {
    let records = records_of(args)?;
    if records.is_empty() {
        bail!("no request to add: give --request, or --from with flagged rows (or --ids)");
    }
    let (path, created) = feedback_file(global, &args.to, true)?;
    let report = feedback::append(&path, &records)?;
    if global.json {
        return print_json(&serde_json::json!({
            "dataset": args.to,
            "file": path,
            "definition_created": created,
            "added": report.added,
            "already_known": report.already_known,
        }));
    }
    if let Some(definition) = &created
        && !global.quiet
    {
        eprintln!(
            "created the feedback dataset {} ({})",
            args.to,
            definition.display()
        );
    }
    println!(
        "{}: {} {} verdict(s) added, {} already there ({})",
        args.to,
        report.added,
        args.verdict.name(),
        report.already_known,
        path.display()
    );
    Ok(())
}

pub fn show(global: &GlobalArgs, args: &FeedbackShowArgs) -> anyhow::Result<()> {
    let (path, _) = feedback_file(global, &args.name, false)?;
    let verdicts = feedback::read_verdicts(&path)?;
    let mut counts: BTreeMap<&str, usize> = Verdict::ALL.iter().map(|v| (v.name(), 0)).collect();
    for (verdict, _) in verdicts.values() {
        *counts.entry(verdict.name()).or_default() += 1;
    }
    if global.json {
        return print_json(&serde_json::json!({
            "dataset": args.name,
            "file": path,
            "requests": verdicts.len(),
            "verdicts": counts,
        }));
    }
    println!(
        "{} ({}): {} requests",
        args.name,
        path.display(),
        verdicts.len()
    );
    for (verdict, n) in counts {
        println!("  {verdict:<12} {n}");
    }
    Ok(())
}

/// The records `args` asks to add, each stamped with the verdict, time, analyst and note.
fn records_of(args: &FeedbackAddArgs) -> anyhow::Result<Vec<FeedbackRecord>> {
    let now = vigie_mlflow::now_millis();
    let time = vigie_data::source::rfc3339_utc(now).unwrap_or_else(|| now.to_string());
    let analyst = args
        .analyst
        .clone()
        .or_else(|| Some(vigie_runner::system::user_name()));
    let stamp = |request: String, score: Option<f64>, source: Option<String>| FeedbackRecord {
        request,
        verdict: args.verdict,
        model: args.model.clone(),
        score,
        time: time.clone(),
        analyst: analyst.clone(),
        note: args.note.clone(),
        source,
    };
    if let Some(from) = &args.from {
        let rows = select(read_rows(from)?, args, from)?;
        return Ok(rows
            .into_iter()
            .map(|row| {
                let source = format!("{}:{}", from.display(), row.line);
                stamp(row.text, row.score, Some(source))
            })
            .collect());
    }
    let decode = vigie_data::DecodeConfig::default();
    Ok(args
        .request
        .iter()
        .map(|raw| stamp(decode.normalize(raw.as_bytes()).0, None, None))
        .collect())
}

/// One row of a verdicts file.
#[derive(Debug, Clone, PartialEq)]
struct ScoredRow {
    /// The line of the verdicts file it is on.
    line: usize,
    id: Option<u64>,
    text: String,
    score: Option<f64>,
    flagged: bool,
}

/// The rows `args` selects: those --ids names, else the flagged ones (a missed attack was not
/// flagged, so `missed` needs --ids); then the --top highest scored.
fn select(
    rows: Vec<ScoredRow>,
    args: &FeedbackAddArgs,
    from: &Path,
) -> anyhow::Result<Vec<ScoredRow>> {
    let mut chosen: Vec<ScoredRow> = if args.ids.is_empty() {
        if args.verdict == Verdict::Missed {
            bail!(
                "{}: name the missed attacks with --ids (rows the model let through are not \
                 all attacks)",
                from.display()
            );
        }
        rows.into_iter().filter(|row| row.flagged).collect()
    } else {
        let chosen: Vec<ScoredRow> = rows
            .into_iter()
            .filter(|row| row.id.is_some_and(|id| args.ids.contains(&id)))
            .collect();
        if let Some(absent) = args
            .ids
            .iter()
            .find(|id| !chosen.iter().any(|row| row.id == Some(**id)))
        {
            bail!("{}: no row has the id {absent}", from.display());
        }
        chosen
    };
    if let Some(top) = args.top {
        chosen.sort_by(|a, b| {
            let score = |row: &ScoredRow| row.score.unwrap_or(f64::NEG_INFINITY);
            score(b).total_cmp(&score(a))
        });
        chosen.truncate(top);
    }
    Ok(chosen)
}

/// The rows of a verdicts file: JSON Lines when it opens with `{`, else CSV with a header.
fn read_rows(path: &Path) -> anyhow::Result<Vec<ScoredRow>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let is_jsonl = reader
        .fill_buf()
        .with_context(|| format!("reading {}", path.display()))?
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        == Some(&b'{');
    if is_jsonl {
        jsonl_rows(reader, path)
    } else {
        csv_rows(reader, path)
    }
}

fn jsonl_rows(reader: impl BufRead, path: &Path) -> anyhow::Result<Vec<ScoredRow>> {
    let mut rows = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{number}: not JSON", path.display()))?;
        // The verdict's fields may sit at the top of the row or in a `verdict` object.
        let field = |key: &str| {
            value
                .get(key)
                .or_else(|| value.get("verdict").and_then(|v| v.get(key)))
        };
        let Some(text) = field("text").and_then(|t| t.as_str()) else {
            bail!("{}:{number}: no `text` field", path.display());
        };
        rows.push(ScoredRow {
            line: number,
            id: value.get("id").and_then(serde_json::Value::as_u64),
            text: text.to_owned(),
            score: field("score").and_then(serde_json::Value::as_f64),
            flagged: field("malicious").and_then(serde_json::Value::as_bool) == Some(true),
        });
    }
    Ok(rows)
}

fn csv_rows(reader: impl std::io::Read, path: &Path) -> anyhow::Result<Vec<ScoredRow>> {
    let mut csv = csv::Reader::from_reader(reader);
    let header = csv
        .headers()
        .with_context(|| format!("{}: no CSV header", path.display()))?
        .clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let Some(text_column) = column("text") else {
        bail!(
            "{}: no `text` column (a verdicts file of vigie score?)",
            path.display()
        );
    };
    let (id_column, score_column, verdict_column) =
        (column("id"), column("score"), column("verdict"));
    let mut rows = Vec::new();
    for (index, record) in csv.records().enumerate() {
        // Line 1 is the header.
        let line = index + 2;
        let record = record.with_context(|| format!("{}:{line}", path.display()))?;
        let cell = |column: Option<usize>| column.and_then(|c| record.get(c));
        rows.push(ScoredRow {
            line,
            id: cell(id_column).and_then(|v| v.parse().ok()),
            text: cell(Some(text_column)).unwrap_or_default().to_owned(),
            score: cell(score_column).and_then(|v| v.parse().ok()),
            flagged: cell(verdict_column) == Some("malicious"),
        });
    }
    Ok(rows)
}

/// The file of the feedback dataset `name` and, when `create` made its definition now, where.
/// A name the catalog does not know is created (when `create`): its definition in the
/// definitions folder, its file under `feedback/` in the data dir.
fn feedback_file(
    global: &GlobalArgs,
    name: &str,
    create: bool,
) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let catalog = super::catalog(global)?;
    if let Ok((def, origin)) = catalog.get(name) {
        return Ok((file_of(&def, &origin, &global.data_dir)?, None));
    }
    if !create {
        bail!(
            "no feedback dataset {name:?} (known datasets: {}); `vigie feedback add --to {name}` creates it",
            catalog.names().join(", ")
        );
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("--to {name:?}: a feedback dataset's name is letters, digits, '-', '_' and '.'");
    }
    let dir = global
        .datasets_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("datasets"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let definition = dir.join(format!("{name}.toml"));
    let relative = format!("feedback/{name}.jsonl");
    std::fs::write(&definition, feedback::definition_toml(name, &relative))
        .with_context(|| format!("writing {}", definition.display()))?;
    Ok((global.data_dir.join(relative), Some(definition)))
}

/// The file of a feedback dataset's definition (one JSON Lines file whose text is `request`).
fn file_of(def: &DatasetDef, origin: &Path, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let is_feedback = matches!(&def.format, SourceFormat::Jsonl { text_field, .. } if text_field == "request")
        && def.files.len() == 1;
    if !is_feedback {
        bail!(
            "{} ({}) is not a feedback dataset: it needs one JSON Lines file whose text field is `request`",
            def.name,
            origin.display()
        );
    }
    Ok(data_dir.join(&def.files[0].path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(verdict: Verdict, ids: &[u64], top: Option<usize>) -> FeedbackAddArgs {
        FeedbackAddArgs {
            to: "soc".to_owned(),
            verdict,
            from: Some(PathBuf::from("v.jsonl")),
            ids: ids.to_vec(),
            top,
            request: Vec::new(),
            model: None,
            analyst: None,
            note: None,
        }
    }

    fn rows() -> Vec<ScoredRow> {
        [
            (1, 0.2, false),
            (2, 3.0, true),
            (3, 1.0, true),
            (4, 2.0, true),
        ]
        .into_iter()
        .map(|(id, score, flagged)| ScoredRow {
            line: id as usize,
            id: Some(id),
            text: format!("/r{id}"),
            score: Some(score),
            flagged,
        })
        .collect()
    }

    fn ids(rows: &[ScoredRow]) -> Vec<u64> {
        rows.iter().filter_map(|r| r.id).collect()
    }

    #[test]
    fn flagged_rows_by_default_ids_when_named_and_the_top_by_score() {
        let from = Path::new("v.jsonl");
        let flagged = select(rows(), &args(Verdict::FalseAlarm, &[], None), from).expect("rows");
        assert_eq!(ids(&flagged), [2, 3, 4]);
        let top = select(rows(), &args(Verdict::FalseAlarm, &[], Some(2)), from).expect("rows");
        assert_eq!(ids(&top), [2, 4]);
        let named = select(rows(), &args(Verdict::Missed, &[1], None), from).expect("rows");
        assert_eq!(ids(&named), [1]);
        let error = select(rows(), &args(Verdict::Missed, &[], None), from).expect_err("ids");
        assert!(error.to_string().contains("--ids"), "{error}");
        let absent = select(rows(), &args(Verdict::Confirmed, &[9], None), from).expect_err("9");
        assert!(
            absent.to_string().contains("no row has the id 9"),
            "{absent}"
        );
    }

    #[test]
    fn verdict_files_of_vigie_score_are_read_in_both_formats() {
        let dir = tempfile::tempdir().expect("tempdir");
        let jsonl = dir.path().join("v.jsonl");
        std::fs::write(
            &jsonl,
            "{\"id\":1,\"text\":\"/a\",\"score\":0.5,\"malicious\":false}\n\
             {\"id\":2,\"verdict\":{\"text\":\"/b'\",\"score\":2.5,\"malicious\":true}}\n",
        )
        .expect("write");
        let read = read_rows(&jsonl).expect("jsonl");
        assert_eq!(read.len(), 2);
        assert_eq!(
            (read[1].text.as_str(), read[1].score, read[1].flagged),
            ("/b'", Some(2.5), true)
        );
        let csv = dir.path().join("v.csv");
        std::fs::write(
            &csv,
            "id,line,client,score,threshold,verdict,family,features,text\n\
             7,1,,1.5,0.1,malicious,sqli,,\"/x?id=1,2\"\n\
             8,2,,-1.0,0.1,benign,none,,/y\n",
        )
        .expect("write");
        let read = read_rows(&csv).expect("csv");
        assert_eq!(
            read[0],
            ScoredRow {
                line: 2,
                id: Some(7),
                text: "/x?id=1,2".to_owned(),
                score: Some(1.5),
                flagged: true
            }
        );
        assert!(!read[1].flagged);
        std::fs::write(&jsonl, "{\"id\":1}\n").expect("write");
        let error = read_rows(&jsonl).expect_err("no text");
        assert!(
            error.to_string().contains("v.jsonl:1: no `text` field"),
            "{error}"
        );
    }
}
