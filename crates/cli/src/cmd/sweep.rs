//! `vigie sweep FILE`: a sweep file's trials run as child runs of one parent run, with a bar
//! for the sweep (trials done of total, ETA) and one per running trial (its phase and epoch).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use vigie_models::TrainObserver;
use vigie_runner::DataSource;
use vigie_sweep::{
    PlanSummary, Shard, SweepOptions, SweepOutcome, SweepProgress, SweepSpec, Trial, TrialResult,
    run_sweep,
};

use crate::args::{FetchArgs, GlobalArgs, SweepArgs};
use crate::output::print_json;
use crate::{ExitStatus, say};

/// Exit status when Ctrl-C (or SIGTERM) stopped the sweep.
const EXIT_INTERRUPTED: u8 = 130;

pub fn sweep(global: &GlobalArgs, args: &SweepArgs) -> anyhow::Result<()> {
    let spec = SweepSpec::from_file_with(&args.sweep, &args.set)?;
    let catalog = super::catalog(global)?;
    // Every trial is built and validated here, before any data is read or any run created.
    let mut plan = spec.plan(&catalog)?;
    let shard = args
        .shard
        .as_deref()
        .map(str::parse::<Shard>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--shard: {e}"))?;
    if let Some(0) = args.max_parallel {
        bail!("--max-parallel: must be at least 1");
    }
    let source = DataSource {
        catalog,
        data_dir: global.data_dir.clone(),
    };
    plan.bind_feedback(&source)
        .context("reading the feedback datasets the trials are identified by")?;
    if args.dry_run {
        return dry_run(global, &spec, &plan.trials, shard.as_ref());
    }
    fetch_missing_datasets(global, &source, &plan.trials)?;

    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = Arc::clone(&stop);
    ctrlc::set_handler(move || {
        if handler_stop.swap(true, Ordering::SeqCst) {
            // Second signal: leave now, from the handler's thread (the only exit that does not go
            // through main); the next run of the sweep repairs what is left RUNNING.
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        eprintln!(
            "stopping: no new trials; running ones end KILLED (press Ctrl-C again to quit at once)"
        );
    })
    .context("installing the Ctrl-C handler")?;

    let options = SweepOptions {
        shard,
        max_parallel: args.max_parallel,
        out_dir: args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("out").join("sweeps").join(&spec.name)),
        journal_root: args.journal_dir.clone(),
        tracking_uri: super::train::tracking_uri(args.tracking_uri.as_deref()),
        heartbeat: Duration::from_secs(args.heartbeat_seconds.max(1)),
    };
    let display = SweepDisplay::new(global.quiet);
    let outcome = run_sweep(&spec, &plan, &source, &options, &stop, &display)
        .with_context(|| format!("running the sweep {}", args.sweep.display()))?;
    display.finish();
    if global.json {
        print_json(&outcome)?;
    } else {
        print_summary(&outcome, global.quiet)?;
    }
    if outcome.interrupted {
        return Err(ExitStatus {
            code: EXIT_INTERRUPTED,
            reason: "the sweep was interrupted",
        }
        .into());
    }
    let failed = outcome.failed();
    if failed > 0 {
        bail!(
            "{failed} trial(s) failed (their runs are FAILED; run the sweep again to retry them)"
        );
    }
    Ok(())
}

fn dry_run(
    global: &GlobalArgs,
    spec: &SweepSpec,
    trials: &[Trial],
    shard: Option<&Shard>,
) -> anyhow::Result<()> {
    let selected: Vec<&Trial> = match shard {
        Some(shard) => shard.select(trials),
        None => trials.iter().collect(),
    };
    if global.json {
        let rows: Vec<serde_json::Value> = selected
            .iter()
            .map(|t| {
                serde_json::json!({
                    "index": t.index, "id": t.id, "name": t.config.run_name(),
                    "kind": t.config.model.kind(), "changes": t.describe(),
                })
            })
            .collect();
        return print_json(&rows);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "sweep {} (experiment {}): {} trials{}, ranked by {} ({})",
        spec.name,
        spec.experiment,
        trials.len(),
        shard.map_or_else(String::new, |s| format!(
            ", {} in shard {s}",
            selected.len()
        )),
        spec.objective.metric,
        spec.objective.direction.name()
    )?;
    for trial in selected {
        writeln!(
            out,
            "  {:>3}  {}  {:<20} {}",
            trial.index,
            trial.id,
            trial.config.model.kind(),
            trial.describe()
        )?;
    }
    Ok(())
}

/// The quickstart finds its data in the data dir, and fetches it when it is missing.
fn fetch_missing_datasets(
    global: &GlobalArgs,
    source: &DataSource,
    trials: &[Trial],
) -> anyhow::Result<()> {
    let mut names: Vec<&str> = trials
        .iter()
        .flat_map(|t| t.config.data.dataset_names())
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let (def, _) = source.catalog.get(name)?;
        let missing = def
            .files
            .iter()
            .any(|file| file.resolve(&source.data_dir).is_none());
        if missing {
            say!(
                global.quiet,
                "{name}: files missing in {}; fetching them",
                source.data_dir.display()
            );
            let args = FetchArgs {
                dataset: name.to_owned(),
                force: false,
                timeout: 60,
            };
            super::fetch::fetch(global, &args)
                .with_context(|| format!("fetching {name} (or set --data-dir)"))?;
        }
    }
    Ok(())
}

