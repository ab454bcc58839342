//! ASCII char n-grams as integer keys, and the small hash sets that count them.
//!
//! HTTP requests are nearly always ASCII. For the char analyzer on ASCII text an n-gram of at
//! most [`MAX_PACKED`] bytes fits in one `u64` (its bytes, and its length in the top byte), so
//! the n-grams of a text can be counted without building or hashing strings: what both the
//! TF-IDF fit ([`super::tfidf`]) and the fused scorer ([`super::dot`]) do on that path.

use super::pyspace::is_python_space_ascii;

/// Longest n-gram (in bytes) the packed tables hold: the eighth byte keeps the length.
pub(crate) const MAX_PACKED: usize = 7;

/// Keys of the per-text sets and the vocabulary tables.
pub(crate) trait Key: Copy + Default + PartialEq {
    fn spread(self) -> u64;
}

impl Key for u32 {
    #[inline]
    fn spread(self) -> u64 {
        u64::from(self)
    }
}

impl Key for u64 {
    #[inline]
    fn spread(self) -> u64 {
        self
    }
}

#[inline]
pub(crate) fn hash_slot(key: u64, bits: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

/// Counts of the keys of one text, in order of first occurrence; small enough to stay in L1.
/// A slot is live when it carries the current generation, so starting over is O(1).
#[derive(Debug, Clone, Default)]
pub(crate) struct CountSet<K> {
    slots: Vec<(u32, K, u32)>,
    bits: u32,
    generation: u32,
    /// Live slots in order of first occurrence.
    order: Vec<u32>,
}

impl<K: Key> CountSet<K> {
    pub(crate) fn clear(&mut self) {
        if self.slots.is_empty() {
            self.bits = 8;
            self.slots = vec![(0, K::default(), 0); 1 << self.bits];
        }
        if self.generation == u32::MAX {
            self.slots.fill((0, K::default(), 0));
            self.generation = 0;
        }
        self.generation += 1;
        self.order.clear();
    }

    /// Counts `key` once more; true when it is new to this text.
    #[inline]
    pub(crate) fn add(&mut self, key: K) -> bool {
        let mask = self.slots.len() - 1;
        let mut slot = hash_slot(key.spread(), self.bits);
        loop {
            let (generation, found, count) = &mut self.slots[slot];
            if *generation != self.generation {
                *generation = self.generation;
                *found = key;
                *count = 1;
                self.order.push(slot as u32);
                if self.order.len() * 2 > self.slots.len() {
                    self.grow();
                }
                return true;
            }
            if *found == key {
                *count += 1;
                return false;
            }
            slot = (slot + 1) & mask;
        }
    }

    #[cold]
    fn grow(&mut self) {
        let live: Vec<(K, u32)> = self
            .order
            .iter()
            .map(|&slot| {
                let (_, key, count) = self.slots[slot as usize];
                (key, count)
            })
            .collect();
        self.bits += 1;
        self.slots = vec![(0, K::default(), 0); 1 << self.bits];
        self.generation = 1;
        self.order.clear();
        let mask = self.slots.len() - 1;
        for (key, count) in live {
            let mut slot = hash_slot(key.spread(), self.bits);
            while self.slots[slot].0 == 1 {
                slot = (slot + 1) & mask;
            }
            self.slots[slot] = (1, key, count);
            self.order.push(slot as u32);
        }
    }

    /// Distinct keys counted since the last [`CountSet::clear`].
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Slots allocated (the set grows to keep at least twice as many as keys).
    #[cfg(test)]
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Moves the generation counter, to test its wrapping.
    #[cfg(test)]
    pub(crate) fn set_generation(&mut self, generation: u32) {
        self.generation = generation;
    }

    /// Each distinct key with its count, in order of first occurrence.
    #[inline(always)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, u32)> + '_ {
        self.order.iter().map(|&slot| {
            let (_, key, count) = self.slots[slot as usize];
            (key, count)
        })
    }
}

/// An ASCII n-gram of 1 to [`MAX_PACKED`] bytes as one integer: its bytes (little-endian) and
/// its length in the top byte, so no key is 0.
#[inline]
pub(crate) fn pack(bytes: &[u8]) -> u64 {
    let mut key = (bytes.len() as u64) << 56;
    for (i, &byte) in bytes.iter().enumerate() {
        key |= u64::from(byte) << (8 * i);
    }
    key
}

/// ASCII `text` as the char analyzer sees it, in one pass: lowercased (when asked) and every
/// run of two or more Python whitespace characters replaced by one space.
pub(crate) fn normalize_ascii_into(text: &[u8], lowercase: bool, out: &mut Vec<u8>) {
    out.clear();
    // Most requests hold no two whitespace bytes in a row (URLs hold none at all): then the
    // text is copied as it is, in a loop the compiler vectorises. The check reads pairs
    // without stopping early, for the same reason.
    let has_run = text.windows(2).fold(false, |run, pair| {
        run | (is_python_space_ascii(pair[0]) & is_python_space_ascii(pair[1]))
    });
    if !has_run {
        if lowercase {
            out.extend(text.iter().map(u8::to_ascii_lowercase));
        } else {
            out.extend_from_slice(text);
        }
        return;
    }
    let mut pos = 0;
    while let Some(&byte) = text.get(pos) {
        if is_python_space_ascii(byte) {
            let run_start = pos;
            while text.get(pos).is_some_and(|&b| is_python_space_ascii(b)) {
                pos += 1;
            }
            out.push(if pos - run_start >= 2 { b' ' } else { byte });
            continue;
        }
        out.push(if lowercase {
            byte.to_ascii_lowercase()
        } else {
            byte
        });
        pos += 1;
    }
}

/// The n-gram behind a [`pack`]ed key.
pub(crate) fn unpack(key: u64) -> String {
    let length = (key >> 56) as usize;
    key.to_le_bytes()[..length.min(MAX_PACKED)]
        .iter()
        .map(|&byte| char::from(byte))
        .collect()
}

/// Calls `emit` with the [`pack`]ed key of every `n`-gram of `padded` (text as
/// [`normalize_ascii_into`] writes it, then 8 zero bytes), in order; `n` is at most
/// [`MAX_PACKED`].
#[inline]
pub(crate) fn for_each_packed_ngram(padded: &[u8], n: usize, mut emit: impl FnMut(u64)) {
    debug_assert!((1..=MAX_PACKED).contains(&n));
    let len = padded.len().saturating_sub(8);
    if n > len {
        return;
    }
    let mask = (1u64 << (8 * n)) - 1;
    let length = (n as u64) << 56;
    for start in 0..=len - n {
        let word = padded[start..]
            .first_chunk::<8>()
            .map_or(0, |chunk| u64::from_le_bytes(*chunk));
        emit((word & mask) | length);
    }
}
