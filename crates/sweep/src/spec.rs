//! The sweep file (`experiments/*.toml`): a base run config, the objective, a search space of
//! overrides (grid or random), pruning; [`SweepSpec::from_file`] parses and checks it, naming
//! any offending key as a dotted path, and [`SweepSpec::plan`] expands it into [`Trial`]s, each
//! a complete, validated [`RunConfig`] identified by [`trial_id`], so that a wrong override
//! path fails before any trial runs.
//!
//! Key order: the workspace's `toml` does not enable `preserve_order`, so keys are not kept in
//! the order written; every list of overrides is sorted by its dotted path instead (explicitly,
//! so enabling the feature elsewhere changes nothing). A grid is the cartesian product of its
//! lists in that order, the last key varying fastest.

mod shard;
mod table;

pub use shard::Shard;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use toml::{Table, Value};
use vigie_data::Catalog;
use vigie_models::random::SplitMix64;
use vigie_runner::RunConfig;
use vigie_runner::config::TrackingConfig;

use crate::error::{Result, SweepError};
use table::{TableAt, kind_of, override_keys, set_at_path, toml_to_json};

/// The objective when `[objective]` names none.
pub const DEFAULT_OBJECTIVE_METRIC: &str = "final_valid_f1";
/// Minutes after which a RUNNING trial of another process counts as dead.
pub const DEFAULT_STALE_AFTER_MINUTES: u64 = 10;
/// Finished trials needed before pruning compares a trial with them.
pub const DEFAULT_PRUNING_MIN_FINISHED: usize = 2;
/// The most trials a plan may expand to: beyond it a typo (a list too long, a zero too many in
/// `samples`) would only exhaust memory.
pub const MAX_TRIALS: usize = 100_000;

/// A parsed and checked sweep file.
#[derive(Debug, Clone, Serialize)]
pub struct SweepSpec {
    /// `name`, else the file stem: the parent run's name and the trials' name prefix.
    pub name: String,
    pub path: PathBuf,
    /// The file as read, logged with the sweep so that it can be rerun.
    pub source_text: String,
    /// The base run config as a TOML table, before any override.
    pub base: Table,
    /// The base config's file when `base` names one; `None` for an inline `[base]` table.
    pub base_path: Option<PathBuf>,
    /// Every trial's experiment: `experiment`, else the base config's.
    pub experiment: String,
    /// Trials run at once; `None`: the runner decides.
    pub max_parallel: Option<usize>,
    /// The registered model the champion becomes a version of.
    pub registered_model: Option<String>,
    pub stale_after_minutes: u64,
    pub objective: Objective,
    pub search: SearchSpec,
    pub pruning: Option<Pruning>,
}

/// `[objective]`: the final metric a sweep optimises.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    /// One of `vigie_runner::run::final_metric_names()`.
    pub metric: String,
    pub direction: Direction,
    /// Guards on the champion: a trial that beats the champion on `metric` still does not take
    /// the alias when it raises one of these (`field_fpr`: more false alarms on traffic no model
    /// trains on) above the champion's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub never_raise: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Maximize,
    Minimize,
}

impl Direction {
    /// Whether `a` is strictly better than `b`. A NaN is never better, and any number is
    /// better than a NaN, so a failed measurement never becomes or stays the champion.
    pub fn better(self, a: f64, b: f64) -> bool {
        if a.is_nan() {
            return false;
        }
        if b.is_nan() {
            return true;
        }
        match self {
            Direction::Maximize => a > b,
            Direction::Minimize => a < b,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Direction::Maximize => "maximize",
            Direction::Minimize => "minimize",
        }
    }
}

/// `[pruning]`: stop a trial whose per-epoch metric after `after_epochs` epochs is worse than
/// the finished trials' (once `min_finished` have finished).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pruning {
    pub metric: String,
    pub after_epochs: u64,
    pub min_finished: usize,
}

/// `[search]`, parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchSpec {
    pub strategy: Strategy,
    /// Draws of a random search; `None` for a grid.
    pub samples: Option<usize>,
    /// Seed of a random search's draws (0 for a grid).
    pub seed: u64,
    /// At least one subspace (an empty one when the file has none: the base alone).
    pub space: Vec<Subspace>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Grid,
    Random,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Grid => "grid",
            Strategy::Random => "random",
        }
    }
}

/// One `[[search.space]]`: fixed overrides and the axes varied on top of them. Each list is
/// sorted by dotted path.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Subspace {
    pub label: Option<String>,
    /// Overrides applied to every trial of this subspace, before its point.
    pub set: Vec<(String, Value)>,
    /// Each path's non-empty list of values (a grid's axes; a random search's choices).
    pub grid: Vec<(String, Vec<Value>)>,
    /// Each path's distribution (random search only).
    pub random: Vec<(String, Distribution)>,
}

