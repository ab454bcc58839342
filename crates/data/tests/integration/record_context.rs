//! Each record's own time and kept input fields (`ReadOptions`): read from access logs, CSV,
//! JSON Lines and Splunk exports when asked, and never when not.

use std::io::Cursor;
use std::path::Path;

use vigie_data::source::{
    Limits, ReadOptions, RecordReader, SourceFormat, SourceItem, SourceRecord, parse_time_ms,
};

fn read(input: &str, format: &SourceFormat, options: &ReadOptions) -> Vec<SourceItem> {
    let input = Box::new(Cursor::new(input.as_bytes().to_vec()));
    RecordReader::with_options(
        input,
        Path::new("input"),
        format,
        &Limits::default(),
        options,
    )
    .expect("open")
    .collect::<Result<Vec<_>, _>>()
    .expect("read")
}

fn records(items: &[SourceItem]) -> Vec<&SourceRecord> {
    items
        .iter()
        .map(|item| match item {
            SourceItem::Record(record) => record,
            SourceItem::Invalid { line, reason } => panic!("line {line} invalid: {reason}"),
        })
        .collect()
}

fn kept(record: &SourceRecord) -> Vec<(&str, &str)> {
    record
        .kept
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

fn context() -> ReadOptions {
    ReadOptions {
        context: true,
        ..ReadOptions::default()
    }
}

fn keeping(fields: &[&str]) -> ReadOptions {
    ReadOptions {
        context: true,
        time_field: None,
        keep: fields.iter().map(|f| (*f).to_owned()).collect(),
    }
}

fn time(text: &str) -> Option<i64> {
    let parsed = parse_time_ms(text);
    assert!(parsed.is_some(), "{text} is a time");
    parsed
}

const ACCESS_LOG: &str = concat!(
    "203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] \"GET /a?id=1 HTTP/1.1\" 404 512 \"http://ref/\" \"curl/8.0\"\n",
    "198.51.100.2 - - [10/Oct/2000:13:55:37 -0700] \"\\x16\\x03\" 400 0\n",
);

#[test]
fn access_logs_give_their_time_method_status_agent_and_referer() {
    let format = SourceFormat::Clf { with_method: false };
    let items = read(ACCESS_LOG, &format, &context());
    let records = records(&items);
    assert_eq!(records[0].time_ms, time("2000-10-10T20:55:36Z"));
    assert_eq!(
        kept(records[0]),
        [
            ("time", "10/Oct/2000:13:55:36 -0700"),
            ("method", "GET"),
            ("status", "404"),
            ("user_agent", "curl/8.0"),
            ("referer", "http://ref/"),
        ]
    );
    // Common Log Format (no agent, no referer) and a junk request (no method).
    assert_eq!(records[1].time_ms, time("2000-10-10T20:55:37Z"));
    assert_eq!(
        kept(records[1]),
        [("time", "10/Oct/2000:13:55:37 -0700"), ("status", "400")]
    );
    assert_eq!(records[0].raw, b"/a?id=1");
}

#[test]
fn nothing_beside_the_request_is_read_unless_asked() {
    let format = SourceFormat::Clf { with_method: false };
    let asked = read(ACCESS_LOG, &format, &context());
    let plain = read(ACCESS_LOG, &format, &ReadOptions::default());
    for (plain, asked) in records(&plain).into_iter().zip(records(&asked)) {
        assert_eq!((plain.time_ms, plain.kept.len()), (None, 0));
        assert_eq!((&plain.raw, &plain.client), (&asked.raw, &asked.client));
    }
    let csv = SourceFormat::Csv {
        text_column: "text".into(),
        label_column: None,
        delimiter: ',',
        has_header: true,
    };
    let items = read("_time,text\n1700000000,/a\n", &csv, &ReadOptions::default());
    assert_eq!(records(&items)[0].time_ms, None);
}

#[test]
fn csv_keeps_the_columns_asked_and_reads_the_default_time_column() {
    let csv = SourceFormat::Csv {
        text_column: "url".into(),
        label_column: None,
        delimiter: ',',
        has_header: true,
    };
    let input =
        "event_id,timestamp,url,host\nE1,2000-10-10T20:55:36Z,/a,web1\nE2,970001737,/b,web2\n";
    let items = read(input, &csv, &keeping(&["event_id", "host"]));
    let records = records(&items);
    assert_eq!(records.len(), 2, "the header is no record");
    assert_eq!(records[0].raw, b"/a");
    assert_eq!(kept(records[0]), [("event_id", "E1"), ("host", "web1")]);
    assert_eq!(records[0].time_ms, time("2000-10-10T20:55:36Z"));
    assert_eq!(records[1].time_ms, Some(970_001_737_000));

    let missing = RecordReader::with_options(
        Box::new(Cursor::new(input.as_bytes().to_vec())),
        Path::new("input.csv"),
        &csv,
        &Limits::default(),
        &keeping(&["nope"]),
    );
    let message = missing.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("input.csv") && message.contains("\"nope\""),
        "{message}"
    );
}

