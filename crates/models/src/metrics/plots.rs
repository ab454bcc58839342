//! PNG charts of a scored split, in the style of `vigie data stats` (bundled DejaVu Sans,
//! 1000x600, the same class colours): ROC curves (linear, and on a log FPR axis down to 1e-4,
//! where a SOC's alert budget lives), precision-recall curves, the confusion matrix, and the
//! score histogram of each class with the threshold.
//!
//! Every function writes one file and returns [`ModelError::Plot`] naming it when the file
//! cannot be drawn or written (e.g. its folder does not exist). Curves with no drawable point
//! (a class missing) give a chart that says "no data".

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use vigie_charts::{
    BENIGN_COLOR, CHART_SIZE, DrawResult, FONT, GUIDE_COLOR, MALICIOUS_COLOR, curve_color,
    draw_legend, draw_no_data,
};
use vigie_data::Label;

use super::{Confusion, PrCurve, RocCurve};
use crate::{ModelError, Result};

/// Size of the confusion matrix chart (square).
const MATRIX_SIZE: (u32, u32) = (700, 700);

/// Lowest FPR shown by [`roc_low_fpr_png`]; lower rates (0 included) are drawn on that edge.
const LOW_FPR_FLOOR: f64 = 1e-4;

/// Bins of [`score_histogram_png`].
const HISTOGRAM_BINS: usize = 50;

/// Registers the font, draws, and names `path` in any error.
fn draw_png(path: &Path, draw: impl FnOnce(&Path) -> DrawResult) -> Result<()> {
    vigie_charts::draw_png(path, draw).map_err(|message| ModelError::Plot {
        path: path.to_owned(),
        message,
    })
}

/// ROC curves on linear axes (FPR and TPR from 0 to 1), one per `(label, curve)`, with the
/// chance diagonal; the legend gives each curve's AUC.
pub fn roc_png(path: &Path, curves: &[(&str, &RocCurve)]) -> Result<()> {
    draw_png(path, |path| {
        let title = "ROC curve";
        let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let series = roc_series(curves, 0.0);
        if series.iter().all(|(_, points)| points.is_empty()) {
            draw_no_data(&root, title)?;
            root.present()?;
            return Ok(());
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 24))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .max_light_lines(4)
            .x_desc("false positive rate")
            .y_desc("true positive rate")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()?;
        draw_guide(&mut chart, vec![(0.0, 0.0), (1.0, 1.0)])?;
        draw_curves(&mut chart, &series)?;
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present()?;
        Ok(())
    })
}

/// ROC curves with the FPR on a log axis from 1e-4 to 1 (lower rates, 0 included, are drawn on
/// the left edge), with guides at FPR 1e-3 and 1e-2: the region a SOC can afford.
pub fn roc_low_fpr_png(path: &Path, curves: &[(&str, &RocCurve)]) -> Result<()> {
    draw_png(path, |path| {
        let title = "ROC curve at low false positive rates";
        let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let series = roc_series(curves, LOW_FPR_FLOOR);
        if series.iter().all(|(_, points)| points.is_empty()) {
            draw_no_data(&root, title)?;
            root.present()?;
            return Ok(());
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 24))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d((LOW_FPR_FLOOR..1.0).log_scale(), 0.0..1.0)?;
        chart
            .configure_mesh()
            .max_light_lines(4)
            .x_label_formatter(&|x| format!("{x:.0e}"))
            .x_desc("false positive rate (log scale)")
            .y_desc("true positive rate")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()?;
        for guide in [1e-3, 1e-2] {
            draw_guide(&mut chart, vec![(guide, 0.0), (guide, 1.0)])?;
        }
        draw_curves(&mut chart, &series)?;
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present()?;
        Ok(())
    })
}

/// Precision-recall curves (recall on x), one per `(label, curve)`, drawn as the steps that
/// average precision sums; the legend gives each curve's AP.
pub fn pr_png(path: &Path, curves: &[(&str, &PrCurve)]) -> Result<()> {
    draw_png(path, |path| {
        let title = "Precision-recall curve";
        let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let series: Vec<(String, Vec<(f64, f64)>)> = curves
            .iter()
            .map(|(label, curve)| {
                let points = pr_steps(curve);
                let name = format!("{label} (AP {:.4})", curve.average_precision());
                (name, points)
            })
            .collect();
        if series.iter().all(|(_, points)| points.is_empty()) {
            draw_no_data(&root, title)?;
            root.present()?;
            return Ok(());
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 24))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.0, 0.0..1.02)?;
        chart
            .configure_mesh()
            .max_light_lines(4)
            .x_desc("recall")
            .y_desc("precision")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()?;
        draw_curves(&mut chart, &series)?;
        draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        root.present()?;
        Ok(())
    })
}

