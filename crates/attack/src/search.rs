//! The evasion search: payloads a model flags are rewritten, round after round, towards a lower
//! score, until they pass under its threshold or the rounds run out.
//!
//! Each round, every payload still flagged keeps a beam of its lowest-scoring variants (one with
//! the default greedy search); from each variant, `candidates` new ones are made by a random
//! applicable [`Operator`] at a random place. All candidates of all payloads are scored in one
//! call to the model (a batch: the model's own `score_batch`), then each payload keeps the
//! lowest-scoring variants of its beam and its candidates. A candidate that ties the variant it
//! came from replaces it, so that a model with flat scores (libinjection: 0 or 1) is still
//! explored by a random walk rather than stuck on the first payload. A payload evades at the
//! round its best variant scores below the threshold.
//!
//! Deterministic for a seed: each payload draws from its own generator, seeded from the search
//! seed and its index, so its search does not depend on the others (nor on thread counts: the
//! scores are the model's, which are the same for any batch).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use vigie_data::features::{AttackFamilies, AttackFamily, attack_families};

use crate::error::{AttackError, Result};
use crate::operators::Operator;

/// Candidates longer than this are dropped: padding must not grow a payload without bound
/// (servers refuse very long URLs anyway).
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Attempts at drawing an operator that has a place in a variant, per candidate.
const DRAWS_PER_CANDIDATE: usize = 6;

/// What the search attacks: scores of raw payloads and the threshold they must pass under.
pub trait Target {
    /// Scores of raw payloads, in order, higher meaning more malicious.
    fn score(&self, payloads: &[&str]) -> Vec<f64>;
    /// A payload scoring at or above this is flagged.
    fn threshold(&self) -> f64;
}

/// A raw payload as a model reads it when `vigie score` receives it with the default decoding
/// (`DecodeConfig::default()`: percent-decoded once, trimmed): what a variant an attacker sends
/// is to a model, in a search and in training data alike.
pub fn as_scored(raw: &str) -> String {
    vigie_data::DecodeConfig::default()
        .normalize(raw.as_bytes())
        .0
}

/// A scoring function as a target: each raw payload read [`as_scored`], then scored. For a
/// model in memory (a run's robustness check) or a peer such as libinjection.
pub struct DecodedTarget<S> {
    pub scorer: S,
    pub threshold: f64,
}

impl<S: Fn(&[&str]) -> Vec<f64>> Target for DecodedTarget<S> {
    fn score(&self, payloads: &[&str]) -> Vec<f64> {
        let decoded: Vec<String> = payloads.iter().map(|raw| as_scored(raw)).collect();
        let texts: Vec<&str> = decoded.iter().map(String::as_str).collect();
        (self.scorer)(&texts)
    }

    fn threshold(&self) -> f64 {
        self.threshold
    }
}

/// A saved model as `vigie score` applies it: each payload decoded like the model's training
/// data, then scored by the model's `score_batch`.
#[cfg(feature = "engine")]
impl Target for vigie_score::Engine {
    fn score(&self, payloads: &[&str]) -> Vec<f64> {
        vigie_score::Engine::score(self, payloads)
    }

    fn threshold(&self) -> f64 {
        vigie_score::Engine::threshold(self)
    }
}

/// One attack payload, as the attacker sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub text: String,
    /// The family of its decoded text (for reports).
    pub family: AttackFamily,
    /// Every family whose rules match it (which operators apply).
    pub families: AttackFamilies,
}

impl Payload {
    /// A payload sent as `raw`, classified on `decoded` (what the model reads).
    pub fn new(raw: impl Into<String>, decoded: &str) -> Payload {
        let families = attack_families(decoded);
        Payload {
            text: raw.into(),
            family: families.primary(),
            families,
        }
    }
}

/// The payloads of `families`, at most `limit` of each, in order.
pub fn keep_families(
    payloads: Vec<Payload>,
    families: &[AttackFamily],
    limit: usize,
) -> Vec<Payload> {
    let mut kept: BTreeMap<AttackFamily, usize> = BTreeMap::new();
    payloads
        .into_iter()
        .filter(|payload| {
            if !families.contains(&payload.family) {
                return false;
            }
            let count = kept.entry(payload.family).or_default();
            *count += 1;
            *count <= limit
        })
        .collect()
}

/// The search's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    pub rounds: usize,
    /// Candidates made from each kept variant per round.
    pub candidates: usize,
    /// Variants kept per payload (1: greedy).
    pub beam_width: usize,
    pub operators: Vec<Operator>,
    pub seed: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            rounds: 30,
            candidates: 8,
            beam_width: 1,
            operators: Operator::ALL.to_vec(),
            seed: 42,
        }
    }
}

