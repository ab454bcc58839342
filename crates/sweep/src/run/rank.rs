//! The sweep's leaderboard: every finished trial of the plan, from the runs read in the store
//! or the rows this invocation published.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use vigie_mlflow::{DefaultStore, Run, RunStatus, TrackingStore};

use super::options::SweepOptions;
use super::outcome::{PlanSummary, StoredTrial, TrialResult};
use super::timing::TrackingClock;
use super::{Sweep, write};
use crate::error::{Result, SweepError};
use crate::leaderboard::{Leaderboard, LeaderboardRow};
use crate::spec::{SweepPlan, SweepSpec};
use crate::tags;

/// The trials this invocation published, by plan index, with the rows it kept.
pub(super) fn published_trials(
    results: &BTreeMap<usize, TrialResult>,
) -> BTreeMap<usize, &StoredTrial> {
    results
        .iter()
        .filter_map(|(index, result)| match result {
            TrialResult::Finished {
                stored: Some(stored),
                ..
            } => Some((*index, stored.as_ref())),
            _ => None,
        })
        .collect()
}

/// Whether the runs read at the start and the trials this invocation published are the whole
/// sweep: it ran every unfinished trial itself (no shard, nothing running elsewhere) and each
/// that finished reached the store.
pub(super) fn seen_whole_sweep(
    options: &SweepOptions,
    summary: &PlanSummary,
    results: &BTreeMap<usize, TrialResult>,
) -> bool {
    options.shard.is_none()
        && summary.running_elsewhere == 0
        && results
            .values()
            .all(|r| !matches!(r, TrialResult::Finished { stored: None, .. }))
}

/// The leaderboard of the whole sweep, whoever ran each trial: ranked from what this
/// invocation knows when it has seen the whole sweep, else read back from the store (the read
/// counted in `waited`).
pub(super) fn rank_sweep(
    sweep: &Sweep<'_>,
    published: &BTreeMap<usize, &StoredTrial>,
    seen_whole_sweep: bool,
    waited: &mut TrackingClock,
) -> Result<Leaderboard> {
    if seen_whole_sweep {
        return Ok(rank_trials(
            sweep.spec,
            sweep.plan,
            &sweep.found.runs,
            published,
        ));
    }
    waited.time(|| {
        let started = Instant::now();
        let leaderboard = sweep_leaderboard(
            sweep.store,
            sweep.spec,
            sweep.plan,
            &sweep.found.experiment_id,
        );
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "leaderboard read"
        );
        leaderboard
    })
}

/// The leaderboard's files in the sweep's folder.
pub(super) struct LeaderboardFiles {
    pub(super) markdown: PathBuf,
    pub(super) json: PathBuf,
}

/// Writes `leaderboard.md` and `leaderboard.json` into `out_dir`.
pub(super) fn write_leaderboard(
    out_dir: &Path,
    leaderboard: &Leaderboard,
) -> Result<LeaderboardFiles> {
    std::fs::create_dir_all(out_dir).map_err(|e| SweepError::io(out_dir, "cannot create", e))?;
    let files = LeaderboardFiles {
        markdown: out_dir.join("leaderboard.md"),
        json: out_dir.join("leaderboard.json"),
    };
    write(&files.markdown, leaderboard.to_markdown().as_bytes())?;
    let json = serde_json::to_vec_pretty(leaderboard)
        .map_err(|e| SweepError::Invalid(format!("cannot serialise the leaderboard: {e}")))?;
    write(&files.json, &json)?;
    Ok(files)
}

/// Every trial of the sweep's plan with a FINISHED run (its latest), ranked.
pub fn sweep_leaderboard(
    store: &DefaultStore,
    spec: &SweepSpec,
    plan: &SweepPlan,
    experiment_id: &str,
) -> Result<Leaderboard> {
    let runs = store.find_runs_by_tag(experiment_id, tags::SWEEP, &spec.name)?;
    Ok(rank_trials(spec, plan, &runs, &BTreeMap::new()))
}