/// A distribution a random search draws an override from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "distribution", rename_all = "snake_case")]
pub enum Distribution {
    /// Uniform in `[low, high)`.
    Uniform { low: f64, high: f64 },
    /// `exp` of a uniform in `[ln low, ln high)`: as many draws per decade.
    LogUniform { low: f64, high: f64 },
    /// An integer in `low..=high`.
    IntUniform { low: i64, high: i64 },
    /// One of `values`, uniformly.
    Choice { values: Vec<Value> },
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

    fn to_json(&self) -> serde_json::Value {
        let (name, fields) = match self {
            Distribution::Uniform { low, high } => (
                "uniform",
                vec![("low", json_f64(*low)), ("high", json_f64(*high))],
            ),
            Distribution::LogUniform { low, high } => (
                "log_uniform",
                vec![("low", json_f64(*low)), ("high", json_f64(*high))],
            ),
            Distribution::IntUniform { low, high } => (
                "int_uniform",
                vec![("low", (*low).into()), ("high", (*high).into())],
            ),
            Distribution::Choice { values } => (
                "choice",
                vec![(
                    "values",
                    serde_json::Value::Array(values.iter().map(toml_to_json).collect()),
                )],
            ),
        };
        let mut object = serde_json::Map::new();
        object.insert("distribution".to_owned(), name.into());
        for (key, value) in fields {
            object.insert(key.to_owned(), value);
        }
        serde_json::Value::Object(object)
    }
}

fn json_f64(x: f64) -> serde_json::Value {
    toml_to_json(&Value::Float(x))
}

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
    /// [`trial_id`] of `config`.
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

/// A trial's identity: the first 16 hex digits of the sha256 of the config's canonical JSON
/// (object keys sorted), without what does not change the model: `name`, `threads` and
/// `tracking`. Same hyperparameters, data and seed: same id, in any sweep or experiment.
pub fn trial_id(config: &RunConfig) -> String {
    let mut identity = config.clone();
    identity.name = None;
    identity.threads = 0;
    identity.tracking = TrackingConfig::default();
    let mut canonical = String::new();
    match serde_json::to_value(&identity) {
        Ok(json) => write_canonical_json(&json, &mut canonical),
        // Not reachable with the config's types (serde_json writes NaN as null); the Debug
        // text still identifies the config deterministically.
        Err(_) => canonical = format!("{identity:?}"),
    }
    let digest = Sha256::digest(canonical.as_bytes());
    hex::encode(&digest[..8])
}

