//! [`TfidfDot`]: a fitted TF-IDF vectoriser fused with one weight vector, to compute
//! `w · tfidf(text)` without building the row.
//!
//! A linear model over TF-IDF needs nothing of a row but its dot product with the weights.
//! Here the text's terms are counted first, each distinct one is looked up once, and the dot
//! product and the row norm are summed over the known ones in one pass: no row, no sort, no
//! string hashing. For the char analyzer on ASCII text (HTTP requests nearly always are),
//! n-grams are integers read straight from the bytes: 1- and 2-grams are counted in direct
//! arrays, longer ones in a small per-text set that stays in L1, and only the distinct ones
//! meet the vocabulary (direct tables, then open addressing on packed keys). Every other text
//! goes through the vectoriser's own tokenizer and vocabulary index.
//!
//! Both paths sum in the tokenizer's order of first occurrence, so they give the same bits.
//! The value equals [`FittedTfidf::transform`]'s row dotted with the weights up to rounding
//! (the row is not rounded to `f32` here, idf and weights are read as `f32`, and the sum runs
//! in first-occurrence order rather than column order): callers that need one canonical score
//! use this for every text.

use super::ascii_ngrams::{
    CountSet, Key, MAX_PACKED, for_each_packed_ngram, hash_slot, normalize_ascii_into, pack,
};
use super::request_dot::{RequestKeyScratch, RequestKeys};
use super::tfidf::{FittedTfidf, Norm, sublinear_tf};
use super::tokenize::TokenScratch;
use crate::prefetch::prefetch;

/// ASCII only: the direct tables are indexed by 7-bit bytes.
const ASCII: usize = 128;
/// Counts below this take `1 + ln(count)` from a table.
const SUBLINEAR_TABLE: usize = 64;
/// Longest ASCII text the packed path scores (longer ones take the general path, which gives
/// the same bits): its table of `1 + ln(count)` covers every count such a text can hold.
const MAX_PACKED_TEXT: usize = 1 << 16;

/// What scoring needs of one vocabulary term, in one load: its idf (1 without idf) and
/// weight, in single precision to keep tables small; the sums run in `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Entry {
    idf: f32,
    weight: f32,
}

/// `w · tfidf(text)` for one fitted vectoriser and one weight vector; see the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct TfidfDot {
    tfidf: FittedTfidf,
    /// By column.
    entries: Vec<Entry>,
    /// `1 + ln(count)` for small counts.
    sublinear: Vec<f64>,
    /// Present for the char analyzer with n-grams of at most [`MAX_PACKED`] chars.
    ascii: Option<AsciiChars>,
    /// Present for the `request` analyzer (see [`RequestKeys::new`]); boxed to keep the
    /// scorer, held by value in every model enum, small.
    request: Option<Box<RequestKeys>>,
}

/// The char analyzer's ASCII n-grams as integer keys.
#[derive(Debug, Clone)]
struct AsciiChars {
    ngram_min: usize,
    ngram_max: usize,
    /// 1-grams by byte.
    unigrams: Vec<Option<Entry>>,
    /// 2-grams by [`bigram_index`].
    bigrams: Vec<Option<Entry>>,
    /// 3-grams by [`trigram_key`].
    trigrams: HashTable<u32>,
    /// 4- to 7-grams by [`pack`]ed key.
    longer: HashTable<u64>,
}

/// A vocabulary table: open addressing with linear probing, at most a quarter full (short
/// probes measured a little faster than a table half the size). Keys are never
/// 0 (they carry the n-gram's length), which marks an empty slot.
#[derive(Debug, Clone)]
pub(super) struct HashTable<K> {
    slots: Vec<(K, Entry)>,
    bits: u32,
}