impl SearchConfig {
    pub fn validate(&self) -> Result<()> {
        if self.candidates == 0 {
            return Err(AttackError::Invalid("candidates must be at least 1".into()));
        }
        if self.beam_width == 0 {
            return Err(AttackError::Invalid(
                "the beam width must be at least 1".into(),
            ));
        }
        if self.operators.is_empty() {
            return Err(AttackError::Invalid("no operator to search with".into()));
        }
        Ok(())
    }
}

/// What became of one payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayloadOutcome {
    pub original: String,
    pub family: AttackFamily,
    pub original_score: f64,
    /// Flagged before any rewrite (only those are attacked).
    pub detected: bool,
    /// The lowest-scoring variant found (the original when nothing scored lower).
    pub best: String,
    pub best_score: f64,
    /// The round at which it passed under the threshold.
    pub evaded_round: Option<usize>,
    /// The rewrites from the original to `best`, in order.
    pub operators: Vec<Operator>,
}

/// Evasion after one round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundStats {
    pub round: usize,
    /// Payloads evading so far.
    pub evaded: usize,
    /// evaded / detected (0 when nothing was detected).
    pub evasion_rate: f64,
    /// The rate per attack family ([`AttackFamily::name`]).
    pub by_family: BTreeMap<String, f64>,
}

/// The numbers of one attack family at the end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyStats {
    pub family: String,
    pub payloads: usize,
    pub detected: usize,
    pub evaded: usize,
    pub evasion_rate: f64,
}

/// How often an operator appears in the paths of the payloads that evaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorUse {
    pub operator: Operator,
    pub count: usize,
}

/// The whole search's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackOutcome {
    pub threshold: f64,
    pub payloads: usize,
    pub detected: usize,
    pub evaded: usize,
    pub evasion_rate: f64,
    /// Texts scored, originals included.
    pub scored: usize,
    /// One per round, 1..=rounds (round 0 is the originals: nothing evades).
    pub rounds: Vec<RoundStats>,
    pub families: Vec<FamilyStats>,
    /// Most used first.
    pub operators_helped: Vec<OperatorUse>,
    pub outcomes: Vec<PayloadOutcome>,
}

/// A variant of a payload under search.
#[derive(Debug, Clone)]
struct Variant {
    text: String,
    score: f64,
    path: Vec<Operator>,
}

/// One payload's search state.
struct Search {
    rng: fastrand::Rng,
    beam: Vec<Variant>,
    operators: Vec<Operator>,
    evaded_round: Option<usize>,
}

/// Runs the search on `payloads` against `target`; `on_round(round, evaded, detected)` after
/// each round (progress).
pub fn run_search(
    target: &dyn Target,
    payloads: &[Payload],
    config: &SearchConfig,
    mut on_round: impl FnMut(usize, usize, usize),
) -> Result<AttackOutcome> {
    config.validate()?;
    let threshold = target.threshold();
    let originals: Vec<&str> = payloads.iter().map(|p| p.text.as_str()).collect();
    let original_scores = score_checked(target, &originals)?;
    let mut scored = originals.len();
    let mut searches: Vec<Search> = payloads
        .iter()
        .zip(&original_scores)
        .enumerate()
        .map(|(index, (payload, &score))| Search {
            rng: fastrand::Rng::with_seed(payload_seed(config.seed, index)),
            beam: vec![Variant {
                text: payload.text.clone(),
                score,
                path: Vec::new(),
            }],
            operators: config
                .operators
                .iter()
                .copied()
                .filter(|op| op.applies_to(payload.families))
                .collect(),
            evaded_round: None,
        })
        .collect();
    let detected: Vec<bool> = original_scores.iter().map(|&s| s >= threshold).collect();
    let detected_count = detected.iter().filter(|&&d| d).count();

    for round in 1..=config.rounds {
        // Every candidate of every active payload, with its payload and parent variant.
        let mut candidates: Vec<(usize, usize, Operator, String)> = Vec::new();
        for (index, search) in searches.iter_mut().enumerate() {
            if !detected[index] || search.evaded_round.is_some() || search.operators.is_empty() {
                continue;
            }
            for (parent, variant) in search.beam.iter().enumerate() {
                for _ in 0..config.candidates {
                    if let Some((operator, text)) =
                        mutate(&variant.text, &search.operators, &mut search.rng)
                    {
                        candidates.push((index, parent, operator, text));
                    }
                }
            }
        }
        if !candidates.is_empty() {
            let texts: Vec<&str> = candidates.iter().map(|(_, _, _, t)| t.as_str()).collect();
            let scores = score_checked(target, &texts)?;
            scored += texts.len();
            let mut by_payload: BTreeMap<usize, Vec<Variant>> = BTreeMap::new();
            for ((index, parent, operator, text), score) in candidates.into_iter().zip(scores) {
                let mut path = searches[index].beam[parent].path.clone();
                path.push(operator);
                by_payload
                    .entry(index)
                    .or_default()
                    .push(Variant { text, score, path });
            }
            for (index, new) in by_payload {
                let search = &mut searches[index];
                search.beam = select(&search.beam, new, config.beam_width);
                if search
                    .beam
                    .first()
                    .is_some_and(|best| best.score < threshold)
                {
                    search.evaded_round = Some(round);
                }
            }
        }
        let evaded = searches.iter().filter(|s| s.evaded_round.is_some()).count();
        on_round(round, evaded, detected_count);
    }

    let outcomes: Vec<PayloadOutcome> = payloads
        .iter()
        .zip(searches)
        .zip(original_scores.iter().zip(&detected))
        .map(|((payload, search), (&original_score, &detected))| {
            let best = search.beam.into_iter().next();
            let (best, best_score, operators) = match best {
                Some(v) => (v.text, v.score, v.path),
                None => (payload.text.clone(), original_score, Vec::new()),
            };
            PayloadOutcome {
                original: payload.text.clone(),
                family: payload.family,
                original_score,
                detected,
                best,
                best_score,
                evaded_round: search.evaded_round,
                operators,
            }
        })
        .collect();
    Ok(summarise(threshold, config.rounds, scored, outcomes))
}

