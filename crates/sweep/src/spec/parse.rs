//! Reading a sweep file into a [`SweepSpec`]: every key checked, unknown ones refused, and each
//! error naming its key as a dotted path (through `table.rs`) in the file.
//!
//! It is written by hand rather than derived with serde and `deny_unknown_fields`: toml's serde
//! errors give a line and column but not the key's path through nested tables and arrays of
//! tables (`search.space[1].grid."model.c"`), and most checks here (a path given twice in a
//! subspace, a `random` table in a grid sweep, a distribution's bounds) are no derive's.

use std::path::{Path, PathBuf};

use toml::{Table, Value};
use vigie_runner::RunConfig;
use vigie_runner::overrides::{self, Override};

use super::table::{TableAt, kind_of, override_keys};
use super::types::{
    DEFAULT_OBJECTIVE_METRIC, DEFAULT_PRUNING_MIN_FINISHED, DEFAULT_STALE_AFTER_MINUTES, Direction,
    Distribution, FeedbackAllowance, MAX_TRIALS, Objective, Pruning, SearchSpec, Strategy,
    Subspace, SweepSpec,
};
use crate::error::{Result, SweepError};

/// The keys of each table of a sweep file, as `(table, keys)`: `sweep` is the top level.
#[cfg(test)]
pub(crate) const SWEEP_KEYS: [(&str, &[&str]); 5] = [
    ("sweep", TOP_LEVEL_KEYS),
    ("sweep.objective", OBJECTIVE_KEYS),
    ("sweep.search", SEARCH_KEYS),
    ("sweep.search.space", SUBSPACE_KEYS),
    ("sweep.pruning", PRUNING_KEYS),
];

const OBJECTIVE_KEYS: &[&str] = &[
    "metric",
    "direction",
    "never_raise",
    "allow_feedback_false_alarms",
    "allow_feedback_missed",
];
const SEARCH_KEYS: &[&str] = &["strategy", "samples", "seed", "space"];
const SUBSPACE_KEYS: &[&str] = &["label", "set", "grid", "random"];
const PRUNING_KEYS: &[&str] = &["metric", "after_epochs", "min_finished"];

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
        SweepSpec::from_file_with(path, &[])
    }

    /// Reads a sweep file with `overrides` (`vigie sweep --set`) written into its base config,
    /// and so into every trial's.
    pub fn from_file_with(path: &Path, overrides: &[Override]) -> Result<SweepSpec> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SweepError::io(path, "cannot read the sweep file", source))?;
        SweepSpec::from_toml_with(&text, path, overrides)
    }

    /// Parses sweep file text; `path` names it in errors, gives the default name and the
    /// folder a `base` path is relative to.
    pub fn from_toml(text: &str, path: &Path) -> Result<SweepSpec> {
        SweepSpec::from_toml_with(text, path, &[])
    }

    /// [`SweepSpec::from_toml`] with `overrides` applied to the base config.
    pub fn from_toml_with(text: &str, path: &Path, overrides: &[Override]) -> Result<SweepSpec> {
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
        let (mut base, base_path) = read_base(&file)?;
        overrides::apply(&mut base, overrides)
            .map_err(|message| file.error("base", format!("--set {message}")))?;
        let base_config = RunConfig::from_table(&base).map_err(|e| {
            let origin = match &base_path {
                Some(base_path) => format!("`{}`", base_path.display()),
                None => "the inline table".to_owned(),
            };
            let from_set = if overrides::set_by(overrides, &e.dotted()) {
                " (from --set)"
            } else {
                ""
            };
            file.error(
                "base",
                format!("{origin} is not a valid run config: {e}{from_set}"),
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
}

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
            feedback_allowed: FeedbackAllowance::default(),
        });
    };
    objective.refuse_unknown(OBJECTIVE_KEYS)?;
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
    let feedback_allowed = FeedbackAllowance {
        false_alarms: objective.count("allow_feedback_false_alarms")?.unwrap_or(0),
        missed: objective.count("allow_feedback_missed")?.unwrap_or(0),
    };
    Ok(Objective {
        metric,
        direction,
        never_raise,
        feedback_allowed,
    })
}

fn parse_pruning(pruning: TableAt) -> Result<Pruning> {
    pruning.refuse_unknown(PRUNING_KEYS)?;
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
    search.refuse_unknown(SEARCH_KEYS)?;
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
    subspace.refuse_unknown(SUBSPACE_KEYS)?;
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
    use tempfile::TempDir;

    use super::*;
    use crate::spec::test_sweeps::{BASE, error_of, parse};
    use vigie_data::Catalog;

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
}
