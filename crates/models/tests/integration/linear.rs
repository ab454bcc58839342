//! Linear models: parity with scikit-learn's liblinear on real requests, behaviour on toy data,
//! saving and loading, config errors, and one real-data quality check.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use vigie_data::text::{Analyzer, CsrMatrix, DocFreq, RowVectorizer, TfidfVectorizer};
use vigie_data::{Catalog, Label, PrepareConfig, PreparedDataset, Split, load};
use vigie_models::linear::{ClassWeight, LinearConfig, LinearKind, LinearModel, SvmLoss, fit};
use vigie_models::{
    LabelledTexts, ModelError, NoObserver, Persist, Scorer, TrainData, TrainObserver,
};

use vigie_test_support::{shared_datasets, venv_python, workspace_root};

fn prepared(name: &str) -> Option<PreparedDataset> {
    let data_dir = shared_datasets()?;
    let (def, _) = Catalog::builtin()
        .expect("catalog")
        .get(name)
        .expect("definition");
    let dataset = load(&def, &data_dir, |_| {}).expect("load");
    Some(PreparedDataset::new(dataset, &PrepareConfig::default()).expect("prepare"))
}

fn train_data<'a>(texts: Vec<&'a str>, labels: Vec<Label>, seed: u64) -> TrainData<'a> {
    TrainData {
        train: LabelledTexts::new(texts, labels),
        valid: LabelledTexts::default(),
        seed,
        threads: 1,
    }
}

/// Benign and malicious requests that share most of their characters: only the attack payload
/// separates them.
fn toy_requests(n_per_class: usize) -> (Vec<String>, Vec<Label>) {
    let payloads = [
        "' or 1=1 --",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "; cat /etc/shadow",
        "union select password from users",
    ];
    let pages = ["index", "shop", "cart", "login", "search", "account"];
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n_per_class {
        let page = pages[i % pages.len()];
        texts.push(format!("GET /{page}.php?id={}&lang=fr", i * 7 % 1000));
        labels.push(Label::Benign);
        let payload = payloads[i % payloads.len()];
        texts.push(format!("GET /{page}.php?id={}{payload}", i * 13 % 1000));
        labels.push(Label::Malicious);
    }
    (texts, labels)
}

fn toy_config() -> LinearConfig {
    LinearConfig {
        tol: 1e-4,
        ..LinearConfig::default()
    }
}

