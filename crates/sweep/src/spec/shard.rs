//! Shards: `I/N` splits a sweep's trials between N processes (machines, CI jobs), process I
//! taking every N-th trial in plan order, so the shards partition the plan whatever its size.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::Trial;
use crate::error::SweepError;

/// Shard `index` of `count` (1-based), written `I/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole plan as one shard.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// The trials at positions `p` (0-based, plan order) with `p % count == index - 1`.
    pub fn select<'a>(&self, trials: &'a [Trial]) -> Vec<&'a Trial> {
        trials
            .iter()
            .enumerate()
            .filter(|(position, _)| position % self.count.max(1) + 1 == self.index)
            .map(|(_, trial)| trial)
            .collect()
    }
}

impl FromStr for Shard {
    type Err = SweepError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |why: &str| SweepError::Invalid(format!("shard `{text}`: {why}"));
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| invalid("expected I/N, e.g. 1/4"))?;
        let index: usize = index
            .trim()
            .parse()
            .map_err(|_| invalid("the index I of I/N is not a whole number"))?;
        let count: usize = count
            .trim()
            .parse()
            .map_err(|_| invalid("the count N of I/N is not a whole number"))?;
        if count == 0 {
            return Err(invalid("the count N must be at least 1"));
        }
        if index == 0 || index > count {
            return Err(invalid(&format!(
                "the index I must be between 1 and {count}"
            )));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}
