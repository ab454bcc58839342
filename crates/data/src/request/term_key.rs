//! Terms of the `request` analyzer as integers: a term's key is its tag and its token ids (an
//! n-gram) or its bytes (a rule term), packed into 128 bits. The packing is exact, so two terms
//! have the same key exactly when they are the same string, and a scorer can look keys up in
//! place of strings: no string is built, hashed or compared per term.

use super::lexicon::{TOKEN_ID_BITS, TokenId, token_id};

/// Longest n-gram (in tokens) a key holds.
pub const MAX_KEY_NGRAM: usize = 5;

/// Longest rule term (after its `r:`) a key holds.
const MAX_RULE_BYTES: usize = 14;

/// Where the tag sits; below it, the number of tokens (or of bytes), then the tokens (or bytes)
/// from bit 0.
const TAG_SHIFT: u32 = 120;
const LEN_SHIFT: u32 = 112;

/// The tag of a term (`p:`, `n:`, `v:`, `r:`) as its key's top bits: never 0, so no key is 0.
fn tag_code(tag: u8) -> Option<u128> {
    match tag {
        b'p' => Some(1),
        b'n' => Some(2),
        b'v' => Some(3),
        b'r' => Some(4),
        _ => None,
    }
}

/// A term of the `request` analyzer as an integer; see the [module docs](self).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TermKey(u128);

impl TermKey {
    /// The n-gram `tokens` under `tag` (`p`, `n` or `v`): `tag:` and the tokens' texts joined by
    /// spaces. `None` for another tag or a length outside `1..=MAX_KEY_NGRAM`.
    #[inline]
    pub fn ngram(tag: u8, tokens: &[TokenId]) -> Option<TermKey> {
        if tag == b'r' || tokens.is_empty() || tokens.len() > MAX_KEY_NGRAM {
            return None;
        }
        let mut key = tag_code(tag)? << TAG_SHIFT | (tokens.len() as u128) << LEN_SHIFT;
        for (i, &id) in tokens.iter().enumerate() {
            key |= u128::from(id & ((1 << TOKEN_ID_BITS) - 1)) << (TOKEN_ID_BITS as usize * i);
        }
        Some(TermKey(key))
    }

    /// The rule term `r:` + the concatenation of `parts`; `None` when longer than a key holds.
    pub fn rule(parts: &[&[u8]]) -> Option<TermKey> {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        if len == 0 || len > MAX_RULE_BYTES {
            return None;
        }
        let mut key = tag_code(b'r')? << TAG_SHIFT | (len as u128) << LEN_SHIFT;
        for (i, &byte) in parts.iter().flat_map(|part| part.iter()).enumerate() {
            key |= u128::from(byte) << (8 * i);
        }
        Some(TermKey(key))
    }

    /// The key of a term string, if the analyzer can make such a term with a key.
    pub fn parse(term: &str) -> Option<TermKey> {
        let (tag, rest) = term.split_once(':')?;
        let &[tag] = tag.as_bytes() else {
            return None;
        };
        if tag == b'r' {
            return TermKey::rule(&[rest.as_bytes()]);
        }
        let mut tokens = [0; MAX_KEY_NGRAM];
        let mut len = 0;
        for text in rest.split(' ') {
            *tokens.get_mut(len)? = token_id(text)?;
            len += 1;
        }
        TermKey::ngram(tag, &tokens[..len])
    }

    /// The key as one integer.
    pub fn bits(self) -> u128 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::lexicon::token_id;

    fn ids(texts: &[&str]) -> Vec<TokenId> {
        texts.iter().map(|t| token_id(t).expect(t)).collect()
    }

    #[test]
    fn a_term_string_and_its_tokens_give_one_key() {
        assert_eq!(
            TermKey::parse("v:' or 0"),
            TermKey::ngram(b'v', &ids(&["'", "or", "0"]))
        );
        assert_eq!(
            TermKey::parse("p:^ .. /"),
            TermKey::ngram(b'p', &ids(&["^", "..", "/"]))
        );
        assert_eq!(TermKey::parse("r:fp:s&1"), TermKey::rule(&[b"fp:", b"s&1"]));
        assert!(TermKey::parse("v:0").is_some());
    }

    #[test]
    fn distinct_terms_have_distinct_keys() {
        let terms = [
            "v:0", "p:0", "n:0", "v:0 0", "v:0 0 0", "v:w", "v:w 0", "v:0 w", "v:b64", "v:0x",
            "v:..", "v:. .", "r:sqli", "r:xss", "r:fp:s", "v:é", "v:^ $", "v:select",
        ];
        let keys: Vec<TermKey> = terms.iter().map(|t| TermKey::parse(t).expect(t)).collect();
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn terms_no_key_holds_are_refused() {
        assert_eq!(TermKey::parse("v:unknownword"), None);
        assert_eq!(TermKey::parse("v:0 0 0 0 0 0"), None);
        assert_eq!(TermKey::parse("x:0"), None);
        assert_eq!(TermKey::parse("v:"), None);
        assert_eq!(TermKey::parse("v:0  0"), None);
        assert_eq!(TermKey::parse("r:fp:0123456789abc"), None);
        assert_eq!(TermKey::parse("r:"), None);
    }
}