/// JSON with object keys sorted, whatever serde_json's map preserves.
fn write_canonical_json(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value as Json;
    match value {
        Json::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (position, (key, inner)) in entries.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(key.clone()).to_string());
                out.push(':');
                write_canonical_json(inner, out);
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (position, inner) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_canonical_json(inner, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "base",
    "experiment",
    "max_parallel",
    "registered_model",
    "stale_after_minutes",
    "objective",
    "search",
    "pruning",
];

impl SweepSpec {
    /// Reads and checks a sweep file: syntax, keys, types, bounds, the base config (read and
    /// parsed) and the objective metric. What needs the dataset catalog waits for
    /// [`SweepSpec::plan`].
    pub fn from_file(path: &Path) -> Result<SweepSpec> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SweepError::io(path, "cannot read the sweep file", source))?;
        SweepSpec::from_toml(&text, path)
    }

    /// Parses sweep file text; `path` names it in errors, gives the default name and the
    /// folder a `base` path is relative to.
    pub fn from_toml(text: &str, path: &Path) -> Result<SweepSpec> {
        let root: Table = toml::from_str(text).map_err(|e| syntax_error(path, text, &e))?;
        let file = TableAt::root(&root, path);
        file.refuse_unknown(TOP_LEVEL_KEYS)?;

        let name = match file.name("name")? {
            Some(name) => name,
            None => path
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .filter(|stem| !stem.trim().is_empty())
                .ok_or_else(|| file.error("name", "missing, and the file name has no stem"))?,
        };
        let (base, base_path) = read_base(&file)?;
        let base_config: RunConfig = Value::Table(base.clone()).try_into().map_err(|e| {
            let origin = match &base_path {
                Some(base_path) => format!("`{}`", base_path.display()),
                None => "the inline table".to_owned(),
            };
            file.error(
                "base",
                format!(
                    "{origin} is not a valid run config: {}",
                    toml_message(&e.to_string())
                ),
            )
        })?;
        let experiment = file
            .name("experiment")?
            .unwrap_or_else(|| base_config.experiment());
        let max_parallel = file
            .positive_count("max_parallel")?
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let registered_model = file.name("registered_model")?;
        let stale_after_minutes = file
            .positive_count("stale_after_minutes")?
            .unwrap_or(DEFAULT_STALE_AFTER_MINUTES);
        let objective = parse_objective(file.table("objective")?)?;
        let search = parse_search(&file, file.table("search")?)?;
        let pruning = file.table("pruning")?.map(parse_pruning).transpose()?;

        Ok(SweepSpec {
            name,
            path: path.to_owned(),
            source_text: text.to_owned(),
            base,
            base_path,
            experiment,
            max_parallel,
            registered_model,
            stale_after_minutes,
            objective,
            search,
            pruning,
        })
    }

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

    /// The search space as JSON: strategy, samples, seed and each subspace's `set`, `grid` and
    /// `random` tables (logged with the parent run).
    pub fn search_space_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value as Json};
        let space: Vec<Json> = self
            .search
            .space
            .iter()
            .map(|subspace| {
                let mut object = Map::new();
                if let Some(label) = &subspace.label {
                    object.insert("label".to_owned(), label.clone().into());
                }
                let set: Map<String, Json> = subspace
                    .set
                    .iter()
                    .map(|(path, value)| (path.clone(), toml_to_json(value)))
                    .collect();
                let grid: Map<String, Json> = subspace
                    .grid
                    .iter()
                    .map(|(path, values)| {
                        (
                            path.clone(),
                            Json::Array(values.iter().map(toml_to_json).collect()),
                        )
                    })
                    .collect();
                let random: Map<String, Json> = subspace
                    .random
                    .iter()
                    .map(|(path, distribution)| (path.clone(), distribution.to_json()))
                    .collect();
                object.insert("set".to_owned(), Json::Object(set));
                object.insert("grid".to_owned(), Json::Object(grid));
                object.insert("random".to_owned(), Json::Object(random));
                Json::Object(object)
            })
            .collect();
        let mut search = Map::new();
        search.insert("strategy".to_owned(), self.search.strategy.name().into());
        if let Some(samples) = self.search.samples {
            search.insert("samples".to_owned(), samples.into());
            search.insert("seed".to_owned(), self.search.seed.into());
        }
        search.insert("space".to_owned(), Json::Array(space));
        Json::Object(search)
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
        Value::Table(config)
            .try_into()
            .map_err(|e: toml::de::Error| toml_message(&e.to_string()))
    }
}

