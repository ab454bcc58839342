//! `vigie bench tfidf` (tokenise + TF-IDF transform) and `vigie bench score` (batch scoring with
//! a saved model) beside scikit-learn.
//!
//! Both sides fit the same vectoriser on the same training split and time
//! `transform` of the same test split, single-threaded, in one invocation, so the
//! ratio is meaningful on a shared machine even when absolute times are not.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;
use vigie_data::Split;
use vigie_data::text::{
    Analyzer, DocFreq, RowVectorizer, SECURITY_TOKEN_PATTERN, TfidfConfig, TfidfVectorizer,
    TokenizerConfig,
};

use crate::args::{BenchScoreArgs, BenchTfidfArgs, GlobalArgs, PrepareOpts};
use crate::output::print_json;
use crate::say;

/// The vectoriser of a bench preset, and the same options as `TfidfVectorizer` keyword arguments.
fn preset(name: &str) -> anyhow::Result<(TfidfConfig, serde_json::Value)> {
    let (analyzer, params) = match name {
        "char3" => (
            Analyzer::Char {
                ngram_min: 3,
                ngram_max: 3,
            },
            json!({"analyzer": "char", "ngram_range": [3, 3], "sublinear_tf": true, "min_df": 0.0}),
        ),
        "char1-3" => (
            Analyzer::Char {
                ngram_min: 1,
                ngram_max: 3,
            },
            json!({"analyzer": "char", "ngram_range": [1, 3], "sublinear_tf": true}),
        ),
        "regex" => (
            Analyzer::Word {
                pattern: SECURITY_TOKEN_PATTERN.to_owned(),
                ngram_min: 1,
                ngram_max: 2,
            },
            json!({"analyzer": "word", "token_pattern": SECURITY_TOKEN_PATTERN, "ngram_range": [1, 2], "sublinear_tf": true}),
        ),
        other => bail!("unknown analyzer preset {other:?} (expected char3, char1-3 or regex)"),
    };
    let config = TfidfConfig {
        tokenizer: TokenizerConfig {
            analyzer,
            lowercase: true,
        },
        sublinear_tf: true,
        min_df: if name == "char3" {
            DocFreq::Fraction(0.0)
        } else {
            DocFreq::Count(1)
        },
        ..TfidfConfig::default()
    };
    Ok((config, params))
}

#[derive(Debug, Deserialize, Serialize)]
struct ReferenceTiming {
    sklearn_version: String,
    median_s: f64,
    nnz: u64,
    n_features: u64,
    peak_rss_mib: f64,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    dataset: String,
    analyzer: String,
    train_texts: usize,
    test_texts: usize,
    n_features: usize,
    nnz: usize,
    vigie_median_s: f64,
    vigie_texts_per_s: f64,
    vigie_peak_rss_mib: Option<f64>,
    reference: Option<ReferenceTiming>,
    reference_texts_per_s: Option<f64>,
    /// Vigie throughput divided by the reference's (higher is better).
    speedup: Option<f64>,
}

