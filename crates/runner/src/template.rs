//! `vigie config template KIND`: a run config with every key and its default, each commented
//! with its meaning from `docs/configuration.md` ([`crate::key_docs`]).
//!
//! The values are the types' own defaults, serialised from a default config of the kind, so
//! the template cannot disagree with the parser; keys whose default is unset (and so are not
//! serialised) are written commented out, as are the optional tables.

use std::collections::HashSet;

use serde::Serialize;
use vigie_models::spec::ModelSpec;

use crate::augment::AugmentConfig;
use crate::config::RunConfig;
use crate::error::{Result, RunError};
use crate::feedback::FeedbackConfig;
use crate::key_docs::{KeyDoc, KeyDocs, addresses};
use crate::robust::RobustnessConfig;
use crate::site::SiteConfig;

/// The width comments are wrapped to.
const WIDTH: usize = 96;

/// The commented run config of a model `kind` (one of [`ModelSpec::KINDS`]).
pub fn run_config_template(kind: &str) -> Result<String> {
    let config = default_config(kind)?;
    let docs = KeyDocs::shipped();
    let mut body = serialise(&config)?;
    if !body.contains("\n[tracking]") {
        body.push_str("\n[tracking]\n");
    }
    let mut out = comment(&format!(
        "A run config for `vigie train`, written by `vigie config template {kind}`: every key \
         with its default (keys commented out are unset by default; docs/configuration.md has \
         the details). Any key can also be set on the command line: \
         `vigie train FILE --set model.c=2 --set data.split.seed=7`."
    ));
    out.push_str(&annotate(&body, "", kind, &docs, false));
    out.push_str("\n# Optional tables: uncomment one to use it (docs/configuration.md).\n");
    for (path, table) in optional_tables()? {
        out.push_str(&annotate(&table, path, kind, &docs, true));
    }
    Ok(out)
}

/// A config of `kind` on fwaf with every default; the families without a learnt score
/// (Isolation Forest, libinjection) take the model's own threshold, as their shipped configs do.
fn default_config(kind: &str) -> Result<RunConfig> {
    if !ModelSpec::KINDS.contains(&kind) {
        return Err(RunError::Invalid {
            message: format!(
                "unknown model kind `{kind}`: one of {}",
                ModelSpec::KINDS.join(", ")
            ),
        });
    }
    let rule = match kind {
        "isolation_forest" | "libinjection" => "model",
        _ => "max_f1",
    };
    let text = format!(
        "[data]\ndataset = \"fwaf\"\n[model]\nkind = \"{kind}\"\n[threshold]\nrule = \"{rule}\"\n"
    );
    RunConfig::from_toml(&text, std::path::Path::new("template.toml"))
}

fn serialise(value: &impl Serialize) -> Result<String> {
    toml::to_string(value).map_err(|e| RunError::Invalid {
        message: format!("cannot write the template: {e}"),
    })
}

/// The optional tables with their defaults (and a made-up dataset where one is required), as
/// `(path, TOML body)`.
fn optional_tables() -> Result<Vec<(&'static str, String)>> {
    let site: SiteConfig = example("dataset = \"echows-urldetect\"")?;
    let augment: AugmentConfig = example("")?;
    let feedback: FeedbackConfig = example("datasets = [\"my-feedback\"]")?;
    let robustness: RobustnessConfig = example("")?;
    Ok(vec![
        ("data.site", serialise(&site)?),
        ("data.augment", serialise(&augment)?),
        ("data.feedback", serialise(&feedback)?),
        ("robustness", serialise(&robustness)?),
    ])
}

fn example<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| RunError::Invalid {
        message: format!("cannot write the template: {e}"),
    })
}

/// `body` (TOML as serialised: `key = value` lines under `[table]` headers) with each key's
/// meaning above it, and the documented keys it lacks commented out at the end of their table;
/// every line commented out when `disabled`. `root` is the path of `body`'s headerless keys,
/// written as a header first unless it is the top level.
fn annotate(body: &str, root: &str, kind: &str, docs: &KeyDocs, disabled: bool) -> String {
    let headers = headers(body);
    let mut out = String::new();
    if !root.is_empty() {
        out.push_str(&format!("\n[{root}]\n"));
    }
    let mut table = Section::new(root);
    for line in body.lines() {
        if let Some(path) = header(line) {
            table.flush_absent(kind, docs, &headers, &mut out);
            table = Section::new(path);
            out.push('\n');
            out.push_str(line);
            out.push('\n');
        } else if let Some((key, _)) = line.split_once(" = ") {
            let key = key.trim();
            table.seen.insert(key.to_owned());
            if let Some(doc) = table.doc(kind, docs, key) {
                out.push_str(&comment(&doc.meaning));
            }
            out.push_str(line);
            out.push('\n');
        } else if !line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    table.flush_absent(kind, docs, &headers, &mut out);
    if disabled { disable(&out) } else { out }
}

/// Every line commented out (comments stay as they are).
fn disable(text: &str) -> String {
    text.lines()
        .map(|line| match line {
            "" => "\n".to_owned(),
            line if line.starts_with('#') => format!("{line}\n"),
            line => format!("# {line}\n"),
        })
        .collect()
}

/// The table of a `[a.b]` header line.
fn header(line: &str) -> Option<&str> {
    line.strip_prefix('[')?.strip_suffix(']')
}

fn headers(body: &str) -> HashSet<String> {
    body.lines().filter_map(header).map(str::to_owned).collect()
}

/// The table being written: its path and the keys it holds.
struct Section {
    path: String,
    seen: HashSet<String>,
}

impl Section {
    fn new(path: &str) -> Section {
        Section {
            path: path.to_owned(),
            seen: HashSet::new(),
        }
    }

    fn doc<'d>(&self, kind: &str, docs: &'d KeyDocs, key: &str) -> Option<&'d KeyDoc> {
        docs.of_key(&self.path, kind, key)
    }

    /// The documented keys of this table that the body lacks (unset by default), commented
    /// out; keys holding a table written under its own header are not lacking.
    fn flush_absent(
        &self,
        kind: &str,
        docs: &KeyDocs,
        headers: &HashSet<String>,
        out: &mut String,
    ) {
        let mut listed = HashSet::new();
        for address in addresses(&self.path, kind) {
            for doc in docs.table(&address) {
                let path = crate::overrides::join_key(&self.path, &doc.key);
                let has_table = headers
                    .iter()
                    .any(|h| *h == path || h.starts_with(&format!("{path}.")));
                if self.seen.contains(&doc.key) || has_table || !listed.insert(doc.key.clone()) {
                    continue;
                }
                out.push_str(&absent_key(doc));
            }
        }
    }
}