/// Ranks every trial of the plan that finished: by the row this invocation kept when it
/// published the trial (`published`, by plan index), else by its latest FINISHED run among
/// `runs`.
pub(super) fn rank_trials(
    spec: &SweepSpec,
    plan: &SweepPlan,
    runs: &[Run],
    published: &BTreeMap<usize, &StoredTrial>,
) -> Leaderboard {
    let planned: HashMap<&str, usize> = plan
        .trials
        .iter()
        .map(|t| (t.id.as_str(), t.index))
        .collect();
    let mut latest: BTreeMap<usize, &Run> = BTreeMap::new();
    for run in runs {
        if run.info.status != RunStatus::Finished
            || run.data.tag(tags::ROLE) != Some(tags::ROLE_TRIAL)
        {
            continue;
        }
        let Some(index) = run.data.tag(tags::TRIAL_ID).and_then(|id| planned.get(id)) else {
            continue;
        };
        let newer = latest
            .get(index)
            .is_none_or(|seen| run.info.start_time > seen.info.start_time);
        if newer {
            latest.insert(*index, run);
        }
    }
    let metric = &spec.objective.metric;
    let mut rows: BTreeMap<usize, (i64, LeaderboardRow)> = latest
        .into_iter()
        .map(|(index, run)| {
            let start = run.info.start_time.unwrap_or(0);
            (index, (start, LeaderboardRow::of_run(run, metric)))
        })
        .collect();
    for (index, trial) in published {
        // Published by this invocation: started after every run read before it.
        rows.insert(*index, (i64::MAX, trial.row.clone()));
    }
    Leaderboard::rank_rows(
        &format!(
            "Sweep {}: {} of {} trials finished, ranked by {}",
            spec.name,
            rows.len(),
            plan.trials.len(),
            metric
        ),
        rows.into_values().collect(),
        metric,
        spec.objective.direction,
    )
}

#[cfg(test)]
mod tests {
    use vigie_mlflow::Metric;

    use super::*;
    use crate::run::test_runs::run_with;

    /// A plan of three linear SVM trials (C = 1, 2, 3) on fwaf.
    fn three_trials() -> (SweepSpec, SweepPlan) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("base.toml"),
            "name = \"base\"\n[data]\ndataset = \"fwaf\"\n[model]\nkind = \"linear_svm\"\n",
        )
        .expect("write base");
        let path = dir.path().join("grid.toml");
        std::fs::write(
            &path,
            "base = \"base.toml\"\n[objective]\nmetric = \"final_valid_f1\"\n\
             [[search.space]]\n[search.space.grid]\n\"model.c\" = [1.0, 2.0, 3.0]\n",
        )
        .expect("write sweep");
        let spec = SweepSpec::from_file(&path).expect("spec");
        let catalog = vigie_data::Catalog::builtin().expect("catalog");
        let plan = spec.plan(&catalog).expect("plan");
        (spec, plan)
    }

    fn trial_run(trial_id: &str, status: RunStatus, value: f64, start: i64) -> Run {
        let mut run = run_with(
            status,
            &[(tags::ROLE, tags::ROLE_TRIAL), (tags::TRIAL_ID, trial_id)],
            start,
        );
        run.data.metrics = vec![Metric::new("final_valid_f1", value, 0)];
        run
    }

    #[test]
    fn a_sweep_ranks_each_trials_latest_finished_run_or_the_row_this_invocation_published() {
        let (spec, plan) = three_trials();
        let [first, second, third] = [0, 1, 2].map(|i| plan.trials[i].id.clone());
        let runs = vec![
            // The first trial finished twice: the later run counts.
            trial_run(&first, RunStatus::Finished, 0.5, 10),
            trial_run(&first, RunStatus::Finished, 0.7, 20),
            // The second failed before; this invocation published it.
            trial_run(&second, RunStatus::Failed, 0.99, 30),
            trial_run(&third, RunStatus::Finished, 0.8, 40),
            // Another sweep's trial, and a running one: not ranked.
            trial_run("not-in-the-plan", RunStatus::Finished, 1.0, 50),
            trial_run(&third, RunStatus::Running, 0.95, 60),
        ];
        let published = StoredTrial {
            row: LeaderboardRow::of_finished(
                "published-run",
                "grid-002",
                "linear_svm",
                Some(&second),
                "model.c=2.0",
                &[("final_valid_f1".to_owned(), 0.9)],
                "final_valid_f1",
            ),
            logged_model_id: Some("m-1".to_owned()),
        };
        let by_index = BTreeMap::from([(plan.trials[1].index, &published)]);
        let board = rank_trials(&spec, &plan, &runs, &by_index);
        let ranked: Vec<(&str, f64)> = board
            .rows
            .iter()
            .map(|row| (row.run_id.as_str(), row.value))
            .collect();
        assert_eq!(ranked, [("published-run", 0.9), ("r40", 0.8), ("r20", 0.7)]);
        assert!(
            board.title.contains("3 of 3 trials finished"),
            "{}",
            board.title
        );
        // Read back from the store alone, the second trial has no finished run.
        let read_back = rank_trials(&spec, &plan, &runs, &BTreeMap::new());
        assert_eq!(read_back.rows.len(), 2);
        assert_eq!(read_back.best().map(|row| row.run_id.as_str()), Some("r40"));
    }
}
