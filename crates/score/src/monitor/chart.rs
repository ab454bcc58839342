//! The monitoring chart (PNG, in the style of the training charts): on top, the score
//! distribution of each window against the validation scores; below, each window's PSI with
//! the bound, drifted windows in the malicious colour.

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use vigie_charts::{
    BENIGN_COLOR, DrawResult, FONT, GUIDE_COLOR, MALICIOUS_COLOR, draw_legend, register_font,
};

use super::window::label;
use super::{DISTRIBUTION_BINS, MonitorReference, MonitorReport, WindowReport};

const CHART_SIZE: (u32, u32) = (1000, 800);

/// Draws the chart of `report` into `path`; the error names the file.
pub fn monitor_png(
    path: &Path,
    report: &MonitorReport,
    reference: &MonitorReference,
    title: &str,
) -> Result<(), String> {
    let failed = |message: String| format!("{}: cannot draw the chart: {message}", path.display());
    register_font().map_err(failed)?;
    draw(path, report, reference, title).map_err(|e| failed(e.to_string()))
}

fn draw(
    path: &Path,
    report: &MonitorReport,
    reference: &MonitorReference,
    title: &str,
) -> DrawResult {
    let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 24))?;
    let (top, bottom) = root.split_vertically(480);
    draw_distributions(&top, report, reference)?;
    draw_psi(&bottom, report)?;
    root.present()?;
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Each window's share of scores per part of the validation range, as a line; the benign
/// validation scores in bold black, the malicious ones dashed.
fn draw_distributions(
    area: &Area<'_>,
    report: &MonitorReport,
    reference: &MonitorReference,
) -> DrawResult {
    let (low, high) = reference.validation_benign.range();
    let width = (high - low) / DISTRIBUTION_BINS as f64;
    let line = |shares: &[f64]| -> Vec<(f64, f64)> {
        shares
            .iter()
            .enumerate()
            .map(|(i, &share)| (low + width * (i as f64 + 0.5), share))
            .collect()
    };
    let benign = reference.validation_benign.coarse_shares(DISTRIBUTION_BINS);
    let malicious = reference
        .validation_malicious
        .coarse_shares(DISTRIBUTION_BINS);
    let peak = report
        .windows
        .iter()
        .flat_map(|w| w.distribution.iter())
        .chain(&benign)
        .chain(&malicious)
        .copied()
        .fold(0.0, f64::max)
        .max(1e-6);
    let mut chart = ChartBuilder::on(area)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(low..high, 0.0..peak * 1.1)?;
    chart
        .configure_mesh()
        .max_light_lines(4)
        .y_label_formatter(&|y| format!("{:.0} %", y * 100.0))
        .x_desc("score")
        .y_desc("share of the window")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()?;
    let (calm, drifted): (Vec<&WindowReport>, Vec<&WindowReport>) =
        report.windows.iter().partition(|w| w.drift.is_empty());
    for (windows, color, name) in [
        (&calm, BENIGN_COLOR.mix(0.45), "window"),
        (&drifted, MALICIOUS_COLOR.mix(0.9), "drifted window"),
    ] {
        if windows.is_empty() {
            continue;
        }
        let count = windows.len();
        chart
            .draw_series(
                windows
                    .iter()
                    .map(|w| PathElement::new(line(&w.distribution), color.stroke_width(2))),
            )?
            .label(format!("{name} ({count})"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            line(&benign),
            BLACK.stroke_width(3),
        )))?
        .label("validation, benign (the PSI reference)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(3)));
    chart
        .draw_series(std::iter::once(DashedPathElement::new(
            line(&malicious),
            6,
            4,
            BLACK.stroke_width(1),
        )))?
        .label("validation, malicious")
        .legend(|(x, y)| {
            DashedPathElement::new(vec![(x, y), (x + 18, y)], 6, 4, BLACK.stroke_width(1))
        });
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

/// One bar per window: its PSI, with the bound as a dashed line.
fn draw_psi(area: &Area<'_>, report: &MonitorReport) -> DrawResult {
    let n = i32::try_from(report.windows.len().max(1)).unwrap_or(i32::MAX);
    let bound = report.rule.psi_bound;
    let peak = report
        .windows
        .iter()
        .filter_map(|w| w.psi)
        .fold(bound, f64::max);
    let mut chart = ChartBuilder::on(area)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n).into_segmented(), 0.0..peak * 1.15)?;
    let labels: Vec<String> = report
        .windows
        .iter()
        .map(|w| label(w.start_ms, report.window_ms))
        .collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(labels.len().min(12))
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
                .ok()
                .and_then(|i| labels.get(i).cloned())
                .unwrap_or_default(),
            SegmentValue::Last => String::new(),
        })
        .x_desc("window (UTC)")
        .y_desc("PSI")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 16))
        .draw()?;
    chart.draw_series(report.windows.iter().zip(0..).map(|(w, i)| {
        let color = if w.drift.is_empty() {
            BENIGN_COLOR
        } else {
            MALICIOUS_COLOR
        };
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), w.psi.unwrap_or(0.0)),
            ],
            color.filled(),
        );
        bar.set_margin(0, 0, 6, 6);
        bar
    }))?;
    chart
        .draw_series(std::iter::once(DashedPathElement::new(
            vec![(SegmentValue::Exact(0), bound), (SegmentValue::Last, bound)],
            6,
            4,
            GUIDE_COLOR.stroke_width(2),
        )))?
        .label(format!("PSI bound {bound}"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GUIDE_COLOR.stroke_width(2)));
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{DriftRule, Monitor};
    use super::*;
    use vigie_models::artifact::ValidationScores;

    #[test]
    fn the_chart_is_a_png_and_a_missing_folder_is_named() {
        let validation = ValidationScores {
            benign: (0..200).map(|i| f64::from(i) / 200.0).collect(),
            malicious: vec![0.9, 1.0],
        };
        let reference = MonitorReference::new(&validation).expect("reference");
        let mut monitor =
            Monitor::new(reference.clone(), DriftRule::with_expected(0.01), 3_600_000)
                .expect("monitor");
        for i in 0..300 {
            monitor.observe(Some(i64::from(i) * 60_000), f64::from(i % 7) / 7.0, None);
        }
        let report = monitor.finish().expect("report");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("monitor.png");
        monitor_png(&path, &report, &reference, "test").expect("chart");
        let bytes = std::fs::read(&path).expect("png");
        assert!(bytes.starts_with(b"\x89PNG"));
        let missing = dir.path().join("no/such/monitor.png");
        let error = monitor_png(&missing, &report, &reference, "test").unwrap_err();
        assert!(error.contains("no/such/monitor.png"), "{error}");
    }
}
