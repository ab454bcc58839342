//! Fixed time windows from the requests' own timestamps, each with its counters and score
//! histograms: memory grows with the number of windows, never with the number of requests.
//!
//! A window starts at a multiple of its length since the Unix epoch (UTC), so the windows of
//! two sources or two runs line up. Lines may come out of order (several files, a log merged
//! from several servers): each lands in its own window. A record without a time (an unreadable
//! line, or a format without one) counts in the window of the last timed record before it, and
//! those before any timed record in the window of the first one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::histogram::ScoreHistogram;

/// What one window counted.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowStats {
    /// Requests scored.
    pub requests: u64,
    /// Lines the parser could not read.
    pub unreadable: u64,
    pub alerts: u64,
    /// Alerts by attack family.
    pub alerts_by_family: BTreeMap<String, u64>,
    pub histogram: ScoreHistogram,
    /// Scores per PSI bin.
    pub psi_counts: Vec<u64>,
}

impl WindowStats {
    /// An empty window: the histogram over `range`, `psi_bins` PSI counters.
    pub fn new(range: (f64, f64), psi_bins: usize) -> WindowStats {
        WindowStats {
            requests: 0,
            unreadable: 0,
            alerts: 0,
            alerts_by_family: BTreeMap::new(),
            histogram: ScoreHistogram::new(range.0, range.1),
            psi_counts: vec![0; psi_bins],
        }
    }

    /// Counts one scored request whose score fell in PSI bin `psi_bin`.
    pub fn add(&mut self, score: f64, psi_bin: usize, alert: Option<&str>) {
        self.requests += 1;
        self.histogram.add(score);
        if let Some(count) = self.psi_counts.get_mut(psi_bin) {
            *count += 1;
        }
        if let Some(family) = alert {
            self.alerts += 1;
            match self.alerts_by_family.get_mut(family) {
                Some(count) => *count += 1,
                None => {
                    self.alerts_by_family.insert(family.to_owned(), 1);
                }
            }
        }
    }

    fn merge(&mut self, other: WindowStats) {
        self.requests += other.requests;
        self.unreadable += other.unreadable;
        self.alerts += other.alerts;
        for (family, count) in other.alerts_by_family {
            *self.alerts_by_family.entry(family).or_default() += count;
        }
        self.histogram.merge(&other.histogram);
        for (mine, theirs) in self.psi_counts.iter_mut().zip(other.psi_counts) {
            *mine += theirs;
        }
    }

    fn is_empty(&self) -> bool {
        self.requests == 0 && self.unreadable == 0
    }
}

/// The windows of one source, by start time.
#[derive(Debug, Clone)]
pub struct Windows {
    length_ms: i64,
    empty: WindowStats,
    by_start: BTreeMap<i64, WindowStats>,
    /// The window of the last timed record.
    current: Option<i64>,
    /// The window of the first timed record.
    first: Option<i64>,
    /// Records before any timed one.
    before_first: WindowStats,
    untimed: u64,
}

impl Windows {
    /// No window yet; each new one is a copy of `empty`. `length_ms` must be positive.
    pub fn new(length_ms: i64, empty: WindowStats) -> Windows {
        Windows {
            length_ms: length_ms.max(1),
            before_first: empty.clone(),
            empty,
            by_start: BTreeMap::new(),
            current: None,
            first: None,
            untimed: 0,
        }
    }

    /// The start of the window holding `time_ms` (floored, also before 1970).
    pub fn start_of(&self, time_ms: i64) -> i64 {
        time_ms.div_euclid(self.length_ms) * self.length_ms
    }

    /// The window a record at `time_ms` (or without a time) counts in.
    pub fn slot(&mut self, time_ms: Option<i64>) -> &mut WindowStats {
        let start = match time_ms {
            Some(time) => {
                let start = self.start_of(time);
                self.current = Some(start);
                self.first.get_or_insert(start);
                start
            }
            None => {
                self.untimed += 1;
                match self.current {
                    Some(start) => start,
                    None => return &mut self.before_first,
                }
            }
        };
        self.by_start
            .entry(start)
            .or_insert_with(|| self.empty.clone())
    }

    /// Removes the windows that start before `until_ms` and gives them in time order: a live
    /// source's windows, taken as they close (its records all have a time).
    pub fn take_before(&mut self, until_ms: i64) -> Vec<(i64, WindowStats)> {
        let later = self.by_start.split_off(&until_ms);
        std::mem::replace(&mut self.by_start, later)
            .into_iter()
            .collect()
    }

    /// A window that counted nothing.
    pub fn empty(&self) -> WindowStats {
        self.empty.clone()
    }

    /// Records that came without a time.
    pub fn untimed(&self) -> u64 {
        self.untimed
    }