fn f1_at(scores: &[f64], labels: &[Label], threshold: f64) -> f64 {
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (score, label) in scores.iter().zip(labels) {
        match (*score >= threshold, label.is_malicious()) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    if tp == 0 {
        return 0.0;
    }
    2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
}

#[test]
fn separable_requests_are_classified_perfectly_by_both_kinds() {
    let (texts, labels) = toy_requests(150);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let data = train_data(refs.clone(), labels.clone(), 1);
    for kind in [LinearKind::LinearSvm, LinearKind::LogisticRegression] {
        let model = fit(kind, &toy_config(), &data, &mut NoObserver).expect("fits");
        let report = model.solver_report().expect("fresh model");
        assert!(report.converged, "{kind:?}: {report:?}");
        let scores = model.score_batch(&refs);
        let threshold = model.default_threshold();
        for ((score, label), text) in scores.iter().zip(&labels).zip(&refs) {
            assert_eq!(
                *score >= threshold,
                label.is_malicious(),
                "{kind:?}: {text} scored {score}"
            );
        }
        if kind == LinearKind::LogisticRegression {
            assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
        }
        // Unseen variants of both classes are still told apart.
        let unseen = [
            "GET /index.php?id=999999&lang=fr",
            "GET /index.php?id=999999' or 1=1 --",
        ];
        let unseen_scores = model.score_batch(&unseen);
        assert!(unseen_scores[0] < threshold && unseen_scores[1] >= threshold);
        assert_eq!(model.score_one(unseen[1]), unseen_scores[1]);
    }
}

#[test]
fn a_refit_starts_from_the_first_solve_and_learns_from_the_new_rows() {
    let (texts, labels) = toy_requests(120);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (train, more) = refs.split_at(160);
    let (train_labels, more_labels) = labels.split_at(160);
    let data = train_data(train.to_vec(), train_labels.to_vec(), 1);
    let config = LinearConfig {
        refit_with_valid: true,
        ..toy_config()
    };
    for kind in [LinearKind::LinearSvm, LinearKind::LogisticRegression] {
        let first = fit(kind, &config, &data, &mut NoObserver).expect("fits");
        let first_scores = first.score_batch(&refs);
        // With no new rows, the warm start is already the solution: one pass confirms it.
        let same = first
            .clone()
            .refit(&LabelledTexts::default(), 1, &mut NoObserver)
            .expect("refits");
        let report = same.solver_report().expect("refitted");
        assert!(
            report.converged && report.iterations == 1,
            "{kind:?}: {report:?}"
        );
        for (a, b) in same.score_batch(&refs).iter().zip(&first_scores) {
            assert!((a - b).abs() < 1e-4, "{kind:?}: {a} vs {b}");
        }
        // New rows move the weights; the vocabulary stays the first fit's.
        let more = LabelledTexts::new(more.to_vec(), more_labels.to_vec());
        let refit = first.refit(&more, 1, &mut NoObserver).expect("refits");
        assert_eq!(refit.tfidf(), same.tfidf());
        assert_ne!(refit.weights(), same.weights(), "{kind:?}");
        assert!(refit.solver_report().expect("refitted").converged);
        // A refit keeps no training rows: it cannot refit again.
        assert!(
            refit
                .refit(&LabelledTexts::default(), 1, &mut NoObserver)
                .is_err(),
            "{kind:?}"
        );
    }
    // Only a model fitted for it can refit.
    let plain = fit(LinearKind::LinearSvm, &toy_config(), &data, &mut NoObserver).expect("fits");
    let refused = plain.refit(&LabelledTexts::default(), 1, &mut NoObserver);
    assert!(
        matches!(&refused, Err(ModelError::InvalidConfig { field, .. }) if field == "model.refit_with_valid"),
        "{refused:?}"
    );
}

#[test]
fn a_seed_gives_bit_identical_weights() {
    let (texts, labels) = toy_requests(200);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for kind in [LinearKind::LinearSvm, LinearKind::LogisticRegression] {
        let fit_with = |seed| {
            fit(
                kind,
                &LinearConfig::default(),
                &train_data(refs.clone(), labels.clone(), seed),
                &mut NoObserver,
            )
            .expect("fits")
        };
        let (first, second) = (fit_with(3), fit_with(3));
        let bits = |model: &LinearModel| -> Vec<u32> {
            model.weights().iter().map(|w| w.to_bits()).collect()
        };
        assert_eq!(bits(&first), bits(&second), "{kind:?}");
        assert_eq!(first.bias().to_bits(), second.bias().to_bits());
        // Another seed visits the rows in another order: a different point within tolerance.
        assert_ne!(bits(&first), bits(&fit_with(4)), "{kind:?}: seed ignored?");
    }
}

#[test]
fn balanced_class_weights_favour_the_rare_class() {
    // 300 benign requests and 30 malicious ones, some malicious texts looking benign.
    let (all_texts, all_labels) = toy_requests(300);
    // Keep every benign request and one malicious request in ten.
    let (mut texts, mut labels): (Vec<String>, Vec<Label>) = all_texts
        .into_iter()
        .zip(all_labels)
        .enumerate()
        .filter(|(i, (_, label))| !label.is_malicious() || i % 20 == 1)
        .map(|(_, pair)| pair)
        .unzip();
    assert_eq!(texts.len(), labels.len());
    for j in 0..10 {
        texts.push(format!("GET /shop.php?id={}&lang=fr", 500 + j));
        labels.push(Label::Malicious);
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let [n_benign, n_malicious] = LabelledTexts::new(refs.clone(), labels.clone()).class_counts();
    assert!(n_benign > 5 * n_malicious, "{n_benign} vs {n_malicious}");
    let data = train_data(refs.clone(), labels.clone(), 0);
    for kind in [LinearKind::LinearSvm, LinearKind::LogisticRegression] {
        let mean_margin = |class_weight| {
            let config = LinearConfig {
                class_weight,
                ..toy_config()
            };
            let model = fit(kind, &config, &data, &mut NoObserver).expect("fits");
            let margins = model.decision_function(&refs);
            margins.iter().sum::<f64>() / margins.len() as f64
        };
        let balanced = mean_margin(ClassWeight::Balanced);
        let unweighted = mean_margin(ClassWeight::None);
        assert!(
            balanced > unweighted + 0.01,
            "{kind:?}: balanced {balanced} vs none {unweighted}"
        );
    }
}

#[derive(Default)]
struct Recorder {
    phases: Vec<(String, Option<u64>)>,
    advanced: u64,
    epochs: Vec<(u64, Vec<String>)>,
    notes: Vec<String>,
}

impl TrainObserver for Recorder {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.phases.push((name.to_owned(), total));
    }
    fn advance(&mut self, units: u64) {
        self.advanced += units;
    }
    fn epoch(&mut self, step: u64, metrics: &[(&str, f64)]) {
        assert!(metrics.iter().all(|(_, value)| value.is_finite()));
        self.epochs
            .push((step, metrics.iter().map(|(k, _)| k.to_string()).collect()));
    }
    fn note(&mut self, message: &str) {
        self.notes.push(message.to_owned());
    }
}

#[test]
fn progress_is_reported_and_hitting_max_iter_is_noted() {
    let (texts, labels) = toy_requests(100);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let data = train_data(refs, labels, 0);
    for kind in [LinearKind::LinearSvm, LinearKind::LogisticRegression] {
        let mut recorder = Recorder::default();
        let config = LinearConfig {
            tol: 1e-12,
            max_iter: 3,
            ..LinearConfig::default()
        };
        let model = fit(kind, &config, &data, &mut recorder).expect("fits");
        let phases: Vec<&str> = recorder.phases.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(phases, ["vectorise", "fit"]);
        assert_eq!(recorder.phases[1].1, Some(3));
        assert_eq!(recorder.epochs.len(), 3);
        assert_eq!(recorder.epochs[2].0, 3);
        assert_eq!(recorder.epochs[0].1, ["train_objective", "max_violation"]);
        assert_eq!(recorder.advanced, 200 + 3);
        assert_eq!(recorder.notes.len(), 1, "{kind:?}: {:?}", recorder.notes);
        assert!(recorder.notes[0].contains("max_iter"));
        assert!(!model.solver_report().expect("fresh").converged);

        let mut recorder = Recorder::default();
        fit(kind, &toy_config(), &data, &mut recorder).expect("fits");
        assert!(recorder.notes.is_empty(), "{:?}", recorder.notes);
    }
}

#[test]
fn contributions_explain_the_margin() {
    let (texts, labels) = toy_requests(100);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let model = fit(
        LinearKind::LinearSvm,
        &LinearConfig::default(),
        &train_data(refs, labels, 0),
        &mut NoObserver,
    )
    .expect("fits");
    let text = "GET /login.php?id=12<script>alert(1)</script>";
    let all = model.contributions(text, usize::MAX);
    let total: f64 = all.iter().map(|c| f64::from(c.contribution)).sum();
    let margin = model.decision_function(&[text])[0];
    assert!(
        (total + model.bias() - margin).abs() < 1e-4,
        "{total} vs {margin}"
    );
    let top = model.contributions(text, 5);
    assert_eq!(top.len(), 5);
    assert_eq!(top, all[..5]);
    assert!(
        top.windows(2)
            .all(|p| p[0].contribution.abs() >= p[1].contribution.abs())
    );
    for c in &top {
        assert_eq!(model.tfidf().term_index(&c.term), Some(c.column));
        assert_eq!(c.contribution, c.weight * c.value);
    }
    // The strongest push towards malicious comes from the script payload.
    let strongest = all
        .iter()
        .max_by(|a, b| a.contribution.total_cmp(&b.contribution))
        .expect("terms");
    assert!(
        "<script>alert(1)</script>".contains(&strongest.term),
        "{strongest:?}"
    );
}

#[test]
fn saved_models_score_bit_for_bit_identically() {
    let (texts, labels) = toy_requests(100);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let probe = [
        "GET /cart.php?id=5&lang=fr",
        "GET /cart.php?id=5 union select 1",
        "",
        "ünïcode ☃",
    ];
    for kind in [LinearKind::LinearSvm, LinearKind::LogisticRegression] {
        let model = fit(
            kind,
            &LinearConfig::default(),
            &train_data(refs.clone(), labels.clone(), 0),
            &mut NoObserver,
        )
        .expect("fits");
        let dir = tempfile::tempdir().expect("tempdir");
        model.save(dir.path()).expect("saves");
        let loaded = LinearModel::load(dir.path()).expect("loads");
        assert_eq!(loaded.kind(), kind);
        assert_eq!(loaded.config(), model.config());
        let bits = |scores: Vec<f64>| -> Vec<u64> { scores.iter().map(|s| s.to_bits()).collect() };
        assert_eq!(
            bits(loaded.score_batch(&refs)),
            bits(model.score_batch(&refs))
        );
        assert_eq!(
            bits(loaded.score_batch(&probe)),
            bits(model.score_batch(&probe))
        );
        assert_eq!(
            loaded.contributions(probe[1], 10),
            model.contributions(probe[1], 10)
        );
    }
}

fn saved_model() -> (tempfile::TempDir, LinearModel) {
    let (texts, labels) = toy_requests(30);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let model = fit(
        LinearKind::LinearSvm,
        &LinearConfig::default(),
        &train_data(refs, labels, 0),
        &mut NoObserver,
    )
    .expect("fits");
    let dir = tempfile::tempdir().expect("tempdir");
    model.save(dir.path()).expect("saves");
    (dir, model)
}

fn assert_artifact_error(dir: &Path, file: &str) {
    match LinearModel::load(dir) {
        Err(ModelError::Artifact { path, message }) => {
            assert!(path.ends_with(file), "{} ({message})", path.display());
        }
        other => panic!("expected an artifact error naming {file}, got {other:?}"),
    }
}

#[test]
fn corrupt_saved_files_are_artifact_errors_naming_the_file() {
    let (dir, _) = saved_model();
    let weights = dir.path().join("weights.f32");
    let bytes = std::fs::read(&weights).expect("weights");
    std::fs::write(&weights, &bytes[..bytes.len() - 3]).expect("truncate");
    assert_artifact_error(dir.path(), "weights.f32");
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 4]);
    std::fs::write(&weights, &longer).expect("extend");
    assert_artifact_error(dir.path(), "weights.f32");
    let mut nan = bytes.clone();
    nan[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&weights, &nan).expect("nan");
    assert_artifact_error(dir.path(), "weights.f32");
    std::fs::write(&weights, &bytes).expect("restore");
    assert!(LinearModel::load(dir.path()).is_ok());

    let meta = dir.path().join("linear.json");
    let text = std::fs::read_to_string(&meta).expect("meta");
    std::fs::write(&meta, &text[..text.len() / 2]).expect("truncate");
    assert_artifact_error(dir.path(), "linear.json");
    std::fs::write(&meta, text.replace("\"c\": 1.0", "\"c\": -1.0")).expect("edit");
    assert_artifact_error(dir.path(), "linear.json");
    std::fs::write(&meta, &text).expect("restore");

    let tfidf = dir.path().join("tfidf.json");
    std::fs::write(
        &tfidf,
        "{\"config\": {}, \"vocabulary\": [\"a\"], \"idf\": [1.0]}",
    )
    .expect("replace");
    assert_artifact_error(dir.path(), "tfidf.json");
    std::fs::write(&tfidf, "[").expect("garbage");
    assert_artifact_error(dir.path(), "tfidf.json");

    std::fs::remove_file(&meta).expect("remove");
    assert!(matches!(
        LinearModel::load(dir.path()),
        Err(ModelError::Io { path, .. }) if path.ends_with("linear.json")
    ));
}

