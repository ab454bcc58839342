//! libinjection beside the attacked model in `vigie attack`: the same payloads and the same
//! search (operators, rounds, candidates, seed) against the rule library a SOC already runs, so
//! that one invocation says whether the model holds better or worse than it.

use anyhow::Context;
use serde::Serialize;
use vigie_attack::{AttackOutcome, DecodedTarget, FamilyStats, Payload, SearchConfig, run_search};
use vigie_models::Scorer;
use vigie_models::rules::{LibinjectionConfig, LibinjectionModel};

/// libinjection's result of the same search.
#[derive(Debug, Serialize)]
pub struct Beside {
    pub model: &'static str,
    pub detected: usize,
    pub evaded: usize,
    pub evasion_rate: f64,
    pub families: Vec<FamilyStats>,
}

/// The search of `config` on `payloads` against libinjection with its default options (query
/// and body values, SQLi and XSS), each payload decoded as the model's are.
pub fn libinjection(payloads: &[Payload], config: &SearchConfig) -> anyhow::Result<Beside> {
    let model = LibinjectionModel::new(LibinjectionConfig::default());
    let target = DecodedTarget {
        scorer: |texts: &[&str]| model.score_batch(texts),
        threshold: model.default_threshold(),
    };
    let outcome: AttackOutcome = run_search(&target, payloads, config, |_, _, _| {})
        .context("the same search against libinjection")?;
    Ok(Beside {
        model: "libinjection",
        detected: outcome.detected,
        evaded: outcome.evaded,
        evasion_rate: outcome.evasion_rate,
        families: outcome.families,
    })
}
