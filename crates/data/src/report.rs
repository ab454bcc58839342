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

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use polars::prelude::{Column, CsvWriter, DataFrame, PolarsResult, SerWriter};
use rustc_hash::FxHashMap;
use serde::Serialize;
use vigie_charts::{
    BENIGN_COLOR, BENIGN_LIGHT_COLOR, CHART_SIZE, DrawResult, FONT, MALICIOUS_COLOR,
    MALICIOUS_LIGHT_COLOR, draw_no_data, register_font,
};

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

    fn class_counts_table(&self) -> PolarsResult<DataFrame> {
        let (before, after) = (self.before_dedup, self.after_dedup);
        let stages = [
            "before_dedup",
            "after_dedup",
            "duplicate_rows_dropped",
            "conflicting_texts_dropped",
        ];
        DataFrame::new_infer_height(vec![
            Column::new("stage".into(), stages),
            Column::new(
                "benign".into(),
                [
                    Some(count_u64(before.benign)),
                    Some(count_u64(after.benign)),
                    None,
                    None,
                ],
            ),
            Column::new(
                "malicious".into(),
                [
                    Some(count_u64(before.malicious)),
                    Some(count_u64(after.malicious)),
                    None,
                    None,
                ],
            ),
            Column::new(
                "total".into(),
                [
                    count_u64(before.total()),
                    count_u64(after.total()),
                    count_u64(self.duplicate_rows_dropped),
                    count_u64(self.conflicting_texts_dropped),
                ],
            ),
        ])
    }

    fn length_summary_table(&self) -> PolarsResult<DataFrame> {
        let column = |name: &str, value: fn(&LengthSummary) -> Option<usize>| {
            let values: Vec<Option<u64>> = self
                .lengths
                .iter()
                .map(|row| value(row).map(count_u64))
                .collect();
            Column::new(name.into(), values)
        };
        DataFrame::new_infer_height(vec![
            Column::new(
                "class".into(),
                self.lengths.iter().map(|row| row.class).collect::<Vec<_>>(),
            ),
            column("count", |row| Some(row.count)),
            Column::new(
                "mean".into(),
                self.lengths.iter().map(|row| row.mean).collect::<Vec<_>>(),
            ),
            column("min", |row| row.min),
            column("p50", |row| row.p50),
            column("p90", |row| row.p90),
            column("p99", |row| row.p99),
            column("max", |row| row.max),
        ])
    }

    fn length_histogram_table(&self) -> PolarsResult<DataFrame> {
        let bins = &self.length_histogram;
        let (benign_total, malicious_total) = (self.after_dedup.benign, self.after_dedup.malicious);
        DataFrame::new_infer_height(vec![
            Column::new(
                "bin".into(),
                bins.iter().map(|bin| bin.bin.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "min_chars".into(),
                bins.iter()
                    .map(|bin| count_u64(bin.min_chars))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "max_chars".into(),
                bins.iter()
                    .map(|bin| bin.max_chars.map(count_u64))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "benign".into(),
                bins.iter()
                    .map(|bin| count_u64(bin.counts.benign))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "malicious".into(),
                bins.iter()
                    .map(|bin| count_u64(bin.counts.malicious))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "benign_pct".into(),
                bins.iter()
                    .map(|bin| share(bin.counts.benign, benign_total))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "malicious_pct".into(),
                bins.iter()
                    .map(|bin| share(bin.counts.malicious, malicious_total))
                    .collect::<Vec<_>>(),
            ),
        ])
    }

    fn top_scripts_table(&self) -> PolarsResult<DataFrame> {
        let rows = &self.top_scripts;
        DataFrame::new_infer_height(vec![
            Column::new(
                "rank".into(),
                (1..=count_u64(rows.len())).collect::<Vec<u64>>(),
            ),
            Column::new(
                "script".into(),
                rows.iter()
                    .map(|row| row.script.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "benign".into(),
                rows.iter()
                    .map(|row| count_u64(row.counts.benign))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "malicious".into(),
                rows.iter()
                    .map(|row| count_u64(row.counts.malicious))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "total".into(),
                rows.iter()
                    .map(|row| count_u64(row.counts.total()))
                    .collect::<Vec<_>>(),
            ),
        ])
    }

    fn attack_families_table(&self) -> PolarsResult<DataFrame> {
        let rows = &self.attack_families;
        let (benign_total, malicious_total) = (self.after_dedup.benign, self.after_dedup.malicious);
        DataFrame::new_infer_height(vec![
            Column::new(
                "family".into(),
                rows.iter().map(|row| row.family.name()).collect::<Vec<_>>(),
            ),
            Column::new(
                "benign".into(),
                rows.iter()
                    .map(|row| count_u64(row.counts.benign))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "malicious".into(),
                rows.iter()
                    .map(|row| count_u64(row.counts.malicious))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "total".into(),
                rows.iter()
                    .map(|row| count_u64(row.counts.total()))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "benign_pct".into(),
                rows.iter()
                    .map(|row| share(row.counts.benign, benign_total))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "malicious_pct".into(),
                rows.iter()
                    .map(|row| share(row.counts.malicious, malicious_total))
                    .collect::<Vec<_>>(),
            ),
        ])
    }

    fn class_counts_chart(&self, path: &Path) -> DrawResult {
        let categories: Vec<String> = Label::ALL
            .iter()
            .map(|label| label.name().to_owned())
            .collect();
        let series = [
            BarSeries {
                name: "before deduplication",
                colors: [BENIGN_LIGHT_COLOR, MALICIOUS_LIGHT_COLOR],
                values: Label::ALL
                    .iter()
                    .map(|&label| self.before_dedup.get(label) as f64)
                    .collect(),
            },
            BarSeries {
                name: "after deduplication",
                colors: [BENIGN_COLOR, MALICIOUS_COLOR],
                values: Label::ALL
                    .iter()
                    .map(|&label| self.after_dedup.get(label) as f64)
                    .collect(),
            },
        ];
        grouped_bar_chart(
            path,
            &BarChart {
                title: format!("{}: texts per class", self.dataset),
                x_desc: "class",
                y_desc: "texts",
                categories: &categories,
                series: &series,
                log_y: false,
                // Colours follow the class (x axis) here, so the legend names the shade instead.
                color_by_category: true,
                exact_values: true,
            },
        )
    }

    fn length_histogram_chart(&self, path: &Path) -> DrawResult {
        let categories: Vec<String> = self
            .length_histogram
            .iter()
            .map(|bin| bin.bin.clone())
            .collect();
        let series = class_series(self.length_histogram.iter().map(|bin| bin.counts));
        grouped_bar_chart(
            path,
            &BarChart {
                title: format!("{}: text length per class", self.dataset),
                x_desc: "length (characters)",
                y_desc: "texts (log scale)",
                categories: &categories,
                series: &series,
                log_y: true,
                color_by_category: false,
                exact_values: false,
            },
        )
    }

    fn attack_families_chart(&self, path: &Path) -> DrawResult {
        let categories: Vec<String> = self
            .attack_families
            .iter()
            .map(|row| row.family.name().to_owned())
            .collect();
        let series = class_series(self.attack_families.iter().map(|row| row.counts));
        grouped_bar_chart(
            path,
            &BarChart {
                title: format!("{}: attack families per class (rule-based)", self.dataset),
                x_desc: "attack family",
                y_desc: "texts (log scale)",
                categories: &categories,
                series: &series,
                log_y: true,
                color_by_category: false,
                exact_values: false,
            },
        )
    }

    fn top_scripts_chart(&self, path: &Path) -> DrawResult {
        let title = format!(
            "{}: most targeted scripts (top {} of {})",
            self.dataset,
            self.top_scripts.len(),
            self.distinct_scripts
        );
        let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let rows = &self.top_scripts;
        let max_total = rows.iter().map(|row| row.counts.total()).max().unwrap_or(0);
        if max_total == 0 {
            draw_no_data(&root, &title)?;
            root.present()?;
            return Ok(());
        }

        let labels: Vec<String> = rows.iter().map(|row| shorten(&row.script, 32)).collect();
        let longest_label = labels
            .iter()
            .map(|label| label.chars().count())
            .max()
            .unwrap_or(0);
        // About 8 px per character at the label font size, plus room for the ticks.
        let label_area = u32::try_from(longest_label * 8 + 20)
            .unwrap_or(300)
            .clamp(60, 300);
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, (FONT, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(label_area)
            .build_cartesian_2d(0f64..max_total as f64 * 1.12, Categories::new(rows.len()))?;
        // Rank 1 at the top: category index 0 is drawn at the bottom.
        let row_index = |rank: usize| (rows.len() - 1 - rank) as f64;
        let label_of = |y: &f64| -> String {
            let index = y.round();
            if (y - index).abs() > 1e-6 || index < 0.0 {
                return String::new();
            }
            rows.len()
                .checked_sub(1 + index as usize)
                .and_then(|rank| labels.get(rank))
                .cloned()
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .max_light_lines(4)
            .y_labels(rows.len())
            .y_label_formatter(&label_of)
            .x_label_formatter(&|x| format_count(*x))
            .x_desc("texts")
            .y_desc("script")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()?;

        let half_height = 0.38;
        chart
            .draw_series(rows.iter().enumerate().map(|(rank, row)| {
                let y = row_index(rank);
                Rectangle::new(
                    [
                        (0.0, y - half_height),
                        (row.counts.benign as f64, y + half_height),
                    ],
                    BENIGN_COLOR.filled(),
                )
            }))?
            .label("benign")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], BENIGN_COLOR.filled()));
        chart
            .draw_series(rows.iter().enumerate().map(|(rank, row)| {
                let y = row_index(rank);
                let start = row.counts.benign as f64;
                Rectangle::new(
                    [
                        (start, y - half_height),
                        (start + row.counts.malicious as f64, y + half_height),
                    ],
                    MALICIOUS_COLOR.filled(),
                )
            }))?
            .label("malicious")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 6), (x + 14, y + 6)], MALICIOUS_COLOR.filled())
            });
        let value_style =
            TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(rows.iter().enumerate().map(|(rank, row)| {
            let total = row.counts.total();
            Text::new(
                format!(" {}", format_count(total as f64)),
                (total as f64, row_index(rank)),
                value_style.clone(),
            )
        }))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font((FONT, 14))
            .draw()?;
        root.present()?;
        Ok(())
    }
}

