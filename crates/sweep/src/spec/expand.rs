//! The search space expanded into the plan: each grid point or random draw applied on the base
//! config as TOML overrides, deserialised, validated and identified; repeated trials dropped.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use toml::Value;
use vigie_data::Catalog;
use vigie_models::random::SplitMix64;
use vigie_runner::RunConfig;
use vigie_runner::config::DataSource;

use super::table::set_at_path;
use super::trial_id::{trial_id, trial_id_with_feedback};
use super::types::{Distribution, MAX_TRIALS, Strategy, Subspace, SweepSpec};
use crate::error::{Result, SweepError};

/// The trials of a sweep, in plan order.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPlan {
    pub trials: Vec<Trial>,
    /// Expanded points dropped because an earlier trial had the same [`trial_id`].
    pub duplicates_dropped: usize,
}

/// One trial: a complete run config and what distinguishes it.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// 1-based, in plan order; the run is named `{sweep}-{index:03}`.
    pub index: usize,
    /// [`trial_id`] of `config` ([`trial_id_with_feedback`] once
    /// [`SweepPlan::bind_feedback`] has read its verdicts).
    pub id: String,
    /// Dotted path and value as TOML text, in application order: the subspace's `set`, then
    /// the grid or random point.
    pub overrides: Vec<(String, String)>,
    pub config: RunConfig,
}

