//! Dataset statistics as tables (CSV, via polars) and bar charts (PNG, via plotters).
//!
//! `vigie data stats NAME --out DIR` computes a [`DatasetStats`] from the deduplicated texts
//! and labels of a dataset, prints [`DatasetStats::summary`], and writes with
//! [`DatasetStats::write`]:
//!
//! * `class_counts.csv` / `.png`: rows per class before and after deduplication, with the
//!   duplicate rows and conflicting texts dropped;
//! * `length_summary.csv`: text length in characters per class: mean, min, p50, p90, p99, max;
//! * `length_histogram.csv` / `.png`: text lengths in 1-2-5 bins from `<10` to `100k+`;
//! * `top_scripts.csv` / `.png`: the [`TOP_SCRIPTS`] most targeted scripts ([`target_script`]);
//! * `attack_families.csv` / `.png`: rule-based attack families per class ([`attack_family`]).
//!
//! Empty inputs (no text, a class missing, no script found) give tables with a header and no
//! (or zero) rows and charts that say "no data", never an error.
//!
//! This module computes the statistics and prints the summary; `tables` builds the CSVs and
//! `charts` draws the PNGs.

mod charts;
mod tables;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::Serialize;
use vigie_charts::register_font;

use self::charts::ChartDrawer;
use self::tables::{TableBuilder, write_csv};
use crate::error::{DataError, Result};
use crate::features::{AttackFamily, attack_family, target_script};
use crate::label::Label;

/// How many scripts the tables and charts list.
pub const TOP_SCRIPTS: usize = 20;

/// How many scripts [`DatasetStats::summary`] prints.
const SUMMARY_SCRIPTS: usize = 10;

/// Lower bounds (inclusive, in characters) of the length histogram bins, a 1-2-5 series: fine
/// where requests usually are (tens to hundreds of characters), coarse up to the 100k+ outliers.
const LENGTH_BIN_STARTS: [usize; 14] = [
    0, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000,
];

/// Rows per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClassCounts {
    pub benign: usize,
    pub malicious: usize,
}

impl ClassCounts {
    /// Counts the labels of a slice.
    pub fn from_labels(labels: &[Label]) -> ClassCounts {
        let mut counts = ClassCounts::default();
        for &label in labels {
            counts.add(label, 1);
        }
        counts
    }

    /// Both classes together.
    pub fn total(&self) -> usize {
        self.benign + self.malicious
    }

    /// The count of one class.
    pub fn get(&self, label: Label) -> usize {
        match label {
            Label::Benign => self.benign,
            Label::Malicious => self.malicious,
        }
    }

    fn add(&mut self, label: Label, count: usize) {
        match label {
            Label::Benign => self.benign += count,
            Label::Malicious => self.malicious += count,
        }
    }
}

/// What [`DatasetStats::compute`] describes.
#[derive(Debug, Clone, Copy)]
pub struct StatsInput<'a> {
    /// Dataset name, used in titles.
    pub dataset: &'a str,
    /// Rows per class as loaded, before deduplication.
    pub before_dedup: ClassCounts,
    /// Rows dropped because the same text already appeared with the same label.
    pub duplicate_rows_dropped: usize,
    /// Texts dropped because they appeared with both labels.
    pub conflicting_texts_dropped: usize,
    /// Texts after deduplication, parallel to `labels` (extra items of the longer slice are
    /// ignored).
    pub texts: &'a [String],
    /// Labels after deduplication.
    pub labels: &'a [Label],
}

/// Text lengths (in characters) of one class, or of all texts.
///
/// Percentiles use the nearest-rank method: `pN` is the smallest length such that at least
/// N % of the texts are not longer. Every statistic is `None` when there is no text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LengthSummary {
    /// `benign`, `malicious` or `all`.
    pub class: &'static str,
    pub count: usize,
    pub mean: Option<f64>,
    pub min: Option<usize>,
    pub p50: Option<usize>,
    pub p90: Option<usize>,
    pub p99: Option<usize>,
    pub max: Option<usize>,
}