#[test]
fn jsonl_keeps_dotted_fields_as_text_and_reads_a_named_time_field() {
    let jsonl = SourceFormat::Jsonl {
        text_field: "req.uri".into(),
        label_field: None,
    };
    let input = concat!(
        "{\"req\":{\"uri\":\"/a\"},\"id\":42,\"meta\":{\"site\":\"s1\"},\"at\":970001736.5,\"time\":\"junk\"}\n",
        "{\"req\":{\"uri\":\"/b\"},\"at\":\"2000-10-10T20:55:36Z\"}\n",
    );
    let options = ReadOptions {
        time_field: Some("at".into()),
        ..keeping(&["id", "meta.site", "meta"])
    };
    let items = read(input, &jsonl, &options);
    let found = records(&items);
    assert_eq!(
        kept(found[0]),
        [
            ("id", "42"),
            ("meta.site", "s1"),
            ("meta", "{\"site\":\"s1\"}")
        ]
    );
    assert_eq!(found[0].time_ms, Some(970_001_736_500));
    assert!(kept(found[1]).is_empty(), "absent fields are left out");
    assert_eq!(found[1].time_ms, time("2000-10-10T20:55:36Z"));

    // Without --time-field: `time` is the first default present; unreadable, no time.
    let defaults = read(input, &jsonl, &context());
    assert_eq!(records(&defaults)[0].time_ms, None);
}

#[test]
fn splunk_exports_take_result_time_before_the_access_logs_own() {
    let splunk = SourceFormat::Splunk {
        field: "_raw".into(),
        field_is_access_log: true,
        client_field: "clientip".into(),
    };
    let raw = "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \\\"GET /a HTTP/1.1\\\" 200 10";
    let input = format!(
        "{{\"result\":{{\"_raw\":\"{raw}\",\"_time\":\"2000-10-10T21:00:00.000+00:00\",\"host\":\"w1\"}}}}\n\
         {{\"result\":{{\"_raw\":\"{raw}\"}}}}\n"
    );
    let items = read(&input, &splunk, &keeping(&["host"]));
    let records = records(&items);
    assert_eq!(records[0].time_ms, time("2000-10-10T21:00:00Z"));
    assert_eq!(records[1].time_ms, time("2000-10-10T20:55:36Z"));
    assert_eq!(
        kept(records[0]),
        [
            ("time", "10/Oct/2000:13:55:36 -0700"),
            ("method", "GET"),
            ("status", "200"),
            ("host", "w1"),
        ]
    );
}

#[test]
fn formats_without_fields_refuse_to_keep_any() {
    for format in [
        SourceFormat::Lines {},
        SourceFormat::Clf { with_method: false },
    ] {
        let result = RecordReader::with_options(
            Box::new(Cursor::new(Vec::new())),
            Path::new("input"),
            &format,
            &Limits::default(),
            &keeping(&["id"]),
        );
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("nothing to keep"), "{format:?}: {message}");
    }
}
