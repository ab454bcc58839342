//! The rewrites an attacker tries after a 403: each [`Operator`] changes a payload's text at one
//! randomly chosen place and keeps what it does to the target application.
//!
//! The SQL operators follow WAF-A-MoLE (Demetrio et al., 2020) and assume MySQL, the dialect of
//! the shipped datasets' injections: `||` and `&&` are `OR` and `AND`, `/*!...*/` runs its
//! content, `0x1` is the number 1. The XSS operators rely on HTML's own reading: tag and
//! attribute names are case-insensitive, a start tag's name ends at whitespace or `/`, attribute
//! values may be quoted either way or not at all, and character references in them are decoded
//! before the value is used. [`Operator::DoubleEncoding`] preserves the attack only behind a
//! component that decodes twice (a proxy then the application): the classic bypass it models.
//!
//! Which payloads an operator may touch: SQL operators only payloads the repository's
//! attack-family rules ([`vigie_data::features::attack_families`]) read as SQL injection, XSS
//! operators only those they read as XSS, the generic ones any payload. Within a payload, only
//! its injected values are rewritten ([`crate::spans`]). Characters a URL's query cannot carry
//! as such (`&`, `#`, a tab) are written percent-encoded, so the rewritten payload is what an
//! attacker sends; a model sees it after its training data's decoding, as in `vigie score`.
//!
//! Every rewrite is deterministic for the generator's state, and returns `None` when the
//! payload offers it no place (or the rewrite would leave it unchanged).

use std::ops::Range;
use std::sync::LazyLock;

use fastrand::Rng;
use regex::Regex;
use serde::{Deserialize, Serialize};
use vigie_data::features::{AttackFamilies, AttackFamily};
use vigie_data::request::{CanonicalOptions, CanonicalScratch, canonicalize};

use crate::error::{AttackError, Result};
use crate::spans::{injection_spans, within};

/// What an operator's rewrite applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// SQL injection payloads.
    Sql,
    /// Cross-site scripting payloads.
    Html,
    /// Any payload.
    Any,
}

/// One meaning-preserving rewrite; see the module docs for the assumptions of each family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// A SQL keyword in random case (`select` → `SeLeCt`): SQL keywords are case-insensitive.
    CaseSwap,
    /// A whitespace run (or `/**/`) replaced by another SQL separator: `/**/`, a tab (`%09`), a
    /// line feed (`%0a`) or `+` (a space once the query is form-decoded).
    Whitespace,
    /// A comment with random content added at a separator (`' or/*k2*/ 1=1`), or an existing
    /// comment's content replaced: a comment is whitespace to SQL.
    CommentInjection,
    /// A keyword wrapped in MySQL's executable comment (`union` → `/*!50000union*/`), which
    /// MySQL runs as its content.
    VersionedComment,
    /// An integer literal written another way: `0x` hexadecimal or `(select N)`. Literals next
    /// to a quote (inside a string), after `limit`, `by` or `offset` (where an expression is
    /// not allowed or means something else) are left alone.
    IntegerEncoding,
    /// `or` ↔ `||`, `and` ↔ `&&`, `=` ↔ ` like ` (equal for the operands injections compare).
    OperatorSwap,
    /// A neutral term added to a boolean connective: `X or Y` → `X or 0 or Y`, `X and Y` →
    /// `X and 1 and Y` (the `or 0` / `and 1` invariants, placed where the payload is a boolean
    /// condition; `between ... and` is left alone).
    LogicalInvariant,
    /// Ordinary words inside a SQL comment at a separator (`/*index page search login*/`):
    /// nothing to SQL, but they dilute an n-gram model's normalised weights.
    CommentPadding,
    /// A special character (or an existing `%XX` escape) percent-encoded twice (`'` →
    /// `%2527`).
    DoubleEncoding,
    /// A tag name, attribute name or `javascript:` scheme in random case (`<ScRiPt`).
    TagCase,
    /// An attribute value quoted another way: unquoted → `"v"`, `"v"` ↔ `'v'`.
    AttributeQuoting,
    /// The separator between a tag name and an attribute, or between attributes, replaced by
    /// `/`, a tab, a line feed or a form feed; or a line feed added before a tag's `>`.
    TagSeparator,
    /// A character of an attribute value written as an HTML character reference (`a` →
    /// `&#x61;`, percent-encoded in the query as `%26%23x61;`).
    EntityEncoding,
    /// Ordinary words in an HTML comment before the first tag (`<!--index page-->`).
    HtmlCommentPadding,
}

