//! Term-to-id lookup for fitted vocabularies, built for lookup speed.
//!
//! Transforming text is dominated by one vocabulary lookup per n-gram, and a
//! vocabulary of a million n-grams does not fit in cache. A general hash map
//! of boxed strings costs up to three cache misses per lookup (control byte,
//! bucket, key); [`TermIndex`] is an open-addressing table that stores the
//! first 8 bytes and the length of each term in its 16-byte slot, so a lookup
//! of a short term (most n-grams) touches one cache line, and only terms
//! longer than 8 bytes are compared against their stored text.
//! [`TermCounter`] counts the terms of one text first, so each distinct term
//! is looked up once (n-grams repeat a lot within a request).

use xxhash_rust::xxh3::xxh3_64;

/// Marks an empty slot (ids stay below it).
const EMPTY: u32 = u32::MAX;
/// Terms up to this many bytes are compared within their slot.
const INLINE_BYTES: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// [`load_prefix`] of the term.
    prefix: u64,
    /// Term length (saturated to 16 bits) above 16 bits of hash.
    meta: u32,
    id: u32,
}

const EMPTY_SLOT: Slot = Slot {
    prefix: 0,
    meta: 0,
    id: EMPTY,
};

/// The first 8 bytes of `bytes` as an integer that, together with the
/// length, identifies any term of up to 8 bytes (not a plain zero-padded
/// load: short terms use overlapping loads, which avoid a copy through
/// memory on this hot path).
#[inline]
fn load_prefix(bytes: &[u8]) -> u64 {
    if let Some(head) = bytes.first_chunk::<INLINE_BYTES>() {
        return u64::from_le_bytes(*head);
    }
    if let (Some(head), Some(tail)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        // 4 to 7 bytes: the two halves overlap, which the length disambiguates.
        return u64::from(u32::from_le_bytes(*head)) | (u64::from(u32::from_le_bytes(*tail)) << 32);
    }
    match bytes {
        [] => 0,
        // 1 to 3 bytes: first, middle and last cover them all.
        [first, ..] => {
            let middle = bytes[bytes.len() / 2];
            let last = bytes[bytes.len() - 1];
            u64::from(*first) | (u64::from(middle) << 8) | (u64::from(last) << 16)
        }
    }
}

/// The lookup key of a term: computed once, then compared slot by slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    hash: u64,
    prefix: u64,
    meta: u32,
}

impl Probe {
    #[inline]
    pub(crate) fn new(term: &[u8]) -> Self {
        let hash = xxh3_64(term);
        let prefix = load_prefix(term);
        let length_field = term.len().min(0xffff) as u32;
        Self {
            hash,
            prefix,
            // Low hash bits: TermIndex positions use the high ones.
            meta: (length_field << 16) | (hash as u32 & 0xffff),
        }
    }
}

/// Terms (ids are positions) with an index from term to id.
#[derive(Debug, Clone)]
pub(crate) struct TermIndex {
    terms: Vec<String>,
    slots: Box<[Slot]>,
    /// `64 - log2(slots.len())`: slot position is `hash >> shift`.
    shift: u32,
}

impl TermIndex {
    /// Indexes `terms`; on a duplicate, returns it as the error. Callers keep
    /// `terms.len()` below `u32::MAX`.
    pub(crate) fn new(terms: Vec<String>) -> Result<Self, String> {
        debug_assert!(terms.len() < EMPTY as usize);
        // Load factor at most 0.7: linear probing stays within a cache line
        // or two.
        let capacity = (terms.len() + terms.len() * 3 / 7 + 1)
            .next_power_of_two()
            .max(2);
        let mut slots = vec![EMPTY_SLOT; capacity].into_boxed_slice();
        let shift = 64 - capacity.trailing_zeros();
        let mask = capacity - 1;
        for (id, term) in (0u32..).zip(&terms) {
            let probe = Probe::new(term.as_bytes());
            let mut position = (probe.hash >> shift) as usize;
            loop {
                let slot = &mut slots[position];
                if slot.id == EMPTY {
                    *slot = Slot {
                        prefix: probe.prefix,
                        meta: probe.meta,
                        id,
                    };
                    break;
                }
                if matches(slot, &probe, term.as_bytes(), &terms) {
                    return Err(term.clone());
                }
                position = (position + 1) & mask;
            }
        }
        Ok(Self {
            terms,
            slots,
            shift,
        })
    }

    /// All terms in id order.
    pub(crate) fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Number of terms.
    pub(crate) fn len(&self) -> usize {
        self.terms.len()
    }

    /// Id of `term`, if indexed.
    #[inline]
    pub(crate) fn get(&self, term: &str) -> Option<u32> {
        self.get_probed(&Probe::new(term.as_bytes()), term.as_bytes())
    }

    /// Reads the first slot `probe` would visit, so that a following
    /// [`TermIndex::get_probed`] finds it in cache.
    #[inline]
    pub(crate) fn prefetch(&self, probe: &Probe) {
        let position = (probe.hash >> self.shift) as usize;
        // black_box keeps the otherwise unused load.
        std::hint::black_box(self.slots[position].id);
    }