/// A documented key the body lacks, commented out: its default when the docs give one as a
/// TOML value (`` `false` ``), else `...` and the docs' words for it (`unset`, `the file stem`).
fn absent_key(doc: &KeyDoc) -> String {
    let literal = doc
        .default
        .strip_prefix('`')
        .and_then(|d| d.strip_suffix('`'))
        .filter(|d| toml::from_str::<toml::Table>(&format!("v = {d}")).is_ok());
    match literal {
        Some(value) => format!("{}# {} = {value}\n", comment(&doc.meaning), doc.key),
        None => {
            let default = match doc.default.trim_matches(['(', ')']) {
                "" | "-" => String::new(),
                "required" => " (required)".to_owned(),
                other => format!(" (default: {other})"),
            };
            format!(
                "{}# {} = ...\n",
                comment(&format!("{}{default}", doc.meaning)),
                doc.key
            )
        }
    }
}

/// `text` as `# ` comment lines of at most [`WIDTH`] columns, markdown links reduced to their
/// text.
pub fn comment(text: &str) -> String {
    let text = strip_links(text).replace("\\|", "|");
    let mut out = String::new();
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > WIDTH && line.len() > 1 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// `[text](target)` becomes `text`.
fn strip_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(middle) = rest.find("](") {
        let open = rest[..middle].rfind('[');
        let end = rest[middle..].find(')').map(|i| middle + i);
        let (Some(open), Some(end)) = (open, end) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..middle]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use vigie_data::Catalog;

    use super::*;

    /// The template of every kind parses back into the default config of that kind and
    /// validates; every key line has its meaning above it.
    #[test]
    fn every_kinds_template_parses_validates_and_explains_its_keys() {
        let catalog = Catalog::builtin().expect("catalog");
        for kind in ModelSpec::KINDS {
            let template = run_config_template(kind).expect("template");
            let config = RunConfig::from_toml(&template, Path::new("template.toml"))
                .unwrap_or_else(|e| panic!("{kind}: {e}\n{template}"));
            config.validate(&catalog).expect("valid");
            assert_eq!(config, default_config(kind).expect("default"), "{kind}");
            assert!(template.contains(&format!("kind = \"{kind}\"")), "{kind}");
            let lines: Vec<&str> = template.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let is_key = line.contains(" = ") && !line.starts_with('#');
                if is_key {
                    assert!(
                        i > 0 && lines[i - 1].starts_with("# "),
                        "{kind}: `{line}` has no comment"
                    );
                }
            }
        }
    }

    #[test]
    fn the_commented_out_keys_and_tables_parse_once_uncommented() {
        let template = run_config_template("linear_svm").expect("template");
        for needle in [
            "# [data.site]",
            "# max_recall_loss = 0.01",
            "# [data.augment]",
            "# [data.feedback]",
            "# [robustness]",
            "# name = ...",
            "# loss = \"squared_hinge\"",
            "# refit_with_valid = false",
        ] {
            assert!(template.contains(needle), "{needle} in\n{template}");
        }
        // Uncomment the optional tables (their keys with a literal default).
        let (main, optional) = template.split_once("# Optional tables").expect("optional");
        let uncommented: String = optional
            .lines()
            .skip(1)
            .map(|line| match line.strip_prefix("# ") {
                Some(code) if code.starts_with('[') || is_literal_key(code) => code,
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let uncommented = format!("{main}{uncommented}");
        let config = RunConfig::from_toml(&uncommented, Path::new("t.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert!(config.data.site.is_some() && config.robustness.is_some());
        assert_eq!(
            config.data.feedback.expect("feedback").datasets,
            ["my-feedback"]
        );
    }

    fn is_literal_key(code: &str) -> bool {
        code.split_once(" = ")
            .is_some_and(|(key, value)| !key.contains(' ') && value != "..." && !key.is_empty())
    }

    #[test]
    fn an_unknown_kind_is_refused_naming_the_kinds() {
        let err = run_config_template("random_forest")
            .expect_err("unknown")
            .to_string();
        assert!(
            err.contains("random_forest") && err.contains("linear_svm"),
            "{err}"
        );
    }

    #[test]
    fn links_become_their_text_and_comments_wrap() {
        assert_eq!(
            strip_links("in [0, 1) see [robustness.md](robustness.md), ok"),
            "in [0, 1) see robustness.md, ok"
        );
        let long = "word ".repeat(50);
        for line in comment(&long).lines() {
            assert!(line.len() <= WIDTH && line.starts_with("# "), "{line}");
        }
    }
}