impl<K: Key> HashTable<K> {
    pub(super) fn new(items: &[(K, Entry)]) -> Self {
        let capacity = (items.len() * 4).next_power_of_two().max(16);
        let bits = capacity.trailing_zeros();
        let empty = Entry {
            idf: 0.0,
            weight: 0.0,
        };
        let mut slots = vec![(K::default(), empty); capacity];
        for &(key, entry) in items {
            let mut slot = hash_slot(key.spread(), bits);
            while slots[slot].0 != K::default() {
                slot = (slot + 1) & (capacity - 1);
            }
            slots[slot] = (key, entry);
        }
        Self { slots, bits }
    }

    /// Prefetches the slot where a lookup of `key` starts.
    #[inline]
    pub(super) fn prefetch(&self, key: K) {
        if let Some(slot) = self.slots.get(hash_slot(key.spread(), self.bits)) {
            prefetch(slot);
        }
    }

    #[inline]
    pub(super) fn get(&self, key: K) -> Option<Entry> {
        let mask = self.slots.len() - 1;
        let mut slot = hash_slot(key.spread(), self.bits);
        loop {
            let (found, entry) = self.slots[slot];
            if found == key {
                return Some(entry);
            }
            if found == K::default() {
                return None;
            }
            slot = (slot + 1) & mask;
        }
    }
}

/// Counts per index of a direct array, with the indices in order of first occurrence (and the
/// array back to zeros once drained).
#[derive(Debug, Clone, Default)]
struct DirectCounts {
    counts: Vec<u32>,
    /// `order[..distinct]`: the indices seen, in order of first occurrence; one slot more
    /// than `counts`, so the next index can always be written before knowing if it is new.
    order: Vec<u32>,
    distinct: usize,
}

impl DirectCounts {
    /// Sizes the array for indices below `len` (all zeros).
    fn prepare(&mut self, len: usize) {
        if self.counts.len() != len {
            self.counts = vec![0; len];
            self.order = vec![0; len + 1];
            self.distinct = 0;
        }
    }

    /// Without a branch on whether `index` is new: that branch is taken at random (about
    /// half of a request's 2-grams are new) and its mispredictions cost more than the write.
    #[inline]
    fn add(&mut self, index: usize) {
        if let Some(count) = self.counts.get_mut(index) {
            let new = *count == 0;
            *count += 1;
            if let Some(slot) = self.order.get_mut(self.distinct) {
                *slot = index as u32;
            }
            self.distinct += usize::from(new);
        }
    }

    /// Calls `each` with every counted index and its count in order of first occurrence, and
    /// resets the counts.
    #[inline(always)]
    fn drain(&mut self, mut each: impl FnMut(usize, u32)) {
        for &index in &self.order[..self.distinct] {
            let index = index as usize;
            each(index, self.counts[index]);
            self.counts[index] = 0;
        }
        self.distinct = 0;
    }
}

/// Buffers reused from one text to the next; keep one per thread.
#[derive(Debug, Default, Clone)]
pub struct TfidfDotScratch {
    /// The text as the char analyzer sees it, then 8 zero bytes for word loads at any offset.
    padded: Vec<u8>,
    tokens: TokenScratch,
    unigrams: DirectCounts,
    bigrams: DirectCounts,
    short_keys: CountSet<u32>,
    long_keys: CountSet<u64>,
    /// `1 + ln(count)` for every count up to the longest ASCII text scored so far: the
    /// summing loops then hold no call (around which their sums would leave the registers).
    sublinear: Vec<f64>,
    request: RequestKeyScratch,
}