impl LengthSummary {
    /// Summarises lengths that are already sorted in ascending order.
    fn from_sorted(class: &'static str, sorted: &[usize]) -> LengthSummary {
        let count = sorted.len();
        let percentile = |p: usize| -> Option<usize> {
            // Nearest rank: ceil(p / 100 * n), 1-based.
            let rank = (p * count).div_ceil(100).max(1);
            sorted.get(rank - 1).copied()
        };
        let mean =
            (count > 0).then(|| sorted.iter().map(|&len| len as f64).sum::<f64>() / count as f64);
        LengthSummary {
            class,
            count,
            mean,
            min: sorted.first().copied(),
            p50: percentile(50),
            p90: percentile(90),
            p99: percentile(99),
            max: sorted.last().copied(),
        }
    }
}

/// One bin of the text length histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LengthBin {
    /// Short display name (`50-99`, `1k-2k`, `100k+`).
    pub bin: String,
    /// Shortest length in the bin (characters, inclusive).
    pub min_chars: usize,
    /// Longest length in the bin (inclusive); `None` for the last, open bin.
    pub max_chars: Option<usize>,
    pub counts: ClassCounts,
}

/// How often one script is targeted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptCount {
    pub script: String,
    pub counts: ClassCounts,
}

/// How many texts of each class fall into one attack family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FamilyCount {
    pub family: AttackFamily,
    pub counts: ClassCounts,
}

/// Everything `vigie data stats` reports about a dataset (serialised for `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetStats {
    pub dataset: String,
    pub before_dedup: ClassCounts,
    pub after_dedup: ClassCounts,
    pub duplicate_rows_dropped: usize,
    pub conflicting_texts_dropped: usize,
    /// Benign, malicious, all (in this order).
    pub lengths: Vec<LengthSummary>,
    /// Every bin, empty ones included, shortest first.
    pub length_histogram: Vec<LengthBin>,
    /// Distinct scripts over the whole dataset.
    pub distinct_scripts: usize,
    /// Texts whose path ends in no file name with an extension.
    pub texts_without_script: ClassCounts,
    /// The [`TOP_SCRIPTS`] most targeted scripts, most frequent first (ties by name).
    pub top_scripts: Vec<ScriptCount>,
    /// One row per [`AttackFamily`], in [`AttackFamily::ALL`] order.
    pub attack_families: Vec<FamilyCount>,
}

impl DatasetStats {
    /// Computes every statistic in one pass over the texts (plus sorting the lengths).
    pub fn compute(input: &StatsInput<'_>) -> DatasetStats {
        let mut lengths_by_class: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        let mut after_dedup = ClassCounts::default();
        let mut texts_without_script = ClassCounts::default();
        let mut scripts: FxHashMap<&str, ClassCounts> = FxHashMap::default();
        let mut families = [ClassCounts::default(); AttackFamily::ALL.len()];

        for (text, &label) in input.texts.iter().zip(input.labels) {
            after_dedup.add(label, 1);
            lengths_by_class[class_index(label)].push(text.chars().count());
            match target_script(text) {
                Some(script) => scripts.entry(script).or_default().add(label, 1),
                None => texts_without_script.add(label, 1),
            }
            families[family_index(attack_family(text))].add(label, 1);
        }

        let length_histogram = length_histogram(&lengths_by_class);
        for lengths in &mut lengths_by_class {
            lengths.sort_unstable();
        }
        let [benign_lengths, malicious_lengths] = &lengths_by_class;
        let mut all_lengths = Vec::with_capacity(benign_lengths.len() + malicious_lengths.len());
        all_lengths.extend_from_slice(benign_lengths);
        all_lengths.extend_from_slice(malicious_lengths);
        all_lengths.sort_unstable();
        let lengths = vec![
            LengthSummary::from_sorted(Label::Benign.name(), benign_lengths),
            LengthSummary::from_sorted(Label::Malicious.name(), malicious_lengths),
            LengthSummary::from_sorted("all", &all_lengths),
        ];

        let distinct_scripts = scripts.len();
        let mut ranked: Vec<(&str, ClassCounts)> = scripts.into_iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.total().cmp(&a.1.total()).then_with(|| a.0.cmp(b.0)));
        let top_scripts = ranked
            .into_iter()
            .take(TOP_SCRIPTS)
            .map(|(script, counts)| ScriptCount {
                script: script.to_owned(),
                counts,
            })
            .collect();

