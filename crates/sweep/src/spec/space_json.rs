//! The search space as JSON, logged with the sweep's parent run.

use toml::Value;

use super::table::toml_to_json;
use super::types::{Distribution, SweepSpec};

impl SweepSpec {
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
}

impl Distribution {
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

#[cfg(test)]
mod tests {
    use crate::spec::test_sweeps::{RANDOM, parse};

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
}
