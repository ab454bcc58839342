//! Metrics against scikit-learn 1.9 (`tests/python/metrics_reference.py`), threshold choice,
//! scoring speed, and charts.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};
use vigie_data::Label;
use vigie_models::metrics::{
    self, BinaryMetrics, Confusion, PrCurve, RocCurve, ThresholdRule, choose_threshold, evaluate,
    plots,
};
use vigie_models::{ModelError, Scorer};

use vigie_test_support::{venv_python, workspace_root};

/// Every number must match scikit-learn this closely.
const TOLERANCE: f64 = 1e-9;

/// A small deterministic generator (splitmix64), so that every case is the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn label(&mut self, malicious_share: f64) -> Label {
        if self.uniform() < malicious_share {
            Label::Malicious
        } else {
            Label::Benign
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Uniform scores, labels independent of them.
fn random_case(n: usize, seed: u64) -> (Vec<f64>, Vec<Label>) {
    let mut rng = SplitMix(seed);
    (0..n).map(|_| (rng.uniform(), rng.label(0.3))).unzip()
}

/// A realistic imbalanced split: 2 % malicious, overlapping classes of sigmoid scores.
fn imbalanced_case(n: usize, seed: u64) -> (Vec<f64>, Vec<Label>) {
    let mut rng = SplitMix(seed);
    (0..n)
        .map(|_| {
            let label = rng.label(0.02);
            let logit = match label {
                Label::Benign => -3.0 + 1.5 * rng.normal(),
                Label::Malicious => 2.0 + 2.0 * rng.normal(),
            };
            (sigmoid(logit), label)
        })
        .unzip()
}

/// Scores rounded to 0.1, weakly informative: many ties at every cutoff.
fn heavy_ties_case(n: usize, seed: u64) -> (Vec<f64>, Vec<Label>) {
    let mut rng = SplitMix(seed);
    (0..n)
        .map(|_| {
            let label = rng.label(0.4);
            let shift = if label.is_malicious() { 0.2 } else { 0.0 };
            let score = ((rng.uniform() * 0.8 + shift) * 10.0).round() / 10.0;
            (score, label)
        })
        .unzip()
}

/// Runs the scikit-learn reference on one case.
fn reference(scores: &[f64], labels: &[Label], threshold: f64) -> Value {
    let script = workspace_root().join("tests/python/metrics_reference.py");
    let input = json!({
        "scores": scores,
        "labels": labels.iter().map(|l| l.as_u8()).collect::<Vec<_>>(),
        "threshold": threshold,
    });
    let mut child = Command::new(venv_python("scikit-learn"))
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the Python reference");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.to_string().as_bytes())
        .expect("cannot write to the reference");
    drop(stdin);
    let output = child.wait_with_output().expect("reference did not finish");
    assert!(
        output.status.success(),
        "reference failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("reference output is not JSON")
}

/// A reference number: a JSON number, `"inf"`/`"-inf"`/`"nan"`, or `null` (undefined: NaN here).
fn number(value: &Value) -> f64 {
    match value {
        Value::Null => f64::NAN,
        Value::String(text) => match text.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            "nan" => f64::NAN,
            other => panic!("unexpected reference value {other:?}"),
        },
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

fn assert_close(what: &str, ours: f64, theirs: f64) {
    let same =
        (ours.is_nan() && theirs.is_nan()) || ours == theirs || (ours - theirs).abs() <= TOLERANCE;
    assert!(same, "{what}: ours {ours}, scikit-learn {theirs}");
}

fn assert_series(what: &str, ours: &[f64], theirs: &Value) {
    let theirs = theirs
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no array"));
    assert_eq!(ours.len(), theirs.len(), "{what}: point count");
    for (index, (ours, theirs)) in ours.iter().zip(theirs).enumerate() {
        assert_close(&format!("{what}[{index}]"), *ours, number(theirs));
    }
}

fn assert_roc(what: &str, ours: &RocCurve, theirs: &Value) {
    assert_series(&format!("{what}.fpr"), &ours.fpr, &theirs["fpr"]);
    assert_series(&format!("{what}.tpr"), &ours.tpr, &theirs["tpr"]);
    assert_series(
        &format!("{what}.thresholds"),
        &ours.thresholds,
        &theirs["thresholds"],
    );
}

fn assert_pr(what: &str, ours: &PrCurve, theirs: &Value) {
    assert_series(
        &format!("{what}.precision"),
        &ours.precision,
        &theirs["precision"],
    );
    assert_series(&format!("{what}.recall"), &ours.recall, &theirs["recall"]);
    assert_series(
        &format!("{what}.thresholds"),
        &ours.thresholds,
        &theirs["thresholds"],
    );
}

/// Compares every metric and curve of one case with scikit-learn.
fn check_parity(case: &str, scores: &[f64], labels: &[Label], threshold: f64) {
    let theirs = reference(scores, labels, threshold);
    let ours: BinaryMetrics = evaluate(scores, labels, threshold);
    assert_eq!(
        ours.n,
        theirs["n"].as_u64().unwrap_or(u64::MAX),
        "{case}: n"
    );
    assert_eq!(
        ours.n_malicious,
        theirs["n_malicious"].as_u64().unwrap_or(u64::MAX),
        "{case}: n_malicious"
    );
    let expected_confusion: Confusion =
        serde_json::from_value(theirs["confusion"].clone()).expect("confusion");
    assert_eq!(ours.confusion, expected_confusion, "{case}: confusion");
    let scalars = [
        ("accuracy", ours.accuracy),
        ("precision", ours.precision),
        ("recall", ours.recall),
        ("f1", ours.f1),
        ("roc_auc", ours.roc_auc),
        ("pr_auc", ours.pr_auc),
        ("fpr", ours.fpr),
        ("tpr_at_fpr_1e3", ours.tpr_at_fpr_1e3),
        ("tpr_at_fpr_1e2", ours.tpr_at_fpr_1e2),
    ];
    for (name, value) in scalars {
        assert_close(&format!("{case}: {name}"), value, number(&theirs[name]));
    }
    assert_close(
        &format!("{case}: roc_auc()"),
        metrics::roc_auc(scores, labels),
        number(&theirs["roc_auc"]),
    );
    assert_roc(
        &format!("{case}: roc_curve"),
        &metrics::roc_curve(scores, labels),
        &theirs["roc_full"],
    );
    assert_roc(
        &format!("{case}: roc_curve_compact"),
        &metrics::roc_curve_compact(scores, labels),
        &theirs["roc_compact"],
    );
    assert_pr(
        &format!("{case}: precision_recall_curve"),
        &metrics::precision_recall_curve(scores, labels),
        &theirs["pr"],
    );
    // The MaxF1 rule finds scikit-learn's best F1 over the PR curve.
    if ours.roc_auc.is_finite() {
        let choice = choose_threshold(scores, labels, &ThresholdRule::MaxF1 {}, 0.5)
            .expect("both classes are present");
        assert_close(
            &format!("{case}: max F1"),
            choice.valid_f1,
            number(&theirs["max_f1"]),
        );
    }
}

#[test]
fn parity_random_scores() {
    let (scores, labels) = random_case(500, 1);
    check_parity("random", &scores, &labels, 0.5);
}

#[test]
fn parity_heavy_ties() {
    let (scores, labels) = heavy_ties_case(2_000, 2);
    // The threshold sits on a tie: `>=` must flag the whole tie.
    check_parity("heavy ties", &scores, &labels, 0.5);
    let (scores, labels) = heavy_ties_case(300, 3);
    check_parity("heavy ties, small", &scores, &labels, 0.3);
}

#[test]
fn parity_all_equal_scores() {
    let mut rng = SplitMix(4);
    let labels: Vec<Label> = (0..100).map(|_| rng.label(0.5)).collect();
    let scores = vec![0.3; labels.len()];
    check_parity("all equal, flagged", &scores, &labels, 0.3);
    check_parity("all equal, not flagged", &scores, &labels, 0.31);
}

#[test]
fn parity_perfectly_separated() {
    let mut rng = SplitMix(5);
    let (scores, labels): (Vec<f64>, Vec<Label>) = (0..400)
        .map(|_| {
            let label = rng.label(0.25);
            let score = match label {
                Label::Benign => rng.uniform() * 0.4,
                Label::Malicious => 0.6 + rng.uniform() * 0.4,
            };
            (score, label)
        })
        .unzip();
    check_parity("separated", &scores, &labels, 0.5);
    let metrics = evaluate(&scores, &labels, 0.5);
    assert_eq!((metrics.roc_auc, metrics.f1), (1.0, 1.0));
    // The step-wise sum of recall increments is 1 up to rounding.
    assert!(
        (metrics.pr_auc - 1.0).abs() < TOLERANCE,
        "{}",
        metrics.pr_auc
    );
}

#[test]
fn parity_realistic_imbalanced() {
    let (scores, labels) = imbalanced_case(20_000, 6);
    check_parity("imbalanced", &scores, &labels, 0.5);
    check_parity("imbalanced, high threshold", &scores, &labels, 0.9);
}

#[test]
fn parity_missing_class() {
    let scores = [0.2, 0.7, 0.4];
    let benign = [Label::Benign; 3];
    check_parity("benign only", &scores, &benign, 0.5);
    let malicious = [Label::Malicious; 3];
    check_parity("malicious only", &scores, &malicious, 0.5);
    let metrics = evaluate(&scores, &benign, 0.5);
    assert!(metrics.roc_auc.is_nan() && metrics.pr_auc.is_nan());
    assert!(metrics.tpr_at_fpr_1e3.is_nan());
}

#[test]
fn evaluate_is_fast_on_200k_scores() {
    let (scores, labels) = imbalanced_case(200_000, 7);
    let start = Instant::now();
    let metrics = evaluate(&scores, &labels, 0.5);
    let elapsed = start.elapsed();
    assert_eq!(metrics.n, 200_000);
    assert!(metrics.roc_auc > 0.9, "{metrics:?}");
    // A quadratic pass would take minutes; sorting once takes tens of milliseconds.
    assert!(elapsed.as_secs_f64() < 2.0, "evaluate took {elapsed:?}");
}

/// Scores equal to no score of the split, except the lowest one (everything flagged).
fn assert_between_scores(scores: &[f64], threshold: f64) {
    let lowest = scores.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        threshold == lowest || !scores.contains(&threshold),
        "threshold {threshold} is a validation score"
    );
}

#[test]
fn max_f1_threshold_reproduces_its_f1_and_is_the_best() {
    for (case, (scores, labels)) in [
        ("random", random_case(400, 8)),
        ("ties", heavy_ties_case(400, 9)),
        ("imbalanced", imbalanced_case(3_000, 10)),
    ] {
        let choice = choose_threshold(&scores, &labels, &ThresholdRule::MaxF1 {}, 0.5).unwrap();
        assert_eq!(choice.rule, "max_f1");
        let applied = evaluate(&scores, &labels, choice.threshold);
        assert_eq!(applied.f1, choice.valid_f1, "{case}");
        assert_eq!(applied.fpr, choice.valid_fpr, "{case}");
        assert_eq!(applied.recall, choice.valid_tpr, "{case}");
        assert_between_scores(&scores, choice.threshold);
        // No score of the split, used as threshold, does better.
        let mut distinct = scores.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let best = distinct
            .iter()
            .map(|&t| evaluate(&scores, &labels, t).f1)
            .fold(0.0, f64::max);
        assert_eq!(choice.valid_f1, best, "{case}");
    }
}

#[test]
fn target_fpr_never_exceeds_the_target() {
    let (scores, labels) = imbalanced_case(20_000, 11);
    let roc = metrics::roc_curve(&scores, &labels);
    for target in [1e-3, 1e-2, 0.05, 0.3] {
        let rule = ThresholdRule::TargetFpr { fpr: target };
        let choice = choose_threshold(&scores, &labels, &rule, 0.5).unwrap();
        assert_eq!(choice.rule, "target_fpr");
        assert!(choice.valid_fpr <= target, "{target}: {choice:?}");
        let applied = evaluate(&scores, &labels, choice.threshold);
        assert_eq!(applied.fpr, choice.valid_fpr, "{target}");
        assert_eq!(applied.recall, choice.valid_tpr, "{target}");
        assert_eq!(applied.f1, choice.valid_f1, "{target}");
        assert_between_scores(&scores, choice.threshold);
        // The best TPR any cutoff reaches within the budget.
        let best_tpr = roc
            .fpr
            .iter()
            .zip(&roc.tpr)
            .filter(|(fpr, _)| **fpr <= target)
            .map(|(_, tpr)| *tpr)
            .fold(0.0, f64::max);
        assert_eq!(choice.valid_tpr, best_tpr, "{target}");
    }
}

#[test]
fn threshold_needs_both_classes() {
    let scores = [0.1, 0.5, 0.9];
    for (labels, missing) in [
        ([Label::Benign; 3], "malicious"),
        ([Label::Malicious; 3], "benign"),
    ] {
        for rule in [
            ThresholdRule::MaxF1 {},
            ThresholdRule::TargetFpr { fpr: 0.01 },
            ThresholdRule::Model {},
        ] {
            match choose_threshold(&scores, &labels, &rule, 0.5) {
                Err(ModelError::Data(message)) => {
                    assert!(message.contains(missing), "{message}");
                }
                other => panic!("{rule:?}: {other:?}"),
            }
        }
    }
    assert!(matches!(
        choose_threshold(&[], &[], &ThresholdRule::MaxF1 {}, 0.5),
        Err(ModelError::Data(_))
    ));
}

#[test]
fn model_rule_keeps_the_model_default() {
    let (scores, labels) = random_case(200, 12);
    let choice = choose_threshold(&scores, &labels, &ThresholdRule::Model {}, 0.25).unwrap();
    assert_eq!(choice.threshold, 0.25);
    assert_eq!(choice.rule, "model");
    assert_eq!(choice.valid_f1, evaluate(&scores, &labels, 0.25).f1);
    let bad = ThresholdRule::TargetFpr { fpr: 1.5 };
    match choose_threshold(&scores, &labels, &bad, 0.5) {
        Err(ModelError::InvalidConfig { field, .. }) => assert_eq!(field, "threshold.fpr"),
        other => panic!("{other:?}"),
    }
}

/// Scores a text by its length; counts nothing else.
struct LengthScorer;

impl Scorer for LengthScorer {
    fn score_batch(&self, texts: &[&str]) -> Vec<f64> {
        texts.iter().map(|text| text.len() as f64).collect()
    }
}

#[test]
fn scoring_speed_probes_the_requested_count() {
    let owned: Vec<String> = (0..5_000).map(|i| format!("/page?id={i}")).collect();
    let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
    let speed = metrics::scoring_speed(&LengthScorer, &texts, 1_000);
    assert_eq!(speed.single_samples, 1_000);
    assert!(speed.batch_requests_per_s > 0.0 && speed.batch_requests_per_s.is_finite());
    assert!(speed.single_p50_us >= 0.0 && speed.single_p50_us <= speed.single_p99_us);
    let empty = metrics::scoring_speed(&LengthScorer, &[], 1_000);
    assert_eq!(empty.single_samples, 0);
    assert_eq!(empty.batch_requests_per_s, 0.0);
}

/// Asserts a PNG file with the given dimensions (from its IHDR chunk).
fn assert_png(path: &Path, width: u32, height: u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|err| panic!("{path:?}: {err}"));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{path:?} is not a PNG"
    );
    assert_eq!(&bytes[12..16], b"IHDR", "{path:?}");
    let read_u32 =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    assert_eq!((read_u32(16), read_u32(20)), (width, height), "{path:?}");
    assert!(
        bytes.len() > 5_000,
        "{path:?} is only {} bytes",
        bytes.len()
    );
}