        let attack_families = AttackFamily::ALL
            .into_iter()
            .zip(families)
            .map(|(family, counts)| FamilyCount { family, counts })
            .collect();

        DatasetStats {
            dataset: input.dataset.to_owned(),
            before_dedup: input.before_dedup,
            after_dedup,
            duplicate_rows_dropped: input.duplicate_rows_dropped,
            conflicting_texts_dropped: input.conflicting_texts_dropped,
            lengths,
            length_histogram,
            distinct_scripts,
            texts_without_script,
            top_scripts,
            attack_families,
        }
    }

    /// Benign texts matched by an attack rule: a label-noise indicator.
    pub fn benign_matching_attack_rules(&self) -> usize {
        self.attack_families
            .iter()
            .filter(|row| row.family != AttackFamily::Other)
            .map(|row| row.counts.benign)
            .sum()
    }

    /// Writes the tables and charts into `out_dir` (created if needed) and returns the paths
    /// written: five CSV tables, then four PNG charts.
    pub fn write(&self, out_dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(out_dir)
            .map_err(|err| DataError::io(out_dir, "cannot create the report directory", err))?;
        let mut written = Vec::with_capacity(9);

        let tables: [(&str, TableBuilder); 5] = [
            ("class_counts.csv", Self::class_counts_table),
            ("length_summary.csv", Self::length_summary_table),
            ("length_histogram.csv", Self::length_histogram_table),
            ("top_scripts.csv", Self::top_scripts_table),
            ("attack_families.csv", Self::attack_families_table),
        ];
        for (file_name, build) in tables {
            let path = out_dir.join(file_name);
            let mut table = build(self).map_err(|err| report_error(&path, err))?;
            write_csv(&path, &mut table)?;
            written.push(path);
        }

        let charts: [(&str, ChartDrawer); 4] = [
            ("class_counts.png", Self::class_counts_chart),
            ("length_histogram.png", Self::length_histogram_chart),
            ("top_scripts.png", Self::top_scripts_chart),
            ("attack_families.png", Self::attack_families_chart),
        ];
        register_font().map_err(|message| DataError::Report {
            path: out_dir.to_path_buf(),
            message,
        })?;
        for (file_name, draw) in charts {
            let path = out_dir.join(file_name);
            draw(self, &path).map_err(|err| report_error(&path, err))?;
            written.push(path);
        }
        Ok(written)
    }

    /// A short description for the terminal: counts, lengths, top scripts and attack families.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail: the fmt::Results below are always Ok.
        let after = self.after_dedup;
        let _ = writeln!(
            out,
            "Dataset {}: {} texts after deduplication: {} benign, {} malicious ({} malicious)",
            self.dataset,
            after.total(),
            after.benign,
            after.malicious,
            percent(after.malicious, after.total()),
        );
        let before = self.before_dedup;
        let _ = writeln!(
            out,
            "  before deduplication: {} ({} benign, {} malicious); \
             dropped {} duplicate rows and {} conflicting texts",
            before.total(),
            before.benign,
            before.malicious,
            self.duplicate_rows_dropped,
            self.conflicting_texts_dropped,
        );

        let _ = writeln!(out, "\nText length (characters):");
        let _ = writeln!(
            out,
            "  {:<10} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7} {:>9}",
            "class", "count", "mean", "min", "p50", "p90", "p99", "max"
        );
        for row in &self.lengths {
            let _ = writeln!(
                out,
                "  {:<10} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7} {:>9}",
                row.class,
                row.count,
                row.mean
                    .map_or_else(|| "-".to_owned(), |mean| format!("{mean:.1}")),
                optional(row.min),
                optional(row.p50),
                optional(row.p90),
                optional(row.p99),
                optional(row.max),
            );
        }

        let _ = writeln!(
            out,
            "\nTargeted scripts: {} distinct; {} texts ({}) target none",
            self.distinct_scripts,
            self.texts_without_script.total(),
            percent(self.texts_without_script.total(), after.total()),
        );
        if !self.top_scripts.is_empty() {
            let width = self
                .top_scripts
                .iter()
                .take(SUMMARY_SCRIPTS)
                .map(|row| row.script.chars().count().min(40))
                .max()
                .unwrap_or(0)
                .max("script".len());
            let _ = writeln!(
                out,
                "  {:<width$} {:>9} {:>9}",
                "script", "benign", "malicious"
            );
            for row in self.top_scripts.iter().take(SUMMARY_SCRIPTS) {
                let _ = writeln!(
                    out,
                    "  {:<width$} {:>9} {:>9}",
                    shorten(&row.script, 40),
                    row.counts.benign,
                    row.counts.malicious,
                );
            }
        }

        let _ = writeln!(out, "\nAttack families (rule-based):");
        let _ = writeln!(out, "  {:<15} {:>9} {:>9}", "family", "benign", "malicious");
        for row in &self.attack_families {
            let _ = writeln!(
                out,
                "  {:<15} {:>9} {:>9}",
                row.family.name(),
                row.counts.benign,
                row.counts.malicious,
            );
        }
        let noisy = self.benign_matching_attack_rules();
        if noisy > 0 {
            let _ = writeln!(
                out,
                "  note: {noisy} benign texts ({}) match an attack rule: possible label noise \
                 (or rule false positives), worth a look",
                percent(noisy, after.benign),
            );
        }
        out
    }
}

