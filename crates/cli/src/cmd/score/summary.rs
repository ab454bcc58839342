//! The end-of-input summary of `vigie score --input`: counts, a score histogram, the flagged
//! families, paths and clients, in bounded memory.

use std::collections::HashMap;

use vigie_score::{Engine, Verdict};

/// Distinct paths and client addresses counted for the summary; past this many, new ones are
/// not counted (memory stays bounded on endless inputs).
const MAX_COUNTED_KEYS: usize = 100_000;

/// Counts for the end-of-input summary, in bounded memory.
#[derive(Default)]
pub(super) struct Summary {
    pub(super) total: u64,
    malicious: u64,
    pub(super) invalid: u64,
    /// Score histogram: 10 bins over the first batch's score range ([`Summary::set_range`];
    /// later scores outside it land in the edge bins).
    range: Option<(f64, f64)>,
    bins: [u64; 10],
    families: HashMap<&'static str, u64>,
    flagged_paths: HashMap<String, u64>,
    flagged_clients: HashMap<String, u64>,
}

impl Summary {
    /// The histogram's range, from the first batch's scores (later batches change nothing).
    pub(super) fn set_range(&mut self, verdicts: &[Verdict]) {
        if self.range.is_some() {
            return;
        }
        let (lo, hi) = verdicts
            .iter()
            .map(|v| v.score)
            .filter(|s| s.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
                (lo.min(s), hi.max(s))
            });
        if lo.is_finite() {
            self.range = Some(if hi > lo {
                (lo, hi)
            } else {
                (lo - 1.0, hi + 1.0)
            });
        }
    }

    pub(super) fn add(&mut self, client: Option<&str>, verdict: &Verdict) {
        let (lo, hi) = self
            .range
            .unwrap_or((verdict.score - 1.0, verdict.score + 1.0));
        let position = ((verdict.score - lo) / (hi - lo) * 10.0).floor();
        let bin = if position.is_finite() {
            position.clamp(0.0, 9.0) as usize
        } else {
            0
        };
        self.bins[bin] += 1;
        if !verdict.malicious {
            return;
        }
        self.malicious += 1;
        *self.families.entry(verdict.family).or_default() += 1;
        let path = request_path(&verdict.text).to_owned();
        count(&mut self.flagged_paths, path);
        if let Some(client) = client {
            count(&mut self.flagged_clients, client.to_owned());
        }
    }

    pub(super) fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "total": self.total,
            "malicious": self.malicious,
            "benign": self.total - self.malicious,
            "invalid": self.invalid,
            "score_range": self.range,
            "score_histogram": self.bins,
            "families": self.families,
            "top_flagged_paths": top(&self.flagged_paths, 10),
            "top_flagged_clients": top(&self.flagged_clients, 10),
        })
    }

    pub(super) fn to_text(&self, engine: &Engine) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} requests: {} malicious ({:.2} %), {} benign, {} invalid (skipped); model {}, threshold {:.6}",
            self.total,
            self.malicious,
            100.0 * self.malicious as f64 / self.total.max(1) as f64,
            self.total - self.malicious,
            self.invalid,
            engine.origin(),
            engine.threshold()
        );
        if let Some((lo, hi)) = self.range {
            let peak = self.bins.iter().copied().max().unwrap_or(1).max(1);
            let _ = writeln!(out, "scores:");
            for (i, n) in self.bins.iter().enumerate() {
                let from = lo + (hi - lo) * i as f64 / 10.0;
                let bar = "#".repeat((40 * n).div_ceil(peak) as usize);
                let _ = writeln!(out, "  {from:>10.4}  {n:>8}  {bar}");
            }
        }
        if !self.families.is_empty() {
            let mut families: Vec<(&&str, &u64)> = self.families.iter().collect();
            families.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let listed: Vec<String> = families.iter().map(|(f, n)| format!("{f} {n}")).collect();
            let _ = writeln!(out, "flagged by family: {}", listed.join(", "));
        }
        for (title, counts) in [
            ("most flagged paths", &self.flagged_paths),
            ("most flagged clients", &self.flagged_clients),
        ] {
            if counts.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title}:");
            for (key, n) in top(counts, 10) {
                let _ = writeln!(out, "  {n:>8}  {key}");
            }
        }
        out
    }
}

fn count(counts: &mut HashMap<String, u64>, key: String) {
    if let Some(n) = counts.get_mut(&key) {
        *n += 1;
    } else if counts.len() < MAX_COUNTED_KEYS {
        counts.insert(key, 1);
    }
}

fn top(counts: &HashMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut all: Vec<(&str, u64)> = counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    all.truncate(n);
    all
}

/// The path of a request text: the method (if any) and the query string left out.
fn request_path(text: &str) -> &str {
    let target = match text.split_once(' ') {
        Some((method, rest)) if method.chars().all(|c| c.is_ascii_uppercase()) => rest,
        _ => text,
    };
    let target = target.split(' ').next().unwrap_or(target);
    target.split('?').next().unwrap_or(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_drop_the_method_and_the_query() {
        assert_eq!(request_path("GET /a/b.php?id=1 HTTP/1.1"), "/a/b.php");
        assert_eq!(request_path("/x?q=<script>"), "/x");
        assert_eq!(request_path("/plain"), "/plain");
    }

    #[test]
    fn counted_keys_are_bounded_and_ranked() {
        let mut counts = HashMap::new();
        for key in ["a", "b", "a", "c", "a", "b"] {
            count(&mut counts, key.to_owned());
        }
        assert_eq!(top(&counts, 2), vec![("a", 3), ("b", 2)]);
    }
}