/// What a random search varies for one key.
enum Axis<'a> {
    List(&'a [Value]),
    Draw(&'a Distribution),
}

/// A sweep file that is not TOML. The one mistake TOML itself refuses, a `base` path and a
/// `[base]` table together, is named as such.
fn syntax_error(path: &Path, text: &str, error: &toml::de::Error) -> SweepError {
    let toml_text = error.to_string().trim_end().to_owned();
    let at_base = error
        .span()
        .and_then(|span| text.get(span))
        .is_some_and(|key| key.trim() == "base");
    if at_base {
        SweepError::file(
            path,
            format!(
                "`base`: given twice: either a run config file (`base = \"...\"`) or an inline \
                 `[base]` table, not both\n{toml_text}"
            ),
        )
    } else {
        SweepError::file(path, toml_text)
    }
}

/// A toml error's text on one line.
fn toml_message(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The base run config as a table, and its file when `base` names one.
fn read_base(file: &TableAt) -> Result<(Table, Option<PathBuf>)> {
    match file.get("base") {
        None => Err(file.error(
            "base",
            "missing: name a run config file (`base = \"configs/x.toml\"`) or give one inline \
             as a `[base]` table",
        )),
        Some(Value::Table(inline)) => Ok((inline.clone(), None)),
        Some(Value::String(relative)) => {
            let folder = file.file.parent().unwrap_or(Path::new(""));
            let base_path = folder.join(relative);
            let text = std::fs::read_to_string(&base_path).map_err(|e| {
                file.error(
                    "base",
                    format!("cannot read `{}`: {e}", base_path.display()),
                )
            })?;
            let table: Table = toml::from_str(&text).map_err(|e| {
                file.error(
                    "base",
                    format!(
                        "`{}`: {}",
                        base_path.display(),
                        toml_message(&e.to_string())
                    ),
                )
            })?;
            Ok((table, Some(base_path)))
        }
        Some(other) => Err(file.error(
            "base",
            format!(
                "expected a file path or a `[base]` table, found {}",
                kind_of(other)
            ),
        )),
    }
}

fn parse_objective(objective: Option<TableAt>) -> Result<Objective> {
    let Some(objective) = objective else {
        return Ok(Objective {
            metric: DEFAULT_OBJECTIVE_METRIC.to_owned(),
            direction: Direction::Maximize,
            never_raise: Vec::new(),
        });
    };
    objective.refuse_unknown(&["metric", "direction", "never_raise"])?;
    let metric = objective
        .name("metric")?
        .unwrap_or_else(|| DEFAULT_OBJECTIVE_METRIC.to_owned());
    let known = vigie_runner::run::final_metric_names();
    if !known.contains(&metric) {
        return Err(objective.error(
            "metric",
            format!(
                "unknown metric `{metric}`: a sweep optimises a final metric, one of {}",
                known.join(", ")
            ),
        ));
    }
    let direction = match objective.string("direction")?.as_deref() {
        None | Some("maximize") => Direction::Maximize,
        Some("minimize") => Direction::Minimize,
        Some(other) => {
            return Err(objective.error(
                "direction",
                format!("expected \"maximize\" or \"minimize\", found \"{other}\""),
            ));
        }
    };
    let never_raise = objective.strings("never_raise")?.unwrap_or_default();
    if let Some(unknown) = never_raise.iter().find(|m| !known.contains(m)) {
        return Err(objective.error(
            "never_raise",
            format!(
                "unknown metric `{unknown}`: a guard is a final metric, one of {}",
                known.join(", ")
            ),
        ));
    }
    Ok(Objective {
        metric,
        direction,
        never_raise,
    })
}

fn parse_pruning(pruning: TableAt) -> Result<Pruning> {
    pruning.refuse_unknown(&["metric", "after_epochs", "min_finished"])?;
    let metric = pruning.name("metric")?;
    let metric = pruning.required("metric", metric)?;
    let after_epochs = pruning.positive_count("after_epochs")?;
    let after_epochs = pruning.required("after_epochs", after_epochs)?;
    let min_finished = pruning
        .positive_count("min_finished")?
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .unwrap_or(DEFAULT_PRUNING_MIN_FINISHED);
    Ok(Pruning {
        metric,
        after_epochs,
        min_finished,
    })
}

fn parse_search(file: &TableAt, search: Option<TableAt>) -> Result<SearchSpec> {
    let Some(search) = search else {
        return Ok(SearchSpec {
            strategy: Strategy::Grid,
            samples: None,
            seed: 0,
            space: vec![Subspace::default()],
        });
    };
    search.refuse_unknown(&["strategy", "samples", "seed", "space"])?;
    let strategy = match search.string("strategy")?.as_deref() {
        None | Some("grid") => Strategy::Grid,
        Some("random") => Strategy::Random,
        Some(other) => {
            return Err(search.error(
                "strategy",
                format!("expected \"grid\" or \"random\", found \"{other}\""),
            ));
        }
    };
    let samples = search.count("samples")?;
    let seed = search.count("seed")?;
    let (samples, seed) = match strategy {
        Strategy::Grid => {
            if samples.is_some() {
                return Err(search.error(
                    "samples",
                    "a grid sweep runs every point: `samples` is for `strategy = \"random\"`",
                ));
            }
            if seed.is_some() {
                return Err(search.error(
                    "seed",
                    "a grid sweep draws nothing: `seed` is for `strategy = \"random\"` (to vary \
                     the runs' seed, put `seed` in a grid)",
                ));
            }
            (None, 0)
        }
        Strategy::Random => {
            let samples = search.required("samples", samples)?;
            let samples = usize::try_from(samples).unwrap_or(usize::MAX);
            if samples == 0 || samples > MAX_TRIALS {
                return Err(search.error(
                    "samples",
                    format!("must be between 1 and {MAX_TRIALS}, got {samples}"),
                ));
            }
            (Some(samples), seed.unwrap_or(0))
        }
    };
    let space_path = search.key_path("space");
    let space = match search.get("space") {
        None => vec![Subspace::default()],
        Some(Value::Array(items)) if items.is_empty() => vec![Subspace::default()],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(position, item)| {
                let path = format!("{space_path}[{position}]");
                match item {
                    Value::Table(table) => parse_subspace(
                        TableAt {
                            path,
                            table,
                            file: file.file,
                        },
                        strategy,
                    ),
                    other => Err(SweepError::file(
                        file.file,
                        format!("`{path}`: expected a table, found {}", kind_of(other)),
                    )),
                }
            })
            .collect::<Result<Vec<_>>>()?,
        Some(other) => {
            return Err(search.error(
                "space",
                format!(
                    "expected an array of tables (`[[search.space]]`), found {}",
                    kind_of(other)
                ),
            ));
        }
    };
    Ok(SearchSpec {
        strategy,
        samples,
        seed,
        space,
    })
}

fn parse_subspace(subspace: TableAt, strategy: Strategy) -> Result<Subspace> {
    subspace.refuse_unknown(&["label", "set", "grid", "random"])?;
    let label = subspace.name("label")?;
    // Where each path was first given, to refuse giving one twice in a subspace.
    let mut given: Vec<(String, &str)> = Vec::new();
    let mut claim = |at: &TableAt, path: &str, section: &'static str| -> Result<()> {
        if override_keys(path).is_none() {
            return Err(at.error(
                path,
                "not a dotted path of keys (an empty key between dots)",
            ));
        }
        if let Some((_, first)) = given.iter().find(|(seen, _)| seen == path) {
            return Err(at.error(path, format!("also in `{first}`: give a path once")));
        }
        given.push((path.to_owned(), section));
        Ok(())
    };

    let mut set = Vec::new();
    if let Some(table) = subspace.table("set")? {
        for (path, value) in table.table {
            claim(&table, path, "set")?;
            set.push((path.clone(), value.clone()));
        }
    }
    let mut grid = Vec::new();
    if let Some(table) = subspace.table("grid")? {
        for (path, values) in table.table {
            claim(&table, path, "grid")?;
            match values {
                Value::Array(values) if values.is_empty() => {
                    return Err(table.error(path, "the list is empty"));
                }
                Value::Array(values) => grid.push((path.clone(), values.clone())),
                other => {
                    return Err(table.error(
                        path,
                        format!(
                            "expected a non-empty list of values, found {}",
                            kind_of(other)
                        ),
                    ));
                }
            }
        }
    }
    let mut random = Vec::new();
    if let Some(table) = subspace.table("random")? {
        for (path, value) in table.table {
            if strategy == Strategy::Grid {
                return Err(table.error(
                    path,
                    "a grid sweep draws nothing: list the values in `grid`, or set \
                     `search.strategy = \"random\"`",
                ));
            }
            claim(&table, path, "random")?;
            let distribution = match value {
                Value::Table(inner) => parse_distribution(TableAt {
                    path: table.key_path(path),
                    table: inner,
                    file: table.file,
                })?,
                other => {
                    return Err(table.error(
                        path,
                        format!(
                            "expected a distribution table (`{{ distribution = \"uniform\", \
                             low = .., high = .. }}`), found {}",
                            kind_of(other)
                        ),
                    ));
                }
            };
            random.push((path.clone(), distribution));
        }
    }
    set.sort_by(|a, b| a.0.cmp(&b.0));
    grid.sort_by(|a, b| a.0.cmp(&b.0));
    random.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Subspace {
        label,
        set,
        grid,
        random,
    })
}

