//! Random rewrites of an attack for training data: chains of the search's operators drawn
//! without a model, so that a trainer can add what an attacker would send beside what the
//! dataset holds (`[data.augment]` in a run config).

use fastrand::Rng;

use crate::operators::Operator;
use crate::search::{Payload, mutate};

/// A variant of `payload` made by a chain of 1 to `max_chain` operators among `operators`
/// that apply to its families, each at a random place; `None` when none of them has a place
/// in it (a payload of no SQLi or XSS family and no operator of any scope). The operators
/// applied are returned in order.
pub fn random_variant(
    payload: &Payload,
    operators: &[Operator],
    max_chain: usize,
    rng: &mut Rng,
) -> Option<(String, Vec<Operator>)> {
    let applicable: Vec<Operator> = operators
        .iter()
        .copied()
        .filter(|op| op.applies_to(payload.families))
        .collect();
    if applicable.is_empty() || max_chain == 0 {
        return None;
    }
    let chain = rng.usize(1..=max_chain);
    let mut text = payload.text.clone();
    let mut applied = Vec::with_capacity(chain);
    for _ in 0..chain {
        if let Some((operator, rewritten)) = mutate(&text, &applicable, rng) {
            text = rewritten;
            applied.push(operator);
        }
    }
    (!applied.is_empty()).then_some((text, applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(text: &str) -> Payload {
        Payload::new(text, text)
    }

    #[test]
    fn a_variant_differs_and_uses_only_operators_of_its_family() {
        let sqli = payload("/search?q=1' or 1=1 union select null,version()--");
        let mut rng = Rng::with_seed(7);
        for _ in 0..50 {
            let (text, applied) =
                random_variant(&sqli, &Operator::ALL, 4, &mut rng).expect("a SQLi has places");
            assert_ne!(text, sqli.text);
            assert!((1..=4).contains(&applied.len()));
            assert!(applied.iter().all(|op| op.applies_to(sqli.families)));
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_variants() {
        let xss = payload("/page?name=<script>alert(1)</script>");
        let draw = |seed| {
            let mut rng = Rng::with_seed(seed);
            (0..10)
                .map(|_| random_variant(&xss, &Operator::ALL, 3, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn no_operator_of_the_payloads_family_gives_no_variant() {
        let sqli = payload("/search?q=1' or 1=1--");
        let html_only = [Operator::TagCase, Operator::EntityEncoding];
        assert_eq!(
            random_variant(&sqli, &html_only, 3, &mut Rng::with_seed(1)),
            None
        );
        assert_eq!(
            random_variant(&sqli, &Operator::ALL, 0, &mut Rng::with_seed(1)),
            None
        );
    }
}
