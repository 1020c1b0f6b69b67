//! The sweep chart: speedup over workers for processes and rayon (median,
//! with min-max bars), the ideal line, and the core count marked, as SVG.

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::sweep_table::{Row, Sweep, Unfinished};
use super::words::count;
use crate::executor::Variant;

/// Draws the chart for `sweep` into `path`.
pub fn draw(sweep: &Sweep, path: &Path) -> Result<(), String> {
    super::whole_chart_or_none(path, draw_chart(sweep, path))
}

/// Speedup range of a row from its slowest and fastest run.
fn speedup_range(rows: &[Row], row: &Row) -> (f64, f64) {
    let one = rows
        .iter()
        .find(|r| r.variant == row.variant && r.workers == 1)
        .map_or(row.wall_median, |r| r.wall_median);
    let at = |wall: f64| if wall > 0.0 { one / wall } else { 0.0 };
    (at(row.wall_max), at(row.wall_min))
}

/// What the chart shows; a stopped sweep says how far it got instead of how many runs a point has.
fn caption(sweep: &Sweep) -> String {
    let jobs = count(sweep.jobs, "job", "jobs");
    match sweep.stopped {
        Some(Unfinished { runs_done, runs_planned }) => format!(
            "procpool sweep, stopped after {runs_done} of {runs_planned} runs: speedup over 1 worker, same variant ({jobs}, kernel {})",
            sweep.kernel
        ),
        None => format!(
            "procpool sweep: speedup over 1 worker of the same variant ({jobs}, kernel {}, median of {})",
            sweep.kernel,
            count(sweep.runs, "run", "runs")
        ),
    }
}

fn draw_chart(sweep: &Sweep, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let rows = sweep.rows();
    let max_workers = rows.iter().map(|r| r.workers).max().unwrap_or(1);
    let cores = sweep.machine.usable_cores;
    let top =
        rows.iter().map(|r| speedup_range(&rows, r).1).fold(max_workers as f64, f64::max).max(1.0) * 1.1;

    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption(sweep), ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0.5f64..max_workers as f64 + 0.5, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("workers (processes or threads)")
        .y_desc("speedup over 1 worker, same variant")
        .x_labels(max_workers.min(32))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;

    let ideal: Vec<(f64, f64)> = (1..=max_workers).map(|w| (w as f64, w as f64)).collect();
    chart
        .draw_series(DashedLineSeries::new(ideal, 6, 4, BLACK.stroke_width(1)))?
        .label("ideal (speedup = workers)")
        .legend(|(x, y)| DashedPathElement::new([(x, y), (x + 18, y)], 4, 3, BLACK.stroke_width(1)));
    let limit: Vec<(f64, f64)> = (1..=max_workers).map(|w| (w as f64, w.min(cores) as f64)).collect();
    let grey = RGBColor(150, 150, 150);
    chart
        .draw_series(LineSeries::new(limit, grey.stroke_width(3)))?
        .label(format!("hardware limit: min(workers, {cores} cores)"))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], grey.stroke_width(3)));
    let orange = RGBColor(200, 120, 0);
    chart
        .draw_series(DashedLineSeries::new(
            [(cores as f64, 0.0), (cores as f64, top)],
            3,
            3,
            orange.stroke_width(2),
        ))?
        .label(format!("{cores} cores on this machine"))
        .legend(move |(x, y)| DashedPathElement::new([(x, y), (x + 18, y)], 3, 3, orange.stroke_width(2)));

    // The two variants often agree: each is nudged sideways and marked with
    // its own shape, so neither hides the other.
    for (variant, colour, nudge) in [(Variant::Processes, BLUE, -0.07), (Variant::Rayon, RED, 0.07)] {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.variant == variant).collect();
        if mine.is_empty() {
            continue;
        }
        let at = |r: &Row| r.workers as f64 + nudge;
        let points = mine.iter().map(|r| (at(r), r.speedup));
        // Min-max bars under the markers, drawn as paths: plotters' ErrorBar
        // also puts a filled circle on each point, which hid rayon's triangles.
        chart.draw_series(mine.iter().flat_map(|r| {
            let (low, high) = speedup_range(&rows, r);
            let (x, whisker) = (at(r), 0.05);
            [
                PathElement::new([(x, low), (x, high)], colour.stroke_width(1)),
                PathElement::new([(x - whisker, low), (x + whisker, low)], colour.stroke_width(1)),
                PathElement::new([(x - whisker, high), (x + whisker, high)], colour.stroke_width(1)),
            ]
        }))?;
        let line = chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(format!("{variant} (median, min-max bars)"));
        if variant == Variant::Processes {
            line.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new([(0, 0), (16, 0)], colour.stroke_width(2))
                    + Circle::new((8, 0), 4, colour.filled())
            });
            chart.draw_series(points.map(|p| Circle::new(p, 4, colour.filled())))?;
        } else {
            line.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new([(0, 0), (16, 0)], colour.stroke_width(2))
                    + TriangleMarker::new((8, 0), 5, colour.filled())
            });
            chart.draw_series(points.map(|p| TriangleMarker::new(p, 5, colour.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
