//! Vigie's TF-IDF equals scikit-learn's `TfidfVectorizer` on real requests: the same
//! vocabulary in the same column order, the same idf, and every matrix entry within 1e-6.
//! scikit-learn runs from the project venv (`scripts/setup-python`; `VIGIE_PYTHON`).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use vigie_data::text::{
    Analyzer, DocFreq, Norm, SECURITY_TOKEN_PATTERN, TfidfConfig, TfidfVectorizer, TokenizerConfig,
};
use vigie_data::{Catalog, load};

use vigie_test_support::{shared_datasets, venv_python, workspace_root};

/// A few thousand real requests from both datasets, both classes, raw case.
fn sample_texts() -> Option<Vec<String>> {
    let data_dir = shared_datasets()?;
    let catalog = Catalog::builtin().expect("catalog");
    let mut texts = Vec::new();
    for (name, step) in [("fwaf", 61), ("csic2010", 97)] {
        let (def, _) = catalog.get(name).expect("definition");
        let d = load(&def, &data_dir, |_| {}).expect("load");
        texts.extend(d.texts.iter().step_by(step).cloned());
    }
    assert!(texts.len() > 3000, "{}", texts.len());
    Some(texts)
}

fn sklearn_fit_transform(texts: &[String], params: Value) -> Value {
    let mut child = Command::new(venv_python("scikit-learn"))
        .arg(workspace_root().join("tests/python/tfidf_reference.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    let request = json!({ "texts": texts, "params": params });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("send texts");
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "scikit-learn failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from python")
}

fn as_f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn as_usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("integer") as usize)
        .collect()
}

fn check(texts: &[String], config: TfidfConfig, params: Value) {
    let (fitted, matrix) = TfidfVectorizer::fit_transform(config.clone(), texts).expect("fit");
    let reference = sklearn_fit_transform(texts, params);
    let vocabulary: Vec<String> = reference["vocabulary"]
        .as_array()
        .expect("vocabulary")
        .iter()
        .map(|t| t.as_str().expect("term").to_owned())
        .collect();
    assert_eq!(
        fitted.vocabulary().len(),
        vocabulary.len(),
        "{config:?}: vocabulary sizes differ"
    );
    if let Some(i) = (0..vocabulary.len()).find(|&i| fitted.vocabulary()[i] != vocabulary[i]) {
        panic!(
            "{config:?}: column {i} is {:?} in Vigie, {:?} in scikit-learn",
            fitted.vocabulary()[i],
            vocabulary[i]
        );
    }
    for (i, (a, b)) in fitted
        .idf()
        .iter()
        .zip(as_f64s(&reference["idf"]))
        .enumerate()
    {
        assert!(
            (a - b).abs() < 1e-9,
            "{config:?}: idf of {:?}: {a} vs {b}",
            vocabulary[i]
        );
    }
    let indptr = as_usizes(&reference["indptr"]);
    let indices = as_usizes(&reference["indices"]);
    let data = as_f64s(&reference["data"]);
    assert_eq!(matrix.n_rows(), texts.len());
    let mut max_diff = 0f64;
    for row in 0..texts.len() {
        let (cols, vals) = matrix.row(row);
        let range = indptr[row]..indptr[row + 1];
        let ref_cols: Vec<u32> = indices[range.clone()].iter().map(|&c| c as u32).collect();
        assert_eq!(
            cols,
            ref_cols.as_slice(),
            "{config:?}: columns of row {row} ({:?}) differ",
            texts[row]
        );
        for (v, r) in vals.iter().zip(&data[range]) {
            max_diff = max_diff.max((*v as f64 - r).abs());
        }
    }
    assert!(max_diff < 1e-6, "{config:?}: largest difference {max_diff}");
    eprintln!(
        "{:?}: {} features, {} nnz, max |diff| {max_diff:.2e}",
        config.tokenizer.analyzer,
        vocabulary.len(),
        matrix.nnz()
    );
}

fn config(analyzer: Analyzer, lowercase: bool) -> TfidfConfig {
    TfidfConfig {
        tokenizer: TokenizerConfig {
            analyzer,
            lowercase,
        },
        ..TfidfConfig::default()
    }
}

#[test]
fn char_ngrams_match_sklearn() {
    let Some(texts) = sample_texts() else { return };
    // The Fwaf recipe: char 3-grams, sublinear tf, min_df=0.0.
    let mut c = config(
        Analyzer::Char {
            ngram_min: 3,
            ngram_max: 3,
        },
        true,
    );
    c.sublinear_tf = true;
    c.min_df = DocFreq::Fraction(0.0);
    check(
        &texts,
        c,
        json!({"analyzer": "char", "ngram_range": [3, 3], "sublinear_tf": true, "min_df": 0.0}),
    );

    // LinearSVC's vectoriser: char 1-3-grams, case kept, document-frequency pruning.
    let mut c = config(
        Analyzer::Char {
            ngram_min: 1,
            ngram_max: 3,
        },
        false,
    );
    c.sublinear_tf = true;
    c.min_df = DocFreq::Count(2);
    c.max_df = DocFreq::Fraction(0.9);
    check(
        &texts,
        c,
        json!({"analyzer": "char", "ngram_range": [1, 3], "sublinear_tf": true, "lowercase": false, "min_df": 2, "max_df": 0.9}),
    );
}

#[test]
fn char_wb_and_options_match_sklearn() {
    let Some(texts) = sample_texts() else { return };
    let mut c = config(
        Analyzer::CharWb {
            ngram_min: 2,
            ngram_max: 4,
        },
        true,
    );
    c.smooth_idf = false;
    c.norm = Norm::L1;
    check(
        &texts,
        c,
        json!({"analyzer": "char_wb", "ngram_range": [2, 4], "smooth_idf": false, "norm": "l1"}),
    );
}

#[test]
fn security_regex_tokens_match_sklearn() {
    let Some(texts) = sample_texts() else { return };
    let analyzer = Analyzer::Word {
        pattern: SECURITY_TOKEN_PATTERN.to_owned(),
        ngram_min: 1,
        ngram_max: 2,
    };
    let mut c = config(analyzer, true);
    c.sublinear_tf = true;
    check(
        &texts,
        c,
        json!({"analyzer": "word", "token_pattern": SECURITY_TOKEN_PATTERN, "ngram_range": [1, 2], "sublinear_tf": true, "lowercase": true}),
    );
}

#[test]
fn max_features_keeps_the_most_frequent_terms() {
    let Some(texts) = sample_texts() else { return };
    let analyzer = Analyzer::Char {
        ngram_min: 2,
        ngram_max: 4,
    };
    // Total corpus counts per term: column sums of the raw count matrix.
    let mut raw = config(analyzer.clone(), true);
    raw.use_idf = false;
    raw.norm = Norm::None;
    let (_, counts) = TfidfVectorizer::fit_transform(raw, &texts).expect("fit");
    let mut totals = vec![0f64; counts.n_cols()];
    for (cols, vals) in counts.rows() {
        for (c, v) in cols.iter().zip(vals) {
            totals[*c as usize] += f64::from(*v);
        }
    }
    totals.sort_by(|a, b| b.total_cmp(a));
    // Cut where the count strictly drops: among equal counts scikit-learn's unstable
    // argsort picks arbitrarily, so only an untied cut has one right answer.
    let k = (2000..totals.len())
        .find(|&k| totals[k - 1] > totals[k])
        .expect("an untied cut");
    let mut c = config(analyzer, true);
    c.max_features = Some(k);
    check(
        &texts,
        c,
        json!({"analyzer": "char", "ngram_range": [2, 4], "max_features": k}),
    );
}
