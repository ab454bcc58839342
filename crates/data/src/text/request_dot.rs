//! The `request` analyzer's terms scored by key: each vocabulary term is kept under its
//! [`TermKey`], and a text's terms are generated as keys ([`for_each_request_term_key`]), so
//! scoring builds, hashes and compares no string. Keys are exact (equal keys, equal strings),
//! and the known terms are summed in the order the string path sums them (first occurrence),
//! so both give the same bits.

use super::ascii_ngrams::{CountSet, Key};
use super::dot::{Entry, HashTable, Sums, TfidfDot};
use super::tfidf::FittedTfidf;
use super::tokenize::Analyzer;
use crate::request::{
    MAX_KEY_NGRAM, RequestScratch, RequestTermOptions, TermKey, for_each_field_term_keys,
    for_each_request_term_key,
};

impl Key for TermKey {
    /// Both halves folded by one wide multiply: the tag and tokens sit in either.
    #[inline]
    fn spread(self) -> u64 {
        let bits = self.bits();
        let low = (bits as u64) ^ 0x243F_6A88_85A3_08D3;
        let high = ((bits >> 64) as u64) ^ 0x1319_8A2E_0370_7344;
        let product = u128::from(low) * u128::from(high);
        (product as u64) ^ ((product >> 64) as u64)
    }
}

/// The vocabulary of a `request` analyzer by term key.
#[derive(Debug, Clone)]
pub(super) struct RequestKeys {
    options: RequestTermOptions,
    terms: HashTable<TermKey>,
}

/// Buffers of [`RequestKeys`]' scoring; keep one per thread.
#[derive(Debug, Default, Clone)]
pub(super) struct RequestKeyScratch {
    request: RequestScratch,
    /// The known terms already summed, as each term counts once.
    summed: CountSet<TermKey>,
}

impl RequestKeyScratch {
    pub(super) fn start_batch(&mut self) {
        self.request.start_batch();
    }
}

impl RequestKeys {
    /// `None` unless `tfidf` is a `request` analyzer whose every term has a key: then
    /// scoring by key gives what the string path gives.
    pub fn new(tfidf: &FittedTfidf, entries: &[Entry]) -> Option<Self> {
        let Analyzer::Request {
            ngram_min,
            ngram_max,
            rules,
        } = tfidf.tokenizer().config().analyzer
        else {
            return None;
        };
        if ngram_max > MAX_KEY_NGRAM {
            return None;
        }
        let mut keyed = Vec::with_capacity(entries.len());
        for (term, &entry) in tfidf.vocabulary().iter().zip(entries) {
            keyed.push((TermKey::parse(term)?, entry));
        }
        Some(Self {
            options: RequestTermOptions {
                ngram_min,
                ngram_max,
                rules,
            },
            terms: HashTable::new(&keyed),
        })
    }

    /// The sums of `text`'s distinct known terms.
    pub fn sum(&self, dot: &TfidfDot, text: &str, scratch: &mut RequestKeyScratch) -> Sums {
        let RequestKeyScratch { request, summed } = scratch;
        summed.clear();
        let mut sums = Sums::default();
        for_each_request_term_key(text, self.options, request, |key| {
            self.add_new(dot, &mut sums, key, summed);
        });
        sums
    }

    /// Calls `each` with the sums of each field of `text` as `field_texts` splits it.
    pub fn sum_each_field(
        &self,
        dot: &TfidfDot,
        text: &str,
        scratch: &mut RequestKeyScratch,
        mut each: impl FnMut(Sums),
    ) {
        let RequestKeyScratch { request, summed } = scratch;
        for_each_field_term_keys(text, self.options, request, |keys| {
            // The table is larger than the L2 cache: ask for every key's slot before reading
            // the first, so that their misses overlap.
            for &key in keys {
                self.terms.prefetch(key);
            }
            summed.clear();
            let mut sums = Sums::default();
            for &key in keys {
                self.add_new(dot, &mut sums, key, summed);
            }
            each(sums);
        });
    }

    #[inline(always)]
    fn add_new(
        &self,
        dot: &TfidfDot,
        sums: &mut Sums,
        key: TermKey,
        summed: &mut CountSet<TermKey>,
    ) {
        if let Some(entry) = self.terms.get(key)
            && summed.add(key)
        {
            // Each term counts once.
            dot.add(sums, entry, 1);
        }
    }
}
