use vigie_data::{DataError, load};

use crate::util::{gzip, one_file_definition, write};

const LINES: &str = "kind = \"lines\"";
const SKIP: &str = "[limits]\non_invalid = \"skip\"";

fn http_requests(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(
            format!("GET http://localhost:8080/shop/item.jsp?id={i} HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\n\r\n\r\n").as_bytes(),
        );
    }
    out
}

#[test]
fn truncated_gzip_names_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = gzip(&http_requests(5000));
    write(dir.path(), "cut.txt.gz", &full[..full.len() / 2]);
    let def = one_file_definition("kind = \"http\"", "cut.txt.gz", "");
    let err = load(&def, dir.path(), |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Io { .. }), "{msg}");
    assert!(
        msg.contains("cut.txt.gz") && msg.contains("reading line"),
        "{msg}"
    );
}

#[test]
fn intact_gzip_reads_every_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "ok.txt.gz", &gzip(&http_requests(300)));
    let def = one_file_definition("kind = \"http\"", "ok.txt.gz", "");
    let d = load(&def, dir.path(), |_| {}).expect("load");
    assert_eq!(d.len(), 300);
    assert_eq!(d.texts[7], "GET http://localhost:8080/shop/item.jsp?id=7");
}

#[test]
fn invalid_utf8_is_replaced_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "x.txt", b"/ok\n/bad\xff\xfe?x=1\n/also%FFbad\n");
    let def = one_file_definition(LINES, "x.txt", "");
    let d = load(&def, dir.path(), |_| {}).expect("load");
    assert_eq!(
        d.texts,
        ["/ok", "/bad\u{fffd}\u{fffd}?x=1", "/also\u{fffd}bad"]
    );
    assert_eq!(d.files[0].replaced_invalid_encoding, 2);
}

#[test]
fn nul_bytes_fail_with_the_line_or_are_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "x.txt", b"/a\n/b\0c\n/d\n");
    let err = load(&one_file_definition(LINES, "x.txt", ""), dir.path(), |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("x.txt:2") && msg.contains("NUL"), "{msg}");

    let d = load(
        &one_file_definition(LINES, "x.txt", SKIP),
        dir.path(),
        |_| {},
    )
    .expect("load");
    assert_eq!(d.texts, ["/a", "/d"]);
    assert_eq!(d.files[0].invalid_skipped, 1);
    assert_eq!(d.files[0].records, 3);
    assert!(d.files[0].invalid_examples[0].starts_with("line 2:"));
}

#[test]
fn a_one_megabyte_line_is_named_and_the_next_lines_still_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = b"/first\n/".to_vec();
    bytes.extend(std::iter::repeat_n(b'a', 1 << 20));
    bytes.extend_from_slice(b"\n/after\n");
    write(dir.path(), "big.txt", &bytes);
    let err = load(
        &one_file_definition(LINES, "big.txt", ""),
        dir.path(),
        |_| {},
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("big.txt:2") && msg.contains("max_record_bytes"),
        "{msg}"
    );

    let d = load(
        &one_file_definition(LINES, "big.txt", SKIP),
        dir.path(),
        |_| {},
    )
    .expect("load");
    assert_eq!(d.texts, ["/first", "/after"]);
    assert_eq!(d.origins[1].line, 3);
    assert_eq!(d.files[0].invalid_skipped, 1);

    // A larger limit accepts it.
    let roomy = "[limits]\nmax_record_bytes = 2000000";
    let d = load(
        &one_file_definition(LINES, "big.txt", roomy),
        dir.path(),
        |_| {},
    )
    .expect("load");
    assert_eq!(d.texts[1].len(), (1 << 20) + 1);
}

#[test]
fn empty_and_missing_files_name_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "empty.txt", b"");
    let err = load(
        &one_file_definition(LINES, "empty.txt", ""),
        dir.path(),
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }));
    assert!(err.to_string().contains("empty.txt"));

    let err = load(
        &one_file_definition(LINES, "absent.txt", ""),
        dir.path(),
        |_| {},
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::MissingFile { .. }), "{msg}");
    assert!(
        msg.contains("absent.txt") && msg.contains("VIGIE_DATA_DIR"),
        "{msg}"
    );
}

#[test]
fn blank_lines_are_dropped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "crlf.txt", b"/a\r\n\r\n  \r\n/b\r\n%20\r\n");
    let d = load(
        &one_file_definition(LINES, "crlf.txt", ""),
        dir.path(),
        |_| {},
    )
    .expect("load");
    assert_eq!(d.texts, ["/a", "/b"]);
    assert_eq!(d.files[0].empty_dropped, 3);
    assert_eq!(d.origins[1].line, 4);
}

const CSV: &str = "kind = \"csv\"\ntext_column = \"payload\"\nlabel_column = \"label\"";

fn csv_definition(extra: &str) -> vigie_data::DatasetDef {
    crate::util::definition(&format!(
        "name = \"t\"\n{extra}\n[format]\n{CSV}\n[labels]\nnorm = \"benign\"\nanom = \"malicious\"\n[[files]]\npath = \"x.csv\"\n"
    ))
}

#[test]
fn csv_row_with_wrong_column_count_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "x.csv",
        b"payload,label\n/a,norm\n/b,anom,extra\n\"/c,d\",anom\n",
    );
    let err = load(&csv_definition(""), dir.path(), |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("x.csv:3") && msg.contains("3 fields, expected 2"),
        "{msg}"
    );

    let d = load(&csv_definition(SKIP), dir.path(), |_| {}).expect("load");
    assert_eq!(d.texts, ["/a", "/c,d"]);
    assert_eq!(
        d.labels,
        [vigie_data::Label::Benign, vigie_data::Label::Malicious]
    );
    assert_eq!(d.files[0].invalid_skipped, 1);
}

#[test]
fn unknown_label_values_and_missing_columns_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "x.csv", b"payload,label\n/a,norm\n/b,maybe\n");
    let msg = load(&csv_definition(""), dir.path(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("x.csv:3") && msg.contains("\"maybe\""),
        "{msg}"
    );

    write(dir.path(), "x.csv", b"text,label\n/a,norm\n");
    let msg = load(&csv_definition(""), dir.path(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(msg.contains("x.csv:1") && msg.contains("payload"), "{msg}");
}

#[test]
fn malformed_http_dump_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dump = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\r\nthis is not a request\r\nHost: y\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    write(dir.path(), "d.txt", dump);
    let msg = load(
        &one_file_definition("kind = \"http\"", "d.txt", ""),
        dir.path(),
        |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("d.txt:5") && msg.contains("request line"),
        "{msg}"
    );
    let d = load(
        &one_file_definition("kind = \"http\"", "d.txt", SKIP),
        dir.path(),
        |_| {},
    )
    .expect("load");
    assert_eq!(d.texts, ["GET /a", "GET /b"]);
}

#[test]
fn invalid_json_lines_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "x.jsonl",
        b"{\"t\": \"/a\", \"y\": 1}\n{\"t\": \"/b\", \n{\"t\": \"/c\", \"y\": \"benign\"}\n",
    );
    let def = crate::util::definition(
        "name = \"t\"\n[format]\nkind = \"jsonl\"\ntext_field = \"t\"\nlabel_field = \"y\"\n[[files]]\npath = \"x.jsonl\"\n",
    );
    let msg = load(&def, dir.path(), |_| {}).unwrap_err().to_string();
    assert!(
        msg.contains("x.jsonl:2") && msg.contains("invalid JSON"),
        "{msg}"
    );
}
