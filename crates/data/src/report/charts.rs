//! The charts of a dataset report: grouped bar charts drawn with plotters.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use vigie_charts::{
    BENIGN_COLOR, BENIGN_LIGHT_COLOR, CHART_SIZE, DrawResult, FONT, MALICIOUS_COLOR,
    MALICIOUS_LIGHT_COLOR, draw_legend, draw_no_data,
};

use super::*;

impl DatasetStats {
    pub(super) fn class_counts_chart(&self, path: &Path) -> DrawResult {
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

    pub(super) fn length_histogram_chart(&self, path: &Path) -> DrawResult {
        let bins = &self.length_histogram;
        self.class_counts_per_category(
            path,
            "text length per class",
            "length (characters)",
            bins.iter().map(|bin| (bin.bin.clone(), bin.counts)),
        )
    }

    pub(super) fn attack_families_chart(&self, path: &Path) -> DrawResult {
        let rows = &self.attack_families;
        self.class_counts_per_category(
            path,
            "attack families per class (rule-based)",
            "attack family",
            rows.iter()
                .map(|row| (row.family.name().to_owned(), row.counts)),
        )
    }

    /// A benign and a malicious bar per category, on a log scale.
    fn class_counts_per_category(
        &self,
        path: &Path,
        what: &str,
        x_desc: &'static str,
        rows: impl Iterator<Item = (String, ClassCounts)> + Clone,
    ) -> DrawResult {
        let categories: Vec<String> = rows.clone().map(|(category, _)| category).collect();
        let series = class_series(rows.map(|(_, counts)| counts));
        grouped_bar_chart(
            path,
            &BarChart {
                title: format!("{}: {what}", self.dataset),
                x_desc,
                y_desc: "texts (log scale)",
                categories: &categories,
                series: &series,
                log_y: true,
                color_by_category: false,
                exact_values: false,
            },
        )
    }

    pub(super) fn top_scripts_chart(&self, path: &Path) -> DrawResult {
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
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present()?;
        Ok(())
    }
}

/// Draws one chart of [`DatasetStats::write`] into the given file.
pub(super) type ChartDrawer = fn(&DatasetStats, &Path) -> DrawResult;

/// Axis and bar labels: `950`, `12.5k`, `3.2M`.
pub(super) fn format_count(value: f64) -> String {
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
    if spec.log_y {
        // Bars start just below 1 so that a count of 1 is still visible.
        let floor = 0.7;
        let mut chart = builder.build_cartesian_2d(x_axis, (floor..max_value * 8.0).log_scale())?;
        draw_bar_groups(&mut chart, spec, floor)?;
    } else {
        let mut chart = builder.build_cartesian_2d(x_axis, 0.0..max_value * 1.2)?;
        draw_bar_groups(&mut chart, spec, 0.0)?;
    }
    root.present()?;
    Ok(())
}

/// Draws the mesh (a label per category, compact counts), the bars, their values and the
/// legend on a chart of either y scale.
fn draw_bar_groups<'a, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<Categories, Y>>,
    spec: &BarChart<'_>,
    floor: f64,
) -> DrawResult
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
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
    draw_legend(chart, SeriesLabelPosition::UpperRight)?;
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
