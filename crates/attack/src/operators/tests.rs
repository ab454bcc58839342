//! Each operator changes the payload, deterministically for a seed, and keeps the attack: for
//! SQL, libinjection still flags the canonical form (the repository's canonicaliser: decoded
//! until stable, comments and whitespace collapsed, case folded), and the operators that only
//! change spelling leave that canonical form as it was; for XSS, libinjection's XSS detector
//! still flags the canonical form.

use proptest::prelude::{ProptestConfig, prop_assert, prop_assert_eq, proptest};
use vigie_data::request::{CanonicalOptions, CanonicalScratch, canonicalize};
use vigie_models::rules::{is_sqli, is_xss};

use super::*;
use fastrand::Rng;

/// SQL injections of the shapes fwaf holds, each flagged by libinjection.
const SQLI: [&str; 10] = [
    "' or 1=1--",
    "1' and 1=1 union select 1,2,3--",
    "-1 union select null,concat(0x3a,version()),3 from users where id=1--",
    "' or 'a'='a",
    "1 and (select substring(@@version,1,1))='M'",
    "admin' or 1=1#",
    "1' order by 3--",
    "' union all select username,password from users where 1=1 -- ",
    "1 or sleep(5)",
    "' and 1=1 and 'x'='x",
];

/// XSS payloads, each flagged by libinjection.
const XSS: [&str; 6] = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\"><script>alert(document.cookie)</script>",
    "<body onload=alert('x')>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<svg onload=alert(1)>",
];

const SQL_OPERATORS: [Operator; 9] = [
    Operator::CaseSwap,
    Operator::Whitespace,
    Operator::CommentInjection,
    Operator::VersionedComment,
    Operator::IntegerEncoding,
    Operator::OperatorSwap,
    Operator::LogicalInvariant,
    Operator::CommentPadding,
    Operator::DoubleEncoding,
];

const XSS_OPERATORS: [Operator; 7] = [
    Operator::TagCase,
    Operator::AttributeQuoting,
    Operator::TagSeparator,
    Operator::EntityEncoding,
    Operator::HtmlCommentPadding,
    Operator::DoubleEncoding,
    Operator::CaseSwap,
];

/// Operators that change only what the canonical form removes (case, separators, comments,
/// escapes): the canonical text is the same before and after.
const SPELLING_ONLY: [Operator; 7] = [
    Operator::CaseSwap,
    Operator::Whitespace,
    Operator::CommentInjection,
    Operator::CommentPadding,
    Operator::DoubleEncoding,
    Operator::TagCase,
    Operator::EntityEncoding,
];

fn canonical(text: &str) -> String {
    let mut out = String::new();
    canonicalize(
        text,
        CanonicalOptions {
            plus_is_space: true,
        },
        &mut CanonicalScratch::default(),
        &mut out,
    );
    out
}

/// `operator` applied `steps` times (where it applies) with the generator of `seed`.
fn apply_steps(
    text: &str,
    operators: &[Operator],
    seed: u64,
    steps: usize,
) -> (String, Vec<Operator>) {
    let mut rng = Rng::with_seed(seed);
    let mut text = text.to_owned();
    let mut applied = Vec::new();
    for _ in 0..steps {
        let operator = operators[rng.usize(..operators.len())];
        if let Some(next) = operator.apply(&text, &mut rng) {
            text = next;
            applied.push(operator);
        }
    }
    (text, applied)
}

#[test]
fn the_samples_are_attacks_to_libinjection() {
    for payload in SQLI {
        assert!(is_sqli(canonical(payload).as_bytes()), "{payload}");
    }
    for payload in XSS {
        assert!(is_xss(canonical(payload).as_bytes()), "{payload}");
    }
}

#[test]
fn every_operator_rewrites_some_payload_and_is_deterministic() {
    for operator in Operator::ALL {
        let samples: &[&str] = match operator.scope() {
            Scope::Sql => &SQLI,
            Scope::Html => &XSS,
            Scope::Any => &SQLI,
        };
        let mut rewrote = false;
        for payload in samples {
            for seed in 0..8 {
                let first = operator.apply(payload, &mut Rng::with_seed(seed));
                let again = operator.apply(payload, &mut Rng::with_seed(seed));
                assert_eq!(first, again, "{operator} on {payload}");
                if let Some(rewritten) = first {
                    assert_ne!(&rewritten, payload, "{operator}");
                    rewrote = true;
                }
            }
        }
        assert!(rewrote, "{operator} never applied");
    }
}

#[test]
fn operators_without_a_place_give_nothing() {
    let mut rng = Rng::with_seed(1);
    assert_eq!(
        Operator::IntegerEncoding.apply("' or 'a'='a", &mut rng),
        None
    );
    assert_eq!(
        Operator::AttributeQuoting.apply("<script>alert(1)</script>", &mut rng),
        None
    );
    assert_eq!(
        Operator::LogicalInvariant.apply("1' union select 1--", &mut rng),
        None
    );
}