impl TfidfDotScratch {
    /// A new batch of requests: libinjection verdicts remembered from the last are dropped.
    pub fn start_batch(&mut self) {
        self.request.start_batch();
    }

    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The running sums of one text.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Sums {
    dot: f64,
    norm: f64,
}

/// The key of an ASCII 3-gram given as the low bytes of `word` (never 0).
#[inline]
fn trigram_key(word: u32) -> u32 {
    (word & 0x00ff_ffff) | 3 << 24
}

#[inline]
fn bigram_index(first: u8, second: u8) -> usize {
    usize::from(first & 0x7f) | usize::from(second & 0x7f) << 7
}

/// Extends `table` (`1 + ln(count)` by count) to at least `len` entries.
fn extend_sublinear(table: &mut Vec<f64>, len: usize) {
    while table.len() < len {
        table.push(sublinear_tf(table.len() as f64));
    }
}

impl AsciiChars {
    fn new(tfidf: &FittedTfidf, entries: &[Entry]) -> Option<Self> {
        let (ngram_min, ngram_max) = tfidf.tokenizer().config().analyzer.packed_char_ngrams()?;
        let mut unigrams = vec![None; ASCII];
        let mut bigrams = vec![None; ASCII * ASCII];
        let mut trigrams = Vec::new();
        let mut longer = Vec::new();
        for (term, &entry) in tfidf.vocabulary().iter().zip(entries) {
            if !term.is_ascii() {
                // Never an n-gram of ASCII text.
                continue;
            }
            match term.as_bytes() {
                [a] => unigrams[usize::from(*a)] = Some(entry),
                [a, b] => bigrams[bigram_index(*a, *b)] = Some(entry),
                [a, b, c] => {
                    trigrams.push((trigram_key(u32::from_le_bytes([*a, *b, *c, 0])), entry))
                }
                bytes if bytes.len() <= MAX_PACKED => longer.push((pack(bytes), entry)),
                _ => {}
            }
        }
        Some(Self {
            ngram_min,
            ngram_max,
            unigrams,
            bigrams,
            trigrams: HashTable::new(&trigrams),
            longer: HashTable::new(&longer),
        })
    }

    /// Sums the known n-grams of `padded` (ASCII, lowercased and collapsed as the tokenizer
    /// does, then 8 zero bytes) in the tokenizer's order: the 1-grams in order of first
    /// occurrence, then the 2-grams, and so on.
    /// `tf_table` holds `1 + ln(count)` for every count the text can hold.
    fn sum_into(
        &self,
        dot: &TfidfDot,
        padded: &[u8],
        tf_table: &[f64],
        scratch: &mut TfidfDotScratch,
    ) -> Sums {
        let len = padded.len().saturating_sub(8);
        let bytes = &padded[..len];
        let mut sums = Sums::default();
        for n in self.ngram_min..=self.ngram_max.min(len) {
            let starts = 0..=len - n;
            match n {
                1 => {
                    scratch.unigrams.prepare(ASCII);
                    for &byte in bytes {
                        scratch.unigrams.add(usize::from(byte & 0x7f));
                    }
                    sums = dot.sum_direct(sums, &mut scratch.unigrams, &self.unigrams, tf_table);
                }
                2 => {
                    scratch.bigrams.prepare(ASCII * ASCII);
                    for pair in bytes.windows(2) {
                        scratch.bigrams.add(bigram_index(pair[0], pair[1]));
                    }
                    sums = dot.sum_direct(sums, &mut scratch.bigrams, &self.bigrams, tf_table);
                }
                3 => {
                    let keys = &mut scratch.short_keys;
                    keys.clear();
                    for start in starts {
                        let word = padded[start..]
                            .first_chunk::<4>()
                            .map_or(0, |chunk| u32::from_le_bytes(*chunk));
                        let key = trigram_key(word);
                        // Ask for a new key's vocabulary slot now: the table is larger than
                        // the L2 cache, and it is read once the whole text is counted.
                        if keys.add(key) {
                            self.trigrams.prefetch(key);
                        }
                    }
                    sums = dot.sum_keys(sums, keys, &self.trigrams, tf_table);
                }
                _ => {
                    let keys = &mut scratch.long_keys;
                    keys.clear();
                    for_each_packed_ngram(padded, n, |key| {
                        if keys.add(key) {
                            self.longer.prefetch(key);
                        }
                    });
                    sums = dot.sum_keys(sums, keys, &self.longer, tf_table);
                }
            }
        }
        sums
    }
}

impl TfidfDot {
    /// Fuses `tfidf` with `weights` (one per column; missing ones count as 0).
    pub fn new(tfidf: FittedTfidf, weights: &[f32]) -> Self {
        let use_idf = tfidf.config().use_idf;
        let entries: Vec<Entry> = tfidf
            .idf()
            .iter()
            .enumerate()
            .map(|(column, &idf)| Entry {
                idf: if use_idf { idf as f32 } else { 1.0 },
                weight: weights.get(column).copied().unwrap_or(0.0),
            })
            .collect();
        let sublinear = (0..SUBLINEAR_TABLE)
            .map(|count| sublinear_tf(count as f64))
            .collect();
        Self {
            ascii: AsciiChars::new(&tfidf, &entries),
            request: RequestKeys::new(&tfidf, &entries).map(Box::new),
            tfidf,
            entries,
            sublinear,
        }
    }

