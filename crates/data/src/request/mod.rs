//! Requests as structure, not strings: a request text parsed into its fields (method, path
//! segments, extension, parameter names and values of the query, the form body, cookies and
//! headers where the text has them), each with its byte span in the original text, and each
//! canonicalised as a WAF does before matching.
//!
//! * [`parse`] splits a text into [`Field`]s; it never fails (a text that is no request is one
//!   [`FieldKind::Payload`]).
//! * [`canonical::canonicalize`] decodes a field's escapes until stable, folds case, drops
//!   nulls and collapses comments and whitespace.
//! * [`lexicon`] reduces a canonical field to tokens where only words that mean an attack stay
//!   themselves.
//! * [`terms`] turns a request into the tagged terms of the `request` analyzer
//!   ([`crate::text::Analyzer::Request`]), as strings or as [`term_key::TermKey`]s.

pub mod canonical;
pub mod lexicon;
pub mod parse;
pub mod term_key;
pub mod terms;

pub use canonical::{CanonicalOptions, CanonicalScratch, canonicalize};
pub use parse::{Field, FieldKind, ParsedRequest, parse, parse_into};
pub use term_key::{MAX_KEY_NGRAM, TermKey};
pub use terms::{
    FIELD_MARK, RequestScratch, RequestTermOptions, field_texts, for_each_field_term_keys,
    for_each_request_term, for_each_request_term_key,
};