#[test]
fn examples() {
    let rewrite = |operator: Operator, text: &str| {
        (0..64)
            .filter_map(|seed| operator.apply(text, &mut Rng::with_seed(seed)))
            .collect::<Vec<_>>()
    };
    let swaps = rewrite(Operator::OperatorSwap, "' or 1=1--");
    assert!(swaps.contains(&"' || 1=1--".to_owned()), "{swaps:?}");
    assert!(swaps.contains(&"' or 1 like 1--".to_owned()), "{swaps:?}");
    let invariants = rewrite(Operator::LogicalInvariant, "1 and 2=2");
    assert!(
        invariants.contains(&"1 and 1 and 2=2".to_owned()),
        "{invariants:?}"
    );
    let integers = rewrite(Operator::IntegerEncoding, "1 union select 10,2");
    assert!(
        integers.contains(&"1 union select 0xa,2".to_owned()),
        "{integers:?}"
    );
    assert!(
        integers.contains(&"1 union select (select 10),2".to_owned()),
        "{integers:?}"
    );
    let doubled = rewrite(Operator::DoubleEncoding, "'");
    assert_eq!(doubled.first().map(String::as_str), Some("%2527"));
    let versioned = rewrite(Operator::VersionedComment, "1 union select 2");
    assert!(
        versioned.contains(&"1 /*!union*/ select 2".to_owned()),
        "{versioned:?}"
    );
    let separators = rewrite(Operator::TagSeparator, "<img src=x onerror=alert(1)>");
    assert!(
        separators.contains(&"<img/src=x onerror=alert(1)>".to_owned()),
        "{separators:?}"
    );
    let quoted = rewrite(Operator::AttributeQuoting, "<img src=x>");
    assert!(quoted.contains(&"<img src=\"x\">".to_owned()), "{quoted:?}");
    let entities = rewrite(Operator::EntityEncoding, "<img src=x>");
    assert!(
        entities.contains(&"<img src=%26%23x78;>".to_owned()),
        "{entities:?}"
    );
}

#[test]
fn double_encoding_leaves_character_references_whole() {
    // Found by the XSS property: `%3B` ending `%26%2386` encoded twice left `&#86` to be
    // decoded before its `;`, by the canonicaliser as by a browser.
    let payload = "<a href='ja%26%2386%3BAscript:alert(1)'>x</a>";
    let mut rewrites = 0;
    for seed in 0..200 {
        if let Some(rewritten) = Operator::DoubleEncoding.apply(payload, &mut Rng::with_seed(seed))
        {
            rewrites += 1;
            assert!(rewritten.contains("%26%2386%3B"), "{rewritten}");
        }
    }
    assert!(rewrites > 0, "other characters are still encoded");
}

#[test]
fn the_url_outside_the_values_is_left_alone() {
    let url = "/shop/2024/item.php?id=1' or 1=1--&cat=2";
    for operator in SQL_OPERATORS {
        for seed in 0..32 {
            if let Some(rewritten) = operator.apply(url, &mut Rng::with_seed(seed)) {
                assert!(
                    rewritten.starts_with("/shop/2024/item.php?id="),
                    "{operator}: {rewritten}"
                );
            }
        }
    }
}

#[test]
fn integers_in_strings_limits_and_orders_stay() {
    for text in [
        "x' or '1'='1",
        "id limit 1",
        "id order by 3",
        "id limit 0,1",
    ] {
        for seed in 0..16 {
            assert_eq!(
                Operator::IntegerEncoding.apply(text, &mut Rng::with_seed(seed)),
                None,
                "{text}"
            );
        }
    }
}

#[test]
fn a_dash_comment_keeps_its_space() {
    for seed in 0..32 {
        if let Some(rewritten) = Operator::Whitespace.apply("1-- x", &mut Rng::with_seed(seed)) {
            assert!(rewritten.starts_with("1-- "), "{rewritten}");
        }
    }
}

#[test]
fn operator_names_parse_back() {
    let all = Operator::parse_list("all").expect("all");
    assert_eq!(all, Operator::ALL.to_vec());
    let some = Operator::parse_list("case_swap, whitespace").expect("list");
    assert_eq!(some, [Operator::CaseSwap, Operator::Whitespace]);
    assert!(matches!(
        Operator::parse_list("nope"),
        Err(AttackError::UnknownOperator { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Chains of SQL rewrites keep libinjection's verdict on the canonical form.
    #[test]
    fn sql_rewrites_stay_sql_injections(index in 0..SQLI.len(), seed: u64, steps in 1usize..8) {
        let (rewritten, applied) = apply_steps(SQLI[index], &SQL_OPERATORS, seed, steps);
        let canonical = canonical(&rewritten);
        prop_assert!(
            is_sqli(canonical.as_bytes()),
            "{:?} → {:?} by {:?}, canonical {:?}", SQLI[index], rewritten, applied, canonical
        );
    }

    /// Chains of XSS rewrites keep libinjection's XSS verdict on the canonical form.
    #[test]
    fn xss_rewrites_stay_xss(index in 0..XSS.len(), seed: u64, steps in 1usize..8) {
        let (rewritten, applied) = apply_steps(XSS[index], &XSS_OPERATORS, seed, steps);
        let canonical = canonical(&rewritten);
        prop_assert!(
            is_xss(canonical.as_bytes()),
            "{:?} → {:?} by {:?}, canonical {:?}", XSS[index], rewritten, applied, canonical
        );
    }

    /// Spelling-only rewrites leave the canonical form (the SQL token sequence a WAF matches)
    /// as it was.
    #[test]
    fn spelling_rewrites_keep_the_canonical_form(index in 0..SQLI.len(), seed: u64, steps in 1usize..6) {
        let (rewritten, applied) = apply_steps(SQLI[index], &SPELLING_ONLY, seed, steps);
        prop_assert_eq!(
            canonical(&rewritten), canonical(SQLI[index]),
            "{:?} by {:?}", rewritten, applied
        );
    }
}
