//! `vigie score --input` rows a SIEM can join back to its events: `--keep` fields from CSV and
//! JSON Lines, an access log's time, method, status and user agent, HEC events at the
//! request's own time; one verdict object for `--format jsonl`, `--json` and `/score`; capped
//! warnings and a failure on mostly invalid input; the input format told by the extension.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::score::{Killed, REQUESTS, free_port, post, trained_model, wait_until_listening};
use crate::util::{assert_fails_with, stderr, stdout, vigie};

/// 2000-10-10T20:55:36Z in epoch seconds: 11,240 days after 1970-01-01, plus 20:55:36.
const OCT_10_2000: i64 = 11_240 * 86_400 + 20 * 3600 + 55 * 60 + 36;

/// `vigie score --model MODEL --input INPUT` with `extra` arguments, in `dir`.
pub(crate) fn score_input(dir: &Path, model: &Path, input: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "--datasets-dir",
        "datasets",
        "score",
        "--model",
        model.to_str().expect("utf-8"),
        "--input",
        input,
    ];
    args.extend_from_slice(extra);
    vigie(dir, &args)
}

/// The JSON rows of a successful run.
fn rows(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "vigie failed: {}", stderr(out));
    stdout(out)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// A JSON row without the request's context: the verdict object alone.
fn verdict_of(row: &Value) -> Value {
    let mut verdict = row.clone();
    let object = verdict.as_object_mut().expect("a JSON object");
    for key in ["id", "line", "client", "time", "fields"] {
        assert!(object.remove(key).is_some(), "the row has {key}: {row}");
    }
    verdict
}

#[test]
fn keep_copies_csv_and_jsonl_fields_into_every_row_and_a_csv_header_is_never_scored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = trained_model(dir.path());
    let csv: String = std::iter::once("event_id,_time,text\n".to_owned())
        .chain(
            REQUESTS
                .iter()
                .enumerate()
                .map(|(i, r)| format!("E{i},{},\"{r}\"\n", OCT_10_2000 + i as i64)),
        )
        .collect();
    fs::write(dir.path().join("events.csv"), csv).expect("csv");
    let out = score_input(
        dir.path(),
        &model,
        "events.csv",
        &["--keep", "event_id", "--format", "jsonl", "--top", "0"],
    );
    let found = rows(&out);
    assert_eq!(found.len(), REQUESTS.len(), "the header is no request");
    for (i, row) in found.iter().enumerate() {
        assert_eq!(row["text"], REQUESTS[i]);
        assert_eq!(
            row["fields"],
            serde_json::json!({"event_id": format!("E{i}")})
        );
        assert_eq!(row["time"], format!("2000-10-10T20:55:3{}.000Z", 6 + i));
    }

    // As CSV: the kept columns after the others, the time before them.
    let out = score_input(
        dir.path(),
        &model,
        "events.csv",
        &["--keep", "event_id,_time"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(&header[header.len() - 3..], ["time", "event_id", "_time"]);
    assert_eq!(header[0], "id");
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(records.len(), REQUESTS.len());
    assert_eq!(&records[2][header.len() - 2], "E2");
    assert_eq!(&records[2][header.len() - 1], (OCT_10_2000 + 2).to_string());

    // JSON Lines: dotted fields, `null` where a record lacks one.
    let jsonl = concat!(
        "{\"request\":{\"uri\":\"/images/logo_3.png\"},\"id\":7,\"meta\":{\"host\":\"w1\"},\"time\":971211336}\n",
        "{\"request\":{\"uri\":\"/search?q=<script>alert(5)</script>\"},\"id\":\"x8\"}\n",
    );
    fs::write(dir.path().join("events.ndjson"), jsonl).expect("jsonl");
    let out = score_input(
        dir.path(),
        &model,
        "events.ndjson",
        &[
            "--column",
            "request.uri",
            "--keep",
            "id,meta.host",
            "--format",
            "jsonl",
        ],
    );
    let found = rows(&out);
    assert_eq!(
        found[0]["fields"],
        serde_json::json!({"id": "7", "meta.host": "w1"})
    );
    assert_eq!(found[0]["time"], "2000-10-10T20:55:36.000Z");
    assert_eq!(
        found[1]["fields"],
        serde_json::json!({"id": "x8", "meta.host": null})
    );
    assert_eq!(found[1]["time"], Value::Null);
    assert_eq!(found[1]["malicious"], true);

    // A field the CSV header lacks is an error naming it.
    let out = score_input(dir.path(), &model, "events.csv", &["--keep", "nope"]);
    assert_fails_with(&out, "\"nope\"");
}

const ACCESS_LOG: &str = concat!(
    "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /item.php?id=7'%20or%201=1-- HTTP/1.1\" 200 5 \"http://ref/\" \"sqlmap/1.7\"\n",
    "10.0.0.2 - - [10/Oct/2000:13:55:37 -0700] \"POST /images/logo_3.png HTTP/1.1\" 404 0\n",
);

#[test]
fn access_log_rows_carry_the_request_time_method_status_and_agent_and_hec_uses_that_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = trained_model(dir.path());
    fs::write(dir.path().join("access.log"), ACCESS_LOG).expect("log");
    let found = rows(&score_input(
        dir.path(),
        &model,
        "access.log",
        &["--format", "jsonl"],
    ));
    assert_eq!(found[0]["time"], "2000-10-10T20:55:36.000Z");
    assert_eq!(
        found[0]["fields"],
        serde_json::json!({
            "time": "10/Oct/2000:13:55:36 -0700",
            "method": "GET",
            "status": "200",
            "user_agent": "sqlmap/1.7",
            "referer": "http://ref/",
        })
    );
    assert_eq!(found[0]["client"], "10.0.0.1");
    assert_eq!(found[1]["fields"]["method"], "POST");
    assert_eq!(found[1]["fields"]["status"], "404");
    assert_eq!(
        found[1]["fields"]["user_agent"],
        Value::Null,
        "Common Log Format"
    );

    let events = rows(&score_input(
        dir.path(),
        &model,
        "access.log",
        &["--format", "hec"],
    ));
    assert_eq!(events[0]["time"].as_f64(), Some(OCT_10_2000 as f64));
    assert_eq!(events[1]["time"].as_f64(), Some((OCT_10_2000 + 1) as f64));
    assert_eq!(events[0]["event"]["fields"]["user_agent"], "sqlmap/1.7");
    assert_eq!(events[0]["event"]["time"], "2000-10-10T20:55:36.000Z");
}

