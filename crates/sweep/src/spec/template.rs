//! `vigie config template sweep`: a sweep file with every key and its default, each commented
//! with its meaning from `docs/configuration.md` (as the run config template is).

use vigie_runner::key_docs::KeyDocs;
use vigie_runner::template::comment;

use super::types::{
    DEFAULT_OBJECTIVE_METRIC, DEFAULT_PRUNING_MIN_FINISHED, DEFAULT_STALE_AFTER_MINUTES,
};

/// One line of the template: a table header, or a key of the docs table `table` with its
/// value, commented out when unset by default or optional.
enum Line {
    Header(&'static str),
    Key {
        table: &'static str,
        key: &'static str,
        value: String,
        disabled: bool,
    },
}

fn key(table: &'static str, key: &'static str, value: impl ToString) -> Line {
    Line::Key {
        table,
        key,
        value: value.to_string(),
        disabled: false,
    }
}

fn disabled(table: &'static str, key: &'static str, value: impl ToString) -> Line {
    Line::Key {
        table,
        key,
        value: value.to_string(),
        disabled: true,
    }
}

/// The commented sweep file, its base the run config at `base` (relative to the sweep file);
/// its grid varies `model.c`, a key of the linear models.
pub fn sweep_template(base: &str) -> String {
    let docs = KeyDocs::shipped();
    let mut out = comment(
        "A sweep file for `vigie sweep`, written by `vigie config template sweep`: every key \
         with its default (keys commented out are unset by default; docs/configuration.md has \
         the details). `vigie sweep FILE --set KEY=VALUE` overrides a key of the base config \
         in every trial.",
    );
    for line in lines(base) {
        match line {
            Line::Header(header) => out.push_str(&format!("\n{header}\n")),
            Line::Key {
                table,
                key,
                value,
                disabled,
            } => {
                if let Some(doc) = docs.get(table, key) {
                    out.push_str(&comment(&doc.meaning));
                }
                let hash = if disabled { "# " } else { "" };
                out.push_str(&format!("{hash}{key} = {value}\n"));
            }
        }
    }
    out
}

fn lines(base: &str) -> Vec<Line> {
    let quoted = |text: &str| format!("{text:?}");
    vec![
        key("sweep", "base", quoted(base)),
        disabled("sweep", "name", quoted("my-sweep")),
        disabled("sweep", "experiment", quoted("my-experiment")),
        disabled("sweep", "max_parallel", 2),
        disabled("sweep", "registered_model", quoted("my-model")),
        key("sweep", "stale_after_minutes", DEFAULT_STALE_AFTER_MINUTES),
        Line::Header("[objective]"),
        key(
            "sweep.objective",
            "metric",
            quoted(DEFAULT_OBJECTIVE_METRIC),
        ),
        key("sweep.objective", "direction", quoted("maximize")),
        key("sweep.objective", "never_raise", "[]"),
        key("sweep.objective", "allow_feedback_false_alarms", 0),
        key("sweep.objective", "allow_feedback_missed", 0),
        Line::Header("[search]"),
        key("sweep.search", "strategy", quoted("grid")),
        disabled("sweep.search", "samples", 20),
        disabled("sweep.search", "seed", 0),
        Line::Header("[[search.space]]"),
        key("sweep.search.space", "label", quoted("svm")),
        disabled("sweep.search.space", "set", "{ \"model.tol\" = 0.1 }"),
        disabled(
            "sweep.search.space",
            "random",
            "{ \"model.c\" = { distribution = \"log_uniform\", low = 0.01, high = 100.0 } }",
        ),
        key(
            "sweep.search.space",
            "grid",
            "{ \"model.c\" = [0.5, 1.0, 2.0] }",
        ),
        Line::Header("# [pruning]"),
        disabled("sweep.pruning", "metric", quoted("valid_roc_auc")),
        disabled("sweep.pruning", "after_epochs", 2),
        disabled(
            "sweep.pruning",
            "min_finished",
            DEFAULT_PRUNING_MIN_FINISHED,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;
    use vigie_data::Catalog;
    use vigie_runner::template::run_config_template;

    use super::super::parse::SWEEP_KEYS;
    use super::*;
    use crate::spec::SweepSpec;

    #[test]
    fn the_template_plans_its_grid_on_the_run_config_template() {
        let dir = TempDir::new().unwrap();
        std::fs::create_dir_all(dir.path().join("configs")).unwrap();
        std::fs::create_dir_all(dir.path().join("experiments")).unwrap();
        let base = run_config_template("linear_svm").unwrap();
        std::fs::write(dir.path().join("configs/my-run.toml"), base).unwrap();
        let path = dir.path().join("experiments/my-sweep.toml");
        std::fs::write(&path, sweep_template("../configs/my-run.toml")).unwrap();
        let spec = SweepSpec::from_file(&path).unwrap();
        assert_eq!(spec.name, "my-sweep");
        assert_eq!(spec.stale_after_minutes, DEFAULT_STALE_AFTER_MINUTES);
        let plan = spec.plan(&Catalog::builtin().unwrap()).unwrap();
        assert_eq!(plan.trials.len(), 3);
    }

    /// Every key a sweep file's tables accept is in the template and in the docs table marked
    /// for its table, so that neither drifts from the parser.
    #[test]
    fn every_sweep_key_is_in_the_template_and_the_docs() {
        let template = sweep_template("base.toml");
        let docs = KeyDocs::shipped();
        for (table, keys) in SWEEP_KEYS {
            for key in keys {
                // A key holding a table has its own docs table and header.
                if docs.has_table(&format!("{table}.{key}")) {
                    assert!(template.contains(&format!("{key}]")), "[{key}]");
                    continue;
                }
                assert!(
                    docs.get(table, key).is_some(),
                    "docs/configuration.md: no row `{key}` in the table marked `{table}`"
                );
                let written = template.lines().any(|line| {
                    line.trim_start_matches("# ")
                        .starts_with(&format!("{key} = "))
                });
                assert!(written, "{table}.{key} not in the template");
            }
        }
        assert!(template.contains("[[search.space]]"));
    }
}