#[test]
fn invalid_configs_name_their_key() {
    let (texts, labels) = toy_requests(10);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let data = train_data(refs, labels, 0);
    let mut bad_ngrams = LinearConfig::default();
    bad_ngrams.tfidf.tokenizer.analyzer = Analyzer::Char {
        ngram_min: 3,
        ngram_max: 2,
    };
    let mut bad_df = LinearConfig::default();
    bad_df.tfidf.min_df = DocFreq::Count(0);
    let cases = [
        (
            LinearConfig {
                c: 0.0,
                ..LinearConfig::default()
            },
            LinearKind::LinearSvm,
            "model.c",
        ),
        (
            LinearConfig {
                c: f64::NAN,
                ..LinearConfig::default()
            },
            LinearKind::LogisticRegression,
            "model.c",
        ),
        (
            LinearConfig {
                tol: -1.0,
                ..LinearConfig::default()
            },
            LinearKind::LinearSvm,
            "model.tol",
        ),
        (
            LinearConfig {
                max_iter: 0,
                ..LinearConfig::default()
            },
            LinearKind::LinearSvm,
            "model.max_iter",
        ),
        (
            LinearConfig {
                intercept_scaling: -1.0,
                ..LinearConfig::default()
            },
            LinearKind::LinearSvm,
            "model.intercept_scaling",
        ),
        (
            LinearConfig {
                loss: Some(SvmLoss::Hinge),
                ..LinearConfig::default()
            },
            LinearKind::LogisticRegression,
            "model.loss",
        ),
        (bad_df, LinearKind::LinearSvm, "model.tfidf"),
        (bad_ngrams, LinearKind::LinearSvm, "model.tfidf.tokenizer"),
    ];
    for (config, kind, key) in cases {
        match fit(kind, &config, &data, &mut NoObserver) {
            Err(ModelError::InvalidConfig { field, .. }) => assert_eq!(field, key),
            other => panic!("{key}: expected InvalidConfig, got {:?}", other.err()),
        }
    }
}

