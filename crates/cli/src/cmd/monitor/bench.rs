//! `vigie bench monitor`: what the monitoring windows cost on top of scoring. The same lines,
//! read once, are scored in the same batches with and without a [`Monitor`], the two sides
//! alternating in one invocation so that a shared machine's noise hits both; the ratio of the
//! throughputs is the result (the target: at least 0.9).

use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use vigie_score::monitor::drift::expected_alert_rate;
use vigie_score::monitor::{DriftRule, Monitor, MonitorReference};

use super::source::{Line, SourceSpec, read_lines, score_batch};
use super::window_ms;
use crate::args::{BenchMonitorArgs, GlobalArgs};
use crate::output::print_json;

#[derive(Serialize)]
struct MonitorBench {
    model: String,
    model_kind: String,
    requests: usize,
    windows: usize,
    repeats: usize,
    batch_size: usize,
    scoring_requests_per_s: f64,
    monitored_requests_per_s: f64,
    /// Monitored over scoring alone (1: free).
    ratio: f64,
}

pub fn bench(global: &GlobalArgs, args: &BenchMonitorArgs) -> anyhow::Result<()> {
    let window_ms = window_ms(&args.window)?;
    let engine = super::super::score::load_engine(
        super::super::catalog(global).ok().as_ref(),
        &args.model,
        args.tracking_uri.as_deref(),
        &args.cache_dir,
        None,
        false,
    )?;
    let validation = engine
        .validation()
        .ok_or(vigie_score::monitor::MonitorError::NoValidation)?;
    let reference = MonitorReference::new(validation)?;
    let rule =
        DriftRule::with_expected(expected_alert_rate(&validation.benign, engine.threshold()));
    let spec = SourceSpec::new(&args.input, args.input_format.as_deref(), None, None);
    let lines: Vec<Line> = read_lines(&args.input, &spec)?
        .collect::<anyhow::Result<_>>()
        .with_context(|| format!("reading {}", args.input.display()))?;
    let batch_size = args.batch_size.max(1);
    let score_all = |monitor: Option<&mut Monitor>| {
        let start = Instant::now();
        match monitor {
            Some(monitor) => lines
                .chunks(batch_size)
                .for_each(|batch| score_batch(&engine, batch, Some(monitor))),
            None => lines
                .chunks(batch_size)
                .for_each(|batch| score_batch(&engine, batch, None)),
        }
        start.elapsed().as_secs_f64()
    };
    let repeats = args.repeats.max(1);
    let (mut alone, mut monitored) = (Vec::new(), Vec::new());
    let mut windows = 0;
    for repeat in 0..repeats {
        // Alternate which side goes first: caches and clocks favour neither.
        let mut run_monitored = || -> anyhow::Result<f64> {
            let mut monitor = Monitor::new(reference.clone(), rule, window_ms)?;
            let start = Instant::now();
            score_all(Some(&mut monitor));
            let report = monitor.finish()?;
            windows = report.windows.len();
            Ok(start.elapsed().as_secs_f64())
        };
        if repeat % 2 == 0 {
            alone.push(score_all(None));
            monitored.push(run_monitored()?);
        } else {
            monitored.push(run_monitored()?);
            alone.push(score_all(None));
        }
    }
    let n = lines.len() as f64;
    let bench = MonitorBench {
        model: engine.origin().to_owned(),
        model_kind: engine.manifest().kind.clone(),
        requests: lines.len(),
        windows,
        repeats,
        batch_size,
        scoring_requests_per_s: n / median(&mut alone),
        monitored_requests_per_s: n / median(&mut monitored),
        ratio: median(&mut alone) / median(&mut monitored),
    };
    if global.json {
        return print_json(&bench);
    }
    println!(
        "{} requests in {} windows, {} ({}), median of {repeats}: scoring {:.0} requests/s, \
         scoring + monitoring {:.0} requests/s, ratio {:.3}",
        bench.requests,
        bench.windows,
        bench.model,
        bench.model_kind,
        bench.scoring_requests_per_s,
        bench.monitored_requests_per_s,
        bench.ratio
    );
    Ok(())
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