fn class_index(label: Label) -> usize {
    match label {
        Label::Benign => 0,
        Label::Malicious => 1,
    }
}

/// Position of `family` in [`AttackFamily::ALL`], which lists the variants in declaration order.
fn family_index(family: AttackFamily) -> usize {
    family as usize
}

/// Counts unsorted lengths per class into the [`LENGTH_BIN_STARTS`] bins.
fn length_histogram(lengths_by_class: &[Vec<usize>; 2]) -> Vec<LengthBin> {
    let mut bins: Vec<LengthBin> = LENGTH_BIN_STARTS
        .iter()
        .enumerate()
        .map(|(index, &min_chars)| {
            let max_chars = LENGTH_BIN_STARTS.get(index + 1).map(|next| next - 1);
            let bin = match max_chars {
                _ if min_chars == 0 => format!("<{}", short_count(LENGTH_BIN_STARTS[1])),
                // `1k-2k` reads better than `1000-1999`; the CSV has the exact bounds.
                Some(max) if min_chars >= 1_000 => {
                    format!("{}-{}", short_count(min_chars), short_count(max + 1))
                }
                Some(max) => format!("{min_chars}-{max}"),
                None => format!("{}+", short_count(min_chars)),
            };
            LengthBin {
                bin,
                min_chars,
                max_chars,
                counts: ClassCounts::default(),
            }
        })
        .collect();
    for (label, lengths) in Label::ALL.into_iter().zip(lengths_by_class) {
        for &length in lengths {
            // Index of the last bin starting at or below `length`; the first bin starts at 0.
            let index = LENGTH_BIN_STARTS.partition_point(|&start| start <= length) - 1;
            if let Some(bin) = bins.get_mut(index) {
                bin.counts.add(label, 1);
            }
        }
    }
    bins
}

/// `1000` → `1k`, `20000` → `20k`; smaller numbers unchanged.
fn short_count(count: usize) -> String {
    if count >= 1_000 && count.is_multiple_of(1_000) {
        format!("{}k", count / 1_000)
    } else {
        count.to_string()
    }
}

/// `part` as a percentage of `whole`, `None` when `whole` is zero.
fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// `12.3%`, or `-` when the whole is zero.
fn percent(part: usize, whole: usize) -> String {
    share(part, whole).map_or_else(|| "-".to_owned(), |pct| format!("{pct:.1}%"))
}

fn optional(value: Option<usize>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}

/// Cuts long names to `max_chars` characters, with an ellipsis.
fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    short.push('…');
    short
}

fn report_error(path: &Path, err: impl std::fmt::Display) -> DataError {
    DataError::Report {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

#[cfg(test)]
mod tests;