    /// The vectoriser it scores with.
    pub fn tfidf(&self) -> &FittedTfidf {
        &self.tfidf
    }

    /// The vectoriser, the fused tables dropped (to fuse it with other weights).
    pub fn into_tfidf(self) -> FittedTfidf {
        self.tfidf
    }

    /// `w · tfidf(text)`.
    pub fn dot(&self, text: &str, scratch: &mut TfidfDotScratch) -> f64 {
        if let Some(request) = &self.request {
            let sums = request.sum(self, text, &mut scratch.request);
            return self.normalized(sums);
        }
        let sums = match &self.ascii {
            Some(ascii) if text.is_ascii() && text.len() <= MAX_PACKED_TEXT => {
                let mut padded = std::mem::take(&mut scratch.padded);
                let lowercase = self.tfidf.tokenizer().config().lowercase;
                normalize_ascii_into(text.as_bytes(), lowercase, &mut padded);
                // No n-gram occurs more often than the text has bytes.
                let mut tf_table = std::mem::take(&mut scratch.sublinear);
                if self.tfidf.config().sublinear_tf {
                    extend_sublinear(&mut tf_table, padded.len() + 1);
                }
                padded.extend_from_slice(&[0; 8]);
                let sums = ascii.sum_into(self, &padded, &tf_table, scratch);
                scratch.padded = padded;
                scratch.sublinear = tf_table;
                sums
            }
            _ => self.sum_general(text, scratch),
        };
        self.normalized(sums)
    }

    /// For the `request` analyzer, calls `each` with `w · tfidf(field)` of each field text
    /// `field_texts` gives for `text`, in order, without building the field texts; false (and
    /// nothing called) for another analyzer.
    pub fn for_each_field_dot(
        &self,
        text: &str,
        scratch: &mut TfidfDotScratch,
        mut each: impl FnMut(f64),
    ) -> bool {
        let Some(request) = &self.request else {
            return false;
        };
        request.sum_each_field(self, text, &mut scratch.request, |sums| {
            each(self.normalized(sums));
        });
        true
    }

    /// The dot product of a row normalised as the vectoriser normalises it.
    #[inline]
    fn normalized(&self, sums: Sums) -> f64 {
        let norm = match self.tfidf.config().norm {
            Norm::L2 => sums.norm.sqrt(),
            Norm::L1 => sums.norm,
            Norm::None => 1.0,
        };
        if norm > 0.0 { sums.dot / norm } else { 0.0 }
    }

    /// Adds the known terms of drained direct counts. Out of line, like [`Self::sum_keys`]:
    /// the caller's calls would otherwise keep the sums in memory, and each term's add would
    /// wait on a store and a load.
    #[inline(never)]
    fn sum_direct(
        &self,
        mut sums: Sums,
        counts: &mut DirectCounts,
        entries: &[Option<Entry>],
        tf_table: &[f64],
    ) -> Sums {
        counts.drain(|index, count| {
            if let Some(&Some(entry)) = entries.get(index) {
                sums = self.add_counted(sums, entry, count, tf_table);
            }
        });
        sums
    }

