//! docs/configuration.md names every key of the run config types: a config of each model kind
//! with every optional table and unset-by-default key written is flattened to dotted keys, and
//! each must be a row of the docs table marked for its config table (`vigie_runner::key_docs`),
//! so that a key added to a type without its docs fails here.

use std::path::Path;

use vigie_models::spec::ModelSpec;
use vigie_runner::RunConfig;
use vigie_runner::key_docs::KeyDocs;

/// Every table and key that is absent from a default config (optional tables, `Option`s, keys
/// written only off their default), beside `[model]`.
const EVERYTHING: &str = r#"
name = "x"
[data]
dataset = "fwaf"
[data.site]
dataset = "echows-urldetect"
file = "site.txt"
alert_rate = 0.01
[data.augment]
[data.feedback]
datasets = ["f"]
[threshold]
rule = "target_fpr"
fpr = 0.01
[tracking]
experiment = "e"
registered_model = "m"
[robustness]
"#;

/// `[model]` tables that between them write every model key.
const MODELS: &[&str] = &[
    "kind = \"linear_svm\"\nloss = \"hinge\"\nrefit_with_valid = true\npool_fields = true\n\
     mil_rounds = 2\ndrop_unfitted_malicious = true\n\
     [model.tfidf]\nmax_features = 10\n[model.tfidf.tokenizer.analyzer]\nkind = \"word\"\n",
    "kind = \"logistic_regression\"\n[model.tfidf.tokenizer.analyzer]\nkind = \"request\"\n",
    "kind = \"isolation_forest\"\n",
    "kind = \"mlp\"\n[model.training]\nmax_train_samples = 10\nthreads = 2\n",
    "kind = \"cnn\"\n[model.sequence]\nmax_size = 100\n\
     [model.sequence.unit]\nkind = \"token\"\n",
    "kind = \"lstm\"\n",
    "kind = \"bilstm\"\n",
    "kind = \"libinjection\"\n",
];

#[test]
fn the_configuration_docs_name_every_run_config_key() {
    let docs = KeyDocs::shipped();
    let mut missing = Vec::new();
    let mut checked = 0;
    for model in MODELS {
        let text = format!("{EVERYTHING}[model]\n{model}");
        let config = RunConfig::from_toml(&text, Path::new("everything.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let kind = config.model.kind();
        for (key, _) in config.flattened().expect("flattened") {
            let (path, leaf) = key.rsplit_once('.').unwrap_or(("", &key));
            if docs.of_key(path, kind, leaf).is_none() {
                missing.push(format!("{kind}: {key}"));
            }
            checked += 1;
        }
    }
    // Every kind is written above.
    let mut kinds: Vec<&str> = MODELS.iter().filter_map(|m| m.split('"').nth(1)).collect();
    let mut all = ModelSpec::KINDS.to_vec();
    kinds.sort_unstable();
    all.sort_unstable();
    assert_eq!(kinds, all);
    assert!(checked > 150, "only {checked} keys");
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks (add a row to the table marked for the key's table):\n{}",
        missing.join("\n")
    );
}