impl Operator {
    /// Every operator, SQL first.
    pub const ALL: [Operator; 14] = [
        Operator::CaseSwap,
        Operator::Whitespace,
        Operator::CommentInjection,
        Operator::VersionedComment,
        Operator::IntegerEncoding,
        Operator::OperatorSwap,
        Operator::LogicalInvariant,
        Operator::CommentPadding,
        Operator::DoubleEncoding,
        Operator::TagCase,
        Operator::AttributeQuoting,
        Operator::TagSeparator,
        Operator::EntityEncoding,
        Operator::HtmlCommentPadding,
    ];

    /// The name used on the command line, in JSON and in MLflow params.
    pub fn name(self) -> &'static str {
        match self {
            Operator::CaseSwap => "case_swap",
            Operator::Whitespace => "whitespace",
            Operator::CommentInjection => "comment_injection",
            Operator::VersionedComment => "versioned_comment",
            Operator::IntegerEncoding => "integer_encoding",
            Operator::OperatorSwap => "operator_swap",
            Operator::LogicalInvariant => "logical_invariant",
            Operator::CommentPadding => "comment_padding",
            Operator::DoubleEncoding => "double_encoding",
            Operator::TagCase => "tag_case",
            Operator::AttributeQuoting => "attribute_quoting",
            Operator::TagSeparator => "tag_separator",
            Operator::EntityEncoding => "entity_encoding",
            Operator::HtmlCommentPadding => "html_comment_padding",
        }
    }

    /// The operators named in a comma-separated list (`all`: every operator).
    pub fn parse_list(list: &str) -> Result<Vec<Operator>> {
        let mut operators = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                operators.extend(Operator::ALL);
                continue;
            }
            let operator = Operator::ALL
                .into_iter()
                .find(|op| op.name() == name)
                .ok_or_else(|| AttackError::UnknownOperator {
                    name: name.to_owned(),
                    known: Operator::ALL.map(Operator::name).join(", "),
                })?;
            operators.push(operator);
        }
        operators.sort();
        operators.dedup();
        Ok(operators)
    }

    pub fn scope(self) -> Scope {
        match self {
            Operator::CaseSwap
            | Operator::Whitespace
            | Operator::CommentInjection
            | Operator::VersionedComment
            | Operator::IntegerEncoding
            | Operator::OperatorSwap
            | Operator::LogicalInvariant
            | Operator::CommentPadding => Scope::Sql,
            Operator::TagCase
            | Operator::AttributeQuoting
            | Operator::TagSeparator
            | Operator::EntityEncoding
            | Operator::HtmlCommentPadding => Scope::Html,
            Operator::DoubleEncoding => Scope::Any,
        }
    }

    /// Whether the operator may rewrite a payload of these attack families.
    pub fn applies_to(self, families: AttackFamilies) -> bool {
        match self.scope() {
            Scope::Sql => families.contains(AttackFamily::Sqli),
            Scope::Html => families.contains(AttackFamily::Xss),
            Scope::Any => true,
        }
    }

    /// The payload rewritten at one place drawn from `rng`, or `None` when there is no place
    /// for this rewrite.
    pub fn apply(self, text: &str, rng: &mut Rng) -> Option<String> {
        let spans = injection_spans(text);
        let rewritten = match self {
            Operator::CaseSwap => case_swap(text, &spans, rng),
            Operator::Whitespace => whitespace(text, &spans, rng),
            Operator::CommentInjection => comment_injection(text, &spans, rng),
            Operator::VersionedComment => versioned_comment(text, &spans, rng),
            Operator::IntegerEncoding => integer_encoding(text, &spans, rng),
            Operator::OperatorSwap => operator_swap(text, &spans, rng),
            Operator::LogicalInvariant => logical_invariant(text, &spans, rng),
            Operator::CommentPadding => comment_padding(text, &spans, rng),
            Operator::DoubleEncoding => double_encoding(text, &spans, rng),
            Operator::TagCase => tag_case(text, &spans, rng),
            Operator::AttributeQuoting => attribute_quoting(text, &spans, rng),
            Operator::TagSeparator => tag_separator(text, &spans, rng),
            Operator::EntityEncoding => entity_encoding(text, &spans, rng),
            Operator::HtmlCommentPadding => html_comment_padding(text, &spans, rng),
        }?;
        (rewritten != text).then_some(rewritten)
    }
}

impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Words of ordinary site navigation, what benign requests are made of.
const BENIGN_WORDS: [&str; 24] = [
    "index", "page", "search", "login", "home", "news", "products", "about", "contact", "help",
    "category", "view", "article", "user", "profile", "images", "default", "shop", "cart", "blog",
    "main", "list", "item", "details",
];

/// Separators [`Operator::Whitespace`] writes (a tab and a line feed percent-encoded).
const SQL_SEPARATORS: [&str; 4] = ["/**/", "%09", "%0a", "+"];

/// Separators [`Operator::TagSeparator`] writes between a tag name and an attribute.
const TAG_SEPARATORS: [&str; 4] = ["/", "%09", "%0a", "%0c"];

/// A compiled pattern of this module; the patterns are constants covered by the tests, so a
/// failure is a programming error, not an input error.
fn pattern(source: &str) -> Regex {
    #[allow(clippy::expect_used)]
    Regex::new(source).expect("operator patterns are valid regular expressions")
}

static SQL_KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    pattern(concat!(
        r"(?i)\b(?:select|union|from|where|and|or|xor|not|order|group|by|having|limit|insert",
        r"|into|values|update|set|delete|drop|table|like|null|all|distinct|sleep|benchmark",
        r"|concat|char|substring|version|database|user|exec|waitfor|delay|case|when|then",
        r"|else|end|if|ascii|information_schema|load_file|outfile|cast|as)\b"
    ))
});

/// Keywords worth hiding in an executable comment (statement and clause words).
static WRAPPABLE_KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    pattern(r"(?i)\b(?:select|union|from|where|and|or|order|group|by|having|concat|all)\b")
});

static SQL_SEPARATOR: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"[ \t\r\n\x0b\x0c]+|/\*\*/|%0[9aAbBcCdD]|%20"));

static SQL_COMMENT: LazyLock<Regex> = LazyLock::new(|| pattern(r"/\*[^!*][^*]*\*/|/\*\*/"));

static INTEGER: LazyLock<Regex> = LazyLock::new(|| pattern(r"\b\d{1,18}\b"));

static CONNECTIVE: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?i)\b(?:or|and|xor)\b|\|\||&&|%26%26"));

static EQUALS_OR_LIKE: LazyLock<Regex> = LazyLock::new(|| pattern(r"(?i)[ \t]+like[ \t]+|="));

static SPECIAL_CHARACTER: LazyLock<Regex> =
    LazyLock::new(|| pattern(r#"%[0-13-9a-fA-F][0-9a-fA-F]|%2[0-46-9a-fA-F]|['"<>()=;, ]"#));

/// An HTML character reference (`&#86;`, `&#x56;`, `&lt;`), raw or percent-encoded.
static CHARACTER_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    pattern(r"(?i)(?:&|%26)(?:(?:#|%23)(?:x[0-9a-f]+|[0-9]+)|[a-z][a-z0-9]*)(?:;|%3b)")
});

/// A start or end tag, up to its `>` (or the end of the text).
static TAG: LazyLock<Regex> = LazyLock::new(|| pattern(r"</?[a-zA-Z][a-zA-Z0-9]*[^<>]*>?"));

static TAG_NAME: LazyLock<Regex> = LazyLock::new(|| pattern(r"</?([a-zA-Z][a-zA-Z0-9]*)"));

