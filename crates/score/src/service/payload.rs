//! Request bodies of the service, parsed into texts with precise errors: MLflow's scoring
//! protocol for `/invocations` (JSON `dataframe_split`, `dataframe_records`, `instances`,
//! `inputs`, or CSV with a header row) and Vigie's own `/score` body.
//!
//! The model's signature is one string column, `text`. A table (dataframe, CSV) gives its
//! `text` column, or its only column when it has exactly one; a list (`instances`, `inputs`)
//! holds strings or `{"text": ...}` objects. Bodies are walked as `serde_json::Value` rather
//! than derived structs so an error can name the exact element, e.g.
//! `dataframe_split.data[3]: expected a string in column `text`, got a number`.

use serde_json::{Map, Value};

/// The input column of every Vigie model.
pub const TEXT_COLUMN: &str = "text";

/// The keys of MLflow's JSON scoring protocol that carry the inputs.
const INPUT_KEYS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// A body that does not say what it should; the message is for the client (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(pub String);

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, PayloadError>;

fn error<T>(message: impl Into<String>) -> Result<T> {
    Err(PayloadError(message.into()))
}

/// The texts of a body, with how to name one of them in an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Texts {
    pub texts: Vec<String>,
    location: Location,
}

#[derive(Debug, Clone, PartialEq)]
enum Location {
    /// `prefix[index]`.
    Indexed(String),
    /// A CSV data row, counted from 1 after the header (the line number, when no field spans
    /// lines, is one more).
    CsvRow,
}

impl Texts {
    /// How an error names text `index`: `instances[3]`, `csv row 4`.
    pub fn name_of(&self, index: usize) -> String {
        match &self.location {
            Location::Indexed(prefix) => format!("{prefix}[{index}]"),
            Location::CsvRow => format!("csv row {}", index + 1),
        }
    }
}

/// The body of `POST /score`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRequest {
    pub requests: Texts,
    /// Whether each verdict lists its features (default: yes).
    pub explain: bool,
    /// Features per verdict, when given.
    pub top: Option<usize>,
}

/// Parses `{"requests": [...], "explain": true, "top": 5}`.
pub fn parse_score_request(body: &str) -> Result<ScoreRequest> {
    let value = parse_json(body)?;
    let Value::Object(object) = value else {
        return error(format!(
            "expected a JSON object such as {{\"requests\": [\"GET /a?id=1\"]}}, got {}",
            describe(&value)
        ));
    };
    let mut explain = true;
    let mut top = None;
    let mut requests = None;
    for (key, value) in object {
        match key.as_str() {
            "requests" => requests = Some(value),
            "explain" => match value {
                Value::Bool(flag) => explain = flag,
                Value::Null => {}
                other => {
                    return error(format!(
                        "explain: expected true or false, got {}",
                        describe(&other)
                    ));
                }
            },
            "top" => match &value {
                Value::Null => {}
                Value::Number(n) => match n.as_u64().and_then(|n| usize::try_from(n).ok()) {
                    Some(n) => top = Some(n),
                    None => return error(format!("top: expected a whole number >= 0, got {n}")),
                },
                other => {
                    return error(format!(
                        "top: expected a whole number, got {}",
                        describe(other)
                    ));
                }
            },
            other => {
                return error(format!(
                    "unknown field `{other}`: expected `requests`, `explain` or `top`"
                ));
            }
        }
    }
    let Some(requests) = requests else {
        return error("missing field `requests`: a list of request texts");
    };
    let Value::Array(items) = requests else {
        return error(format!(
            "requests: expected a list of strings, got {}",
            describe(&requests)
        ));
    };
    let texts = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(text) => Ok(text),
            other => error(format!(
                "requests[{i}]: expected a string, got {}",
                describe(&other)
            )),
        })
        .collect::<Result<Vec<String>>>()?;
    Ok(ScoreRequest {
        requests: Texts {
            texts,
            location: Location::Indexed("requests".to_owned()),
        },
        explain,
        top,
    })
}