/// Scores from the target, refused when their number is wrong.
fn score_checked(target: &dyn Target, texts: &[&str]) -> Result<Vec<f64>> {
    let scores = target.score(texts);
    if scores.len() != texts.len() {
        return Err(AttackError::ScoreCount {
            expected: texts.len(),
            got: scores.len(),
        });
    }
    Ok(scores)
}

/// One candidate: a random applicable operator at a random place.
pub(crate) fn mutate(
    text: &str,
    operators: &[Operator],
    rng: &mut fastrand::Rng,
) -> Option<(Operator, String)> {
    for _ in 0..DRAWS_PER_CANDIDATE {
        let operator = operators[rng.usize(..operators.len())];
        if let Some(rewritten) = operator.apply(text, rng)
            && rewritten.len() <= MAX_PAYLOAD_BYTES
        {
            return Some((operator, rewritten));
        }
    }
    None
}

/// The `width` lowest-scoring distinct variants of the beam and the new candidates; on equal
/// scores a candidate comes before an old variant (the random walk on flat scores), and earlier
/// before later.
fn select(beam: &[Variant], candidates: Vec<Variant>, width: usize) -> Vec<Variant> {
    let mut pool: Vec<(bool, Variant)> = candidates.into_iter().map(|v| (false, v)).collect();
    pool.extend(beam.iter().cloned().map(|v| (true, v)));
    // Stable: equal keys keep the order above.
    pool.sort_by(|(old_a, a), (old_b, b)| a.score.total_cmp(&b.score).then(old_a.cmp(old_b)));
    let mut seen = HashSet::new();
    pool.into_iter()
        .map(|(_, v)| v)
        .filter(|v| seen.insert(v.text.clone()))
        .take(width)
        .collect()
}