    /// Adds the known terms of counted keys.
    #[inline(never)]
    fn sum_keys<K: Key>(
        &self,
        mut sums: Sums,
        keys: &CountSet<K>,
        table: &HashTable<K>,
        tf_table: &[f64],
    ) -> Sums {
        for (key, count) in keys.iter() {
            if let Some(entry) = table.get(key) {
                sums = self.add_counted(sums, entry, count, tf_table);
            }
        }
        sums
    }

    /// Adds a term seen `count` times.
    #[inline(always)]
    pub(super) fn add(&self, sums: &mut Sums, entry: Entry, count: u32) {
        let tf = if self.tfidf.config().sublinear_tf {
            match self.sublinear.get(count as usize) {
                Some(&tf) => tf,
                None => sublinear_tf(f64::from(count)),
            }
        } else {
            f64::from(count)
        };
        *sums = self.add_tf(*sums, entry, tf);
    }

    /// Adds a term seen `count` times, `tf_table` covering the count: no call in the loop.
    #[inline(always)]
    fn add_counted(&self, sums: Sums, entry: Entry, count: u32, tf_table: &[f64]) -> Sums {
        let tf = if self.tfidf.config().sublinear_tf {
            tf_table[count as usize]
        } else {
            f64::from(count)
        };
        self.add_tf(sums, entry, tf)
    }

    #[inline(always)]
    fn add_tf(&self, sums: Sums, entry: Entry, tf: f64) -> Sums {
        let value = tf * f64::from(entry.idf);
        Sums {
            norm: sums.norm
                + match self.tfidf.config().norm {
                    Norm::L2 => value * value,
                    Norm::L1 => value.abs(),
                    Norm::None => 0.0,
                },
            dot: sums.dot + value * f64::from(entry.weight),
        }
    }

