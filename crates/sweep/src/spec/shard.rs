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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_sweeps::{error_of, plan};

    #[test]
    fn shards_parse_and_partition_the_plan() {
        for bad in ["0/2", "3/2", "a/b", "1/0", "1", "1/", "-1/2"] {
            let message = error_of(bad.parse::<Shard>());
            assert!(message.contains(bad), "{bad}: {message}");
        }
        let shard: Shard = "2/3".parse().unwrap();
        assert_eq!(shard, Shard { index: 2, count: 3 });
        assert_eq!(shard.to_string(), "2/3");

        let plan =
            plan("[[search.space]]\n[search.space.grid]\nseed = [1, 2, 3, 4, 5, 6, 7]\n").unwrap();
        for count in 1..=4 {
            let mut seen: Vec<usize> = Vec::new();
            for index in 1..=count {
                let selected = Shard { index, count }.select(&plan.trials);
                assert!(
                    selected.iter().all(|t| (t.index - 1) % count == index - 1),
                    "{index}/{count}"
                );
                seen.extend(selected.iter().map(|t| t.index));
            }
            seen.sort_unstable();
            assert_eq!(seen, (1..=7).collect::<Vec<_>>(), "{count} shards");
        }
    }
}