/// The 2x2 confusion matrix (rows: actual class, columns: predicted class) with counts and row
/// percentages; correct cells are shaded blue and errors red, darker for a larger share of the
/// row.
pub fn confusion_png(path: &Path, confusion: &Confusion, title: &str) -> Result<()> {
    draw_png(path, |path| {
        let root = BitMapBackend::new(path, MATRIX_SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let text = |size: u32, color: &'static RGBColor, h: HPos| {
            TextStyle::from((FONT, size).into_font())
                .color(color)
                .pos(Pos::new(h, VPos::Center))
        };
        let (width, _) = root.dim_in_pixel();
        let center_x = i32::try_from(width / 2).unwrap_or(350);
        root.draw_text(title, &text(24, &BLACK, HPos::Center), (center_x, 30))?;

        let (left, top, cell) = (190i32, 120i32, 240i32);
        let classes = ["benign", "malicious"];
        root.draw_text(
            "predicted",
            &text(18, &BLACK, HPos::Center),
            (left + cell, top - 50),
        )?;
        for (column, class) in classes.iter().enumerate() {
            let x = left + cell * column as i32 + cell / 2;
            root.draw_text(class, &text(16, &BLACK, HPos::Center), (x, top - 20))?;
        }
        root.draw_text(
            "actual",
            &text(18, &BLACK, HPos::Left),
            (20, top + cell - 60),
        )?;
        for (row, class) in classes.iter().enumerate() {
            let y = top + cell * row as i32 + cell / 2;
            root.draw_text(class, &text(16, &BLACK, HPos::Right), (left - 12, y))?;
        }

        // [actual][predicted]
        let counts = [[confusion.tn, confusion.fp], [confusion.fn_, confusion.tp]];
        for (row, row_counts) in counts.iter().enumerate() {
            let row_total: u64 = row_counts.iter().sum();
            for (column, &count) in row_counts.iter().enumerate() {
                let share = if row_total == 0 {
                    0.0
                } else {
                    count as f64 / row_total as f64
                };
                let base = if row == column {
                    BENIGN_COLOR
                } else {
                    MALICIOUS_COLOR
                };
                let fill = blend_with_white(base, share);
                let (x0, y0) = (left + cell * column as i32, top + cell * row as i32);
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    fill.filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    BLACK.stroke_width(1),
                ))?;
                let ink: &'static RGBColor = if share > 0.55 { &WHITE } else { &BLACK };
                let (cx, cy) = (x0 + cell / 2, y0 + cell / 2);
                root.draw_text(
                    &count.to_string(),
                    &text(30, ink, HPos::Center),
                    (cx, cy - 14),
                )?;
                let share_text = if row_total == 0 {
                    "- of row".to_owned()
                } else {
                    format!("{:.2} % of row", share * 100.0)
                };
                root.draw_text(&share_text, &text(16, ink, HPos::Center), (cx, cy + 22))?;
            }
        }

        let summary = format!(
            "n = {}   accuracy {:.4}   precision {:.4}   recall {:.4}   FPR {:.4}",
            confusion.total(),
            confusion.accuracy(),
            confusion.precision(),
            confusion.recall(),
            confusion.fpr()
        );
        root.draw_text(
            &summary,
            &text(15, &BLACK, HPos::Center),
            (center_x, top + 2 * cell + 40),
        )?;
        root.present()?;
        Ok(())
    })
}

