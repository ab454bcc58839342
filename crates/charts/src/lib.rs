//! The look every Vigie chart shares, so that a dataset report, a run's curves, an attack's
//! rates and a monitoring window read as one family: the bundled font (plotters finds no
//! system font on a bare machine), the class colours and the curve palette, the usual size,
//! the legend's frame, the chart that says "no data" rather than failing, and PNG drawing
//! whose errors name the file.
//!
//! The charts themselves stay with what they show (`vigie_data::report`,
//! `vigie_models::metrics::plots`, `vigie_attack::report`, `vigie_score::monitor`).

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The font family every chart uses: the bundled DejaVu Sans, after [`register_font`].
pub const FONT: &str = "sans-serif";

/// Size of a chart, in pixels, unless it needs another shape.
pub const CHART_SIZE: (u32, u32) = (1000, 600);

pub const BENIGN_COLOR: RGBColor = RGBColor(76, 114, 176);
pub const MALICIOUS_COLOR: RGBColor = RGBColor(196, 78, 82);
pub const BENIGN_LIGHT_COLOR: RGBColor = RGBColor(166, 189, 219);
pub const MALICIOUS_LIGHT_COLOR: RGBColor = RGBColor(232, 165, 167);
/// Reference lines: the chance diagonal, thresholds, bounds.
pub const GUIDE_COLOR: RGBColor = RGBColor(150, 150, 150);

/// Colours of successive curves (seaborn's "deep" palette, whose first and fourth are the
/// class colours).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(76, 114, 176),
    RGBColor(221, 132, 82),
    RGBColor(85, 168, 104),
    RGBColor(196, 78, 82),
    RGBColor(129, 114, 179),
    RGBColor(147, 120, 96),
    RGBColor(218, 139, 195),
    RGBColor(140, 140, 140),
];

/// The colour of the `index`-th curve (the palette, again from its start past its end).
pub fn curve_color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// What drawing returns: plotters' errors, boxed.
pub type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Registers the bundled DejaVu Sans as plotters' [`FONT`], once per process.
pub fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(
                FONT,
                FontStyle::Normal,
                include_bytes!("../assets/DejaVuSans.ttf"),
            )
            .map_err(|_| "the bundled DejaVu Sans font cannot be loaded".to_owned())
        })
        .clone()
}

/// Registers the font and runs `draw` on `path`; an error is the message to put beside the
/// path (the caller wraps it in its own error type).
pub fn draw_png(path: &Path, draw: impl FnOnce(&Path) -> DrawResult) -> Result<(), String> {
    register_font()?;
    draw(path).map_err(|err| err.to_string())
}

/// The series legend every chart draws: framed, on a light background, at `position`.
pub fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
}

/// A blank chart with its title and "no data" in the middle.
pub fn draw_no_data<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (width, height) = root.dim_in_pixel();
    let centered = |size: u32| {
        TextStyle::from((FONT, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
    };
    let center_x = i32::try_from(width / 2).unwrap_or(0);
    let center_y = i32::try_from(height / 2).unwrap_or(0);
    root.draw_text(title, &centered(24), (center_x, 30))?;
    root.draw_text("no data", &centered(32), (center_x, center_y))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_no_data_chart_is_a_png_and_errors_name_nothing_but_the_cause() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.png");
        draw_png(&path, |path| {
            let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
            root.fill(&WHITE)?;
            draw_no_data(&root, "nothing")?;
            root.present()?;
            Ok(())
        })
        .expect("drawn");
        let bytes = std::fs::read(&path).expect("png");
        assert_eq!(&bytes[1..4], b"PNG");
        let missing = dir.path().join("no/such/folder/chart.png");
        let error = draw_png(&missing, |path| {
            let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
            root.fill(&WHITE)?;
            root.present()?;
            Ok(())
        })
        .expect_err("no folder");
        assert!(!error.is_empty());
    }

    #[test]
    fn curves_cycle_through_the_palette_whose_class_colours_match() {
        assert_eq!(curve_color(0), BENIGN_COLOR);
        assert_eq!(curve_color(3), MALICIOUS_COLOR);
        assert_eq!(curve_color(PALETTE.len() + 1), PALETTE[1]);
    }
}
