//! The search's files: the evading payloads as JSON Lines, and the chart of the evasion rate
//! against rounds (in the style of the run charts: bundled font, 1000x600).

use std::io::Write;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;
use vigie_charts::{CHART_SIZE, FONT, curve_color, draw_legend, register_font};

use crate::error::{AttackError, Result};
use crate::operators::Operator;
use crate::search::AttackOutcome;

/// One line of `evasions.jsonl`.
#[derive(Debug, Serialize)]
pub struct Evasion<'a> {
    pub original: &'a str,
    pub evading: &'a str,
    pub family: &'static str,
    pub original_score: f64,
    pub score: f64,
    pub round: usize,
    pub operators: &'a [Operator],
}

/// The evading payloads of `outcome`, in input order.
pub fn evasions(outcome: &AttackOutcome) -> Vec<Evasion<'_>> {
    outcome
        .outcomes
        .iter()
        .filter_map(|o| {
            Some(Evasion {
                original: &o.original,
                evading: &o.best,
                family: o.family.name(),
                original_score: o.original_score,
                score: o.best_score,
                round: o.evaded_round?,
                operators: &o.operators,
            })
        })
        .collect()
}

/// Writes one JSON object per evading payload to `path`.
pub fn write_evasions(path: &Path, outcome: &AttackOutcome) -> Result<()> {
    let io = |e| AttackError::io(path, "writing", e);
    let file = std::fs::File::create(path).map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    for evasion in evasions(outcome) {
        let line = serde_json::to_string(&evasion).map_err(|e| io(e.into()))?;
        writeln!(out, "{line}").map_err(io)?;
    }
    out.flush().map_err(io)
}

/// The evasion rate (overall and per family) against rounds, round 0 being the originals.
pub fn evasion_chart_png(path: &Path, outcome: &AttackOutcome, title: &str) -> Result<()> {
    let plot_error = |message: String| AttackError::Plot {
        path: path.to_owned(),
        message,
    };
    register_font().map_err(plot_error)?;
    draw_chart(path, outcome, title).map_err(|e| plot_error(e.to_string()))
}

type Series = (String, Vec<(f64, f64)>);

fn chart_series(outcome: &AttackOutcome) -> Vec<Series> {
    let mut series: Vec<Series> = vec![(
        "all".to_owned(),
        std::iter::once((0.0, 0.0))
            .chain(
                outcome
                    .rounds
                    .iter()
                    .map(|r| (r.round as f64, r.evasion_rate)),
            )
            .collect(),
    )];
    for family in &outcome.families {
        series.push((
            family.family.clone(),
            std::iter::once((0.0, 0.0))
                .chain(outcome.rounds.iter().map(|r| {
                    (
                        r.round as f64,
                        r.by_family.get(&family.family).copied().unwrap_or(0.0),
                    )
                }))
                .collect(),
        ));
    }
    series
}

fn draw_chart(
    path: &Path,
    outcome: &AttackOutcome,
    title: &str,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let rounds = outcome.rounds.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 24))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..rounds, 0.0..1.0)?;
    chart
        .configure_mesh()
        .max_light_lines(4)
        .x_desc("round")
        .y_desc("evasion rate (of the payloads flagged at first)")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()?;
    for (index, (name, points)) in chart_series(outcome).into_iter().enumerate() {
        let color = curve_color(index);
        let width = if index == 0 { 3 } else { 2 };
        chart
            .draw_series(std::iter::once(PathElement::new(
                points,
                color.stroke_width(width),
            )))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
            });
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}
