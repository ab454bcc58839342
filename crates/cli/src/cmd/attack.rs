//! `vigie attack`: an evasion search against a model (`vigie_attack`), its payloads read from a
//! file or a dataset's malicious test split, its results printed, written under --out and logged
//! as an MLflow run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use vigie_attack::{
    AttackOutcome, Operator, Payload, SearchConfig, keep_families, report, run_search,
};
use vigie_data::Split;
use vigie_data::features::AttackFamily;
use vigie_mlflow::{Metric, Param, RunLogger, RunOptions, RunStatus, Tag};
use vigie_runner::DataSource;
use vigie_runner::config::DataConfig;
use vigie_score::Engine;

use super::attack_beside::{self, Beside};
use super::score::load_engine;
use super::train::{default_out_dir, open_store};
use crate::args::{AttackArgs, GlobalArgs};
use crate::output::print_json;
use crate::say;

/// What `--json` prints (the per-payload results are in evasions.jsonl and attack.json).
#[derive(Debug, Serialize)]
struct Summary<'a> {
    model: &'a str,
    model_kind: &'a str,
    threshold: f64,
    payloads: usize,
    detected: usize,
    evaded: usize,
    evasion_rate: f64,
    scored: usize,
    seconds: f64,
    rounds: &'a [vigie_attack::RoundStats],
    families: &'a [vigie_attack::FamilyStats],
    operators_helped: &'a [vigie_attack::OperatorUse],
    out_dir: &'a Path,
    evasions: PathBuf,
    run_id: Option<String>,
    /// The same search against libinjection (unless `--no-libinjection`).
    libinjection: Option<&'a Beside>,
}

pub fn attack(global: &GlobalArgs, args: &AttackArgs) -> anyhow::Result<()> {
    let operators = Operator::parse_list(&args.operators).context("--operators")?;
    let config = SearchConfig {
        rounds: args.rounds,
        candidates: args.candidates,
        beam_width: args.beam,
        operators,
        seed: args.seed,
    };
    config.validate()?;
    let families = parse_families(&args.family)?;
    let catalog = super::catalog(global).ok();
    let engine = load_engine(
        catalog.as_ref(),
        &args.model,
        args.tracking_uri.as_deref(),
        &args.cache_dir,
        None,
        false,
    )?;
    let payloads = match (&args.input, &args.dataset) {
        (Some(path), _) => read_payload_file(path, &engine)?,
        (None, Some(dataset)) => {
            let source = DataSource {
                catalog: super::catalog(global)?,
                data_dir: global.data_dir.clone(),
            };
            dataset_payloads(dataset, &source, &engine, args.seed)?
        }
        (None, None) => bail!("give --input or --dataset"),
    };
    let payloads = keep_families(payloads, &families, args.limit);
    if payloads.is_empty() {
        bail!("no payload of the families {} to attack", args.family);
    }
    say!(
        global.quiet,
        "attacking {} ({}, threshold {:.6}) with {} payloads: {} rounds of {} candidates, beam {}",
        engine.origin(),
        engine.manifest().kind,
        engine.threshold(),
        payloads.len(),
        config.rounds,
        config.candidates,
        config.beam_width
    );

    let started_ms = vigie_mlflow::now_millis();
    let started = Instant::now();
    let bar = round_bar(global.quiet, config.rounds);
    let outcome = run_search(&engine, &payloads, &config, |round, evaded, detected| {
        bar.set_position(round as u64);
        bar.set_message(format!("{evaded}/{detected} evade"));
    })?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let beside = if args.no_libinjection || engine.manifest().kind == "libinjection" {
        None
    } else {
        Some(attack_beside::libinjection(&payloads, &config)?)
    };

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir("attack", &engine.manifest().kind));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let files = write_files(&out, &outcome, &engine)?;
    let run_id = if args.no_track {
        None
    } else {
        log_run(
            args,
            &engine,
            &config,
            (&outcome, beside.as_ref()),
            &files,
            (seconds, started_ms),
        )
    };

    let summary = Summary {
        model: engine.origin(),
        model_kind: &engine.manifest().kind,
        threshold: outcome.threshold,
        payloads: outcome.payloads,
        detected: outcome.detected,
        evaded: outcome.evaded,
        evasion_rate: outcome.evasion_rate,
        scored: outcome.scored,
        seconds,
        rounds: &outcome.rounds,
        families: &outcome.families,
        operators_helped: &outcome.operators_helped,
        out_dir: &out,
        evasions: files.evasions.clone(),
        run_id,
        libinjection: beside.as_ref(),
    };
    if global.json {
        return print_json(&summary);
    }
    print_tables(&summary);
    say!(
        global.quiet,
        "{} texts scored in {seconds:.1} s; written to {} (evasions.jsonl, attack.json, evasion.png){}",
        outcome.scored,
        out.display(),
        summary
            .run_id
            .as_ref()
            .map(|id| format!("; logged as run {id} (experiment {})", args.experiment))
            .unwrap_or_default()
    );
    Ok(())
}