#[test]
fn one_class_or_empty_training_data_is_a_data_error() {
    let texts = vec!["GET /a", "GET /b", "GET /c"];
    for label in [Label::Benign, Label::Malicious] {
        let data = train_data(texts.clone(), vec![label; 3], 0);
        for kind in [LinearKind::LinearSvm, LinearKind::LogisticRegression] {
            let result = fit(kind, &LinearConfig::default(), &data, &mut NoObserver);
            assert!(
                matches!(result, Err(ModelError::Data(_))),
                "{:?}",
                result.err()
            );
        }
    }
    let empty = train_data(Vec::new(), Vec::new(), 0);
    assert!(matches!(
        fit(
            LinearKind::LinearSvm,
            &LinearConfig::default(),
            &empty,
            &mut NoObserver
        ),
        Err(ModelError::Data(_))
    ));
}

/// Every `step`-th training text of a dataset, up to `count`.
fn sample(prepared: &PreparedDataset, count: usize) -> (Vec<&str>, Vec<Label>) {
    let (texts, labels) = prepared.part(Split::Train);
    let step = (texts.len() / count).max(1);
    texts
        .into_iter()
        .zip(labels)
        .step_by(step)
        .take(count)
        .unzip()
}

fn write_le<T: Copy, const N: usize>(path: &Path, values: &[T], bytes: fn(T) -> [u8; N]) {
    let buffer: Vec<u8> = values.iter().flat_map(|&v| bytes(v)).collect();
    std::fs::write(path, buffer).expect("write");
}

