//! The size sweep drawn as a curve: the ratio to `JoinSet` against the future's size, one line
//! per runtime and task shape, the 1.0 line marked. Written as an SVG by the full run and
//! committed next to `BENCHMARKS.md`.

use std::path::Path;

use plotters::prelude::*;

/// One line of the plot: its label and its `(future bytes, ratio)` points.
pub type Series = (String, Vec<(usize, f64)>);

/// Draws `series` into an SVG at `path`.
///
/// # Errors
///
/// If the file cannot be written (the message says which).
pub fn sweep_svg(path: &Path, title: &str, series: &[Series]) -> Result<(), String> {
    let max_ratio = series
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
        .fold(1.2_f64, f64::max)
        * 1.1;
    let min_ratio = series
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
        .fold(0.8_f64, f64::min)
        * 0.9;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("plotting {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0usize..272usize, min_ratio..max_ratio)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("task future size (bytes)")
        .y_desc("time / JoinSet time (median of paired rounds)")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            [(0usize, 1.0), (272usize, 1.0)],
            BLACK.stroke_width(2),
        ))
        .map_err(|e| err(&e))?
        .label("1.0 = as fast as JoinSet")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    for (i, (label, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