fn parse_families(list: &str) -> anyhow::Result<Vec<AttackFamily>> {
    let families = list
        .split(',')
        .filter(|name| !name.trim().is_empty())
        .map(AttackFamily::from_str)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| anyhow::anyhow!("--family: {message}"))?;
    if families.is_empty() {
        bail!("--family: name at least one family");
    }
    Ok(families)
}

/// One payload per non-empty line, as sent; classified on its decoded form.
fn read_payload_file(path: &Path, engine: &Engine) -> anyhow::Result<Vec<Payload>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the payloads in {}", path.display()))?;
    Ok(text
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.trim().is_empty())
        .map(|line| Payload::new(line, &engine.prepare(line)))
        .collect())
}

/// The malicious requests of `dataset`'s test split (the default split, as `vigie eval`
/// scores), in an order shuffled by `seed` so that `--limit` takes a sample, not the file's
/// first (alphabetical) lines.
fn dataset_payloads(
    dataset: &str,
    source: &DataSource,
    engine: &Engine,
    seed: u64,
) -> anyhow::Result<Vec<Payload>> {
    source
        .catalog
        .get(dataset)
        .with_context(|| format!("--dataset {dataset}"))?;
    let data = DataConfig {
        dataset: dataset.to_owned(),
        dedup: true,
        split: Default::default(),
        site: None,
        augment: None,
        feedback: None,
    };
    let prepared = vigie_runner::run::prepare_data(&data, source)
        .with_context(|| format!("loading {dataset}"))?;
    let (texts, labels) = prepared.part(Split::Test);
    let mut payloads: Vec<Payload> = texts
        .into_iter()
        .zip(labels)
        .filter(|(_, label)| label.is_malicious())
        .map(|(text, _)| Payload::new(text, &engine.prepare(text)))
        .collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut payloads);
    Ok(payloads)
}

fn round_bar(quiet: bool, rounds: usize) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(rounds as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] round {pos}/{len} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix("attack");
    bar
}

struct Files {
    evasions: PathBuf,
    outcome: PathBuf,
    chart: PathBuf,
}

fn write_files(out: &Path, outcome: &AttackOutcome, engine: &Engine) -> anyhow::Result<Files> {
    let files = Files {
        evasions: out.join("evasions.jsonl"),
        outcome: out.join("attack.json"),
        chart: out.join("evasion.png"),
    };
    report::write_evasions(&files.evasions, outcome)?;
    let json = serde_json::to_vec_pretty(outcome)?;
    std::fs::write(&files.outcome, json)
        .with_context(|| format!("writing {}", files.outcome.display()))?;
    let title = format!("Evasion against rounds: {}", engine.manifest().kind);
    report::evasion_chart_png(&files.chart, outcome, &title)?;
    Ok(files)
}