    /// Id of `term` whose [`Probe`] is already computed.
    #[inline]
    pub(crate) fn get_probed(&self, probe: &Probe, term: &[u8]) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut position = (probe.hash >> self.shift) as usize;
        loop {
            let slot = &self.slots[position];
            if slot.id == EMPTY {
                return None;
            }
            if matches(slot, probe, term, &self.terms) {
                return Some(slot.id);
            }
            position = (position + 1) & mask;
        }
    }
}

#[inline]
fn matches(slot: &Slot, probe: &Probe, term: &[u8], terms: &[String]) -> bool {
    slot.meta == probe.meta
        && slot.prefix == probe.prefix
        // Length and first 8 bytes equal: only longer terms need the text.
        && (term.len() <= INLINE_BYTES || terms[slot.id as usize].as_bytes() == term)
}

/// One distinct term of a text with its number of occurrences.
#[derive(Debug, Clone, Copy)]
struct CountedTerm {
    /// [`load_prefix`] of the term.
    prefix: u64,
    /// Hash for [`TermCounter`]'s own table.
    local_hash: u64,
    /// Byte range of the term in [`TermCounter::text`].
    start: usize,
    end: usize,
    count: u32,
    /// Where the term sits in [`TermCounter::slots`].
    slot: u32,
}

/// A cheap hash for the per-text table: it only has to spread the few
/// hundred terms of one text, and runs once per term occurrence, where the
/// stronger [`Probe`] hash runs once per distinct term.
#[inline]
fn local_hash(term: &[u8], prefix: u64) -> u64 {
    let mut key = prefix ^ (term.len() as u64).rotate_right(8);
    if let Some(tail) = term.last_chunk::<INLINE_BYTES>()
        && term.len() > INLINE_BYTES
    {
        key ^= u64::from_le_bytes(*tail).rotate_left(29);
    }
    // Fibonacci hashing: the high bits of the product pick the slot.
    key.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Counts the distinct terms of one text; reused from text to text.
#[derive(Debug, Clone, Default)]
pub(crate) struct TermCounter {
    /// Index into `terms` or [`EMPTY`]; length a power of two (or 0).
    slots: Vec<u32>,
    /// `64 - log2(slots.len())`.
    shift: u32,
    terms: Vec<CountedTerm>,
    /// The distinct terms back to back.
    text: String,
    /// [`Probe`] of each distinct term, filled by `lookup_in`.
    probes: Vec<Probe>,
}

impl TermCounter {
    /// Forgets the previous text's terms (in time proportional to them).
    pub(crate) fn clear(&mut self) {
        for term in &self.terms {
            self.slots[term.slot as usize] = EMPTY;
        }
        // After one long text, shrink back to what the last text needed: a
        // small table stays in L1 cache (all slots are empty now, and the
        // allocation is kept for later growth).
        let fitting = (self.terms.len() * 4)
            .next_power_of_two()
            .max(MIN_COUNTER_SLOTS);
        if self.slots.len() > 2 * fitting {
            self.slots.truncate(fitting);
            self.shift = 64 - fitting.trailing_zeros();
        }
        self.terms.clear();
        self.text.clear();
    }

    /// Counts one occurrence of `term`.
    #[inline]
    pub(crate) fn add(&mut self, term: &str) {
        // Grow at half load so probe runs stay short.
        if (self.terms.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let bytes = term.as_bytes();
        let prefix = load_prefix(bytes);
        let hash = local_hash(bytes, prefix);
        let mask = self.slots.len() - 1;
        let mut position = (hash >> self.shift) as usize;
        loop {
            let index = self.slots[position];
            if index == EMPTY {
                break;
            }
            let counted = &mut self.terms[index as usize];
            if counted.prefix == prefix
                && counted.end - counted.start == bytes.len()
                && (bytes.len() <= INLINE_BYTES
                    || self.text.as_bytes()[counted.start..counted.end] == *bytes)
            {
                counted.count = counted.count.saturating_add(1);
                return;
            }
            position = (position + 1) & mask;
        }
        self.slots[position] = self.terms.len() as u32;
        let start = self.text.len();
        self.text.push_str(term);
        self.terms.push(CountedTerm {
            prefix,
            local_hash: hash,
            start,
            end: self.text.len(),
            count: 1,
            slot: position as u32,
        });
    }

    #[cold]
    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(MIN_COUNTER_SLOTS);
        self.slots.clear();
        self.slots.resize(capacity, EMPTY);
        self.shift = 64 - capacity.trailing_zeros();
        let mask = capacity - 1;
        for (index, counted) in (0u32..).zip(self.terms.iter_mut()) {
            let mut position = (counted.local_hash >> self.shift) as usize;
            while self.slots[position] != EMPTY {
                position = (position + 1) & mask;
            }
            self.slots[position] = index;
            counted.slot = position as u32;
        }
    }

    /// Each distinct term with its count, in order of first occurrence.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        self.terms
            .iter()
            .map(|counted| (&self.text[counted.start..counted.end], counted.count))
    }

    /// Looks every distinct term up in `index`, calling `found` with the id
    /// and count of those it holds.
    pub(crate) fn lookup_in(&mut self, index: &TermIndex, mut found: impl FnMut(u32, u32)) {
        let text = self.text.as_bytes();
        self.probes.clear();
        self.probes.extend(
            self.terms
                .iter()
                .map(|counted| Probe::new(&text[counted.start..counted.end])),
        );
        if index.slots.len() >= PREFETCH_MIN_SLOTS {
            // Touch every first slot before the real lookups: the loads are
            // independent, so the CPU overlaps their cache misses.
            for probe in &self.probes {
                index.prefetch(probe);
            }
        }
        for (counted, probe) in self.terms.iter().zip(&self.probes) {
            if let Some(id) = index.get_probed(probe, &text[counted.start..counted.end]) {
                found(id, counted.count);
            }
        }
    }
}