#[test]
fn svm_and_logistic_regression_match_scikit_learn_liblinear() {
    let (Some(fwaf), Some(csic)) = (prepared("fwaf"), prepared("csic2010")) else {
        return;
    };
    let (mut texts, mut labels) = sample(&fwaf, 1500);
    let (csic_texts, csic_labels) = sample(&csic, 1500);
    texts.extend(csic_texts);
    labels.extend(csic_labels);
    let config = LinearConfig {
        tol: 1e-6,
        max_iter: 100_000,
        c: 1.0,
        ..LinearConfig::default()
    };
    let data = train_data(texts.clone(), labels.clone(), 42);
    let svm = fit(LinearKind::LinearSvm, &config, &data, &mut NoObserver).expect("svm");
    let lr = fit(
        LinearKind::LogisticRegression,
        &config,
        &data,
        &mut NoObserver,
    )
    .expect("lr");
    assert!(svm.solver_report().expect("fresh").converged);
    assert!(lr.solver_report().expect("fresh").converged);

    // Python fits on the very matrix our models were trained on.
    let (_, matrix) = TfidfVectorizer::fit_transform(config.tfidf.clone(), &texts).expect("tfidf");
    assert_eq!(&matrix, &svm.tfidf().transform(&texts));
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path();
    let meta = serde_json::json!({
        "n_rows": matrix.n_rows(), "n_cols": matrix.n_cols(), "c": config.c,
        "class_weight": "balanced", "intercept_scaling": config.intercept_scaling,
        "tol": 1e-6, "max_iter": 100_000,
    });
    std::fs::write(folder.join("meta.json"), meta.to_string()).expect("meta");
    let indptr: Vec<u64> = matrix.indptr().iter().map(|&i| i as u64).collect();
    write_le(&folder.join("indptr.u64"), &indptr, u64::to_le_bytes);
    write_le(
        &folder.join("indices.u32"),
        matrix.indices(),
        u32::to_le_bytes,
    );
    write_le(&folder.join("data.f32"), matrix.data(), f32::to_le_bytes);
    let label_bytes: Vec<u8> = labels.iter().map(|l| u8::from(l.is_malicious())).collect();
    std::fs::write(folder.join("labels.u8"), label_bytes).expect("labels");
    let script = workspace_root().join("tests/python/linear_reference.py");
    let output = Command::new(venv_python("scikit-learn"))
        .arg(script)
        .arg(folder)
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("sklearn.json")).expect("result"))
            .expect("json");

    for (name, model) in [("linear_svm", &svm), ("logistic_regression", &lr)] {
        let coef: Vec<f64> = reference[name]["coef"]
            .as_array()
            .expect("coef")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        let intercept = reference[name]["intercept"].as_f64().expect("intercept");
        assert_eq!(coef.len(), model.weights().len());
        let max_weight = coef.iter().fold(0.0f64, |m, w| m.max(w.abs()));
        let max_diff = coef
            .iter()
            .zip(model.weights())
            .fold(0.0f64, |m, (a, b)| m.max((a - f64::from(*b)).abs()));
        eprintln!(
            "{name}: max |w| {max_weight:.4}, max |Δw| {max_diff:.2e}, intercept {intercept:.6} vs {:.6}",
            model.bias()
        );
        assert!(max_diff <= 1e-4 * max_weight, "{name}: max |Δw| {max_diff}");
        assert!(
            (intercept - model.bias()).abs() <= 1e-4 * max_weight.max(intercept.abs()),
            "{name}: intercept {intercept} vs {}",
            model.bias()
        );
        let ours = model.decision_function_matrix(&matrix);
        let agree = matrix
            .rows()
            .zip(&ours)
            .filter(|((indices, values), mine)| {
                let theirs: f64 = intercept
                    + indices
                        .iter()
                        .zip(values.iter())
                        .map(|(&j, &v)| coef[j as usize] * f64::from(v))
                        .sum::<f64>();
                (theirs >= 0.0) == (**mine >= 0.0)
            })
            .count();
        assert!(
            agree as f64 >= 0.999 * texts.len() as f64,
            "{name}: {agree} of {} predictions agree",
            texts.len()
        );
        // And our margins are what the model scores from raw texts (the fused TF-IDF dot
        // product; the matrix rows are rounded to f32, hence the tolerance).
        for (raw, row) in model.decision_function(&texts[..200]).iter().zip(&ours) {
            assert!(
                (raw - row).abs() <= 1e-6 * (1.0 + row.abs()),
                "{raw} vs {row}"
            );
        }
    }
}