/// Builds one table of [`DatasetStats::write`].
type TableBuilder = fn(&DatasetStats) -> PolarsResult<DataFrame>;

/// Draws one chart of [`DatasetStats::write`] into the given file.
type ChartDrawer = fn(&DatasetStats, &Path) -> DrawResult;

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

/// polars has no `usize` columns; counts always fit in `u64` on supported platforms.
fn count_u64(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
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

/// Axis and bar labels: `950`, `12.5k`, `3.2M`.
fn format_count(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    // One decimal below 10 (`2.5k`, `0.5`), none above (`12k`, `950`); never a bare `.0`.
    let decimals = usize::from(scaled.abs() < 10.0);
    let text = format!("{scaled:.decimals$}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}{suffix}")
}

fn report_error(path: &Path, err: impl std::fmt::Display) -> DataError {
    DataError::Report {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

fn write_csv(path: &Path, table: &mut DataFrame) -> Result<()> {
    let file = File::create(path).map_err(|err| DataError::io(path, "cannot create table", err))?;
    let mut writer = BufWriter::new(file);
    CsvWriter::new(&mut writer)
        .include_header(true)
        .with_float_precision(Some(3))
        .finish(table)
        .map_err(|err| report_error(path, err))?;
    writer
        .flush()
        .map_err(|err| DataError::io(path, "cannot write table", err))
}

/// One bar per category, e.g. the benign texts of every bin.
struct BarSeries {
    name: &'static str,
    /// Fill of the benign and malicious bars (see [`BarChart::color_by_category`]), or the
    /// same colour twice.
    colors: [RGBColor; 2],
    values: Vec<f64>,
}

/// The benign and malicious series of per-class counts.
fn class_series(counts: impl Iterator<Item = ClassCounts> + Clone) -> [BarSeries; 2] {
    [
        BarSeries {
            name: "benign",
            colors: [BENIGN_COLOR; 2],
            values: counts.clone().map(|c| c.benign as f64).collect(),
        },
        BarSeries {
            name: "malicious",
            colors: [MALICIOUS_COLOR; 2],
            values: counts.map(|c| c.malicious as f64).collect(),
        },
    ]
}

/// A vertical bar chart with one group of bars per category and one bar per series.
struct BarChart<'a> {
    title: String,
    x_desc: &'a str,
    y_desc: &'a str,
    categories: &'a [String],
    series: &'a [BarSeries],
    log_y: bool,
    /// Fill bars with the colour of their category (benign, malicious) rather than of their
    /// series; the legend then shows the benign shade of each series.
    color_by_category: bool,
    /// Label bars with exact counts (few, wide bars) rather than compact ones (`12k`).
    exact_values: bool,
}

fn grouped_bar_chart(path: &Path, spec: &BarChart<'_>) -> DrawResult {
    let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let max_value = spec
        .series
        .iter()
        .flat_map(|series| series.values.iter().copied())
        .fold(0.0_f64, f64::max);
    if spec.categories.is_empty() || max_value <= 0.0 {
        draw_no_data(&root, &spec.title)?;
        root.present()?;
        return Ok(());
    }

    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&spec.title, (FONT, 24))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70);
    let x_axis = Categories::new(spec.categories.len());
    let category_label = |x: &f64| -> String {
        let index = x.round();
        if (x - index).abs() > 1e-6 || index < 0.0 {
            return String::new();
        }
        spec.categories
            .get(index as usize)
            .cloned()
            .unwrap_or_default()
    };
    if spec.log_y {
        // Bars start just below 1 so that a count of 1 is still visible.
        let floor = 0.7;
        let mut chart = builder.build_cartesian_2d(x_axis, (floor..max_value * 8.0).log_scale())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(4)
            .x_labels(spec.categories.len())
            .x_label_formatter(&category_label)
            .y_label_formatter(&|y| format_count(*y))
            .x_desc(spec.x_desc)
            .y_desc(spec.y_desc)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()?;
        draw_bar_groups(&mut chart, spec, floor)?;
    } else {
        let mut chart = builder.build_cartesian_2d(x_axis, 0.0..max_value * 1.2)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(4)
            .x_labels(spec.categories.len())
            .x_label_formatter(&category_label)
            .y_label_formatter(&|y| format_count(*y))
            .x_desc(spec.x_desc)
            .y_desc(spec.y_desc)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()?;
        draw_bar_groups(&mut chart, spec, 0.0)?;
    }
    root.present()?;
    Ok(())
}