/// A payload's generator seed: the search seed and its index mixed (SplitMix64's finaliser), so
/// that neighbouring indices draw unrelated streams.
fn payload_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rate(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Rates per round and family, and the operators of the evading paths.
fn summarise(
    threshold: f64,
    rounds: usize,
    scored: usize,
    outcomes: Vec<PayloadOutcome>,
) -> AttackOutcome {
    let detected = outcomes.iter().filter(|o| o.detected).count();
    let evaded_by = |round: usize, family: Option<AttackFamily>| {
        outcomes
            .iter()
            .filter(|o| family.is_none_or(|f| o.family == f))
            .filter(|o| o.evaded_round.is_some_and(|r| r <= round))
            .count()
    };
    let present: Vec<AttackFamily> = AttackFamily::ALL
        .into_iter()
        .filter(|f| outcomes.iter().any(|o| o.family == *f))
        .collect();
    let detected_in = |family: AttackFamily| {
        outcomes
            .iter()
            .filter(|o| o.family == family && o.detected)
            .count()
    };
    let round_stats = (1..=rounds)
        .map(|round| {
            let evaded = evaded_by(round, None);
            RoundStats {
                round,
                evaded,
                evasion_rate: rate(evaded, detected),
                by_family: present
                    .iter()
                    .map(|&f| {
                        (
                            f.name().to_owned(),
                            rate(evaded_by(round, Some(f)), detected_in(f)),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let families = present
        .iter()
        .map(|&family| {
            let evaded = evaded_by(usize::MAX, Some(family));
            FamilyStats {
                family: family.name().to_owned(),
                payloads: outcomes.iter().filter(|o| o.family == family).count(),
                detected: detected_in(family),
                evaded,
                evasion_rate: rate(evaded, detected_in(family)),
            }
        })
        .collect();
    let mut counts: BTreeMap<Operator, usize> = BTreeMap::new();
    for outcome in outcomes.iter().filter(|o| o.evaded_round.is_some()) {
        for &operator in &outcome.operators {
            *counts.entry(operator).or_default() += 1;
        }
    }
    let mut operators_helped: Vec<OperatorUse> = counts
        .into_iter()
        .map(|(operator, count)| OperatorUse { operator, count })
        .collect();
    operators_helped.sort_by(|a, b| b.count.cmp(&a.count).then(a.operator.cmp(&b.operator)));
    let evaded = evaded_by(usize::MAX, None);
    AttackOutcome {
        threshold,
        payloads: outcomes.len(),
        detected,
        evaded,
        evasion_rate: rate(evaded, detected),
        scored,
        rounds: round_stats,
        families,
        operators_helped,
        outcomes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy n-gram detector: the share of suspicious words, comments and quotes in the lowered
    /// payload, diluted by its length (as a normalised TF-IDF is).
    struct WordCounter;

    impl Target for WordCounter {
        fn score(&self, payloads: &[&str]) -> Vec<f64> {
            payloads
                .iter()
                .map(|p| {
                    let lower = p.to_ascii_lowercase();
                    let hits = ["union", "select", " or ", "1=1", "<script", "alert", "'"]
                        .iter()
                        .filter(|w| lower.contains(*w))
                        .count();
                    hits as f64 * 10.0 / (lower.len() as f64).sqrt()
                })
                .collect()
        }

        fn threshold(&self) -> f64 {
            3.0
        }
    }

    fn payloads() -> Vec<Payload> {
        [
            "' or 1=1--",
            "/item.php?id=1' union select 1,2,3--",
            "<script>alert(1)</script>",
            "/search?q=<img src=x onerror=alert(1)>",
            "/plain/page.html",
        ]
        .into_iter()
        .map(|p| Payload::new(p, p))
        .collect()
    }

    #[test]
    fn the_search_is_deterministic_for_a_seed() {
        let config = SearchConfig::default();
        let first = run_search(&WordCounter, &payloads(), &config, |_, _, _| {}).expect("search");
        let second = run_search(&WordCounter, &payloads(), &config, |_, _, _| {}).expect("search");
        assert_eq!(first, second);
        let other = SearchConfig { seed: 7, ..config };
        let third = run_search(&WordCounter, &payloads(), &other, |_, _, _| {}).expect("search");
        assert_ne!(
            first.outcomes.iter().map(|o| &o.best).collect::<Vec<_>>(),
            third.outcomes.iter().map(|o| &o.best).collect::<Vec<_>>()
        );
    }

    #[test]
    fn evasions_score_under_the_threshold_and_rates_only_grow() {
        let outcome = run_search(
            &WordCounter,
            &payloads(),
            &SearchConfig::default(),
            |_, _, _| {},
        )
        .expect("search");
        assert_eq!(outcome.payloads, 5);
        let flagged = payloads()
            .iter()
            .filter(|p| WordCounter.score(&[p.text.as_str()])[0] >= 3.0)
            .count();
        assert_eq!(
            outcome.detected, flagged,
            "only flagged payloads are attacked"
        );
        assert!(flagged >= 3);
        assert!(outcome.evaded > 0, "{outcome:#?}");
        for o in outcome.outcomes.iter().filter(|o| o.evaded_round.is_some()) {
            assert!(o.best_score < outcome.threshold);
            assert_eq!(WordCounter.score(&[o.best.as_str()])[0], o.best_score);
            assert!(!o.operators.is_empty());
        }
        assert_eq!(outcome.rounds.len(), 30);
        for pair in outcome.rounds.windows(2) {
            assert!(pair[0].evasion_rate <= pair[1].evasion_rate);
        }
        let used: usize = outcome.operators_helped.iter().map(|u| u.count).sum();
        assert!(used > 0);
    }

    #[test]
    fn a_beam_keeps_searching_like_greedy() {
        let config = SearchConfig {
            beam_width: 3,
            rounds: 5,
            ..SearchConfig::default()
        };
        let outcome = run_search(&WordCounter, &payloads(), &config, |_, _, _| {}).expect("search");
        assert_eq!(outcome.rounds.len(), 5);
    }

    #[test]
    fn bad_settings_are_refused() {
        let config = SearchConfig {
            candidates: 0,
            ..SearchConfig::default()
        };
        assert!(matches!(
            run_search(&WordCounter, &payloads(), &config, |_, _, _| {}),
            Err(AttackError::Invalid(_))
        ));
    }
}