#[test]
fn one_verdict_object_for_jsonl_rows_json_and_the_services_score() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = trained_model(dir.path());
    let model_arg = model.to_str().expect("utf-8");
    let mut args = vec![
        "--json",
        "--datasets-dir",
        "datasets",
        "score",
        "--model",
        model_arg,
    ];
    args.extend(REQUESTS);
    let out = vigie(dir.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_json: Value = serde_json::from_slice(&out.stdout).expect("json");
    let from_json = from_json.as_array().expect("a list").clone();

    // `--json` with --input prints JSON Lines rows (no --format needed).
    fs::write(dir.path().join("requests.txt"), REQUESTS.join("\n")).expect("requests");
    let out = vigie(
        dir.path(),
        &[
            "--json",
            "--datasets-dir",
            "datasets",
            "score",
            "--model",
            model_arg,
            "--input",
            "requests.txt",
        ],
    );
    let from_rows: Vec<Value> = rows(&out).iter().map(verdict_of).collect();

    let port = free_port();
    let _server = Killed(
        Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args([
                "--datasets-dir",
                "datasets",
                "serve",
                "--model",
                model_arg,
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vigie serve"),
    );
    wait_until_listening(port);
    let body = serde_json::json!({"requests": REQUESTS}).to_string();
    let (status, answer) = post(port, "/score", &body);
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("json");
    let from_service = answer["results"].as_array().expect("results").clone();

    assert_eq!(from_rows, from_json);
    assert_eq!(from_service, from_json);
    let feature = &from_json[0]["features"][0];
    assert!(
        feature["text"].is_string() && feature["weight"].is_number() && feature["spans"].is_array(),
        "{feature}"
    );

    // --json keeps stdout JSON: CSV rows there are refused.
    let out = vigie(
        dir.path(),
        &[
            "--json",
            "score",
            "--model",
            model_arg,
            "--input",
            "requests.txt",
            "--format",
            "csv",
        ],
    );
    assert_fails_with(&out, "--json prints JSON");
}

#[test]
fn warnings_are_capped_and_a_mostly_invalid_input_fails_with_examples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = trained_model(dir.path());
    let valid = ACCESS_LOG.lines().next().expect("a line");
    let log = |valid_lines: usize, junk: usize| {
        let mut text = String::new();
        for i in 0..junk {
            text.push_str(&format!("junk line {i}\n"));
        }
        for _ in 0..valid_lines {
            text.push_str(valid);
            text.push('\n');
        }
        text
    };
    fs::write(dir.path().join("mixed.log"), log(25, 15)).expect("log");
    let out = score_input(dir.path(), &model, "mixed.log", &["--top", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let warnings = stderr(&out);
    assert_eq!(
        warnings.matches("skipped: not a Common").count(),
        10,
        "{warnings}"
    );
    assert!(
        warnings.contains("5 more invalid lines skipped"),
        "{warnings}"
    );
    assert_eq!(
        stdout(&out).lines().count(),
        1 + 25,
        "a header and the valid rows"
    );

    fs::write(dir.path().join("junk.log"), log(4, 30)).expect("log");
    let out = score_input(dir.path(), &model, "junk.log", &["--top", "0"]);
    assert!(!out.status.success(), "a mostly invalid input fails");
    let message = stderr(&out);
    assert!(message.contains("30 of 34 lines are invalid"), "{message}");
    assert!(
        message.contains("line 1: not a Common/Combined"),
        "{message}"
    );
    assert!(message.contains("--input-format"), "{message}");
}

#[test]
fn the_input_format_comes_from_the_extension_or_must_be_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = trained_model(dir.path());
    fs::write(dir.path().join("access.log"), ACCESS_LOG).expect("log");
    fs::write(dir.path().join("export.json"), "{}\n").expect("json");
    // Read as an access log (the path alone as text), not as whole lines.
    let found = rows(&score_input(
        dir.path(),
        &model,
        "access.log",
        &["--format", "jsonl"],
    ));
    assert_eq!(found[1]["text"], "/images/logo_3.png");

    for (input, expected) in [
        ("export.json", "export.json: cannot tell the format"),
        ("-", "standard input"),
    ] {
        let out = score_input(dir.path(), &model, input, &[]);
        assert!(!out.status.success(), "{input}");
        let message = stderr(&out);
        assert!(
            message.contains(expected) && message.contains("--input-format"),
            "{input}: {message}"
        );
    }
}