pub fn tfidf(global: &GlobalArgs, args: &BenchTfidfArgs) -> anyhow::Result<()> {
    let opts = PrepareOpts {
        no_dedup: false,
        split: (0.8, 0.0, 0.2),
        seed: 42,
    };
    let prepared = super::data::load_prepared(global, &args.dataset, &opts)?;
    let (train, _) = prepared.part(Split::Train);
    let (test, _) = prepared.part(Split::Test);
    let (config, params) = preset(&args.analyzer)?;
    let fitted =
        TfidfVectorizer::fit(config, train.iter().copied()).context("fitting the vectoriser")?;

    let repeats = args.repeats.max(1);
    let mut times = Vec::with_capacity(repeats);
    let mut nnz = 0;
    for _ in 0..repeats {
        let start = Instant::now();
        let matrix = fitted.transform(test.iter().copied());
        times.push(start.elapsed().as_secs_f64());
        nnz = matrix.nnz();
    }
    let vigie_median_s = median(&mut times);

    let reference = if args.python.exists() {
        say!(
            global.quiet,
            "running the scikit-learn reference with {}",
            args.python.display()
        );
        Some(run_reference(args, &train, &test, params, repeats)?)
    } else {
        say!(
            global.quiet,
            "no Python at {}: reference skipped (run scripts/setup-python)",
            args.python.display()
        );
        None
    };
    let n_test = test.len() as f64;
    let report = BenchReport {
        dataset: prepared.data.name.clone(),
        analyzer: args.analyzer.clone(),
        train_texts: train.len(),
        test_texts: test.len(),
        n_features: fitted.n_features(),
        nnz,
        vigie_median_s,
        vigie_texts_per_s: n_test / vigie_median_s,
        vigie_peak_rss_mib: peak_rss_mib(),
        reference_texts_per_s: reference.as_ref().map(|r| n_test / r.median_s),
        speedup: reference.as_ref().map(|r| r.median_s / vigie_median_s),
        reference,
    };
    if global.json {
        return print_json(&report);
    }
    println!(
        "tokenise + TF-IDF transform, {} / {}: {} test texts, {} features, {} non-zeros",
        report.dataset, report.analyzer, report.test_texts, report.n_features, report.nnz
    );
    println!(
        "  vigie        {:>10.0} texts/s  (median {:.4} s, peak RSS {})",
        report.vigie_texts_per_s,
        report.vigie_median_s,
        report
            .vigie_peak_rss_mib
            .map_or("n/a".to_owned(), |m| format!("{m:.0} MiB"))
    );
    if let (Some(r), Some(rate), Some(speedup)) = (
        &report.reference,
        report.reference_texts_per_s,
        report.speedup,
    ) {
        println!(
            "  scikit-learn {rate:>10.0} texts/s  (median {:.4} s, peak RSS {:.0} MiB, scikit-learn {})",
            r.median_s, r.peak_rss_mib, r.sklearn_version
        );
        println!("  ratio: vigie is {speedup:.1}x the reference");
        if r.nnz as usize != report.nnz {
            println!(
                "  warning: non-zero counts differ ({} vs {})",
                report.nnz, r.nnz
            );
        }
    }
    Ok(())
}

