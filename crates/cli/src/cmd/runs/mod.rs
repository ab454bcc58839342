//! `vigie runs ...` and `vigie reproduce`: runs read from (and deleted in) the tracking store,
//! a server or `./mlruns` alike, through `TrackingStore`. This module holds what the
//! subcommands share: finding an experiment by name and a run by its id or the start of it,
//! and the way times, durations and numbers are written.

pub mod compare;
pub mod delete;
pub mod list;
pub mod reproduce;
pub mod show;

use anyhow::{Context, bail};
use vigie_mlflow::{Run, TrackingStore};

/// Shortest run id prefix accepted for a run (`runs list` prints 8 characters).
const MIN_PREFIX: usize = 4;
/// Most names listed in an error about an unknown experiment or an ambiguous prefix.
const MAX_LISTED: usize = 20;

/// The id of the experiment called `name`; an unknown name is an error listing the known ones.
pub fn experiment_id(store: &dyn TrackingStore, name: &str) -> anyhow::Result<String> {
    if let Some(id) = store
        .find_experiment(name)
        .with_context(|| format!("looking for experiment {name:?} in {}", store.describe()))?
    {
        return Ok(id);
    }
    let mut experiments = store
        .list_experiments()
        .with_context(|| format!("listing the experiments of {}", store.describe()))?;
    // The newest first: on a long-lived server the one a user means is most often recent.
    experiments.sort_by(|a, b| {
        b.creation_time
            .cmp(&a.creation_time)
            .then_with(|| a.name.cmp(&b.name))
    });
    let known: Vec<String> = experiments.into_iter().map(|e| e.name).collect();
    if known.is_empty() {
        bail!(
            "no experiment {name:?} in {}: it has no experiments",
            store.describe()
        );
    }
    bail!(
        "no experiment {name:?} in {}; known experiments, newest first: {}",
        store.describe(),
        listed(&known)
    )
}

/// A run by its id, or by the start of its id (at least [`MIN_PREFIX`] characters) when exactly
/// one active run's id starts so. Unknown ids and ambiguous prefixes are errors naming them.
pub fn find_run(store: &dyn TrackingStore, id: &str) -> anyhow::Result<Run> {
    let id = id.trim();
    if id.is_empty() {
        bail!("empty run id");
    }
    let direct = store.get_run(id);
    match direct {
        Ok(run) => return Ok(run),
        Err(e) if !e.is_not_found() && !is_invalid_id(&e) => {
            return Err(e).with_context(|| format!("reading run {id} in {}", store.describe()));
        }
        Err(_) => {}
    }
    let matches = if id.len() >= MIN_PREFIX && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        runs_starting_with(store, id)?
    } else {
        Vec::new()
    };
    match matches.as_slice() {
        [] => bail!("no run {id} in {}", store.describe()),
        [run_id] => store
            .get_run(run_id)
            .with_context(|| format!("reading run {run_id} in {}", store.describe())),
        many => bail!(
            "run id {id} is ambiguous in {}: {} runs start so ({}); give more of it",
            store.describe(),
            many.len(),
            listed(many)
        ),
    }
}

/// A file store refuses ids that cannot be folder names before looking: for a person that is
/// the same as an unknown run.
fn is_invalid_id(error: &vigie_mlflow::MlflowError) -> bool {
    matches!(error, vigie_mlflow::MlflowError::InvalidArgument { .. })
}

/// Ids of the active runs, in every experiment, that start with `prefix`.
fn runs_starting_with(store: &dyn TrackingStore, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for experiment in store
        .list_experiments()
        .with_context(|| format!("listing the experiments of {}", store.describe()))?
    {
        let runs = store
            .list_runs(&experiment.experiment_id)
            .with_context(|| {
                format!(
                    "reading the runs of experiment {:?} in {}",
                    experiment.name,
                    store.describe()
                )
            })?;
        found.extend(
            runs.into_iter()
                .map(|r| r.info.run_id)
                .filter(|run_id| run_id.starts_with(prefix)),
        );
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// `a, b, c` (and how many more past [`MAX_LISTED`]).
fn listed(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(MAX_LISTED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX_LISTED {
        text.push_str(&format!(" and {} more", names.len() - MAX_LISTED));
    }
    text
}

/// The run's duration in ms: to its end, or to now while it runs.
pub fn duration_ms(run: &Run, now: i64) -> Option<i64> {
    let start = run.info.start_time?;
    let end = run.info.end_time.unwrap_or(now);
    (end >= start).then_some(end - start)
}

/// `45s`, `3m 07s`, `1h 02m`, `2d 03h`.
pub fn duration(ms: i64) -> String {
    let secs = ms / 1000;
    match secs {
        s if s < 60 => format!("{}s", s),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn utc_time(millis: i64) -> String {
    let stamp = vigie_mlflow::utc_timestamp(millis);
    stamp.get(..19).unwrap_or(&stamp).to_owned()
}

/// A metric value for a table: integers as such, others to 6 significant decimals.
pub fn number(value: f64) -> String {
    if value.is_nan() {
        "nan".to_owned()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else if value.abs() >= 1e-4 && value.abs() < 1e15 {
        let text = format!("{value:.6}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{value:e}")
    }
}

/// Text tables, shared with the sweep's leaderboard.
pub use vigie_sweep::leaderboard::text_table as table;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_numbers_and_times_read_at_a_glance() {
        assert_eq!(duration(999), "0s");
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(187_000), "3m 07s");
        assert_eq!(duration(3_720_000), "1h 02m");
        assert_eq!(duration(183_600_000), "2d 03h");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.998_012_345), "0.998012");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(1.5e-7), "1.5e-7");
        assert_eq!(number(f64::NAN), "nan");
        assert_eq!(utc_time(1_796_418_353_677), "2026-12-04 21:05:53");
        let mut run = Run::default();
        run.info.start_time = Some(1_000);
        assert_eq!(duration_ms(&run, 5_000), Some(4_000));
        run.info.end_time = Some(3_000);
        assert_eq!(duration_ms(&run, 5_000), Some(2_000));
    }

    #[test]
    fn tables_pad_every_column_but_the_last() {
        let rows = vec![
            vec!["id".to_owned(), "name".to_owned()],
            vec!["0123abcd".to_owned(), "a".to_owned()],
        ];
        assert_eq!(
            table(&rows, |_, cell| cell.to_owned()),
            "id        name\n0123abcd  a\n"
        );
        let many: Vec<String> = (0..25).map(|i| format!("e{i}")).collect();
        assert!(
            listed(&many).ends_with("e19 and 5 more"),
            "{}",
            listed(&many)
        );
    }
}