/// Histograms of the scores of each class (as a share of the class, so that both show despite
/// imbalance) over the same bins, with the threshold as a vertical line. Non-finite scores
/// are left out.
pub fn score_histogram_png(
    path: &Path,
    scores: &[f64],
    labels: &[Label],
    threshold: f64,
) -> Result<()> {
    draw_png(path, |path| {
        let title = "Scores by class";
        let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let finite: Vec<(f64, bool)> = scores
            .iter()
            .zip(labels)
            .filter(|(score, _)| score.is_finite())
            .map(|(&score, label)| (score, label.is_malicious()))
            .collect();
        if finite.is_empty() {
            draw_no_data(&root, title)?;
            root.present()?;
            return Ok(());
        }
        let (mut low, mut high) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(s, _)| {
                (lo.min(s), hi.max(s))
            });
        if threshold.is_finite() {
            low = low.min(threshold);
            high = high.max(threshold);
        }
        if high - low <= f64::EPSILON * high.abs().max(1.0) {
            low -= 0.5;
            high += 0.5;
        }
        let width = (high - low) / HISTOGRAM_BINS as f64;
        let mut bins = [[0u64; HISTOGRAM_BINS]; 2];
        let mut class_totals = [0u64; 2];
        for &(score, malicious) in &finite {
            let bin = (((score - low) / width) as usize).min(HISTOGRAM_BINS - 1);
            bins[usize::from(malicious)][bin] += 1;
            class_totals[usize::from(malicious)] += 1;
        }
        let shares: Vec<Vec<f64>> = bins
            .iter()
            .zip(class_totals)
            .map(|(counts, total)| {
                counts
                    .iter()
                    .map(|&count| {
                        if total == 0 {
                            0.0
                        } else {
                            count as f64 / total as f64
                        }
                    })
                    .collect()
            })
            .collect();
        let max_share = shares.iter().flatten().copied().fold(0.0, f64::max);

        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 24))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(low..high, 0.0..max_share * 1.15)?;
        chart
            .configure_mesh()
            .max_light_lines(4)
            .y_label_formatter(&|y| format!("{:.0} %", y * 100.0))
            .x_desc("score")
            .y_desc("share of the class")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()?;
        let classes = [
            ("benign", BENIGN_COLOR, class_totals[0]),
            ("malicious", MALICIOUS_COLOR, class_totals[1]),
        ];
        for ((name, color, total), class_shares) in classes.into_iter().zip(&shares) {
            chart
                .draw_series(
                    class_shares
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| **s > 0.0)
                        .map(|(bin, &share)| {
                            let x0 = low + width * bin as f64;
                            Rectangle::new(
                                [(x0, 0.0), (x0 + width, share)],
                                color.mix(0.5).filled(),
                            )
                        }),
                )?
                .label(format!("{name} ({total})"))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.mix(0.5).filled())
                });
        }
        if threshold.is_finite() {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(threshold, 0.0), (threshold, max_share * 1.15)],
                    BLACK.stroke_width(2),
                )))?
                .label(format!("threshold {threshold:.4}"))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], BLACK.stroke_width(2))
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperMiddle)?;
        root.present()?;
        Ok(())
    })
}

/// The drawable points of each ROC curve, FPR clamped up to `fpr_floor`, with the legend name
/// giving the AUC.
fn roc_series(curves: &[(&str, &RocCurve)], fpr_floor: f64) -> Vec<(String, Vec<(f64, f64)>)> {
    curves
        .iter()
        .map(|(label, curve)| {
            let points: Vec<(f64, f64)> = curve
                .fpr
                .iter()
                .zip(&curve.tpr)
                .filter(|(fpr, tpr)| fpr.is_finite() && tpr.is_finite())
                .map(|(&fpr, &tpr)| (fpr.max(fpr_floor), tpr))
                .collect();
            (format!("{label} (AUC {:.4})", curve.auc()), points)
        })
        .collect()
}

/// The PR curve as steps: precision holds from one recall to the next, as average precision
/// counts it.
fn pr_steps(curve: &PrCurve) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(curve.recall.len() * 2);
    // From recall 0 (the last point) up: each precision holds over its recall increment.
    let pairs: Vec<(f64, f64)> = curve
        .recall
        .iter()
        .zip(&curve.precision)
        .rev()
        .filter(|(r, p)| r.is_finite() && p.is_finite())
        .map(|(&r, &p)| (r, p))
        .collect();
    for (index, &(recall, precision)) in pairs.iter().enumerate() {
        if index > 0 {
            points.push((pairs[index - 1].0, precision));
        }
        points.push((recall, precision));
    }
    points
}

/// Draws each named series as a line, with its legend entry.
fn draw_curves<X, Y>(
    chart: &mut ChartContext<'_, BitMapBackend<'_>, Cartesian2d<X, Y>>,
    series: &[(String, Vec<(f64, f64)>)],
) -> DrawResult
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    for (index, (name, points)) in series.iter().enumerate() {
        let color = curve_color(index);
        chart
            .draw_series(std::iter::once(PathElement::new(
                points.clone(),
                color.stroke_width(2),
            )))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    Ok(())
}

/// A thin dashed grey line through `points` (the chance diagonal, FPR guides).
fn draw_guide<X, Y>(
    chart: &mut ChartContext<'_, BitMapBackend<'_>, Cartesian2d<X, Y>>,
    points: Vec<(f64, f64)>,
) -> DrawResult
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    chart.draw_series(std::iter::once(DashedPathElement::new(
        points,
        6,
        4,
        GUIDE_COLOR.stroke_width(1),
    )))?;
    Ok(())
}

/// `color` at `strength` (0 = white, 1 = the colour itself).
fn blend_with_white(color: RGBColor, strength: f64) -> RGBColor {
    let strength = strength.clamp(0.0, 1.0);
    let mix = |channel: u8| (255.0 - (255.0 - f64::from(channel)) * strength).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}