#[test]
fn default_svm_separates_fwaf() {
    let Some(fwaf) = prepared("fwaf") else { return };
    let (texts, labels) = fwaf.part(Split::Train);
    let data = train_data(texts, labels, 42);
    let started = Instant::now();
    let model = fit(
        LinearKind::LinearSvm,
        &LinearConfig::default(),
        &data,
        &mut NoObserver,
    )
    .expect("fits");
    let fit_seconds = started.elapsed().as_secs_f64();
    let (test_texts, test_labels) = fwaf.part(Split::Test);
    let scores = model.score_batch(&test_texts);
    let auc = vigie_models::metrics::roc_auc(&scores, &test_labels);
    let f1 = f1_at(&scores, &test_labels, model.default_threshold());
    eprintln!("fwaf default SVM: fit {fit_seconds:.1} s, test ROC-AUC {auc:.5}, F1 {f1:.4}");
    assert!(auc > 0.999, "ROC-AUC {auc}");
    assert!(f1 > 0.99, "F1 {f1}");
}

// ---- Measurements (not assertions): `cargo nextest run --cargo-profile ci -p vigie-models
// ---- --run-ignored only -E 'test(measure_linear)' --no-capture`.

/// Test metrics of a model, with the threshold chosen for the best F1 on the validation split.
struct Measured {
    f1_default: f64,
    f1_tuned: f64,
    auc: f64,
    tpr_at_fpr_1e3: f64,
}