impl Trial {
    /// The overrides on one line: `model.c=1.0 model.tfidf.tokenizer.analyzer.ngram_max=3`.
    pub fn describe(&self) -> String {
        if self.overrides.is_empty() {
            return "(the base config)".to_owned();
        }
        self.overrides
            .iter()
            .map(|(path, value)| format!("{path}={value}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl SweepPlan {
    /// Identifies the trials that train or are measured on analysts' verdicts by those
    /// verdicts too ([`trial_id_with_feedback`]), read now from `source`: a sweep run again
    /// after new verdicts trains its trials again instead of resuming trials measured on
    /// fewer. Returns how many trials it identified so.
    pub fn bind_feedback(&mut self, source: &DataSource) -> Result<usize> {
        let mut digests: HashMap<Vec<String>, String> = HashMap::new();
        let mut bound = 0;
        for trial in &mut self.trials {
            let Some(feedback) = &trial.config.data.feedback else {
                continue;
            };
            let digest = match digests.get(&feedback.datasets) {
                Some(digest) => digest.clone(),
                None => {
                    let digest = vigie_runner::feedback::load(feedback, source)?.digest();
                    digests.insert(feedback.datasets.clone(), digest.clone());
                    digest
                }
            };
            trial.id = trial_id_with_feedback(&trial.config, &digest);
            bound += 1;
        }
        Ok(bound)
    }
}

impl SweepSpec {
    /// Expands the search space into trials: each point's overrides applied on the base, the
    /// experiment forced, `tracking.registered_model` removed (the sweep registers the
    /// champion), the run named `{sweep}-{index:03}`, then parsed and validated. Points whose
    /// [`trial_id`] was already planned are dropped and counted. A failure names the trial (the
    /// index it would have had) and its overrides.
    pub fn plan(&self, catalog: &Catalog) -> Result<SweepPlan> {
        let points = self.points()?;
        let mut planned_ids = HashSet::new();
        let mut trials: Vec<Trial> = Vec::new();
        let mut duplicates_dropped = 0;
        for overrides in points {
            let index = trials.len() + 1;
            let overrides_text: Vec<(String, String)> = overrides
                .iter()
                .map(|(path, value)| (path.clone(), value.to_string()))
                .collect();
            let trial_error = |message: String| {
                let listed = if overrides_text.is_empty() {
                    "the base config".to_owned()
                } else {
                    overrides_text
                        .iter()
                        .map(|(path, value)| format!("{path} = {value}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                SweepError::file(&self.path, format!("trial {index} ({listed}): {message}"))
            };
            let mut config = self.trial_config(overrides).map_err(trial_error)?;
            let id = trial_id(&config);
            if !planned_ids.insert(id.clone()) {
                duplicates_dropped += 1;
                continue;
            }
            config.name = Some(format!("{}-{index:03}", self.name));
            config
                .validate(catalog)
                .map_err(|e| trial_error(e.to_string()))?;
            trials.push(Trial {
                index,
                id,
                overrides: overrides_text,
                config,
            });
        }
        Ok(SweepPlan {
            trials,
            duplicates_dropped,
        })
    }

    /// Every point's overrides (the subspace's `set`, then the point), in plan order,
    /// duplicates included.
    fn points(&self) -> Result<Vec<Vec<(String, Value)>>> {
        match self.search.strategy {
            Strategy::Grid => self.grid_points(),
            Strategy::Random => Ok(self.random_points()),
        }
    }

    fn grid_points(&self) -> Result<Vec<Vec<(String, Value)>>> {
        let total = self
            .search
            .space
            .iter()
            .try_fold(0usize, |total, subspace| {
                subspace
                    .grid
                    .iter()
                    .try_fold(1usize, |product, (_, values)| {
                        product.checked_mul(values.len())
                    })
                    .and_then(|points| total.checked_add(points))
            });
        match total {
            Some(total) if total <= MAX_TRIALS => {}
            _ => {
                return Err(SweepError::file(
                    &self.path,
                    format!("`search.space`: the grids have more than {MAX_TRIALS} points"),
                ));
            }
        }
        let mut points = Vec::new();
        for subspace in &self.search.space {
            // Parsing refuses empty lists; a spec built by hand with one has no point there.
            if subspace.grid.iter().any(|(_, values)| values.is_empty()) {
                continue;
            }
            // An odometer over the lists, the last one turning fastest.
            let mut positions = vec![0usize; subspace.grid.len()];
            loop {
                let mut point = subspace.set.clone();
                point.extend(
                    subspace
                        .grid
                        .iter()
                        .zip(&positions)
                        .map(|((path, values), &position)| {
                            (path.clone(), values[position].clone())
                        }),
                );
                points.push(point);
                let mut axis = subspace.grid.len();
                loop {
                    if axis == 0 {
                        break;
                    }
                    axis -= 1;
                    positions[axis] += 1;
                    if positions[axis] < subspace.grid[axis].1.len() {
                        break;
                    }
                    positions[axis] = 0;
                }
                if positions.iter().all(|&position| position == 0) {
                    break;
                }
            }
        }
        Ok(points)
    }

    /// `samples` draws: a subspace uniformly, then each of its keys in dotted-path order, a
    /// grid key uniformly from its list, a random key from its distribution.
    fn random_points(&self) -> Vec<Vec<(String, Value)>> {
        let mut rng = SplitMix64::new(self.search.seed);
        let samples = self.search.samples.unwrap_or(0);
        // Parsing gives at least one subspace; a spec built by hand may not.
        let no_subspace = [Subspace::default()];
        let space = if self.search.space.is_empty() {
            &no_subspace[..]
        } else {
            &self.search.space[..]
        };
        let mut points = Vec::with_capacity(samples);
        for _ in 0..samples {
            let subspace = &space[rng.below(space.len())];
            let mut axes: Vec<(&str, Axis)> = subspace
                .grid
                .iter()
                .map(|(path, values)| (path.as_str(), Axis::List(values)))
                .chain(
                    subspace
                        .random
                        .iter()
                        .map(|(path, distribution)| (path.as_str(), Axis::Draw(distribution))),
                )
                .collect();
            axes.sort_by(|a, b| a.0.cmp(b.0));
            let mut point = subspace.set.clone();
            for (path, axis) in axes {
                let value = match axis {
                    Axis::List([]) => continue,
                    Axis::List(values) => values[rng.below(values.len())].clone(),
                    Axis::Draw(distribution) => distribution.sample(&mut rng),
                };
                point.push((path.to_owned(), value));
            }
            points.push(point);
        }
        points
    }

    /// The base with `overrides` applied and the sweep's tracking, as a run config (unnamed).
    fn trial_config(&self, overrides: Vec<(String, Value)>) -> Result<RunConfig, String> {
        let mut config = self.base.clone();
        for (path, value) in overrides {
            set_at_path(&mut config, &path, value)?;
        }
        set_at_path(
            &mut config,
            "tracking.experiment",
            Value::String(self.experiment.clone()),
        )?;
        if let Some(Value::Table(tracking)) = config.get_mut("tracking") {
            tracking.remove("registered_model");
        }
        config.remove("name");
        RunConfig::from_table(&config).map_err(|e| e.to_string())
    }
}

/// What a random search varies for one key.
enum Axis<'a> {
    List(&'a [Value]),
    Draw(&'a Distribution),
}

impl Distribution {
    fn sample(&self, rng: &mut SplitMix64) -> Value {
        match self {
            Distribution::Uniform { low, high } => {
                Value::Float((low + rng.next_f64() * (high - low)).clamp(*low, *high))
            }
            Distribution::LogUniform { low, high } => {
                let (ln_low, ln_high) = (low.ln(), high.ln());
                let drawn = (ln_low + rng.next_f64() * (ln_high - ln_low)).exp();
                Value::Float(drawn.clamp(*low, *high))
            }
            Distribution::IntUniform { low, high } => {
                let span = (i128::from(*high) - i128::from(*low) + 1) as u128;
                let offset = match usize::try_from(span) {
                    Ok(span) => rng.below(span) as u64,
                    // Only the full i64 range does not fit: any 64 bits are uniform in it.
                    Err(_) => rng.next_u64(),
                };
                Value::Integer(low.wrapping_add_unsigned(offset))
            }
            // Parsing refuses an empty choice; one built by hand draws an empty array.
            Distribution::Choice { values } if values.is_empty() => Value::Array(Vec::new()),
            Distribution::Choice { values } => values[rng.below(values.len())].clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::spec::test_sweeps::{
        base_config, error_of, linear, parse, plan, random_plan, write_sweep,
    };
    use crate::spec::{DEFAULT_OBJECTIVE_METRIC, DEFAULT_STALE_AFTER_MINUTES, Direction};

    #[test]
    fn a_sweep_without_search_is_the_base_alone_under_the_sweeps_names() {
        let spec = parse("").unwrap();
        assert_eq!(spec.name, "quick");
        assert_eq!(spec.experiment, "base-experiment");
        assert_eq!(spec.objective.metric, DEFAULT_OBJECTIVE_METRIC);
        assert_eq!(spec.objective.direction, Direction::Maximize);
        assert_eq!(spec.stale_after_minutes, DEFAULT_STALE_AFTER_MINUTES);
        assert!(spec.base_path.is_some());
        let plan = spec.plan(&Catalog::builtin().unwrap()).unwrap();
        assert_eq!(plan.trials.len(), 1);
        let trial = &plan.trials[0];
        assert_eq!(trial.index, 1);
        assert!(trial.overrides.is_empty());
        assert_eq!(trial.config.name.as_deref(), Some("quick-001"));
        assert_eq!(trial.config.tracking.registered_model, None);
        assert_eq!(trial.id, trial_id(&base_config()));
    }

    #[test]
    fn a_grid_is_the_product_of_its_lists_in_path_order_subspace_after_subspace() {
        let plan = plan(
            "name = \"grid\"\nexperiment = \"sweeps\"\n\
             [[search.space]]\n[search.space.grid]\n\
             \"model.tol\" = [0.1, 0.01]\n\"model.c\" = [1.0, 2.0, 3.0]\n\
             [[search.space]]\n[search.space.grid]\nseed = [7, 8]\n",
        )
        .unwrap();
        assert_eq!(plan.trials.len(), 3 * 2 + 2);
        assert_eq!(plan.duplicates_dropped, 0);
        let points: Vec<(f64, f64, u64)> = plan
            .trials
            .iter()
            .map(|t| (linear(&t.config).c, linear(&t.config).tol, t.config.seed))
            .collect();
        assert_eq!(
            points,
            [
                (1.0, 0.1, 42),
                (1.0, 0.01, 42),
                (2.0, 0.1, 42),
                (2.0, 0.01, 42),
                (3.0, 0.1, 42),
                (3.0, 0.01, 42),
                (5.0, 0.5, 7),
                (5.0, 0.5, 8),
            ]
        );
        for (position, trial) in plan.trials.iter().enumerate() {
            assert_eq!(trial.index, position + 1);
            let name = format!("grid-{:03}", position + 1);
            assert_eq!(trial.config.name.as_deref(), Some(name.as_str()));
            assert_eq!(trial.config.experiment(), "sweeps");
            assert_eq!(trial.config.tracking.registered_model, None);
            assert_eq!(trial.id, trial_id(&trial.config));
        }
        assert_eq!(
            plan.trials[1].overrides,
            [
                ("model.c".to_owned(), "1.0".to_owned()),
                ("model.tol".to_owned(), "0.01".to_owned())
            ]
        );
        assert_eq!(plan.trials[1].describe(), "model.c=1.0 model.tol=0.01");
        assert_eq!(plan.trials[6].describe(), "seed=7");
    }

    #[test]
    fn a_set_table_replaces_the_whole_model_so_one_sweep_spans_two_families() {
        let plan = plan(
            "[[search.space]]\nlabel = \"svm\"\n[search.space.grid]\n\"model.c\" = [1.0, 2.0]\n\
             [[search.space]]\nlabel = \"logreg\"\n\
             [search.space.set]\nmodel = { kind = \"logistic_regression\" }\n\
             [search.space.grid]\n\"model.c\" = [0.5]\n",
        )
        .unwrap();
        let kinds: Vec<&str> = plan.trials.iter().map(|t| t.config.model.kind()).collect();
        assert_eq!(kinds, ["linear_svm", "linear_svm", "logistic_regression"]);
        // The SVM keeps the base's other keys; the logistic regression starts from the
        // defaults, not from the base's `tol = 0.5`.
        assert_eq!(linear(&plan.trials[0].config).tol, 0.5);
        let logistic = linear(&plan.trials[2].config);
        assert_eq!(logistic.c, 0.5);
        assert_eq!(
            logistic.tol,
            vigie_models::linear::LinearConfig::default().tol
        );
        assert_ne!(logistic.tol, 0.5);
        assert_eq!(
            plan.trials[2].overrides[0],
            (
                "model".to_owned(),
                "{ kind = \"logistic_regression\" }".to_owned()
            )
        );
        assert_eq!(plan.trials[2].overrides[1].0, "model.c");
    }

    #[test]
    fn random_draws_are_fixed_by_the_seed_and_stay_within_bounds() {
        let first = random_plan(7);
        let again = random_plan(7);
        let other = random_plan(8);
        let ids = |plan: &SweepPlan| plan.trials.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&first), ids(&again));
        assert_ne!(ids(&first), ids(&other));
        assert_eq!(first.trials.len() + first.duplicates_dropped, 200);
        assert!(first.trials.len() > 190, "{} trials", first.trials.len());

        let mut seeds = HashSet::new();
        let mut iterations = HashSet::new();
        let mut weights = HashSet::new();
        let mut below_one = 0;
        for trial in &first.trials {
            let model = linear(&trial.config);
            assert!((0.001..=1000.0).contains(&model.c), "c = {}", model.c);
            assert!((0.01..=0.5).contains(&model.tol), "tol = {}", model.tol);
            assert!((1..=4).contains(&model.max_iter), "{}", model.max_iter);
            below_one += usize::from(model.c < 1.0);
            seeds.insert(trial.config.seed);
            iterations.insert(model.max_iter);
            weights.insert(format!("{:?}", model.class_weight));
            // Keys are applied in path order.
            let paths: Vec<&str> = trial.overrides.iter().map(|(p, _)| p.as_str()).collect();
            assert_eq!(
                paths,
                [
                    "model.c",
                    "model.class_weight",
                    "model.max_iter",
                    "model.tol",
                    "seed"
                ]
            );
        }
        assert_eq!(seeds, HashSet::from([1, 2, 3]));
        assert_eq!(iterations, HashSet::from([1, 2, 3, 4]));
        assert_eq!(weights.len(), 2);
        // Log-uniform on [1e-3, 1e3]: half the draws below 1 (a uniform draw would put 0.1%
        // there).
        let share = below_one as f64 / first.trials.len() as f64;
        assert!((0.35..0.65).contains(&share), "share below 1: {share}");
    }

    #[test]
    fn random_draws_pick_subspaces_and_drop_repeated_points() {
        let plan = plan(
            "[search]\nstrategy = \"random\"\nsamples = 60\n\
             [[search.space]]\n[search.space.grid]\n\"model.c\" = [1.0, 2.0]\n\
             [[search.space]]\n[search.space.set]\n\"model.kind\" = \"logistic_regression\"\n",
        )
        .unwrap();
        assert_eq!(plan.trials.len(), 3);
        assert_eq!(plan.duplicates_dropped, 57);
        let kinds: HashSet<&str> = plan.trials.iter().map(|t| t.config.model.kind()).collect();
        assert_eq!(kinds, HashSet::from(["linear_svm", "logistic_regression"]));
    }

    #[test]
    fn overlapping_subspaces_keep_the_first_of_identical_trials() {
        // `2` and `2.0` give the same config, hence the same trial.
        let plan = plan(
            "[[search.space]]\n[search.space.grid]\n\"model.c\" = [1.0, 2.0]\n\
             [[search.space]]\nlabel = \"again\"\n[search.space.grid]\n\"model.c\" = [2, 3.0]\n",
        )
        .unwrap();
        assert_eq!(plan.duplicates_dropped, 1);
        let values: Vec<f64> = plan.trials.iter().map(|t| linear(&t.config).c).collect();
        assert_eq!(values, [1.0, 2.0, 3.0]);
        assert_eq!(plan.trials[1].overrides[0].1, "2.0");
        let indices: Vec<usize> = plan.trials.iter().map(|t| t.index).collect();
        assert_eq!(indices, [1, 2, 3]);
        assert_eq!(plan.trials[2].config.name.as_deref(), Some("quick-003"));
    }

    #[test]
    fn set_overrides_the_base_of_every_trial_and_a_wrong_one_names_its_key() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = write_sweep(
            &dir,
            "[[search.space]]\n[search.space.grid]\n\"model.c\" = [1.0, 2.0]\n",
        );
        let set = |texts: &[&str]| -> Vec<vigie_runner::overrides::Override> {
            texts.iter().map(|t| t.parse().unwrap()).collect()
        };
        let spec = SweepSpec::from_file_with(
            &path,
            &set(&["model.tol=0.25", "data.split.seed=7", "model.c=9"]),
        )
        .unwrap();
        let plan = spec.plan(&Catalog::builtin().unwrap()).unwrap();
        assert_eq!(plan.trials.len(), 2);
        for trial in &plan.trials {
            assert_eq!(linear(&trial.config).tol, 0.25);
            assert_eq!(trial.config.data.split.seed, 7);
        }
        // The search space is applied after the base's overrides.
        let values: Vec<f64> = plan.trials.iter().map(|t| linear(&t.config).c).collect();
        assert_eq!(values, [1.0, 2.0]);

        let message = error_of(SweepSpec::from_file_with(&path, &set(&["model.tool=1"])));
        assert!(
            message.contains("model.tool: unknown field `tool`") && message.contains("--set"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_override_fails_the_plan_naming_the_trial_and_its_overrides() {
        let message = error_of(plan(
            "[[search.space]]\n[search.space.grid]\n\"model.c\" = [1.0]\n\"model.cc\" = [2]\n",
        ));
        assert!(
            message.contains("trial 1 (model.c = 1.0, model.cc = 2)") && message.contains("cc"),
            "{message}"
        );
        let message = error_of(plan(
            "[[search.space]]\n[search.space.grid]\n\"model.c\" = [1.0, -1.0]\n",
        ));
        assert!(
            message.contains("trial 2 (model.c = -1.0)") && message.contains("model.c"),
            "{message}"
        );
        let message = error_of(plan(
            "[[search.space]]\n[search.space.grid]\n\"model.c.x\" = [1]\n",
        ));
        assert!(message.contains("`model.c` is a float"), "{message}");
        let message = error_of(plan(
            "[[search.space]]\n[search.space.set]\n\"data.dataset\" = \"nowhere\"\n",
        ));
        assert!(
            message.contains("trial 1 (data.dataset = \"nowhere\")")
                && message.contains("data.dataset"),
            "{message}"
        );
    }
}