fn parse_distribution(entry: TableAt) -> Result<Distribution> {
    let kind = entry.string("distribution")?;
    let kind = entry.required("distribution", kind)?;
    let bounded = ["distribution", "low", "high"];
    match kind.as_str() {
        "uniform" | "log_uniform" => {
            entry.refuse_unknown(&bounded)?;
            let low = entry.number("low")?;
            let low = entry.required("low", low)?;
            let high = entry.number("high")?;
            let high = entry.required("high", high)?;
            for (key, bound) in [("low", low), ("high", high)] {
                if !bound.is_finite() {
                    return Err(entry.error(key, format!("must be finite, got {bound}")));
                }
            }
            if kind == "log_uniform" && low <= 0.0 {
                return Err(entry.error(
                    "low",
                    format!("a log-uniform distribution needs low > 0, got {low}"),
                ));
            }
            if low >= high {
                return Err(entry.error(
                    "low",
                    format!("must be below `high` (low = {low}, high = {high})"),
                ));
            }
            Ok(if kind == "uniform" {
                Distribution::Uniform { low, high }
            } else {
                Distribution::LogUniform { low, high }
            })
        }
        "int_uniform" => {
            entry.refuse_unknown(&bounded)?;
            let low = entry.integer("low")?;
            let low = entry.required("low", low)?;
            let high = entry.integer("high")?;
            let high = entry.required("high", high)?;
            if low > high {
                return Err(entry.error(
                    "low",
                    format!("must not exceed `high` (low = {low}, high = {high})"),
                ));
            }
            Ok(Distribution::IntUniform { low, high })
        }
        "choice" => {
            entry.refuse_unknown(&["distribution", "values"])?;
            match entry.get("values") {
                None => Err(entry.error("values", "missing")),
                Some(Value::Array(values)) if values.is_empty() => {
                    Err(entry.error("values", "the list is empty"))
                }
                Some(Value::Array(values)) => Ok(Distribution::Choice {
                    values: values.clone(),
                }),
                Some(other) => Err(entry.error(
                    "values",
                    format!("expected a non-empty list, found {}", kind_of(other)),
                )),
            }
        }
        other => Err(entry.error(
            "distribution",
            format!(
                "unknown distribution `{other}` (expected uniform, log_uniform, int_uniform or \
                 choice)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    /// A linear SVM base that names its own experiment and registered model, both of which a
    /// sweep overrides.
    const BASE: &str = "\
seed = 42
[data]
dataset = \"fwaf\"
[model]
kind = \"linear_svm\"
c = 5.0
tol = 0.5
[tracking]
experiment = \"base-experiment\"
registered_model = \"base-model\"
";

    /// Writes `base.toml` and `quick.toml` (`base = \"base.toml\"` then `body`) into `dir`.
    fn write_sweep(dir: &TempDir, body: &str) -> PathBuf {
        std::fs::write(dir.path().join("base.toml"), BASE).unwrap();
        let path = dir.path().join("quick.toml");
        std::fs::write(&path, format!("base = \"base.toml\"\n{body}")).unwrap();
        path
    }

    fn parse(body: &str) -> Result<SweepSpec> {
        let dir = TempDir::new().unwrap();
        SweepSpec::from_file(&write_sweep(&dir, body))
    }

    fn plan(body: &str) -> Result<SweepPlan> {
        parse(body)?.plan(&Catalog::builtin().unwrap())
    }

    fn linear(config: &RunConfig) -> &vigie_models::linear::LinearConfig {
        match &config.model {
            vigie_models::spec::ModelSpec::LinearSvm(linear)
            | vigie_models::spec::ModelSpec::LogisticRegression(linear) => linear,
            other => panic!("not a linear model: {other:?}"),
        }
    }

    fn base_config() -> RunConfig {
        RunConfig::from_toml(BASE, Path::new("base.toml")).unwrap()
    }

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

    const RANDOM: &str = "\
[search]
strategy = \"random\"
samples = 200
seed = SEED
[[search.space]]
[search.space.grid]
seed = [1, 2, 3]
[search.space.random]
\"model.c\" = { distribution = \"log_uniform\", low = 0.001, high = 1000.0 }
\"model.tol\" = { distribution = \"uniform\", low = 0.01, high = 0.5 }
\"model.max_iter\" = { distribution = \"int_uniform\", low = 1, high = 4 }
\"model.class_weight\" = { distribution = \"choice\", values = [\"balanced\", \"none\"] }
";

    fn random_plan(seed: u64) -> SweepPlan {
        plan(&RANDOM.replace("SEED", &seed.to_string())).unwrap()
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
    fn trial_ids_ignore_name_threads_and_tracking_but_nothing_else() {
        let base = base_config();
        let id = trial_id(&base);
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

        let mut renamed = base.clone();
        renamed.name = Some("another".to_owned());
        renamed.threads = 3;
        renamed.tracking = TrackingConfig {
            experiment: Some("elsewhere".to_owned()),
            registered_model: Some("champion".to_owned()),
        };
        assert_eq!(trial_id(&renamed), id);

        let mut reseeded = base.clone();
        reseeded.seed += 1;
        let mut split_reseeded = base.clone();
        split_reseeded.data.split.seed += 1;
        let mut other_data = base.clone();
        other_data.data.dataset = "csic2010".to_owned();
        let changed =
            RunConfig::from_toml(&BASE.replace("c = 5.0", "c = 5.5"), Path::new("x")).unwrap();
        let ids: HashSet<String> = [&base, &reseeded, &split_reseeded, &other_data, &changed]
            .into_iter()
            .map(trial_id)
            .collect();
        assert_eq!(ids.len(), 5);
    }

    fn error_of(result: Result<impl std::fmt::Debug>) -> String {
        result.expect_err("should fail").to_string()
    }

    #[test]
    fn every_malformed_sweep_fails_naming_the_key() {
        let cases: &[(&str, &str)] = &[
            ("colour = 1\n", "`colour`: unknown key"),
            (
                "[objective]\nmetrc = \"test_f1\"\n",
                "`objective.metrc`: unknown key",
            ),
            (
                "[search]\nstrat = \"grid\"\n",
                "`search.strat`: unknown key",
            ),
            (
                "[[search.space]]\nlabl = \"x\"\n",
                "`search.space[0].labl`: unknown key",
            ),
            (
                "[pruning]\nmetric = \"valid_roc_auc\"\nafter_epochs = 1\npatience = 2\n",
                "`pruning.patience`: unknown key",
            ),
            (
                "[[search.space]]\n[[search.space]]\n[search.space.grid]\n\"model.c\" = []\n",
                "`search.space[1].grid.\"model.c\"`: the list is empty",
            ),
            (
                "[[search.space]]\n[search.space.grid]\n\"model.c\" = 1.0\n",
                "`search.space[0].grid.\"model.c\"`: expected a non-empty list",
            ),
            (
                "[search]\nstrategy = \"random\"\nsamples = 3\n[[search.space]]\n\
                 [search.space.random]\n\"model.c\" = { distribution = \"gaussian\", low = 1, high = 2 }\n",
                "`search.space[0].random.\"model.c\".distribution`: unknown distribution `gaussian`",
            ),
            (
                "[search]\nstrategy = \"random\"\nsamples = 3\n[[search.space]]\n\
                 [search.space.random]\n\"model.c\" = { distribution = \"uniform\", low = 2.0, high = 2.0 }\n",
                "`search.space[0].random.\"model.c\".low`",
            ),
            (
                "[search]\nstrategy = \"random\"\nsamples = 3\n[[search.space]]\n\
                 [search.space.random]\n\"model.c\" = { distribution = \"log_uniform\", low = 0.0, high = 2.0 }\n",
                "`search.space[0].random.\"model.c\".low`",
            ),
            (
                "[search]\nstrategy = \"random\"\nsamples = 3\n[[search.space]]\n\
                 [search.space.random]\n\"model.c\" = { distribution = \"uniform\", low = 0.1, high = 2.0, step = 1 }\n",
                "`search.space[0].random.\"model.c\".step`: unknown key",
            ),
            (
                "[search]\nstrategy = \"random\"\nsamples = 3\n[[search.space]]\n\
                 [search.space.random]\n\"model.max_iter\" = { distribution = \"int_uniform\", low = 1.5, high = 4 }\n",
                "`search.space[0].random.\"model.max_iter\".low`: expected an integer",
            ),
            (
                "[search]\nstrategy = \"random\"\nsamples = 3\n[[search.space]]\n\
                 [search.space.random]\n\"model.c\" = { distribution = \"choice\", values = [] }\n",
                "`search.space[0].random.\"model.c\".values`: the list is empty",
            ),
            (
                "[[search.space]]\n[search.space.random]\n\
                 \"model.c\" = { distribution = \"uniform\", low = 0.1, high = 2.0 }\n",
                "`search.space[0].random.\"model.c\"`: a grid sweep draws nothing",
            ),
            (
                "[search]\nstrategy = \"random\"\n",
                "`search.samples`: missing",
            ),
            (
                "[search]\nstrategy = \"random\"\nsamples = 0\n",
                "`search.samples`",
            ),
            ("[search]\nsamples = 4\n", "`search.samples`: a grid sweep"),
            ("[search]\nstrategy = \"bayes\"\n", "`search.strategy`"),
            (
                "[objective]\nmetric = \"final_valid_f2\"\n",
                "`objective.metric`: unknown metric `final_valid_f2`",
            ),
            ("[objective]\ndirection = \"up\"\n", "`objective.direction`"),
            (
                "[objective]\nnever_raise = [\"field_fpx\"]\n",
                "`objective.never_raise`: unknown metric `field_fpx`",
            ),
            (
                "[objective]\nnever_raise = \"field_fpr\"\n",
                "`objective.never_raise`: expected an array of strings",
            ),
            ("max_parallel = 0\n", "`max_parallel`: must be at least 1"),
            ("stale_after_minutes = 0\n", "`stale_after_minutes`"),
            ("experiment = \"\"\n", "`experiment`: empty"),
            (
                "[pruning]\nmetric = \"valid_roc_auc\"\nafter_epochs = 0\n",
                "`pruning.after_epochs`",
            ),
            ("[pruning]\nafter_epochs = 1\n", "`pruning.metric`: missing"),
            (
                "[[search.space]]\n[search.space.set]\n\"model.c\" = 1.0\n\
                 [search.space.grid]\n\"model.c\" = [2.0]\n",
                "`search.space[0].grid.\"model.c\"`: also in `set`",
            ),
            (
                "[[search.space]]\n[search.space.grid]\n\"model..c\" = [2.0]\n",
                "`search.space[0].grid.\"model..c\"`: not a dotted path",
            ),
            ("search = 3\n", "`search`: expected a table"),
        ];
        for (body, expected) in cases {
            let message = error_of(parse(body));
            assert!(message.contains(expected), "{body}\n→ {message}");
            assert!(message.contains("quick.toml"), "{message}");
        }
    }

    #[test]
    fn the_base_must_be_given_exactly_once_and_readable() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("nobase.toml");
        std::fs::write(&path, "name = \"x\"\n").unwrap();
        let message = error_of(SweepSpec::from_file(&path));
        assert!(message.contains("`base`: missing"), "{message}");

        std::fs::write(
            &path,
            format!("base = \"base.toml\"\n[base]\n{}", "seed = 1\n"),
        )
        .unwrap();
        let message = error_of(SweepSpec::from_file(&path));
        assert!(message.contains("`base`: given twice"), "{message}");

        std::fs::write(&path, "base = \"configs/missing.toml\"\n").unwrap();
        let message = error_of(SweepSpec::from_file(&path));
        assert!(
            message.contains("`base`") && message.contains("missing.toml"),
            "{message}"
        );

        std::fs::write(&path, "base = 3\n").unwrap();
        let message = error_of(SweepSpec::from_file(&path));
        assert!(message.contains("`base`: expected"), "{message}");

        // A base that is no run config is refused before any planning.
        std::fs::write(dir.path().join("bad.toml"), "[data]\ndataset = \"fwaf\"\n").unwrap();
        std::fs::write(&path, "base = \"bad.toml\"\n").unwrap();
        let message = error_of(SweepSpec::from_file(&path));
        assert!(
            message.contains("`base`") && message.contains("model"),
            "{message}"
        );
    }

    #[test]
    fn an_inline_base_defaults_the_experiment_from_its_dataset() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("inline.toml");
        let inline = BASE
            .replace("[data]", "[base.data]")
            .replace("[model]", "[base.model]")
            .replace(
                "[tracking]\nexperiment = \"base-experiment\"\n",
                "[base.tracking]\n",
            )
            .replace("seed = 42\n", "");
        std::fs::write(
            &path,
            format!("registered_model = \"vigie-fwaf\"\n{inline}"),
        )
        .unwrap();
        let spec = SweepSpec::from_file(&path).unwrap();
        assert_eq!(spec.name, "inline");
        assert_eq!(spec.base_path, None);
        assert_eq!(spec.experiment, "vigie-fwaf");
        assert_eq!(spec.registered_model.as_deref(), Some("vigie-fwaf"));
        let plan = spec.plan(&Catalog::builtin().unwrap()).unwrap();
        assert_eq!(plan.trials[0].config.tracking.registered_model, None);
        assert_eq!(plan.trials[0].config.experiment(), "vigie-fwaf");
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

    #[test]
    fn the_search_space_json_lists_every_subspace() {
        let spec = parse(&RANDOM.replace("SEED", "3")).unwrap();
        let json = spec.search_space_json();
        assert_eq!(json["strategy"], "random");
        assert_eq!(json["samples"], 200);
        assert_eq!(json["seed"], 3);
        let subspace = &json["space"][0];
        assert_eq!(subspace["grid"]["seed"], serde_json::json!([1, 2, 3]));
        assert_eq!(subspace["random"]["model.c"]["distribution"], "log_uniform");
        assert_eq!(subspace["random"]["model.c"]["high"], 1000.0);
        assert_eq!(
            subspace["random"]["model.class_weight"]["values"],
            serde_json::json!(["balanced", "none"])
        );
    }

    #[test]
    fn a_nan_is_never_better() {
        for direction in [Direction::Maximize, Direction::Minimize] {
            assert!(!direction.better(f64::NAN, 1.0));
            assert!(!direction.better(f64::NAN, f64::NAN));
            assert!(direction.better(1.0, f64::NAN));
            assert!(!direction.better(1.0, 1.0));
        }
        assert!(Direction::Maximize.better(2.0, 1.0));
        assert!(Direction::Minimize.better(1.0, 2.0));
        assert_eq!(Direction::Minimize.name(), "minimize");
    }

    #[test]
    fn shards_parse_and_partition_the_plan() {
        for bad in ["0/2", "3/2", "a/b", "1/0", "1", "1/", "-1/2"] {
            let message = error_of(bad.parse::<Shard>());
            assert!(message.contains(bad), "{bad}: {message}");
        }
        let shard: Shard = "2/3".parse().unwrap();
        assert_eq!(shard, Shard { index: 2, count: 3 });
        assert_eq!(shard.to_string(), "2/3");

        let plan =
            plan("[[search.space]]\n[search.space.grid]\nseed = [1, 2, 3, 4, 5, 6, 7]\n").unwrap();
        for count in 1..=4 {
            let mut seen: Vec<usize> = Vec::new();
            for index in 1..=count {
                let selected = Shard { index, count }.select(&plan.trials);
                assert!(
                    selected.iter().all(|t| (t.index - 1) % count == index - 1),
                    "{index}/{count}"
                );
                seen.extend(selected.iter().map(|t| t.index));
            }
            seen.sort_unstable();
            assert_eq!(seen, (1..=7).collect::<Vec<_>>(), "{count} shards");
        }
    }
}
