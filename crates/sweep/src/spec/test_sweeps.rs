//! Sweep files for the spec's unit tests: a linear SVM base beside them, and a random search.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use vigie_data::Catalog;
use vigie_runner::RunConfig;

use super::{SweepPlan, SweepSpec};
use crate::error::Result;

/// A linear SVM base that names its own experiment and registered model, both of which a
/// sweep overrides.
pub(super) const BASE: &str = "\
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
pub(super) fn write_sweep(dir: &TempDir, body: &str) -> PathBuf {
    std::fs::write(dir.path().join("base.toml"), BASE).unwrap();
    let path = dir.path().join("quick.toml");
    std::fs::write(&path, format!("base = \"base.toml\"\n{body}")).unwrap();
    path
}

pub(super) fn parse(body: &str) -> Result<SweepSpec> {
    let dir = TempDir::new().unwrap();
    SweepSpec::from_file(&write_sweep(&dir, body))
}

pub(super) fn plan(body: &str) -> Result<SweepPlan> {
    parse(body)?.plan(&Catalog::builtin().unwrap())
}

pub(super) fn linear(config: &RunConfig) -> &vigie_models::linear::LinearConfig {
    match &config.model {
        vigie_models::spec::ModelSpec::LinearSvm(linear)
        | vigie_models::spec::ModelSpec::LogisticRegression(linear) => linear,
        other => panic!("not a linear model: {other:?}"),
    }
}

pub(super) fn base_config() -> RunConfig {
    RunConfig::from_toml(BASE, Path::new("base.toml")).unwrap()
}

pub(super) fn error_of(result: Result<impl std::fmt::Debug>) -> String {
    result.expect_err("should fail").to_string()
}

pub(super) const RANDOM: &str = "\
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

pub(super) fn random_plan(seed: u64) -> SweepPlan {
    plan(&RANDOM.replace("SEED", &seed.to_string())).unwrap()
}