/// Draws the bars, their values and the legend on a chart of either y scale.
fn draw_bar_groups<'a, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<Categories, Y>>,
    spec: &BarChart<'_>,
    floor: f64,
) -> DrawResult
where
    Y: Ranged<ValueType = f64>,
{
    // Each category spans one unit; its bars share 80 % of it.
    let group_width = 0.8;
    let bar_width = group_width / spec.series.len().max(1) as f64;
    let value_style =
        TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (series_index, series) in spec.series.iter().enumerate() {
        let offset = -group_width / 2.0 + series_index as f64 * bar_width;
        let legend_color = series.colors[0];
        let bars = series
            .values
            .iter()
            .enumerate()
            .filter(|(_, value)| **value > 0.0);
        let color_of = |category: usize| {
            if spec.color_by_category {
                series.colors[category.min(1)]
            } else {
                series.colors[0]
            }
        };
        chart
            .draw_series(bars.clone().map(|(category, &value)| {
                let left = category as f64 + offset;
                Rectangle::new(
                    [(left + 0.02, floor), (left + bar_width - 0.02, value)],
                    color_of(category).filled(),
                )
            }))?
            .label(series.name)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 14, y + 6)], legend_color.filled())
            });
        chart.draw_series(bars.map(|(category, &value)| {
            let center = category as f64 + offset + bar_width / 2.0;
            let label = if spec.exact_values {
                format!("{value:.0}")
            } else {
                format_count(value)
            };
            Text::new(label, (center, value), value_style.clone())
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()?;
    Ok(())
}

/// A category axis: category `i` is centred on `i`, with one tick and label per category.
#[derive(Debug, Clone, Copy)]
struct Categories {
    count: usize,
}

impl Categories {
    fn new(count: usize) -> Categories {
        Categories {
            count: count.max(1),
        }
    }
}

impl Ranged for Categories {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let range = self.range();
        let fraction = (value - range.start) / (range.end - range.start);
        limit.0 + (f64::from(limit.1 - limit.0) * fraction).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max_points = hint.max_num_points();
        if max_points == 0 {
            return Vec::new();
        }
        let step = self.count.div_ceil(max_points).max(1);
        (0..self.count)
            .step_by(step)
            .map(|index| index as f64)
            .collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        -0.5..self.count as f64 - 0.5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|text| (*text).to_owned()).collect()
    }

    /// Five benign and four malicious texts with known lengths, scripts and families.
    fn sample() -> (Vec<String>, Vec<Label>) {
        let texts = strings(&[
            "/index.php?page=1",                                      // 17 chars, index.php
            "/index.php?page=2&lang=en",                              // 25, index.php
            "/img/logo.png",                                          // 13, logo.png
            "/about/",                                                // 7, none
            "GET http://localhost:8080/shop/cart.jsp?id=2 B1=Añadir", // 54 (ñ is one char), cart.jsp
            "/index.php?id=1 union select 1,2",                       // 32, index.php, sqli
            "/search.php?q=<script>alert(1)</script>",                // 39, search.php, xss
            "/dl.php?f=../../etc/passwd",                             // 26, dl.php, path traversal
            "/ping?ip=1;cat /etc/passwd",                             // 26, none, cmdi
        ]);
        let labels = [
            [Label::Benign; 5].as_slice(),
            [Label::Malicious; 4].as_slice(),
        ]
        .concat();
        (texts, labels)
    }

    fn sample_stats() -> DatasetStats {
        let (texts, labels) = sample();
        DatasetStats::compute(&StatsInput {
            dataset: "sample",
            before_dedup: ClassCounts {
                benign: 7,
                malicious: 5,
            },
            duplicate_rows_dropped: 1,
            conflicting_texts_dropped: 1,
            texts: &texts,
            labels: &labels,
        })
    }

    fn empty_stats() -> DatasetStats {
        DatasetStats::compute(&StatsInput {
            dataset: "empty",
            before_dedup: ClassCounts::default(),
            duplicate_rows_dropped: 0,
            conflicting_texts_dropped: 0,
            texts: &[],
            labels: &[],
        })
    }

    #[test]
    fn computes_counts_lengths_scripts_and_families() {
        let stats = sample_stats();
        assert_eq!(
            stats.after_dedup,
            ClassCounts {
                benign: 5,
                malicious: 4
            }
        );
        assert_eq!(stats.before_dedup.total(), 12);

        // Benign lengths sorted: 7 13 17 25 54; malicious: 26 26 32 39.
        let [benign, malicious, all] = stats.lengths.as_slice() else {
            panic!("three length rows expected");
        };
        assert_eq!(
            (
                benign.count,
                benign.min,
                benign.p50,
                benign.p90,
                benign.p99,
                benign.max
            ),
            (5, Some(7), Some(17), Some(54), Some(54), Some(54))
        );
        assert_eq!(benign.mean, Some(23.2));
        assert_eq!(
            (malicious.min, malicious.p50, malicious.p90, malicious.max),
            (Some(26), Some(26), Some(39), Some(39))
        );
        assert_eq!(malicious.mean, Some(30.75));
        // All 9 sorted: 7 13 17 25 26 26 32 39 54 → p50 = 5th = 26, p90 = 9th = 54.
        assert_eq!(
            (all.count, all.p50, all.p90, all.class),
            (9, Some(26), Some(54), "all")
        );

        let bin = |name: &str| {
            stats
                .length_histogram
                .iter()
                .find(|bin| bin.bin == name)
                .map(|bin| bin.counts)
                .unwrap()
        };
        assert_eq!(stats.length_histogram.len(), LENGTH_BIN_STARTS.len());
        assert_eq!(
            bin("<10"),
            ClassCounts {
                benign: 1,
                malicious: 0
            }
        );
        assert_eq!(
            bin("10-19"),
            ClassCounts {
                benign: 2,
                malicious: 0
            }
        );
        assert_eq!(
            bin("20-49"),
            ClassCounts {
                benign: 1,
                malicious: 4
            }
        );
        assert_eq!(
            bin("50-99"),
            ClassCounts {
                benign: 1,
                malicious: 0
            }
        );
        assert_eq!(bin("100k+"), ClassCounts::default());

        assert_eq!(stats.distinct_scripts, 5);
        assert_eq!(
            stats.texts_without_script,
            ClassCounts {
                benign: 1,
                malicious: 1
            }
        );
        let top: Vec<(&str, usize, usize)> = stats
            .top_scripts
            .iter()
            .map(|row| (row.script.as_str(), row.counts.benign, row.counts.malicious))
            .collect();
        assert_eq!(
            top,
            [
                ("index.php", 2, 1),
                ("cart.jsp", 1, 0),
                ("dl.php", 0, 1),
                ("logo.png", 1, 0),
                ("search.php", 0, 1),
            ]
        );

        let family = |family: AttackFamily| {
            stats
                .attack_families
                .iter()
                .find(|row| row.family == family)
                .map(|row| row.counts)
                .unwrap()
        };
        assert_eq!(
            family(AttackFamily::Sqli),
            ClassCounts {
                benign: 0,
                malicious: 1
            }
        );
        assert_eq!(
            family(AttackFamily::Xss),
            ClassCounts {
                benign: 0,
                malicious: 1
            }
        );
        assert_eq!(
            family(AttackFamily::PathTraversal),
            ClassCounts {
                benign: 0,
                malicious: 1
            }
        );
        assert_eq!(
            family(AttackFamily::Cmdi),
            ClassCounts {
                benign: 0,
                malicious: 1
            }
        );
        assert_eq!(
            family(AttackFamily::Other),
            ClassCounts {
                benign: 5,
                malicious: 0
            }
        );
        assert_eq!(stats.benign_matching_attack_rules(), 0);
    }

    #[test]
    fn top_scripts_are_capped_and_ranked() {
        let mut texts = Vec::new();
        for index in 0..30 {
            for _ in 0..=index {
                texts.push(format!("/s{index:02}.php"));
            }
        }
        let labels = vec![Label::Malicious; texts.len()];
        let stats = DatasetStats::compute(&StatsInput {
            dataset: "many",
            before_dedup: ClassCounts::from_labels(&labels),
            duplicate_rows_dropped: 0,
            conflicting_texts_dropped: 0,
            texts: &texts,
            labels: &labels,
        });
        assert_eq!(stats.distinct_scripts, 30);
        assert_eq!(stats.top_scripts.len(), TOP_SCRIPTS);
        assert_eq!(stats.top_scripts[0].script, "s29.php");
        assert_eq!(stats.top_scripts[0].counts.malicious, 30);
        assert_eq!(stats.top_scripts[19].script, "s10.php");
        assert!(stats.lengths[0].mean.is_none());
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let sorted: Vec<usize> = (1..=100).collect();
        let summary = LengthSummary::from_sorted("all", &sorted);
        assert_eq!(
            (summary.p50, summary.p90, summary.p99),
            (Some(50), Some(90), Some(99))
        );
        let single = LengthSummary::from_sorted("all", &[42]);
        assert_eq!(
            (single.min, single.p50, single.p99, single.max),
            (Some(42), Some(42), Some(42), Some(42))
        );
        let none = LengthSummary::from_sorted("all", &[]);
        assert_eq!((none.count, none.mean, none.p50), (0, None, None));
    }

    #[test]
    fn counts_are_formatted_compactly() {
        let cases = [
            (0.0, "0"),
            (0.5, "0.5"),
            (7.0, "7"),
            (950.0, "950"),
            (1_000.0, "1k"),
            (1_500.0, "1.5k"),
            (9_400.0, "9.4k"),
            (19_113.0, "19k"),
            (1_000_000.0, "1M"),
            (3_250_000.0, "3.2M"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_count(value), expected, "{value}");
        }
    }

    #[test]
    fn histogram_bins_cover_every_length() {
        let lengths = [vec![0, 9, 10, 99_999, 100_000, 5_000_000], vec![]];
        let bins = length_histogram(&lengths);
        assert_eq!(bins[0].counts.benign, 2);
        assert_eq!(bins[1].counts.benign, 1);
        assert_eq!(bins[12].bin, "50k-100k");
        assert_eq!(bins[12].max_chars, Some(99_999));
        assert_eq!(bins[12].counts.benign, 1);
        assert_eq!(bins[13].counts.benign, 2);
        assert_eq!(bins[13].max_chars, None);
        let names: Vec<&str> = bins.iter().map(|bin| bin.bin.as_str()).collect();
        assert_eq!(
            names,
            [
                "<10", "10-19", "20-49", "50-99", "100-199", "200-499", "500-999", "1k-2k",
                "2k-5k", "5k-10k", "10k-20k", "20k-50k", "50k-100k", "100k+"
            ]
        );
    }

    fn read_csv(path: &Path) -> (String, Vec<String>) {
        let content = std::fs::read_to_string(path).unwrap();
        let mut lines = content.lines().map(str::to_owned);
        let header = lines.next().unwrap_or_default();
        (header, lines.collect())
    }

    fn assert_png(path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{path:?} is not a PNG"
        );
        assert!(
            bytes.len() > 5_000,
            "{path:?} is only {} bytes",
            bytes.len()
        );
    }

    const EXPECTED_FILES: [&str; 9] = [
        "class_counts.csv",
        "length_summary.csv",
        "length_histogram.csv",
        "top_scripts.csv",
        "attack_families.csv",
        "class_counts.png",
        "length_histogram.png",
        "top_scripts.png",
        "attack_families.png",
    ];

    #[test]
    fn writes_every_table_and_chart() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested/report");
        let written = sample_stats().write(&out).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, EXPECTED_FILES);

        let expectations = [
            ("class_counts.csv", "stage,benign,malicious,total", 4),
            (
                "length_summary.csv",
                "class,count,mean,min,p50,p90,p99,max",
                3,
            ),
            (
                "length_histogram.csv",
                "bin,min_chars,max_chars,benign,malicious,benign_pct,malicious_pct",
                LENGTH_BIN_STARTS.len(),
            ),
            ("top_scripts.csv", "rank,script,benign,malicious,total", 5),
            (
                "attack_families.csv",
                "family,benign,malicious,total,benign_pct,malicious_pct",
                5,
            ),
        ];
        for (file, header, rows) in expectations {
            let (found_header, found_rows) = read_csv(&out.join(file));
            assert_eq!(found_header, header, "{file}");
            assert_eq!(found_rows.len(), rows, "{file}");
        }
        let (_, class_rows) = read_csv(&out.join("class_counts.csv"));
        assert_eq!(class_rows[0], "before_dedup,7,5,12");
        assert_eq!(class_rows[2], "duplicate_rows_dropped,,,1");
        let (_, script_rows) = read_csv(&out.join("top_scripts.csv"));
        assert_eq!(script_rows[0], "1,index.php,2,1,3");
        let (_, length_rows) = read_csv(&out.join("length_summary.csv"));
        assert_eq!(length_rows[0], "benign,5,23.200,7,17,54,54,54");

        for file in &EXPECTED_FILES[5..] {
            assert_png(&out.join(file));
        }
    }

    #[test]
    fn empty_input_gives_empty_tables_and_no_data_charts() {
        let stats = empty_stats();
        assert_eq!(stats.after_dedup.total(), 0);
        assert!(stats.top_scripts.is_empty());
        assert!(
            stats
                .lengths
                .iter()
                .all(|row| row.count == 0 && row.p50.is_none())
        );
        assert!(stats.summary().contains("0 texts"));

        let dir = tempfile::tempdir().unwrap();
        let written = stats.write(dir.path()).unwrap();
        assert_eq!(written.len(), EXPECTED_FILES.len());
        let (header, rows) = read_csv(&dir.path().join("top_scripts.csv"));
        assert_eq!(header, "rank,script,benign,malicious,total");
        assert!(rows.is_empty());
        let (_, rows) = read_csv(&dir.path().join("length_summary.csv"));
        assert_eq!(rows[0], "benign,0,,,,,,");
        for file in &EXPECTED_FILES[5..] {
            assert_png(&dir.path().join(file));
        }
    }

    #[test]
    fn one_class_and_no_script() {
        let texts = strings(&["/a/", "/b/", "/c?x=1"]);
        let labels = vec![Label::Benign; 3];
        let stats = DatasetStats::compute(&StatsInput {
            dataset: "benign-only",
            before_dedup: ClassCounts::from_labels(&labels),
            duplicate_rows_dropped: 0,
            conflicting_texts_dropped: 0,
            texts: &texts,
            labels: &labels,
        });
        assert_eq!(stats.after_dedup.malicious, 0);
        assert!(stats.top_scripts.is_empty());
        assert_eq!(stats.texts_without_script.benign, 3);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(stats.write(dir.path()).unwrap().len(), EXPECTED_FILES.len());
    }

    #[test]
    fn draws_names_outside_the_bundled_font() {
        let texts = strings(&["/测试.php", "/😀.jsp?x=1", "/a\u{200b}b.asp", "/ok.php"]);
        let labels = [
            Label::Benign,
            Label::Malicious,
            Label::Malicious,
            Label::Benign,
        ];
        let stats = DatasetStats::compute(&StatsInput {
            dataset: "ユニコード",
            before_dedup: ClassCounts::from_labels(&labels),
            duplicate_rows_dropped: 0,
            conflicting_texts_dropped: 0,
            texts: &texts,
            labels: &labels,
        });
        assert_eq!(stats.top_scripts.len(), 4);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(stats.write(dir.path()).unwrap().len(), EXPECTED_FILES.len());
        assert_png(&dir.path().join("top_scripts.png"));
    }

    #[test]
    fn summary_mentions_label_noise() {
        let texts = strings(&["/x.php?id=1 union select 1", "/index.html"]);
        let labels = [Label::Benign, Label::Malicious];
        let stats = DatasetStats::compute(&StatsInput {
            dataset: "noisy",
            before_dedup: ClassCounts::from_labels(&labels),
            duplicate_rows_dropped: 0,
            conflicting_texts_dropped: 0,
            texts: &texts,
            labels: &labels,
        });
        let summary = stats.summary();
        assert!(summary.contains("Dataset noisy: 2 texts"), "{summary}");
        assert!(summary.contains("label noise"), "{summary}");
        assert!(summary.contains("x.php"), "{summary}");
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["attack_families"][0]["family"], "sqli");
        assert_eq!(json["attack_families"][0]["counts"]["benign"], 1);
    }

    #[test]
    fn write_reports_unwritable_directory() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let err = sample_stats().write(&blocker.join("out")).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{err}");
    }
}