    /// The windows in time order, the records before the first timed one counted in its window;
    /// empty when no record had a time.
    pub fn into_sorted(mut self) -> Vec<(i64, WindowStats)> {
        if let Some(first) = self.first.and_then(|start| self.by_start.get_mut(&start))
            && !self.before_first.is_empty()
        {
            first.merge(self.before_first);
        }
        self.by_start.into_iter().collect()
    }
}

/// A window's start as people read it (UTC): the date for windows of whole days, the date and
/// time to the minute for windows of whole minutes, else to the second.
/// Times past chrono's range (beyond ±262,000 years) are clamped to it.
pub fn label(start_ms: i64, length_ms: i64) -> String {
    let start = DateTime::from_timestamp_millis(start_ms).unwrap_or(if start_ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    let format = if length_ms % 86_400_000 == 0 {
        "%Y-%m-%d"
    } else if length_ms % 60_000 == 0 {
        "%Y-%m-%d %H:%M"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    start.format(format).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn windows() -> Windows {
        Windows::new(HOUR, WindowStats::new((0.0, 1.0), 2))
    }

    #[test]
    fn records_land_in_the_window_of_their_own_time_even_out_of_order() {
        let mut windows = windows();
        for time in [
            10 * HOUR + 5,
            12 * HOUR + 1,
            10 * HOUR + 7,
            11 * HOUR,
            10 * HOUR,
        ] {
            windows.slot(Some(time)).add(0.5, 0, None);
        }
        let sorted = windows.into_sorted();
        let counts: Vec<(i64, u64)> = sorted.iter().map(|(s, w)| (*s, w.requests)).collect();
        assert_eq!(counts, vec![(10 * HOUR, 3), (11 * HOUR, 1), (12 * HOUR, 1)]);
    }

    #[test]
    fn untimed_records_follow_the_last_timed_one_or_join_the_first_window() {
        let mut windows = windows();
        windows.slot(None).unreadable += 1;
        windows.slot(Some(5 * HOUR)).add(0.1, 0, None);
        windows.slot(Some(7 * HOUR)).add(0.9, 1, Some("sqli"));
        windows.slot(None).unreadable += 1;
        windows.slot(None).add(0.2, 0, Some("xss"));
        assert_eq!(windows.untimed(), 3);
        let sorted = windows.into_sorted();
        assert_eq!(sorted[0].0, 5 * HOUR);
        assert_eq!((sorted[0].1.requests, sorted[0].1.unreadable), (1, 1));
        let last = &sorted[1].1;
        assert_eq!((last.requests, last.unreadable, last.alerts), (2, 1, 2));
        assert_eq!(last.alerts_by_family.get("sqli"), Some(&1));
        assert_eq!(last.psi_counts, vec![1, 1]);
    }

    #[test]
    fn windows_start_on_multiples_of_their_length_before_the_epoch_too() {
        let windows = windows();
        assert_eq!(windows.start_of(HOUR + 1), HOUR);
        assert_eq!(windows.start_of(-1), -HOUR);
    }

    #[test]
    fn labels_read_as_utc_dates() {
        assert_eq!(label(951_782_400_000, 86_400_000), "2000-02-29");
        assert_eq!(label(951_782_400_000 + 13 * HOUR, HOUR), "2000-02-29 13:00");
        assert_eq!(
            label(951_782_400_000 + 13 * HOUR + 62_000, 2_000),
            "2000-02-29 13:01:02"
        );
        // Before 1970 (1600-02-29 23:59:58, a leap day), seconds counted down from the day's end.
        let leap_1600 = -11_670_912_002_000;
        assert_eq!(label(leap_1600, 86_400_000), "1600-02-29");
        assert_eq!(label(leap_1600, 60_000), "1600-02-29 23:59");
        assert_eq!(label(leap_1600 + 1_500, 1_000), "1600-02-29 23:59:59");
        assert_eq!(label(-1, 1_000), "1969-12-31 23:59:59");
    }

    #[test]
    fn closed_windows_are_taken_in_order_and_later_ones_stay() {
        let mut windows = windows();
        for time in [3 * HOUR, HOUR + 5, 2 * HOUR, HOUR] {
            windows.slot(Some(time)).add(0.5, 0, None);
        }
        let taken = windows.take_before(3 * HOUR);
        let counts: Vec<(i64, u64)> = taken.iter().map(|(s, w)| (*s, w.requests)).collect();
        assert_eq!(counts, vec![(HOUR, 2), (2 * HOUR, 1)]);
        assert!(windows.take_before(3 * HOUR).is_empty());
        assert_eq!(windows.into_sorted().len(), 1);
    }

    #[test]
    fn no_timed_record_means_no_window() {
        let mut windows = windows();
        windows.slot(None).add(0.5, 0, None);
        assert!(windows.into_sorted().is_empty());
    }
}