fn tpr_at_fpr(scores: &[f64], labels: &[Label], max_fpr: f64) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let n_pos = labels.iter().filter(|l| l.is_malicious()).count() as f64;
    let n_neg = labels.len() as f64 - n_pos;
    let (mut tp, mut fp, mut best) = (0.0, 0.0, 0.0f64);
    let mut i = 0;
    while i < order.len() {
        let score = scores[order[i]];
        while i < order.len() && scores[order[i]] == score {
            if labels[order[i]].is_malicious() {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        if fp / n_neg <= max_fpr {
            best = best.max(tp / n_pos);
        }
    }
    best
}

fn best_f1_threshold(scores: &[f64], labels: &[Label]) -> f64 {
    let mut candidates: Vec<f64> = scores.to_vec();
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    let stride = (candidates.len() / 4000).max(1);
    candidates
        .iter()
        .step_by(stride)
        .copied()
        .max_by(|&a, &b| f1_at(scores, labels, a).total_cmp(&f1_at(scores, labels, b)))
        .unwrap_or(0.0)
}

fn measure(model: &LinearModel, prepared: &PreparedDataset) -> Measured {
    let (valid_texts, valid_labels) = prepared.part(Split::Valid);
    let (test_texts, test_labels) = prepared.part(Split::Test);
    let valid_scores = model.score_batch(&valid_texts);
    let scores = model.score_batch(&test_texts);
    let threshold = best_f1_threshold(&valid_scores, &valid_labels);
    Measured {
        f1_default: f1_at(&scores, &test_labels, model.default_threshold()),
        f1_tuned: f1_at(&scores, &test_labels, threshold),
        auc: vigie_models::metrics::roc_auc(&scores, &test_labels),
        tpr_at_fpr_1e3: tpr_at_fpr(&scores, &test_labels, 1e-3),
    }
}

#[test]
#[ignore = "measurement: run explicitly"]
fn measure_linear_configs() {
    let datasets: Vec<String> = std::env::var("VIGIE_MEASURE_DATASETS")
        .unwrap_or_else(|_| "fwaf,csic2010".to_owned())
        .split(',')
        .map(str::to_owned)
        .collect();
    let variants: Vec<(String, LinearConfig)> = match std::env::var("VIGIE_MEASURE_CONFIGS") {
        // Semicolon-separated `name=toml` pairs, TOML lines separated by `|`.
        Ok(spec) => spec
            .split(';')
            .map(|pair| {
                let (name, toml_text) = pair.split_once('=').expect("name=toml");
                let config: LinearConfig =
                    toml::from_str(&toml_text.replace('|', "\n")).expect("config");
                (name.to_owned(), config)
            })
            .collect(),
        Err(_) => vec![("default".to_owned(), LinearConfig::default())],
    };
    let kinds: Vec<LinearKind> = match std::env::var("VIGIE_MEASURE_KINDS").as_deref() {
        Ok("svm") => vec![LinearKind::LinearSvm],
        Ok("lr") => vec![LinearKind::LogisticRegression],
        _ => vec![LinearKind::LinearSvm, LinearKind::LogisticRegression],
    };
    for name in &datasets {
        let Some(prepared) = prepared(name) else {
            return;
        };
        let (texts, labels) = prepared.part(Split::Train);
        for (variant, config) in &variants {
            for &kind in &kinds {
                let data = train_data(texts.clone(), labels.clone(), 42);
                let started = Instant::now();
                let (tfidf, matrix): (_, CsrMatrix) =
                    TfidfVectorizer::fit_transform(config.tfidf.clone(), &data.train.texts)
                        .expect("tfidf");
                let vectorise = started.elapsed().as_secs_f64();
                drop((tfidf, matrix));
                let started = Instant::now();
                let model = fit(kind, config, &data, &mut NoObserver).expect("fits");
                let total = started.elapsed().as_secs_f64();
                let report = model.solver_report().expect("fresh");
                let started = Instant::now();
                let m = measure(&model, &prepared);
                let scoring = started.elapsed().as_secs_f64();
                println!(
                    "{name:9} {variant:14} {:19} features {:7} | fit {total:5.2} s (vectorise ~{vectorise:4.2}) iters {:4} conv {} | F1@default {:.4} F1@valid-best {:.4} AUC {:.5} TPR@1e-3 {:.4} | score valid+test {scoring:.2} s",
                    kind.name(),
                    model.weights().len(),
                    report.iterations,
                    report.converged,
                    m.f1_default,
                    m.f1_tuned,
                    m.auc,
                    m.tpr_at_fpr_1e3,
                );
            }
        }
    }
}
