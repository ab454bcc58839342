//! The libinjection family's detectors (the pure-Rust `libinjectionrs`) agree with the C
//! library (`libinjection-python`, from the project venv: `scripts/setup-python`,
//! `VIGIE_PYTHON`) on every parameter value of the shipped datasets: the SQLi verdict, the
//! SQLi fingerprint and the XSS verdict. Values are read as the peer reference reads them
//! (after the first `?`, split on `&`, after the first `=`), from the decoded texts; CSIC 2010's
//! `METHOD target body` gives query and body values; the paths are compared too (the family's
//! `path` option). Each distinct string goes once through one Python process.
//! The differences allowed are those documented in docs/libinjection-parity.md.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Command, Stdio};

use rayon::prelude::*;
use vigie_data::{Catalog, load};
use vigie_models::rules::{is_sqli, is_xss, sqli_fingerprint};

use vigie_test_support::{shared_datasets, venv_python, workspace_root};

/// Strings whose XSS verdict differs, as documented: libinjection-python bundles libinjection
/// 3.9.2, whose list of event-handler attributes is older and matched by prefix.
const DOCUMENTED_XSS_DIFFERENCES: usize = 15;

/// The three answers compared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdicts {
    sqli: bool,
    fingerprint: String,
    xss: bool,
}

/// Paths and parameter values of one decoded text, the reference's way.
fn strings_of(text: &str, paths: &mut BTreeSet<String>, values: &mut BTreeSet<String>) {
    let (method, rest) = match text.split_once(' ') {
        Some((m, rest)) if ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&m) => {
            (m, rest)
        }
        _ => ("", text),
    };
    let (target, body) = match (method, rest.split_once(' ')) {
        ("POST" | "PUT" | "PATCH", Some((target, body))) => (target, Some(body)),
        _ => (rest, None),
    };
    // echows-urldetect's SQLi file separates path and parameters by a TAB (the reference
    // turns it into `?`).
    let (path, query) = target
        .split_once('?')
        .or_else(|| target.split_once('\t'))
        .map_or((target, None), |(p, q)| (p, Some(q)));
    paths.insert(path.to_owned());
    for params in query.into_iter().chain(body) {
        for part in params.split('&').filter(|p| !p.is_empty()) {
            let value = part.split_once('=').map_or(part, |(_, v)| v);
            values.insert(value.to_owned());
        }
    }
}

fn port(s: &str) -> Verdicts {
    Verdicts {
        sqli: is_sqli(s.as_bytes()),
        fingerprint: sqli_fingerprint(s.as_bytes()),
        xss: is_xss(s.as_bytes()),
    }
}