#[test]
fn charts_are_written_as_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let (scores, labels) = imbalanced_case(5_000, 13);
    let (other_scores, other_labels) = random_case(1_000, 14);
    let roc = metrics::roc_curve(&scores, &labels);
    let other_roc = metrics::roc_curve_compact(&other_scores, &other_labels);
    let curves = [("imbalanced", &roc), ("random", &other_roc)];
    let pr = metrics::precision_recall_curve(&scores, &labels);
    let other_pr = metrics::precision_recall_curve(&other_scores, &other_labels);
    let confusion = evaluate(&scores, &labels, 0.5).confusion;

    let path = |name: &str| dir.path().join(name);
    plots::roc_png(&path("roc.png"), &curves).unwrap();
    plots::roc_low_fpr_png(&path("roc_low_fpr.png"), &curves).unwrap();
    plots::pr_png(
        &path("pr.png"),
        &[("imbalanced", &pr), ("random", &other_pr)],
    )
    .unwrap();
    plots::confusion_png(&path("confusion.png"), &confusion, "test: confusion").unwrap();
    plots::score_histogram_png(&path("scores.png"), &scores, &labels, 0.5).unwrap();
    for name in ["roc.png", "roc_low_fpr.png", "pr.png", "scores.png"] {
        assert_png(&path(name), 1000, 600);
    }
    assert_png(&path("confusion.png"), 700, 700);

    // Degenerate inputs still give a chart.
    let one_class = metrics::roc_curve(&[0.1, 0.2], &[Label::Benign; 2]);
    plots::roc_png(&path("roc_one_class.png"), &[("one class", &one_class)]).unwrap();
    assert_png(&path("roc_one_class.png"), 1000, 600);
    plots::score_histogram_png(&path("equal.png"), &[0.5; 4], &[Label::Benign; 4], 0.5).unwrap();
    assert_png(&path("equal.png"), 1000, 600);
}

#[test]
fn chart_in_a_missing_folder_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("no/such/folder/roc.png");
    let roc = metrics::roc_curve(&[0.1, 0.9], &[Label::Benign, Label::Malicious]);
    let results = [
        plots::roc_png(&bad, &[("model", &roc)]),
        plots::roc_low_fpr_png(&bad, &[("model", &roc)]),
        plots::confusion_png(&bad, &Confusion::default(), "empty"),
        plots::score_histogram_png(&bad, &[0.1], &[Label::Benign], 0.5),
    ];
    for result in results {
        match result {
            Err(ModelError::Plot { path, message }) => {
                assert_eq!(path, bad);
                assert!(!message.is_empty());
            }
            other => panic!("expected a plot error, got {other:?}"),
        }
    }
    assert!(!bad.exists());
}
