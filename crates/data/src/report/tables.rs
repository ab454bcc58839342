//! The tables of a dataset report, as polars data frames written to CSV.

use std::fs::File;
use std::io::{BufWriter, Write as _};

use polars::prelude::{Column, CsvWriter, DataFrame, PolarsResult, SerWriter};

use super::*;

impl DatasetStats {
    pub(super) fn class_counts_table(&self) -> PolarsResult<DataFrame> {
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

    pub(super) fn length_summary_table(&self) -> PolarsResult<DataFrame> {
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

    pub(super) fn length_histogram_table(&self) -> PolarsResult<DataFrame> {
        let bins = &self.length_histogram;
        let counts: Vec<ClassCounts> = bins.iter().map(|bin| bin.counts).collect();
        let mut columns = vec![
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
        ];
        columns.extend(count_columns(&counts, false));
        columns.extend(share_columns(&counts, self.after_dedup));
        DataFrame::new_infer_height(columns)
    }

    pub(super) fn top_scripts_table(&self) -> PolarsResult<DataFrame> {
        let rows = &self.top_scripts;
        let counts: Vec<ClassCounts> = rows.iter().map(|row| row.counts).collect();
        let mut columns = vec![
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
        ];
        columns.extend(count_columns(&counts, true));
        DataFrame::new_infer_height(columns)
    }

    pub(super) fn attack_families_table(&self) -> PolarsResult<DataFrame> {
        let rows = &self.attack_families;
        let counts: Vec<ClassCounts> = rows.iter().map(|row| row.counts).collect();
        let mut columns = vec![Column::new(
            "family".into(),
            rows.iter().map(|row| row.family.name()).collect::<Vec<_>>(),
        )];
        columns.extend(count_columns(&counts, true));
        columns.extend(share_columns(&counts, self.after_dedup));
        DataFrame::new_infer_height(columns)
    }
}

/// The `benign` and `malicious` counts of each row, then their `total` when asked.
fn count_columns(counts: &[ClassCounts], with_total: bool) -> Vec<Column> {
    let column = |name: &str, count: fn(&ClassCounts) -> usize| {
        let values: Vec<u64> = counts.iter().map(|c| count_u64(count(c))).collect();
        Column::new(name.into(), values)
    };
    let mut columns = vec![
        column("benign", |c| c.benign),
        column("malicious", |c| c.malicious),
    ];
    if with_total {
        columns.push(column("total", ClassCounts::total));
    }
    columns
}

/// `benign_pct` and `malicious_pct`: each row's texts of a class as a share of all the texts
/// of that class (`totals`), empty when the class has none.
fn share_columns(counts: &[ClassCounts], totals: ClassCounts) -> [Column; 2] {
    let column = |name: &str, label: Label| {
        let values: Vec<Option<f64>> = counts
            .iter()
            .map(|c| share(c.get(label), totals.get(label)))
            .collect();
        Column::new(name.into(), values)
    };
    [
        column("benign_pct", Label::Benign),
        column("malicious_pct", Label::Malicious),
    ]
}

/// Builds one table of [`DatasetStats::write`].
pub(super) type TableBuilder = fn(&DatasetStats) -> PolarsResult<DataFrame>;

/// polars has no `usize` columns; counts always fit in `u64` on supported platforms.
fn count_u64(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}

pub(super) fn write_csv(path: &Path, table: &mut DataFrame) -> Result<()> {
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