/// The C library's verdicts, streamed through one Python process.
fn c_library(strings: &[&str]) -> Vec<Verdicts> {
    let mut child = Command::new(venv_python("libinjection"))
        .arg(workspace_root().join("tests/python/libinjection_verdicts.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python");
    let stdin = child.stdin.take().expect("stdin");
    let lines: Vec<String> = strings
        .iter()
        .map(|s| serde_json::to_string(s).expect("json string"))
        .collect();
    let writer = std::thread::spawn(move || {
        let mut stdin = BufWriter::new(stdin);
        for line in lines {
            stdin.write_all(line.as_bytes()).expect("send");
            stdin.write_all(b"\n").expect("send");
        }
    });
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let verdicts: Vec<Verdicts> = stdout
        .lines()
        .map(|line| {
            let (sqli, fingerprint, xss): (bool, String, bool) =
                serde_json::from_str(&line.expect("read")).expect("verdict line");
            Verdicts {
                sqli,
                fingerprint,
                xss,
            }
        })
        .collect();
    writer.join().expect("writer");
    assert!(child.wait().expect("python").success(), "the helper failed");
    assert_eq!(
        verdicts.len(),
        strings.len(),
        "the helper answered too few lines (is libinjection-python installed? scripts/setup-python)"
    );
    verdicts
}

#[test]
fn libinjectionrs_agrees_with_the_c_library_on_every_value_of_the_datasets() {
    let Some(data_dir) = shared_datasets() else {
        return;
    };
    let catalog = Catalog::builtin().expect("catalog");
    let mut paths = BTreeSet::new();
    let mut values = BTreeSet::new();
    for name in ["fwaf", "csic2010", "echows-urldetect"] {
        let (def, _) = catalog.get(name).expect("definition");
        let dataset = load(&def, &data_dir, |_| {}).expect("load");
        let before = values.len();
        for text in &dataset.texts {
            strings_of(text, &mut paths, &mut values);
        }
        eprintln!(
            "{name}: {} texts, {} new distinct values",
            dataset.texts.len(),
            values.len() - before
        );
    }
    assert!(values.len() > 50_000, "only {} values", values.len());
    let strings: Vec<&str> = values
        .iter()
        .chain(paths.difference(&values))
        .map(String::as_str)
        .collect();
    let expected = c_library(&strings);
    let actual: Vec<Verdicts> = strings.par_iter().map(|s| port(s)).collect();

    let mut differences = Vec::new();
    let mut counts = [0usize; 3];
    for ((s, c), rust) in strings.iter().zip(&expected).zip(&actual) {
        if c != rust {
            counts[0] += usize::from(c.sqli != rust.sqli);
            counts[1] += usize::from(c.fingerprint != rust.fingerprint);
            counts[2] += usize::from(c.xss != rust.xss);
            differences.push(format!("{s:?}: C {c:?}, libinjectionrs {rust:?}"));
        }
    }
    let flagged = expected.iter().filter(|v| v.sqli || v.xss).count();
    eprintln!(
        "{} distinct values and {} more distinct paths compared; the C library flags {flagged}; \
         {} differ (SQLi verdict {}, fingerprint {}, XSS verdict {})",
        values.len(),
        strings.len() - values.len(),
        differences.len(),
        counts[0],
        counts[1],
        counts[2]
    );
    for line in &differences {
        eprintln!("  {line}");
    }
    let first: Vec<&String> = differences.iter().take(20).collect();
    assert_eq!(
        counts[..2],
        [0, 0],
        "SQLi verdicts or fingerprints differ; first differences: {first:#?}"
    );
    assert!(
        counts[2] <= DOCUMENTED_XSS_DIFFERENCES,
        "{} XSS verdicts differ, {DOCUMENTED_XSS_DIFFERENCES} documented \
         (docs/libinjection-parity.md); first differences: {first:#?}",
        counts[2]
    );
}

/// The workspace patches libinjectionrs' keyword lookup (vendor/libinjectionrs/VIGIE-PATCH.md):
/// it answers as upstream's upper-case binary search does, for every keyword in both cases
/// and for words no keyword matches.
#[test]
fn lookup_word_reads_as_upstream() {
    use libinjectionrs::sqli::TokenType;
    use libinjectionrs::sqli::sqli_data::{SQL_KEYWORDS, lookup_word};

    let upstream = |word: &str| {
        let upper = word.to_ascii_uppercase();
        match SQL_KEYWORDS.binary_search_by(|k| k.word.cmp(&upper)) {
            Ok(at) => match SQL_KEYWORDS[at].token_type {
                b'k' => TokenType::Keyword,
                b'f' => TokenType::Function,
                b'U' => TokenType::Union,
                b'E' => TokenType::Expression,
                b'T' => TokenType::Tsql,
                b't' => TokenType::SqlType,
                b'o' => TokenType::Operator,
                b'&' => TokenType::LogicOperator,
                b'v' => TokenType::Variable,
                b'1' => TokenType::Number,
                b'A' => TokenType::Collate,
                b'B' => TokenType::Group,
                b'F' => TokenType::Fingerprint,
                _ => TokenType::Bareword,
            },
            Err(_) => TokenType::Bareword,
        }
    };
    let mut words: Vec<String> = SQL_KEYWORDS
        .iter()
        .flat_map(|k| [k.word.to_string(), k.word.to_ascii_lowercase()])
        .collect();
    words.extend(["", "not_a_keyword", "sélect", "SELECTX"].map(String::from));
    let longest = SQL_KEYWORDS.iter().map(|k| k.word.len()).max().unwrap_or(0);
    words.push("x".repeat(longest + 1));
    words.push(format!("{}x", SQL_KEYWORDS[0].word));
    for word in &words {
        assert_eq!(lookup_word(word), upstream(word), "{word:?}");
    }
    assert_eq!(lookup_word("select"), TokenType::Expression);
    assert_eq!(lookup_word("UnIoN"), TokenType::Union);
}