/// Parses an MLflow JSON scoring body into the `text` inputs, in order.
pub fn parse_invocation_json(body: &str) -> Result<Texts> {
    let value = parse_json(body)?;
    let Value::Object(object) = value else {
        return error(format!(
            "expected a JSON object with one of {}, got {}",
            input_keys(),
            describe(&value)
        ));
    };
    let mut input = None;
    for (key, value) in object {
        match key.as_str() {
            "params" => check_params(&value)?,
            key if INPUT_KEYS.contains(&key) => {
                if let Some((first, _)) = &input {
                    return error(format!(
                        "both `{first}` and `{key}` are given: send exactly one of {}",
                        input_keys()
                    ));
                }
                input = Some((key.to_owned(), value));
            }
            other => {
                return error(format!(
                    "unknown field `{other}`: expected one of {} (and optionally `params`)",
                    input_keys()
                ));
            }
        }
    }
    let Some((key, value)) = input else {
        return error(format!("no input: send one of {}", input_keys()));
    };
    match key.as_str() {
        "dataframe_split" => dataframe_split(value),
        "dataframe_records" => dataframe_records(value),
        _ => list_input(&key, value),
    }
}

/// MLflow passes `params` to models that declare them; ours declare none.
fn check_params(value: &Value) -> Result<()> {
    match value {
        Value::Null => Ok(()),
        Value::Object(params) => match params.keys().next() {
            None => Ok(()),
            Some(name) => error(format!(
                "params: this model takes no parameters (got `{name}`)"
            )),
        },
        other => error(format!(
            "params: expected an object, got {}",
            describe(other)
        )),
    }
}

/// `{"columns": [...], "data": [[...], ...]}` (pandas' `split` orient; `index` ignored).
fn dataframe_split(value: Value) -> Result<Texts> {
    let Value::Object(mut split) = value else {
        return error(format!(
            "dataframe_split: expected an object with `columns` and `data`, got {}",
            describe(&value)
        ));
    };
    let column = match split.remove("columns") {
        None | Some(Value::Null) => None,
        Some(Value::Array(columns)) => {
            let names = columns
                .iter()
                .enumerate()
                .map(|(i, c)| match c {
                    Value::String(name) => Ok(name.as_str()),
                    other => error(format!(
                        "dataframe_split.columns[{i}]: expected a column name, got {}",
                        describe(other)
                    )),
                })
                .collect::<Result<Vec<&str>>>()?;
            Some(pick_column(&names, "dataframe_split.columns")?)
        }
        Some(other) => {
            return error(format!(
                "dataframe_split.columns: expected a list of column names, got {}",
                describe(&other)
            ));
        }
    };
    if let Some(key) = split
        .keys()
        .find(|k| !matches!(k.as_str(), "data" | "index"))
    {
        return error(format!(
            "dataframe_split: unknown field `{key}`: expected `columns`, `data` and optionally `index`"
        ));
    }
    let rows = match split.remove("data") {
        Some(Value::Array(rows)) => rows,
        None => return error("dataframe_split: missing field `data`"),
        Some(other) => {
            return error(format!(
                "dataframe_split.data: expected a list of rows, got {}",
                describe(&other)
            ));
        }
    };
    let texts = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let (value, index) = match row {
                // A one-column frame may come as a list of scalars.
                Value::String(text) if column.is_none_or(|c| c == 0) => return Ok(text),
                Value::Array(mut cells) => {
                    let index = match column {
                        Some(index) => index,
                        None if cells.len() == 1 => 0,
                        None => {
                            return error(format!(
                                "dataframe_split.data[{i}]: {} values but no `columns` to find `{TEXT_COLUMN}`",
                                cells.len()
                            ));
                        }
                    };
                    if index >= cells.len() {
                        return error(format!(
                            "dataframe_split.data[{i}]: {} values, no column {index} (`{TEXT_COLUMN}`)",
                            cells.len()
                        ));
                    }
                    (cells.swap_remove(index), index)
                }
                other => {
                    return error(format!(
                        "dataframe_split.data[{i}]: expected a row (a list of values), got {}",
                        describe(&other)
                    ));
                }
            };
            match value {
                Value::String(text) => Ok(text),
                other => error(format!(
                    "dataframe_split.data[{i}]: expected a string in column `{TEXT_COLUMN}` (index {index}), got {}",
                    describe(&other)
                )),
            }
        })
        .collect::<Result<Vec<String>>>()?;
    Ok(Texts {
        texts,
        location: Location::Indexed("dataframe_split.data".to_owned()),
    })
}

