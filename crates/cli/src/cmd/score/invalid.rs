//! Lines of an input that give no request: the first few warned about, the rest counted in
//! one line; an input mostly made of them (the wrong `--input-format`, another file) fails.

/// Invalid lines warned about one by one; past these, one summary line.
const WARNED: usize = 10;

/// Examples quoted when the input fails.
const EXAMPLES_IN_ERROR: usize = 5;

/// Below this many lines read, an input is too short to call mostly invalid.
const MIN_LINES_JUDGED: u64 = 10;

/// The invalid lines of one input.
pub(super) struct InvalidLines {
    /// The input, as messages name it.
    source: String,
    count: u64,
    /// The first ones: line and reason.
    examples: Vec<(u64, String)>,
}

impl InvalidLines {
    pub(super) fn new(source: String) -> InvalidLines {
        InvalidLines {
            source,
            count: 0,
            examples: Vec::new(),
        }
    }

    pub(super) fn count(&self) -> u64 {
        self.count
    }

    /// One more invalid line: warned about while under the cap.
    pub(super) fn add(&mut self, line: u64, reason: String) {
        self.count += 1;
        if self.examples.len() < WARNED {
            tracing::warn!("{}:{line}: skipped: {reason}", self.source);
            self.examples.push((line, reason));
        }
    }

    /// At the end of the input, `scored` requests read beside the invalid lines: the count of
    /// the lines not warned about, and an error when more than half the lines were invalid.
    pub(super) fn finish(&self, scored: u64) -> anyhow::Result<()> {
        let unshown = self.count.saturating_sub(self.examples.len() as u64);
        if unshown > 0 {
            tracing::warn!(
                "{}: {unshown} more invalid lines skipped (not shown)",
                self.source
            );
        }
        let read = scored + self.count;
        if read < MIN_LINES_JUDGED || self.count * 2 <= read {
            return Ok(());
        }
        let examples: Vec<String> = self
            .examples
            .iter()
            .take(EXAMPLES_IN_ERROR)
            .map(|(line, reason)| format!("  line {line}: {reason}"))
            .collect();
        anyhow::bail!(
            "{}: {} of {read} lines are invalid (is --input-format right?); the first:\n{}",
            self.source,
            self.count,
            examples.join("\n")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_invalid(count: u64) -> InvalidLines {
        let mut invalid = InvalidLines::new("in.log".to_owned());
        for line in 1..=count {
            invalid.add(line, format!("bad {line}"));
        }
        invalid
    }

    #[test]
    fn only_the_first_lines_are_kept_as_examples() {
        let invalid = with_invalid(25);
        assert_eq!(invalid.count(), 25);
        assert_eq!(invalid.examples.len(), WARNED);
        assert_eq!(invalid.examples[0], (1, "bad 1".to_owned()));
    }

    #[test]
    fn mostly_invalid_inputs_fail_with_the_count_and_examples() {
        let message = with_invalid(11)
            .finish(9)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.starts_with("in.log: 11 of 20 lines"), "{message}");
        assert!(message.contains("line 1: bad 1"), "{message}");
        assert!(!message.contains("bad 6"), "{message}");
        assert!(with_invalid(10).finish(10).is_ok(), "half is not most");
        assert!(with_invalid(9).finish(0).is_ok(), "too short to judge");
        assert!(with_invalid(0).finish(0).is_ok());
    }
}