    /// Any analyzer, any text: the tokenizer's terms, counted by column.
    fn sum_general(&self, text: &str, scratch: &mut TfidfDotScratch) -> Sums {
        let vocabulary = self.tfidf.vocabulary_index();
        let columns = &mut scratch.short_keys;
        columns.clear();
        self.tfidf
            .tokenizer()
            .for_each_term(text, &mut scratch.tokens, |term| {
                if let Some(column) = vocabulary.get(term)
                    && columns.add(column)
                    && let Some(entry) = self.entries.get(column as usize)
                {
                    prefetch(entry);
                }
            });
        let mut sums = Sums::default();
        for (column, count) in columns.iter() {
            if let Some(&entry) = self.entries.get(column as usize) {
                self.add(&mut sums, entry, count);
            }
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{
        Analyzer, RowVectorizer, TfidfConfig, TfidfScratch, TfidfVectorizer, TokenizerConfig,
    };

    const CORPUS: [&str; 8] = [
        "GET /index.php?id=1' OR 1=1--",
        "GET /images/logo.png",
        "POST /login.php user=admin&pass=x",
        "GET /search?q=<script>alert(1)</script>",
        "GET   /a/b/c.html\t\tHTTP/1.1",
        "get /ÉTÉ/café?x=ñ",
        "GET /../../etc/passwd",
        "",
    ];

    fn fitted(analyzer: Analyzer, sublinear_tf: bool, norm: Norm) -> FittedTfidf {
        let config = TfidfConfig {
            tokenizer: TokenizerConfig {
                analyzer,
                lowercase: true,
            },
            sublinear_tf,
            norm,
            ..TfidfConfig::default()
        };
        TfidfVectorizer::fit(config, CORPUS).expect("fit")
    }

    /// The row the vectoriser builds, dotted with the weights in column order.
    fn row_dot(tfidf: &FittedTfidf, weights: &[f32], text: &str) -> f64 {
        let (indices, values) = tfidf.transform_one(text, &mut TfidfScratch::default());
        indices
            .iter()
            .zip(&values)
            .map(|(&c, &v)| f64::from(weights[c as usize]) * f64::from(v))
            .sum()
    }

    fn weights(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0).collect()
    }

    #[test]
    fn the_fused_dot_equals_the_row_dot_for_every_analyzer_and_setting() {
        let analyzers = [
            Analyzer::Char {
                ngram_min: 1,
                ngram_max: 3,
            },
            Analyzer::Char {
                ngram_min: 2,
                ngram_max: 7,
            },
            // Longer than the packed keys: the general path.
            Analyzer::Char {
                ngram_min: 3,
                ngram_max: 9,
            },
            Analyzer::CharWb {
                ngram_min: 1,
                ngram_max: 4,
            },
            Analyzer::Word {
                pattern: crate::text::SECURITY_TOKEN_PATTERN.to_owned(),
                ngram_min: 1,
                ngram_max: 2,
            },
            Analyzer::Request {
                ngram_min: 1,
                ngram_max: 3,
                rules: true,
            },
        ];
        let probes = [
            "GET /index.php?id=2' OR 2=2--",
            "get /IMAGES/logo.PNG   x",
            "café ñ /ÉTÉ",
            "zzzz unseen qqq",
            // Lone and repeated Python whitespace, the information separators included.
            "A\tB\u{1c}\u{1d}C \u{0b}D  GET\r\n",
            "",
        ];
        for analyzer in analyzers {
            for sublinear in [false, true] {
                for norm in [Norm::L2, Norm::L1, Norm::None] {
                    let tfidf = fitted(analyzer.clone(), sublinear, norm);
                    let w = weights(tfidf.vocabulary().len());
                    let dot = TfidfDot::new(tfidf.clone(), &w);
                    let mut scratch = TfidfDotScratch::new();
                    for text in CORPUS.iter().chain(&probes) {
                        let fused = dot.dot(text, &mut scratch);
                        let row = row_dot(&tfidf, &w, text);
                        assert!(
                            (fused - row).abs() <= 1e-6 * (1.0 + row.abs()),
                            "{analyzer:?} sublinear={sublinear} {norm:?} {text:?}: {fused} != {row}"
                        );
                    }
                }
            }
        }
    }

    /// The fused scorer of `tfidf` with test weights, and the same without its packed path.
    fn packed_and_general(tfidf: &FittedTfidf) -> (Vec<f32>, TfidfDot, TfidfDot) {
        let w = weights(tfidf.vocabulary().len());
        let fast = TfidfDot::new(tfidf.clone(), &w);
        let mut general = fast.clone();
        general.ascii = None;
        (w, fast, general)
    }

    /// Requests whose fields give every kind of term: paths, odd names, values, payloads, the
    /// rules' verdicts, repeats, non-ASCII tokens, escapes, headers and cookies.
    const REQUESTS: [&str; 12] = [
        "GET /index.php?id=1' OR 1=1--&q=select&q=select",
        "/a/b/../../etc/passwd?file=cmd.exe&x=<script>alert(1)</script>",
        "POST http://localhost:8080/tienda1/miembros/editar.jsp?modo=registro login=bob&pwd=x'",
        "/search?q=%253Cscript%253E&n=union%20select%20null,null,null,null&<img>=1",
        "/?a=&b=&c=1e5&d=0x41424344&e=l3nrexblyxjsl2nul21lbwjlckfyzwe=",
        "POST /login HTTP/1.1\r\nHost: a.example\r\nCookie: sid=abc; theme=<b>\r\n\r\nuser=x",
        "' or 1=1-- ",
        "/caf\u{e9}/\u{2603}?x=\u{2603}\u{2603}&y=\u{0663}+\u{0663}",
        "/x?v=^ $ ^$&w=..%2f..%2f&z=/*!50000union*/ select",
        "\u{1f}p<script>alert(1)</script>",
        "/",
        "",
    ];

    #[test]
    fn the_key_path_and_the_string_path_give_the_same_bits() {
        for rules in [true, false] {
            let config = TfidfConfig {
                tokenizer: TokenizerConfig {
                    analyzer: Analyzer::Request {
                        ngram_min: 1,
                        ngram_max: 3,
                        rules,
                    },
                    lowercase: true,
                },
                sublinear_tf: true,
                ..TfidfConfig::default()
            };
            // The requests and their field texts, as a pooled model is fitted.
            let mut request_scratch = crate::request::RequestScratch::default();
            let mut fields = Vec::new();
            let mut corpus: Vec<String> = REQUESTS.iter().map(|t| t.to_string()).collect();
            for text in REQUESTS {
                crate::request::field_texts(text, &mut request_scratch, &mut fields);
                corpus.extend(fields.iter().cloned());
            }
            let tfidf =
                TfidfVectorizer::fit(config, corpus.iter().map(String::as_str)).expect("fit");
            let w = weights(tfidf.vocabulary().len());
            let keyed = TfidfDot::new(tfidf.clone(), &w);
            assert!(
                keyed.request.is_some(),
                "every term of the vocabulary has a key"
            );
            let mut by_strings = keyed.clone();
            by_strings.request = None;
            let mut scratch = TfidfDotScratch::new();
            let probes = ["/unseen?q=zz'", "\u{1f}v1' or 2=2"];
            for text in corpus.iter().map(String::as_str).chain(probes) {
                let a = keyed.dot(text, &mut scratch);
                let b = by_strings.dot(text, &mut scratch);
                assert_eq!(a.to_bits(), b.to_bits(), "{text:?}: {a} != {b}");
                let mut by_field = Vec::new();
                assert!(keyed.for_each_field_dot(text, &mut scratch, |d| by_field.push(d)));
                crate::request::field_texts(text, &mut request_scratch, &mut fields);
                let expected: Vec<f64> = fields
                    .iter()
                    .map(|field| by_strings.dot(field, &mut scratch))
                    .collect();
                assert_eq!(by_field, expected, "{text:?}");
            }
        }
    }

    #[test]
    fn the_ascii_path_and_the_general_path_give_the_same_bits() {
        let tfidf = fitted(
            Analyzer::Char {
                ngram_min: 1,
                ngram_max: 3,
            },
            true,
            Norm::L2,
        );
        let (_, fast, general) = packed_and_general(&tfidf);
        let mut scratch = TfidfDotScratch::new();
        for text in CORPUS {
            let a = fast.dot(text, &mut scratch);
            let b = general.dot(text, &mut scratch);
            assert_eq!(a.to_bits(), b.to_bits(), "{text:?}");
        }
    }

    #[test]
    fn a_text_holding_every_ascii_byte_scores_as_the_general_path() {
        // 128 distinct 1-grams fill the direct count array. Each byte is followed by an 'x',
        // so no two whitespace bytes meet (a run would be collapsed to one space). Fitted on
        // the text itself, so every n-gram is in the vocabulary.
        let every_byte: String = (0u8..128).flat_map(|b| [char::from(b), 'x']).collect();
        let text = format!("{every_byte}{every_byte}x");
        let config = TfidfConfig {
            tokenizer: TokenizerConfig {
                analyzer: Analyzer::Char {
                    ngram_min: 1,
                    ngram_max: 2,
                },
                lowercase: false,
            },
            sublinear_tf: true,
            ..TfidfConfig::default()
        };
        let tfidf = TfidfVectorizer::fit(config, [text.as_str(), "abc"]).expect("fit");
        let (w, fast, general) = packed_and_general(&tfidf);
        let mut scratch = TfidfDotScratch::new();
        for probe in [text.as_str(), "abc", text.as_str()] {
            let a = fast.dot(probe, &mut scratch);
            let b = general.dot(probe, &mut scratch);
            assert_eq!(a.to_bits(), b.to_bits(), "{probe:?}");
            let row = row_dot(&tfidf, &w, probe);
            assert!((a - row).abs() <= 1e-6 * (1.0 + row.abs()), "{a} != {row}");
        }
    }

    #[test]
    fn counts_as_large_as_the_text_take_the_same_bits_on_both_paths() {
        // One byte repeated: its 1-gram count is the text's length, the table's last entry
        // on the packed path. One byte more and the text takes the general path.
        let tfidf = fitted(
            Analyzer::Char {
                ngram_min: 1,
                ngram_max: 3,
            },
            true,
            Norm::L2,
        );
        let (w, fast, general) = packed_and_general(&tfidf);
        let mut scratch = TfidfDotScratch::new();
        for len in [1, 63, 64, 65, MAX_PACKED_TEXT, MAX_PACKED_TEXT + 1] {
            let text = "a".repeat(len);
            let a = fast.dot(&text, &mut scratch);
            let b = general.dot(&text, &mut scratch);
            assert_eq!(a.to_bits(), b.to_bits(), "{len} bytes");
            let row = row_dot(&tfidf, &w, &text);
            assert!((a - row).abs() <= 1e-6 * (1.0 + row.abs()), "{a} != {row}");
        }
        assert!(scratch.sublinear.len() > MAX_PACKED_TEXT);
    }

    #[test]
    fn scratch_generations_keep_texts_apart() {
        let tfidf = fitted(
            Analyzer::Char {
                ngram_min: 1,
                ngram_max: 2,
            },
            false,
            Norm::L2,
        );
        let w = weights(tfidf.vocabulary().len());
        let dot = TfidfDot::new(tfidf.clone(), &w);
        let mut reused = TfidfDotScratch::new();
        for text in CORPUS.iter().chain(CORPUS.iter().rev()) {
            let fresh = dot.dot(text, &mut TfidfDotScratch::new());
            assert_eq!(dot.dot(text, &mut reused).to_bits(), fresh.to_bits());
        }
        // The generation counter wraps without mixing texts.
        reused.short_keys.set_generation(u32::MAX - 1);

        for text in CORPUS {
            let fresh = dot.dot(text, &mut TfidfDotScratch::new());
            assert_eq!(dot.dot(text, &mut reused).to_bits(), fresh.to_bits());
        }
    }

    #[test]
    fn a_text_with_more_distinct_terms_than_the_seen_set_holds_grows_it() {
        let long: String = (0..2000)
            .map(|i: u32| char::from(b'!' + (i * 7 + i * i % 13) as u8 % 90))
            .collect();
        let config = TfidfConfig {
            tokenizer: TokenizerConfig {
                analyzer: Analyzer::Char {
                    ngram_min: 1,
                    ngram_max: 3,
                },
                lowercase: false,
            },
            ..TfidfConfig::default()
        };
        let tfidf = TfidfVectorizer::fit(config, [long.as_str(), "abc"]).expect("fit");
        let w = weights(tfidf.vocabulary().len());
        let dot = TfidfDot::new(tfidf.clone(), &w);
        let mut scratch = TfidfDotScratch::new();
        let fused = dot.dot(&long, &mut scratch);
        let distinct = scratch.short_keys.len();
        assert!(distinct > 256, "{distinct} distinct 3-grams");
        assert!(scratch.short_keys.slot_count() >= 2 * distinct);
        let row = row_dot(&tfidf, &w, &long);
        assert!(
            (fused - row).abs() <= 1e-6 * (1.0 + row.abs()),
            "{fused} != {row}"
        );
        // The next text starts from an empty set again.
        let fresh = dot.dot("abc", &mut TfidfDotScratch::new());
        assert_eq!(dot.dot("abc", &mut scratch).to_bits(), fresh.to_bits());
    }
}