/// `name=value` inside a tag: group 1 the name, group 2 the value (quoted or not).
static ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| {
    pattern(r#"[\s/]([a-zA-Z][a-zA-Z0-9_-]*)[ \t]*=[ \t]*("[^"]*"|'[^']*'|[^\s"'>]+)"#)
});

static SCHEME: LazyLock<Regex> = LazyLock::new(|| pattern(r"(?i)\b(?:java|vb)script:"));

/// One place a rewrite can happen: the bytes it replaces.
struct Site {
    range: Range<usize>,
}

/// The matches of `regex` (or of its group `group`) inside the injected spans and outside SQL
/// block comments: comments do not nest, so a comment written inside one would end it early
/// and expose the rest as code.
fn sites(text: &str, spans: &[Range<usize>], regex: &Regex, group: usize) -> Vec<Site> {
    let comments = block_comments(text);
    regex
        .captures_iter(text)
        .filter_map(|captures| captures.get(group))
        .map(|m| m.range())
        .filter(|range| within(spans, range))
        .filter(|range| {
            !comments
                .iter()
                .any(|c| c.start < range.start && range.end <= c.end && *c != *range)
        })
        .map(|range| Site { range })
        .collect()
}

/// The byte ranges of `/* ... */` comments (an unterminated one runs to the end), MySQL's
/// executable `/*! ... */` included: nothing is rewritten inside a comment.
fn block_comments(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("/*").map(|at| from + at) {
        let end = text[open + 2..]
            .find("*/")
            .map_or(text.len(), |at| open + 2 + at + 2);
        // MySQL's executable `/*! ... */` too: its content is code, but a comment written
        // inside it would end it early.
        out.push(open..end);
        from = end;
    }
    out
}

/// `text` with one of `sites`, drawn from `rng`, replaced by what `rewrite` makes of it.
fn rewrite_one(
    text: &str,
    sites: &[Site],
    rng: &mut Rng,
    rewrite: impl FnOnce(&str, &mut Rng) -> Option<String>,
) -> Option<String> {
    if sites.is_empty() {
        return None;
    }
    let site = &sites[rng.usize(..sites.len())];
    let replacement = rewrite(&text[site.range.clone()], rng)?;
    let mut out = String::with_capacity(text.len() + replacement.len());
    out.push_str(&text[..site.range.start]);
    out.push_str(&replacement);
    out.push_str(&text[site.range.end..]);
    Some(out)
}

/// `word` with each ASCII letter's case drawn at random, and at least one letter changed.
fn random_case(word: &str, rng: &mut Rng) -> Option<String> {
    let mut out: Vec<u8> = word
        .bytes()
        .map(|b| {
            if b.is_ascii_alphabetic() && rng.bool() {
                b ^ 0x20
            } else {
                b
            }
        })
        .collect();
    if out == word.as_bytes() {
        let letters: Vec<usize> = (0..out.len())
            .filter(|&i| out[i].is_ascii_alphabetic())
            .collect();
        let &flip = letters.get(rng.usize(..letters.len().max(1)))?;
        out[flip] ^= 0x20;
    }
    String::from_utf8(out).ok()
}

fn pick<'a>(choices: &[&'a str], rng: &mut Rng) -> &'a str {
    choices[rng.usize(..choices.len())]
}