/// `[{"text": ...}, ...]` (pandas' `records` orient).
fn dataframe_records(value: Value) -> Result<Texts> {
    let Value::Array(records) = value else {
        return error(format!(
            "dataframe_records: expected a list of objects such as {{\"{TEXT_COLUMN}\": \"GET /\"}}, got {}",
            describe(&value)
        ));
    };
    let texts = records
        .into_iter()
        .enumerate()
        .map(|(i, record)| match record {
            Value::Object(fields) => {
                text_field(fields, &format!("dataframe_records[{i}]"))
            }
            other => error(format!(
                "dataframe_records[{i}]: expected an object such as {{\"{TEXT_COLUMN}\": \"GET /\"}}, got {}",
                describe(&other)
            )),
        })
        .collect::<Result<Vec<String>>>()?;
    Ok(Texts {
        texts,
        location: Location::Indexed("dataframe_records".to_owned()),
    })
}

/// `instances` or `inputs`: a list of strings or `{"text": ...}` objects, or (columnar)
/// `{"text": [...]}`.
fn list_input(key: &str, value: Value) -> Result<Texts> {
    let (items, prefix) = match value {
        Value::Array(items) => (items, key.to_owned()),
        Value::Object(mut columns) => {
            let names: Vec<&str> = columns.keys().map(String::as_str).collect();
            let index = pick_column(&names, key)?;
            let name = names[index].to_owned();
            match columns.remove(&name) {
                Some(Value::Array(items)) => (items, format!("{key}.{name}")),
                Some(other) => {
                    return error(format!(
                        "{key}.{name}: expected a list of strings, got {}",
                        describe(&other)
                    ));
                }
                None => return error(format!("{key}: no column `{name}`")),
            }
        }
        other => {
            return error(format!(
                "{key}: expected a list of strings or of {{\"{TEXT_COLUMN}\": ...}} objects, got {}",
                describe(&other)
            ));
        }
    };
    let texts = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(text) => Ok(text),
            Value::Object(fields) => text_field(fields, &format!("{prefix}[{i}]")),
            other => error(format!(
                "{prefix}[{i}]: expected a string or an object with a `{TEXT_COLUMN}` string, got {}",
                describe(&other)
            )),
        })
        .collect::<Result<Vec<String>>>()?;
    Ok(Texts {
        texts,
        location: Location::Indexed(prefix),
    })
}

/// The `text` field of a record, or its only field.
fn text_field(mut fields: Map<String, Value>, name: &str) -> Result<String> {
    let value = match fields.remove(TEXT_COLUMN) {
        Some(value) => value,
        None if fields.len() == 1 => match fields.into_iter().next() {
            Some((_, value)) => value,
            None => return error(format!("{name}: empty object")),
        },
        None if fields.is_empty() => {
            return error(format!(
                "{name}: empty object, expected a `{TEXT_COLUMN}` field"
            ));
        }
        None => {
            let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
            return error(format!(
                "{name}: no `{TEXT_COLUMN}` field among {}",
                quote_list(&keys)
            ));
        }
    };
    match value {
        Value::String(text) => Ok(text),
        other => error(format!(
            "{name}: expected a string in column `{TEXT_COLUMN}`, got {}",
            describe(&other)
        )),
    }
}

/// The position of `text` among `columns`, or 0 when there is exactly one column.
fn pick_column(columns: &[&str], name: &str) -> Result<usize> {
    if let Some(index) = columns.iter().position(|&c| c == TEXT_COLUMN) {
        return Ok(index);
    }
    match columns.len() {
        1 => Ok(0),
        0 => error(format!("{name}: no columns, expected `{TEXT_COLUMN}`")),
        _ => error(format!(
            "{name}: no `{TEXT_COLUMN}` column among {} (the model reads one string column, `{TEXT_COLUMN}`)",
            quote_list(columns)
        )),
    }
}

