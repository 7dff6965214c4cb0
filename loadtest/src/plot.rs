//! The latency-against-load picture of a sweep: message latency p50, p90
//! and p99 (log scale, ms) against offered messages per second, as SVG.

use std::path::Path;

use plotters::prelude::*;

use crate::report::Report;

/// Why the plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw {path}: {why}")]
pub struct PlotError {
    /// The file.
    pub path: String,
    /// What failed.
    pub why: String,
}

/// A plotted line: its label, how to read it from a report, its colour.
type Series = (&'static str, fn(&Report) -> f64, RGBColor);

/// One sweep step: offered rate and its report.
pub type Point<'a> = (f64, &'a Report);

/// Draws the sweep to `path` (SVG, 800×500).
pub fn latency_vs_load(path: &Path, title: &str, points: &[Point<'_>]) -> Result<(), PlotError> {
    let err = |why: String| PlotError {
        path: path.display().to_string(),
        why,
    };
    let max_rate = points.iter().map(|(r, _)| *r).fold(1.0, f64::max) * 1.05;
    let floor = 0.01;
    let max_ms = points
        .iter()
        .map(|(_, r)| r.latency_ms.message.p99)
        .fold(1.0, f64::max)
        * 2.0;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_rate, (floor..max_ms).log_scale())
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("offered load (messages/s)")
        .y_desc("message latency (ms, log)")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let series: [Series; 3] = [
        ("p50", |r| r.latency_ms.message.p50, BLUE),
        ("p90", |r| r.latency_ms.message.p90, GREEN),
        ("p99", |r| r.latency_ms.message.p99, RED),
    ];
    for (name, get, color) in series {
        let data: Vec<(f64, f64)> = points
            .iter()
            .map(|(rate, r)| (*rate, get(r).max(floor)))
            .collect();
        chart
            .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(data.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(|e| err(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}