/// Logs the search as one run; a tracking failure is a warning, never the search's failure
/// (the journal keeps what did not reach the store, for `vigie mlflow sync`).
fn log_run(
    args: &AttackArgs,
    engine: &Engine,
    config: &SearchConfig,
    (outcome, beside): (&AttackOutcome, Option<&Beside>),
    files: &Files,
    (seconds, started_ms): (f64, i64),
) -> Option<String> {
    let logged = (|| -> anyhow::Result<Option<String>> {
        let mut options = RunOptions::new(&args.journal_dir, &args.experiment);
        options.run_name = Some(format!("attack-{}", engine.manifest().kind));
        options.start_time = Some(started_ms);
        options.flush_on_epoch = false;
        options.tags = vec![Tag::new("vigie.command", "attack")];
        let store = open_store(args.tracking_uri.as_deref())?;
        let mut logger = RunLogger::start(store, options).context("starting the attack run")?;
        let operators: Vec<&str> = config.operators.iter().map(|op| op.name()).collect();
        let input = match (&args.input, &args.dataset) {
            (Some(path), _) => path.display().to_string(),
            (None, Some(dataset)) => format!("dataset:{dataset}"),
            (None, None) => String::new(),
        };
        logger.log_params(&[
            Param::new("model", engine.origin()),
            Param::new("model_kind", &engine.manifest().kind),
            Param::new("threshold", engine.threshold().to_string()),
            Param::new("operators", operators.join(",")),
            Param::new("rounds", config.rounds.to_string()),
            Param::new("candidates", config.candidates.to_string()),
            Param::new("beam_width", config.beam_width.to_string()),
            Param::new("seed", config.seed.to_string()),
            Param::new("input", input),
            Param::new("families", &args.family),
            Param::new("limit", args.limit.to_string()),
        ])?;
        let mut metrics = vec![Metric::new("evasion_rate", 0.0, 0)];
        for round in &outcome.rounds {
            metrics.push(Metric::new(
                "evasion_rate",
                round.evasion_rate,
                round.round as i64,
            ));
        }
        let last_step = outcome.rounds.len() as i64;
        for family in &outcome.families {
            let key = |name: &str| format!("{name}_{}", family.family);
            metrics.push(Metric::new(
                key("evasion_rate"),
                family.evasion_rate,
                last_step,
            ));
            metrics.push(Metric::new(
                key("detected"),
                family.detected as f64,
                last_step,
            ));
            metrics.push(Metric::new(key("evaded"), family.evaded as f64, last_step));
        }
        for (key, value) in [
            ("payloads", outcome.payloads as f64),
            ("detected", outcome.detected as f64),
            ("evaded", outcome.evaded as f64),
            ("texts_scored", outcome.scored as f64),
            ("search_seconds", seconds),
        ] {
            metrics.push(Metric::new(key, value, last_step));
        }
        if let Some(beside) = beside {
            // The same search against libinjection, for the comparison in the MLflow UI.
            metrics.push(Metric::new(
                "libinjection_evasion_rate",
                beside.evasion_rate,
                last_step,
            ));
            for family in &beside.families {
                metrics.push(Metric::new(
                    format!("libinjection_evasion_rate_{}", family.family),
                    family.evasion_rate,
                    last_step,
                ));
            }
        }
        logger.log_metrics(&metrics)?;
        for file in [&files.evasions, &files.outcome, &files.chart] {
            logger.log_artifact(file, None)?;
        }
        let finished = logger.finish(RunStatus::Finished)?;
        Ok(finished.run_id)
    })();
    match logged {
        Ok(run_id) => run_id,
        Err(error) => {
            tracing::warn!("the attack was not logged: {}", crate::error_report(&error));
            None
        }
    }
}

fn print_tables(summary: &Summary<'_>) {
    println!(
        "model {} ({}), threshold {:.6}: {} payloads, {} flagged before the search, {} evade ({:.1} %)",
        summary.model,
        summary.model_kind,
        summary.threshold,
        summary.payloads,
        summary.detected,
        summary.evaded,
        100.0 * summary.evasion_rate
    );
    println!();
    println!("| family | payloads | flagged | evade | evasion rate |");
    println!("|---|---|---|---|---|");
    for family in summary.families {
        println!(
            "| {} | {} | {} | {} | {:.1} % |",
            family.family,
            family.payloads,
            family.detected,
            family.evaded,
            100.0 * family.evasion_rate
        );
    }
    if let Some(beside) = summary.libinjection {
        println!();
        println!(
            "libinjection, the same payloads and search: {} flagged before the search, {} evade ({:.1} %)",
            beside.detected,
            beside.evaded,
            100.0 * beside.evasion_rate
        );
        for family in &beside.families {
            println!(
                "  {}: {} flagged, {} evade ({:.1} %)",
                family.family,
                family.detected,
                family.evaded,
                100.0 * family.evasion_rate
            );
        }
    }
    println!();
    let names: Vec<&str> = summary.families.iter().map(|f| f.family.as_str()).collect();
    println!("| round | evasion rate | {} |", names.join(" | "));
    println!("|---|---|{}", "---|".repeat(names.len()));
    for round in summary.rounds {
        // Every round while rates move, then only the last: a flat tail says nothing.
        let changed = round.round == 1
            || round.round == summary.rounds.len()
            || summary
                .rounds
                .get(round.round.wrapping_sub(2))
                .is_some_and(|previous| previous.evaded != round.evaded);
        if !changed {
            continue;
        }
        let cells: Vec<String> = names
            .iter()
            .map(|name| {
                format!(
                    "{:.1} %",
                    100.0 * round.by_family.get(*name).copied().unwrap_or(0.0)
                )
            })
            .collect();
        println!(
            "| {} | {:.1} % | {} |",
            round.round,
            100.0 * round.evasion_rate,
            cells.join(" | ")
        );
    }
    if !summary.operators_helped.is_empty() {
        println!();
        let helped: Vec<String> = summary
            .operators_helped
            .iter()
            .map(|used| format!("{} {}", used.operator, used.count))
            .collect();
        println!("operators in the evading paths: {}", helped.join(", "));
    }
}