/// Parses a CSV body (RFC 4180: a header row, quoted fields with `""` escapes, CRLF or LF)
/// into the `text` column, or the only column.
pub fn parse_invocation_csv(body: &str) -> Result<Texts> {
    let mut records = csv_records(body)?.into_iter();
    let Some(header) = records.next() else {
        return error("csv: empty body, expected a header row naming the `text` column");
    };
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    let index = pick_column(&names, "csv header")?;
    let width = header.len();
    let texts = records
        .enumerate()
        .map(|(i, mut fields)| {
            if fields.len() != width {
                return error(format!(
                    "csv row {}: {} fields, the header has {width}",
                    i + 1,
                    fields.len()
                ));
            }
            Ok(fields.swap_remove(index))
        })
        .collect::<Result<Vec<String>>>()?;
    Ok(Texts {
        texts,
        location: Location::CsvRow,
    })
}

/// The records of a CSV text; a blank line at the very end is not a record.
fn csv_records(body: &str) -> Result<Vec<Vec<String>>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = body.chars().peekable();
    let mut line = 1usize;
    // Whether the current record has begun (so `a\n` ends one record, not two).
    let mut started = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() => {
                started = true;
                let opening_line = line;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                        None => {
                            return error(format!(
                                "csv line {opening_line}: a quoted field is never closed"
                            ));
                        }
                    }
                }
                if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                    return error(format!(
                        "csv line {line}: text after a closing quote (quotes inside a field are doubled: \"\")"
                    ));
                }
            }
            ',' => {
                started = true;
                record.push(std::mem::take(&mut field));
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                started = false;
            }
            c => {
                started = true;
                field.push(c);
            }
        }
    }
    if started {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

fn parse_json(body: &str) -> Result<Value> {
    serde_json::from_str(body).map_err(|e| PayloadError(format!("invalid JSON: {e}")))
}

fn input_keys() -> String {
    quote_list(&INPUT_KEYS)
}

fn quote_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a JSON value is, for messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(result: Result<Texts>) -> Vec<String> {
        match result {
            Ok(texts) => texts.texts,
            Err(e) => panic!("{e}"),
        }
    }

    fn message(result: Result<Texts>) -> String {
        match result {
            Ok(texts) => panic!("expected an error, got {:?}", texts.texts),
            Err(e) => e.0,
        }
    }

    #[test]
    fn every_mlflow_shape_gives_the_texts_in_order() {
        let expected = vec!["GET /a".to_owned(), "GET /b?id=1'".to_owned()];
        for body in [
            r#"{"dataframe_split": {"columns": ["text"], "data": [["GET /a"], ["GET /b?id=1'"]]}}"#,
            r#"{"dataframe_split": {"columns": ["id", "text"], "index": [0, 1], "data": [[1, "GET /a"], [2, "GET /b?id=1'"]]}}"#,
            r#"{"dataframe_split": {"columns": ["request"], "data": [["GET /a"], ["GET /b?id=1'"]]}}"#,
            r#"{"dataframe_split": {"data": [["GET /a"], ["GET /b?id=1'"]]}}"#,
            r#"{"dataframe_records": [{"text": "GET /a"}, {"text": "GET /b?id=1'"}]}"#,
            r#"{"dataframe_records": [{"text": "GET /a", "id": 1}, {"raw": "GET /b?id=1'"}]}"#,
            r#"{"instances": ["GET /a", "GET /b?id=1'"]}"#,
            r#"{"instances": [{"text": "GET /a"}, "GET /b?id=1'"]}"#,
            r#"{"inputs": ["GET /a", "GET /b?id=1'"], "params": {}}"#,
            r#"{"inputs": {"text": ["GET /a", "GET /b?id=1'"]}}"#,
        ] {
            assert_eq!(texts(parse_invocation_json(body)), expected, "{body}");
        }
        assert!(texts(parse_invocation_json(r#"{"instances": []}"#)).is_empty());
    }

    #[test]
    fn wrong_shapes_name_the_element() {
        for (body, expected) in [
            (
                r#"{"dataframe_split": {"columns": ["text"], "data": [["a"], ["b"], ["c"], [4]]}}"#,
                "dataframe_split.data[3]: expected a string in column `text` (index 0), got a number",
            ),
            (
                r#"{"dataframe_split": {"columns": ["a", "b"], "data": [["x", "y"]]}}"#,
                "dataframe_split.columns: no `text` column among `a`, `b`",
            ),
            (
                r#"{"dataframe_split": {"columns": ["id", "text"], "data": [[1]]}}"#,
                "dataframe_split.data[0]: 1 values, no column 1",
            ),
            (
                r#"{"dataframe_records": [{"text": "a"}, {"a": "x", "b": "y"}]}"#,
                "dataframe_records[1]: no `text` field among `a`, `b`",
            ),
            (
                r#"{"dataframe_records": [{"text": null}]}"#,
                "dataframe_records[0]: expected a string in column `text`, got null",
            ),
            (
                r#"{"instances": ["a", 2]}"#,
                "instances[1]: expected a string or an object with a `text` string, got a number",
            ),
            (r#"{"inputs": "a"}"#, "inputs: expected a list of strings"),
            (r#"{"columns": ["text"]}"#, "unknown field `columns`"),
            (r#"{}"#, "no input: send one of `dataframe_split`"),
            (
                r#"{"instances": ["a"], "inputs": ["b"]}"#,
                "both `inputs` and `instances` are given",
            ),
            (
                r#"{"inputs": ["a"], "params": {"k": 1}}"#,
                "params: this model takes no parameters (got `k`)",
            ),
            (r#"["a"]"#, "expected a JSON object with one of"),
            (r#"{"instances": ["a""#, "invalid JSON: EOF while parsing"),
        ] {
            let got = message(parse_invocation_json(body));
            assert!(got.starts_with(expected), "{body}: {got}");
        }
    }

    #[test]
    fn csv_takes_the_text_column_with_quotes_and_crlf() {
        let body = "id,text\r\n1,GET /a\r\n2,\"GET /b?x=1,2&q=\"\"hi\"\"\nnext line\"\r\n";
        assert_eq!(
            texts(parse_invocation_csv(body)),
            vec!["GET /a", "GET /b?x=1,2&q=\"hi\"\nnext line"]
        );
        assert_eq!(
            texts(parse_invocation_csv("request\n/a\n\n/b")),
            vec!["/a", "", "/b"]
        );
        assert!(message(parse_invocation_csv("a,b\n1,2\n")).contains("no `text` column"));
        assert_eq!(
            message(parse_invocation_csv("id,text\n1,a\n2\n")),
            "csv row 2: 1 fields, the header has 2"
        );
        assert!(message(parse_invocation_csv("text\n\"open")).contains("never closed"));
        assert!(message(parse_invocation_csv("")).contains("empty body"));
    }

    #[test]
    fn score_requests_default_to_explained_verdicts() {
        let request = parse_score_request(r#"{"requests": ["a", "b"]}"#).expect("valid");
        assert_eq!(request.requests.texts, vec!["a", "b"]);
        assert!(request.explain);
        assert_eq!(request.top, None);
        assert_eq!(request.requests.name_of(1), "requests[1]");
        let request =
            parse_score_request(r#"{"requests": [], "explain": false, "top": 3}"#).expect("valid");
        assert!(!request.explain);
        assert_eq!(request.top, Some(3));
        for (body, expected) in [
            (
                r#"{"requests": ["a", 1]}"#,
                "requests[1]: expected a string, got a number",
            ),
            (
                r#"{"requests": "a"}"#,
                "requests: expected a list of strings, got a string",
            ),
            (r#"{"explain": true}"#, "missing field `requests`"),
            (
                r#"{"requests": [], "top": -1}"#,
                "top: expected a whole number >= 0, got -1",
            ),
            (
                r#"{"requests": [], "explain": "yes"}"#,
                "explain: expected true or false",
            ),
            (
                r#"{"requests": [], "verbose": true}"#,
                "unknown field `verbose`",
            ),
            (r#"[]"#, "expected a JSON object"),
        ] {
            match parse_score_request(body) {
                Ok(request) => panic!("{body}: accepted as {request:?}"),
                Err(e) => assert!(e.0.starts_with(expected), "{body}: {}", e.0),
            }
        }
    }
}