/// Smallest [`TermCounter`] table.
const MIN_COUNTER_SLOTS: usize = 64;

/// Tables smaller than this (in slots of 16 bytes) stay in cache anyway.
const PREFETCH_MIN_SLOTS: usize = 1 << 16;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_every_term_and_nothing_else() {
        let terms: Vec<String> = [
            "",
            "a",
            "a\0",
            "ab",
            "abcdefgh",
            "abcdefghi",
            "abcdefghj",
            "jamón",
            "é",
        ]
        .map(String::from)
        .to_vec();
        let index = TermIndex::new(terms.clone()).expect("unique terms");
        for (id, term) in (0u32..).zip(&terms) {
            assert_eq!(index.get(term), Some(id), "{term:?}");
        }
        for absent in ["b", "\0", "abcdefghk", "abcdefg", "abcdefghij", "jamon"] {
            assert_eq!(index.get(absent), None, "{absent:?}");
        }
        assert_eq!(index.len(), terms.len());
        assert_eq!(index.terms(), terms);
    }

    #[test]
    fn duplicates_are_reported() {
        let terms = ["x", "longer than eight", "longer than eight"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            TermIndex::new(terms).err().as_deref(),
            Some("longer than eight")
        );
        assert!(TermIndex::new(vec![]).expect("empty").get("x").is_none());
    }

    #[test]
    fn load_prefix_identifies_short_terms() {
        // Distinct terms of equal length up to 8 bytes get distinct prefixes.
        let terms = [
            "", "a", "b", "ab", "ba", "aab", "aba", "abc", "abcd", "abce", "abcdef", "abcxef",
            "abcdefgh",
        ];
        for a in terms {
            for b in terms {
                if a.len() == b.len() && a != b {
                    assert_ne!(
                        load_prefix(a.as_bytes()),
                        load_prefix(b.as_bytes()),
                        "{a:?} {b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn counter_counts_and_looks_up_distinct_terms() {
        let index = TermIndex::new(["aa", "long term here", "x"].map(String::from).to_vec())
            .expect("unique");
        let mut counter = TermCounter::default();
        for term in ["x", "long term here", "zz", "x", "long term herE", "x"] {
            counter.add(term);
        }
        let counted: Vec<(&str, u32)> = counter.iter().collect();
        assert_eq!(
            counted,
            [
                ("x", 3),
                ("long term here", 1),
                ("zz", 1),
                ("long term herE", 1)
            ]
        );
        let mut found = Vec::new();
        counter.lookup_in(&index, |id, count| found.push((id, count)));
        assert_eq!(found, [(2, 3), (1, 1)]);
        counter.clear();
        assert_eq!(counter.iter().count(), 0);
        counter.add("aa");
        let mut found = Vec::new();
        counter.lookup_in(&index, |id, count| found.push((id, count)));
        assert_eq!(found, [(0, 1)]);
    }

    proptest! {
        #[test]
        fn counter_agrees_with_a_hash_map(texts in prop::collection::vec(prop::collection::vec("[ab]{0,10}|\\PC{0,12}", 0..300), 1..4)) {
            let mut counter = TermCounter::default();
            for terms in &texts {
                counter.clear();
                let mut expected: Vec<(String, u32)> = Vec::new();
                for term in terms {
                    counter.add(term);
                    match expected.iter_mut().find(|(seen, _)| seen == term) {
                        Some((_, count)) => *count += 1,
                        None => expected.push((term.clone(), 1)),
                    }
                }
                let counted: Vec<(String, u32)> = counter.iter().map(|(term, count)| (term.to_owned(), count)).collect();
                prop_assert_eq!(counted, expected);
            }
        }

        #[test]
        fn agrees_with_a_hash_set(
            terms in prop::collection::hash_set("[a-c]{0,12}|\\PC{0,10}", 0..200),
            queries in prop::collection::vec("[a-c]{0,12}", 0..50),
        ) {
            let terms: Vec<String> = terms.into_iter().collect();
            let index = TermIndex::new(terms.clone()).expect("unique terms");
            for (id, term) in (0u32..).zip(&terms) {
                prop_assert_eq!(index.get(term), Some(id));
            }
            for query in &queries {
                let expected = terms.iter().position(|term| term == query).map(|id| id as u32);
                prop_assert_eq!(index.get(query), expected);
            }
        }
    }
}
