use std::path::Path;

use vigie_data::source::{Limits, RecordReader, SourceFormat, SourceItem, SourceRecord};

use crate::util::{gzip, write};

fn records(dir: &Path, name: &str, bytes: &[u8], format: SourceFormat) -> Vec<SourceItem> {
    let path = write(dir, name, bytes);
    RecordReader::open(&path, &format, &Limits::default())
        .expect("open")
        .collect::<Result<Vec<_>, _>>()
        .expect("read")
}

fn record(item: &SourceItem) -> &SourceRecord {
    match item {
        SourceItem::Record(r) => r,
        SourceItem::Invalid { line, reason } => panic!("line {line} invalid: {reason}"),
    }
}

fn text(item: &SourceItem) -> String {
    String::from_utf8_lossy(&record(item).raw).into_owned()
}

#[test]
fn combined_log_format_yields_target_and_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = concat!(
        "203.0.113.9 - - [26/Nov/2026:10:00:01 +0100] \"GET /index.php?id=1%27%20or%201=1-- HTTP/1.1\" 200 512 \"-\" \"curl/8.0\"\n",
        "198.51.100.2 - frank [26/Nov/2026:10:00:02 +0100] \"POST /login HTTP/1.0\" 302 - \"http://x/\" \"Mozilla/5.0 \\\"quoted\\\"\"\n",
        "192.0.2.1 - - [26/Nov/2026:10:00:03 +0100] \"\\x16\\x03\\x01\" 400 0\n",
        "garbage line\n",
    );
    let items = records(
        dir.path(),
        "access.log",
        log.as_bytes(),
        SourceFormat::Clf { with_method: false },
    );
    assert_eq!(items.len(), 4);
    assert_eq!(text(&items[0]), "/index.php?id=1%27%20or%201=1--");
    assert_eq!(record(&items[0]).client.as_deref(), Some("203.0.113.9"));
    assert_eq!(text(&items[1]), "/login");
    // Junk in the request field is kept whole: it is exactly what an analyst wants scored.
    assert_eq!(text(&items[2]), "\\x16\\x03\\x01");
    assert!(matches!(&items[3], SourceItem::Invalid { line: 4, .. }));

    let with_method = records(
        dir.path(),
        "a2.log",
        log.as_bytes(),
        SourceFormat::Clf { with_method: true },
    );
    assert_eq!(text(&with_method[1]), "POST /login");
}

#[test]
fn splunk_export_reads_the_configured_field_and_skips_metadata_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let export = concat!(
        "{\"preview\":false,\"offset\":0,\"result\":{\"uri\":\"/a.php?x=<script>\",\"clientip\":\"10.0.0.1\",\"_raw\":\"10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \\\"GET /a.php?x=<script> HTTP/1.1\\\" 200 10\"}}\n",
        "{\"preview\":false,\"lastrow\":true}\n",
        "{\"result\":{\"clientip\":\"10.0.0.2\"}}\n",
    );
    let fmt = SourceFormat::Splunk {
        field: "uri".into(),
        field_is_access_log: false,
        client_field: "clientip".into(),
    };
    let items = records(dir.path(), "export.json", export.as_bytes(), fmt);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(text(&items[0]), "/a.php?x=<script>");
    assert_eq!(record(&items[0]).client.as_deref(), Some("10.0.0.1"));
    assert!(
        matches!(&items[1], SourceItem::Invalid { line: 3, reason } if reason.contains("result.uri"))
    );

    let raw = SourceFormat::Splunk {
        field: "_raw".into(),
        field_is_access_log: true,
        client_field: "clientip".into(),
    };
    let items = records(dir.path(), "export2.json", export.as_bytes(), raw);
    assert_eq!(text(&items[0]), "/a.php?x=<script>");
}

#[test]
fn http_dump_with_headers_bodies_and_mixed_line_endings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dump = concat!(
        "POST http://localhost:8080/tienda1/publico/autenticar.jsp HTTP/1.1\r\n",
        "User-Agent: Mozilla/5.0\r\n",
        "Content-Length: 27\n",
        "Cookie: JSESSIONID=ABC\r\n",
        "\r\n",
        "modo=entrar&login=a%F1o&B1=\r\n",
        "\r\n",
        "GET http://localhost:8080/tienda1/index.jsp HTTP/1.1\n",
        "User-Agent: Mozilla/5.0\n",
        "\n",
    );
    let path = write(dir.path(), "dump.txt", &gzip(dump.as_bytes()));
    let fmt = SourceFormat::Http {
        headers: vec!["cookie".into()],
        strip_origin: true,
    };
    let items: Vec<SourceItem> = RecordReader::open(&path, &fmt, &Limits::default())
        .expect("open")
        .collect::<Result<_, _>>()
        .expect("read");
    assert_eq!(items.len(), 2);
    assert_eq!(
        text(&items[0]),
        "POST /tienda1/publico/autenticar.jsp modo=entrar&login=a%F1o&B1= Cookie: JSESSIONID=ABC"
    );
    assert_eq!(record(&items[0]).line, 1);
    assert_eq!(text(&items[1]), "GET /tienda1/index.jsp ");
    assert_eq!(record(&items[1]).line, 8);
}

#[test]
fn csv_without_header_uses_column_indexes_and_other_delimiters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fmt = SourceFormat::Csv {
        text_column: "1".into(),
        label_column: Some("0".into()),
        delimiter: ';',
        has_header: false,
    };
    let items = records(dir.path(), "x.csv", b"1;/a?x=1\n0;\"/b;c\"\n", fmt);
    assert_eq!(text(&items[1]), "/b;c");
    assert_eq!(record(&items[0]).label_key.as_deref(), Some("1"));
}

#[test]
fn jsonl_labels_may_be_numbers_strings_or_booleans_at_dotted_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fmt = SourceFormat::Jsonl {
        text_field: "req.uri".into(),
        label_field: Some("y".into()),
    };
    let items = records(
        dir.path(),
        "x.jsonl",
        b"{\"req\":{\"uri\":\"/a\"},\"y\":1}\n\n{\"req\":{\"uri\":\"/b\"},\"y\":false}\n{\"req\":{\"uri\":\"/c\"},\"y\":\"anom\"}\n",
        fmt,
    );
    let labels: Vec<_> = items
        .iter()
        .map(|i| record(i).label_key.clone().unwrap_or_default())
        .collect();
    assert_eq!(labels, ["1", "0", "anom"]);
}