fn benign_words(rng: &mut Rng) -> String {
    let count = rng.usize(3..=8);
    (0..count)
        .map(|_| BENIGN_WORDS[rng.usize(..BENIGN_WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// MySQL needs whitespace after `--` for a comment: that whitespace stays as it is.
fn follows_dash_comment(text: &str, site: &Site) -> bool {
    text[..site.range.start].ends_with("--")
}

fn case_swap(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let sites = sites(text, spans, &SQL_KEYWORD, 0);
    rewrite_one(text, &sites, rng, random_case)
}

fn whitespace(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let sites: Vec<Site> = sites(text, spans, &SQL_SEPARATOR, 0)
        .into_iter()
        .filter(|site| !follows_dash_comment(text, site))
        .collect();
    rewrite_one(text, &sites, rng, |old, rng| {
        let choices: Vec<&str> = SQL_SEPARATORS
            .into_iter()
            .filter(|s| !s.eq_ignore_ascii_case(old))
            .collect();
        Some(pick(&choices, rng).to_owned())
    })
}

fn comment_injection(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let mut all = sites(text, spans, &SQL_SEPARATOR, 0);
    all.extend(sites(text, spans, &SQL_COMMENT, 0));
    all.sort_by_key(|site| site.range.start);
    rewrite_one(text, &all, rng, |old, rng| {
        let length = rng.usize(1..=6);
        let content: String = (0..length).map(|_| rng.alphanumeric()).collect();
        let comment = format!("/*{content}*/");
        if old.starts_with("/*") {
            Some(comment)
        } else {
            // Kept beside the old separator, so that `-- ` stays a comment.
            Some(format!("{old}{comment}"))
        }
    })
}

fn versioned_comment(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let sites: Vec<Site> = sites(text, spans, &WRAPPABLE_KEYWORD, 0)
        .into_iter()
        .filter(|site| !inside_executable_comment(text, site.range.start))
        .collect();
    rewrite_one(text, &sites, rng, |keyword, rng| {
        let version = if rng.bool() {
            String::new()
        } else {
            format!("{}", rng.u32(40000..=50700))
        };
        Some(format!("/*!{version}{keyword}*/"))
    })
}

/// Whether `at` is inside an open `/*! ... */` (whose content is already hidden).
fn inside_executable_comment(text: &str, at: usize) -> bool {
    let before = &text[..at];
    match before.rfind("/*!") {
        Some(open) => !before[open..].contains("*/"),
        None => false,
    }
}

fn integer_encoding(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let sites: Vec<Site> = sites(text, spans, &INTEGER, 0)
        .into_iter()
        .filter(|site| is_bare_integer(text, &site.range))
        .collect();
    rewrite_one(text, &sites, rng, |digits, rng| {
        let value: u64 = digits.parse().ok()?;
        if rng.bool() {
            Some(format!("0x{value:x}"))
        } else {
            Some(format!("(select {digits})"))
        }
    })
}

/// An integer literal of the SQL itself: not in a string, an escape, a decimal or a version,
/// and not where only a literal is allowed (`limit 0,1`, `order by 2`).
fn is_bare_integer(text: &str, range: &Range<usize>) -> bool {
    let before = text[..range.start].chars().next_back();
    let after = text[range.end..].chars().next();
    let glued = |c: Option<char>| {
        matches!(
            c,
            Some('\'' | '"' | '.' | '%' | '#' | '!' | '&' | '`' | ';')
        )
    };
    if glued(before) || glued(after) {
        return false;
    }
    // What precedes, as SQL reads it: escapes decoded, comments and separators collapsed.
    let mut preceding = String::new();
    canonicalize(
        &text[..range.start],
        CanonicalOptions {
            plus_is_space: true,
        },
        &mut CanonicalScratch::default(),
        &mut preceding,
    );
    if ["limit", "by", "offset"]
        .iter()
        .any(|keyword| preceding.ends_with(keyword))
    {
        return false;
    }
    let window_start = preceding.len().saturating_sub(24);
    !(preceding.ends_with(',')
        && preceding.as_bytes()[window_start..]
            .windows(5)
            .any(|w| w == b"limit"))
}

fn operator_swap(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let mut all: Vec<Site> = sites(text, spans, &CONNECTIVE, 0)
        .into_iter()
        .filter(|site| !text[site.range.clone()].eq_ignore_ascii_case("xor"))
        .collect();
    all.extend(
        sites(text, spans, &EQUALS_OR_LIKE, 0)
            .into_iter()
            .filter(|site| is_plain_equals(text, site)),
    );
    all.sort_by_key(|site| site.range.start);
    rewrite_one(text, &all, rng, |old, _| {
        let lower = old.trim().to_ascii_lowercase();
        let new = match lower.as_str() {
            "or" => "||",
            "and" => "%26%26",
            "||" => " or ",
            "&&" | "%26%26" => " and ",
            "=" => " like ",
            _ if lower.contains("like") => "=",
            _ => return None,
        };
        Some(new.to_owned())
    })
}

/// `=` alone (not `<=`, `>=`, `!=`, `:=`, `==`), or a `like`.
fn is_plain_equals(text: &str, site: &Site) -> bool {
    if &text[site.range.clone()] != "=" {
        return true;
    }
    let before = text[..site.range.start].chars().next_back();
    let after = text[site.range.end..].chars().next();
    !matches!(before, Some('<' | '>' | '!' | ':' | '=')) && after != Some('=')
}

fn logical_invariant(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let sites: Vec<Site> = sites(text, spans, &CONNECTIVE, 0)
        .into_iter()
        .filter(|site| !closes_between(text, site))
        .collect();
    rewrite_one(text, &sites, rng, |connective, _| {
        let lower = connective.to_ascii_lowercase();
        Some(match lower.as_str() {
            "or" => format!("{connective} 0 {connective}"),
            "xor" => format!("{connective} 0 {connective}"),
            "and" => format!("{connective} 1 {connective}"),
            "||" => "||0||".to_owned(),
            _ => format!("{connective}1{connective}"),
        })
    })
}

/// The `and` of `between A and B`, which is no boolean connective.
fn closes_between(text: &str, site: &Site) -> bool {
    let before = text[..site.range.start].to_ascii_lowercase();
    match before.rfind("between") {
        Some(at) => !before[at..].contains("and"),
        None => false,
    }
}

fn comment_padding(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let sites = sites(text, spans, &SQL_SEPARATOR, 0);
    rewrite_one(text, &sites, rng, |old, rng| {
        Some(format!("{old}/*{}*/", benign_words(rng)))
    })
}

fn double_encoding(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    // A character reference is left whole: encoding one of its characters twice splits it, and
    // what it then means depends on the order the server and the browser decode in.
    let references: Vec<Range<usize>> = CHARACTER_REFERENCE
        .find_iter(text)
        .map(|m| m.range())
        .collect();
    // Nor is a quote of a tag: an attribute whose quote is encoded is no longer quoted for the
    // attribute rewrites that may follow.
    let tags = tags(text, spans);
    let sites: Vec<Site> = sites(text, spans, &SPECIAL_CHARACTER, 0)
        .into_iter()
        .filter(|site| {
            !references
                .iter()
                .any(|r| r.start < site.range.end && site.range.start < r.end)
        })
        .filter(|site| {
            let quote = matches!(
                text[site.range.clone()].to_ascii_lowercase().as_str(),
                "'" | "\"" | "%22" | "%27"
            );
            !(quote && within(&tags, &site.range))
        })
        .collect();
    rewrite_one(text, &sites, rng, |old, _| {
        Some(match old.strip_prefix('%') {
            Some(hex) => format!("%25{hex}"),
            None => old.bytes().map(|b| format!("%25{b:02X}")).collect(),
        })
    })
}

/// The byte ranges of the tags of the injected spans.
fn tags(text: &str, spans: &[Range<usize>]) -> Vec<Range<usize>> {
    TAG.find_iter(text)
        .map(|m| m.range())
        .filter(|range| within(spans, range))
        .collect()
}

/// The matches of `regex`'s group `group` inside the tags of the injected spans.
fn sites_in_tags(text: &str, spans: &[Range<usize>], regex: &Regex, group: usize) -> Vec<Site> {
    let mut out = Vec::new();
    for tag in tags(text, spans) {
        for captures in regex.captures_iter(&text[tag.clone()]) {
            if let Some(m) = captures.get(group) {
                out.push(Site {
                    range: tag.start + m.start()..tag.start + m.end(),
                });
            }
        }
    }
    out
}

fn tag_case(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let mut all = sites_in_tags(text, spans, &TAG_NAME, 1);
    all.extend(sites_in_tags(text, spans, &ATTRIBUTE, 1));
    all.extend(sites(text, spans, &SCHEME, 0));
    all.sort_by_key(|site| site.range.start);
    rewrite_one(text, &all, rng, random_case)
}

fn attribute_quoting(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let sites = sites_in_tags(text, spans, &ATTRIBUTE, 2);
    rewrite_one(text, &sites, rng, |value, rng| {
        let inner = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        let quotes: Vec<&str> = ["\"", "'"]
            .into_iter()
            .filter(|q| !inner.contains(q) && !value.starts_with(q))
            .collect();
        if quotes.is_empty() {
            return None;
        }
        let quote = pick(&quotes, rng);
        Some(format!("{quote}{inner}{quote}"))
    })
}

fn tag_separator(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let mut all = Vec::new();
    for tag in tags(text, spans) {
        let inside = &text[tag.clone()];
        // Whitespace before an attribute name (outside quoted values: the attribute pattern
        // starts at the separator).
        for captures in ATTRIBUTE.captures_iter(inside) {
            if let (Some(whole), Some(name)) = (captures.get(0), captures.get(1)) {
                all.push(Site {
                    range: tag.start + whole.start()..tag.start + name.start(),
                });
            }
        }
        // The end of a tag with no attribute: `<script>` → `<script%0a>`.
        if inside.ends_with('>') && !inside.contains(['=', ' ']) {
            let end = tag.end - 1;
            all.push(Site { range: end..end });
        }
    }
    all.sort_by_key(|site| site.range.start);
    if all.is_empty() {
        return None;
    }
    // Drawn here to know what precedes the site: after an unquoted value, a `/` would join it.
    let site = all.swap_remove(rng.usize(..all.len()));
    let before = &text[..site.range.start];
    let slash_allowed = before.ends_with(['"', '\''])
        || TAG_NAME
            .find_iter(before)
            .last()
            .is_some_and(|name| name.end() == site.range.start);
    rewrite_one(text, &[site], rng, |old, rng| {
        if old.is_empty() {
            return Some(pick(&["%09", "%0a", "%0c"], rng).to_owned());
        }
        let choices: Vec<&str> = TAG_SEPARATORS
            .into_iter()
            .filter(|s| *s != old && (*s != "/" || slash_allowed))
            .collect();
        Some(pick(&choices, rng).to_owned())
    })
}

fn entity_encoding(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    let values = sites_in_tags(text, spans, &ATTRIBUTE, 2);
    let mut all = Vec::new();
    for value in values {
        let slice = &text[value.range.clone()];
        for (at, c) in slice.char_indices() {
            // Letters, digits and a script's punctuation; not quotes, not `%`/`&` of escapes.
            if c.is_ascii_alphanumeric() || matches!(c, '(' | ')' | ':' | '.' | '/') {
                let start = value.range.start + at;
                if !inside_escape(text, start) {
                    all.push(Site {
                        range: start..start + 1,
                    });
                }
            }
        }
    }
    rewrite_one(text, &all, rng, |c, rng| {
        let byte = *c.as_bytes().first()?;
        // `&` and `#` percent-encoded: a query cannot carry them as such.
        Some(if rng.bool() {
            format!("%26%23x{byte:x};")
        } else {
            format!("%26%23{byte};")
        })
    })
}

/// Whether the byte at `at` belongs to a `%XX` escape or a character reference written so far.
fn inside_escape(text: &str, at: usize) -> bool {
    let tail = &text.as_bytes()[at.saturating_sub(12)..at];
    let percent = tail
        .iter()
        .rposition(|&b| b == b'%')
        .is_some_and(|p| tail.len() - p <= 2);
    let reference = tail
        .windows(3)
        .rposition(|w| w == b"%23")
        .is_some_and(|p| !tail[p..].contains(&b';'));
    percent || reference
}

fn html_comment_padding(text: &str, spans: &[Range<usize>], rng: &mut Rng) -> Option<String> {
    // Before the first tag of each span only: inside a script, `<!--` starts a JS comment.
    let sites: Vec<Site> = spans
        .iter()
        .filter_map(|span| {
            let first = tags(text, std::slice::from_ref(span)).into_iter().next()?;
            Some(Site {
                range: first.start..first.start,
            })
        })
        .collect();
    rewrite_one(text, &sites, rng, |_, rng| {
        Some(format!("<!--{}-->", benign_words(rng)))
    })
}

#[cfg(test)]
mod tests;