fn run_reference(
    args: &BenchTfidfArgs,
    train: &[&str],
    test: &[&str],
    params: serde_json::Value,
    repeats: usize,
) -> anyhow::Result<ReferenceTiming> {
    let request = json!({"train": train, "test": test, "params": params, "repeats": repeats});
    run_python(&args.python, "tfidf_bench.py", &request)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Peak resident set size of this process (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[derive(Debug, Deserialize, Serialize)]
struct ReferenceScoring {
    sklearn_version: String,
    model: String,
    /// Every timed batch, in seconds.
    batch_s: Vec<f64>,
    median_s: f64,
    single_median_us: f64,
    single_p99_us: f64,
    peak_rss_mib: f64,
}

#[derive(Debug, Serialize)]
struct ScoreBenchReport {
    dataset: String,
    model: String,
    model_kind: String,
    test_texts: usize,
    vigie_median_s: f64,
    /// The fastest of the timed batches: what the code can do when the machine does not
    /// get in the way (this VM's timings move by ±20 % from one moment to the next).
    vigie_best_s: f64,
    vigie_requests_per_s: f64,
    vigie_single_p50_us: f64,
    vigie_single_p99_us: f64,
    vigie_peak_rss_mib: Option<f64>,
    reference: Option<ReferenceScoring>,
    reference_requests_per_s: Option<f64>,
    /// Vigie's batch throughput divided by the reference's (higher is better), from the
    /// medians of the batch times.
    speedup: Option<f64>,
    /// The same from the fastest batch of each side.
    best_speedup: Option<f64>,
}

/// `vigie bench score`: batch scoring of the test split, one core, beside the reference.
pub fn score(global: &GlobalArgs, args: &BenchScoreArgs) -> anyhow::Result<()> {
    let catalog = super::catalog(global).ok();
    // The split's texts are decoded already: scored as they are, like the reference scores them.
    let engine = super::score::load_engine(
        catalog.as_ref(),
        &args.model,
        args.tracking_uri.as_deref(),
        &args.cache_dir,
        None,
        true,
    )?;
    // The split of `vigie train` (70/10/20, seed 42); the reference trains on train + valid
    // (its 80 %), as in scripts/bench-models.
    let opts = PrepareOpts {
        no_dedup: false,
        split: (0.7, 0.1, 0.2),
        seed: 42,
    };
    let prepared = super::data::load_prepared(global, &args.dataset, &opts)?;
    let (train, train_labels) = prepared.part(Split::Train);
    let (valid, valid_labels) = prepared.part(Split::Valid);
    let (test, _) = prepared.part(Split::Test);

    let repeats = args.repeats.max(1);
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        std::hint::black_box(engine.score(&test));
        times.push(start.elapsed().as_secs_f64());
    }
    let vigie_median_s = median(&mut times);
    let vigie_best_s = times.iter().copied().fold(f64::INFINITY, f64::min);
    let mut latencies: Vec<f64> = test
        .iter()
        .cycle()
        .take(args.probes.max(1))
        .map(|text| {
            let start = Instant::now();
            std::hint::black_box(engine.score(std::slice::from_ref(text)));
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];

    let reference = if args.python.exists() && args.peers.exists() {
        say!(
            global.quiet,
            "fitting and timing the scikit-learn reference ({}) with {}",
            args.reference,
            args.python.display()
        );
        let texts: Vec<&str> = train.iter().chain(&valid).copied().collect();
        let labels: Vec<u8> = train_labels
            .iter()
            .chain(&valid_labels)
            .map(|l| l.as_u8())
            .collect();
        let request = json!({
            "peers": args.peers, "model": args.reference, "train": texts, "labels": labels,
            "test": test, "repeats": repeats, "probes": args.probes.min(1000),
        });
        Some(run_python::<ReferenceScoring>(
            &args.python,
            "score_bench.py",
            &request,
        )?)
    } else {
        say!(
            global.quiet,
            "no Python at {} or no reference at {}: reference skipped",
            args.python.display(),
            args.peers.display()
        );
        None
    };
    let n = test.len() as f64;
    let report = ScoreBenchReport {
        dataset: prepared.data.name.clone(),
        model: engine.origin().to_owned(),
        model_kind: engine.manifest().kind.clone(),
        test_texts: test.len(),
        vigie_median_s,
        vigie_best_s,
        vigie_requests_per_s: n / vigie_median_s,
        vigie_single_p50_us: percentile(0.5),
        vigie_single_p99_us: percentile(0.99),
        vigie_peak_rss_mib: peak_rss_mib(),
        reference_requests_per_s: reference.as_ref().map(|r| n / r.median_s),
        speedup: reference.as_ref().map(|r| r.median_s / vigie_median_s),
        best_speedup: reference.as_ref().and_then(|r| {
            let best = r.batch_s.iter().copied().fold(f64::INFINITY, f64::min);
            best.is_finite().then(|| best / vigie_best_s)
        }),
        reference,
    };
    if global.json {
        return print_json(&report);
    }
    println!(
        "batch scoring, {}: {} test requests, one core; model {} ({})",
        report.dataset, report.test_texts, report.model, report.model_kind
    );
    println!(
        "  vigie        {:>10.0} requests/s  (median {:.4} s); one request p50 {:.1} us, p99 {:.1} us; peak RSS {}",
        report.vigie_requests_per_s,
        report.vigie_median_s,
        report.vigie_single_p50_us,
        report.vigie_single_p99_us,
        report
            .vigie_peak_rss_mib
            .map_or("n/a".to_owned(), |m| format!("{m:.0} MiB"))
    );
    if let (Some(r), Some(rate), Some(speedup)) = (
        &report.reference,
        report.reference_requests_per_s,
        report.speedup,
    ) {
        println!(
            "  scikit-learn {rate:>10.0} requests/s  (median {:.4} s, {}); one request p50 {:.1} us, p99 {:.1} us; peak RSS {:.0} MiB",
            r.median_s, r.model, r.single_median_us, r.single_p99_us, r.peak_rss_mib
        );
        println!("  ratio: vigie is {speedup:.1}x the reference");
        if let Some(best) = report.best_speedup {
            println!(
                "  ratio of the fastest batches ({} each): {best:.1}x",
                args.repeats.max(1)
            );
        }
    }
    Ok(())
}

/// Runs `tests/python/<script>` with `request` as JSON on stdin, one thread, and parses its
/// JSON answer.
fn run_python<T: serde::de::DeserializeOwned>(
    python: &std::path::Path,
    script: &str,
    request: &serde_json::Value,
) -> anyhow::Result<T> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python")
        .join(script);
    let mut child = Command::new(python)
        .arg(&script)
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", python.display()))?;
    child
        .stdin
        .take()
        .context("python stdin")?
        .write_all(request.to_string().as_bytes())
        .context("sending texts to python")?;
    let out = child.wait_with_output().context("waiting for python")?;
    if !out.status.success() {
        bail!("{} failed ({})", script.display(), out.status);
    }
    serde_json::from_slice(&out.stdout).context("reading the reference's JSON")
}