/// The terminal display of a sweep: one bar for the sweep, one per running trial. Lines
/// (plan, trial results, notes) are printed above the bars, or plainly when stderr is not a
/// terminal; nothing with --quiet.
struct SweepDisplay {
    multi: MultiProgress,
    /// Set by `planned` once the number of trials to run is known.
    overall: Mutex<ProgressBar>,
    quiet: bool,
    draw: bool,
}

impl SweepDisplay {
    fn new(quiet: bool) -> Self {
        let draw = !quiet && std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if draw {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        SweepDisplay {
            multi,
            overall: Mutex::new(ProgressBar::hidden()),
            quiet,
            draw,
        }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        if self.draw {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    fn finish(&self) {
        self.overall().finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl SweepProgress for SweepDisplay {
    fn planned(&self, s: &PlanSummary) {
        self.line(&format!(
            "{} trials planned, {} in this shard: {} done, {} running elsewhere, {} stale (marked KILLED), {} to run, {} at a time with {} thread(s) each",
            s.planned,
            s.in_shard,
            s.done,
            s.running_elsewhere,
            s.stale,
            s.to_run,
            s.parallel,
            s.threads_per_trial
        ));
        if self.draw {
            let overall = self.multi.add(ProgressBar::new(s.to_run as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "{msg:>14} [{bar:40}] {pos}/{len} trials [{elapsed} < {eta}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            overall.set_message("sweep");
            overall.enable_steady_tick(Duration::from_millis(500));
            *self.overall() = overall;
        }
    }

    fn trial_observer<'a>(&'a self, trial: &Trial) -> Box<dyn TrainObserver + 'a> {
        let bar = if self.draw {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{prefix:>14} {msg} [{bar:25}] {pos}/{len}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(format!("trial {}", trial.index));
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        } else {
            ProgressBar::hidden()
        };
        Box::new(TrialBar {
            bar,
            name: trial.config.run_name(),
            display: self,
        })
    }

    fn trial_done(&self, trial: &Trial, result: &TrialResult) {
        self.overall().inc(1);
        let what = match result {
            TrialResult::Finished { .. } => "finished".to_owned(),
            TrialResult::Pruned { reason } => reason.clone(),
            TrialResult::Killed => "killed (interrupted)".to_owned(),
            TrialResult::Failed { message } => format!("FAILED: {message}"),
        };
        self.line(&format!(
            "trial {} {} ({}): {what}",
            trial.index,
            trial.config.run_name(),
            trial.describe()
        ));
    }

    fn note(&self, message: &str) {
        self.line(message);
    }
}

impl SweepDisplay {
    fn overall(&self) -> MutexGuard<'_, ProgressBar> {
        self.overall
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One running trial's bar: the phase and, after each epoch, its metrics.
struct TrialBar<'a> {
    bar: ProgressBar,
    name: String,
    display: &'a SweepDisplay,
}

impl TrainObserver for TrialBar<'_> {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_position(0);
        self.bar.set_message(format!("{} {name}", self.name));
    }

    fn advance(&mut self, units: u64) {
        self.bar.inc(units);
    }

    fn epoch(&mut self, step: u64, metrics: &[(&str, f64)]) {
        // Per-iteration lines of the linear solvers would flood the terminal: networks only.
        if metrics.iter().any(|(k, _)| k.starts_with("valid_")) {
            let values: Vec<String> = metrics
                .iter()
                .map(|(key, value)| format!("{key}={value:.5}"))
                .collect();
            self.display
                .line(&format!("{} epoch {step}: {}", self.name, values.join(" ")));
        }
    }

    fn note(&mut self, message: &str) {
        self.display.line(&format!("{}: {message}", self.name));
    }
}

impl Drop for TrialBar<'_> {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        self.display.multi.remove(&self.bar);
    }
}

fn print_summary(outcome: &SweepOutcome, quiet: bool) -> anyhow::Result<()> {
    writeln!(
        std::io::stdout().lock(),
        "{}",
        outcome.leaderboard.to_table()
    )?;
    if quiet {
        return Ok(());
    }
    let s = &outcome.summary;
    eprintln!(
        "sweep {} (shard {}): ran {} trial(s) here ({} failed), {} already done; parent run {} in experiment {:?}",
        outcome.sweep,
        outcome.shard,
        outcome.results.len(),
        outcome.failed(),
        s.done,
        outcome.parent_run_id,
        outcome.experiment
    );
    eprintln!(
        "  wall {:.1} s; waited {:.2} s on tracking calls ({:.2} % of the wall time), {:.2} s more sent in the background; leaderboard in {}",
        outcome.wall_seconds,
        outcome.tracking_seconds,
        outcome.tracking_overhead_pct,
        outcome.tracking_background_seconds,
        outcome.out_dir.join("leaderboard.md").display()
    );
    if let Some(champion) = &outcome.champion {
        eprintln!("  {}", champion.summary());
    }
    if let Some(store) = &outcome.offline_store {
        eprintln!(
            "  the tracking server was unreachable: the sweep is in the local store {}; `vigie mlflow sync --from-store {}` sends it",
            store.display(),
            store.display()
        );
    }
    if outcome.interrupted {
        eprintln!("  interrupted: run the same command again to resume");
    }
    Ok(())
}
