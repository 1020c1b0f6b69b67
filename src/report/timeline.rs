//! The timeline chart: one lane per worker process, one bar per job (or run
//! of back-to-back jobs), the makespan and its lower bound marked, as SVG.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;
use procpool_worker::PrimeResult;

use super::summary::RunSummary;

/// Exact bars up to this many; past it, back-to-back jobs on a lane merge
/// into one bar so a million-job run still draws a readable, small chart.
const EXACT_BARS: usize = 2000;

/// Jobs closer than this on the same lane count as back to back.
const MERGE_GAP: Duration = Duration::from_millis(1);

/// One bar: jobs `first_n`.. on worker `pid`, from `start` to `end` (monotonic clock).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub pid: u32,
    pub start: Duration,
    pub end: Duration,
    pub first_n: u64,
    pub jobs: u64,
}

/// Collects bars as results stream past.
#[derive(Debug, Default)]
pub struct Timeline {
    bars: Vec<Bar>,
    last_bar_of: HashMap<u32, usize>,
}

impl Timeline {
    pub fn record(&mut self, result: &PrimeResult) {
        let end = result.started_at + result.elapsed;
        if self.bars.len() >= EXACT_BARS {
            if let Some(&last) = self.last_bar_of.get(&result.pid) {
                let bar = &mut self.bars[last];
                if result.started_at.saturating_sub(bar.end) <= MERGE_GAP {
                    bar.end = bar.end.max(end);
                    bar.jobs += 1;
                    return;
                }
            }
        }
        self.last_bar_of.insert(result.pid, self.bars.len());
        self.bars.push(Bar { pid: result.pid, start: result.started_at, end, first_n: result.n, jobs: 1 });
    }

    #[cfg(test)]
    pub fn bars(&self) -> &[Bar] {
        &self.bars
    }

    /// Lanes in order of each worker's first job: (pid, lane index).
    pub fn lanes(&self) -> Vec<u32> {
        let mut first_start: Vec<(Duration, u32)> = Vec::new();
        for bar in &self.bars {
            if !first_start.iter().any(|&(_, pid)| pid == bar.pid) {
                first_start.push((bar.start, bar.pid));
            }
        }
        first_start.sort();
        first_start.into_iter().map(|(_, pid)| pid).collect()
    }

    /// Writes the chart to `path`.
    pub fn draw(&self, path: &Path, summary: &RunSummary, kernel: &str) -> Result<(), String> {
        draw(self, path, summary, kernel).map_err(|e| e.to_string())
    }
}

fn draw(
    timeline: &Timeline,
    path: &Path,
    summary: &RunSummary,
    kernel: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let lanes = timeline.lanes();
    let origin = timeline.bars.iter().map(|b| b.start).min().unwrap_or_default();
    let secs = |t: Duration| t.saturating_sub(origin).as_secs_f64();
    let makespan = timeline.bars.iter().map(|b| secs(b.end)).fold(0.0, f64::max);
    let bound = summary.lower_bound().as_secs_f64();
    let x_max = makespan.max(bound).max(1e-6) * 1.08;
    let height = (140 + 36 * lanes.len()).clamp(320, 4000) as u32;

    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "procpool timeline: {} jobs on {} {} (kernel {kernel}); makespan {:.3}s, lower bound {:.3}s",
        summary.tally.jobs, summary.workers, summary.variant, makespan, bound
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(110)
        // One spare lane on top keeps the legend off the bars.
        .build_cartesian_2d(0f64..x_max, 0f64..lanes.len().max(1) as f64 + 1.0)?;
    let lane_of: HashMap<u32, usize> = lanes.iter().enumerate().map(|(i, &pid)| (pid, i)).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("seconds since the first job started")
        .y_desc("worker process")
        .y_labels(lanes.len().max(1) * 2 + 3)
        .y_label_formatter(&|y| {
            let lane = y.floor() as usize;
            match lanes.get(lane) {
                Some(pid) if (y - lane as f64 - 0.5).abs() < 0.26 => format!("pid {pid}"),
                _ => String::new(),
            }
        })
        .draw()?;

    let label_jobs = timeline.bars.len() <= 60;
    chart
        .draw_series(timeline.bars.iter().map(|bar| {
            let lane = lane_of[&bar.pid] as f64;
            let colour = Palette99::pick(lane_of[&bar.pid]).mix(0.85);
            Rectangle::new([(secs(bar.start), lane + 0.15), (secs(bar.end), lane + 0.85)], colour.filled())
        }))?
        .label("job (a run of back-to-back jobs when merged)")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], Palette99::pick(0).filled()));
    // A label goes only where it fits: about 7 px a digit on a ~960 px wide plot.
    let fits = |bar: &Bar| {
        secs(bar.end) - secs(bar.start) > x_max * 7.5 * bar.first_n.to_string().len() as f64 / 960.0
    };
    if label_jobs {
        chart.draw_series(timeline.bars.iter().filter(|bar| fits(bar)).map(|bar| {
            let lane = lane_of[&bar.pid] as f64;
            Text::new(bar.first_n.to_string(), (secs(bar.start), lane + 0.6), ("sans-serif", 11))
        }))?;
    }
    let top = lanes.len().max(1) as f64;
    chart
        .draw_series(DashedLineSeries::new([(bound, 0.0), (bound, top)], 6, 4, RED.stroke_width(2)))?
        .label(format!("lower bound {bound:.3}s = max(longest job, CPU time / cores)"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RED.stroke_width(2)));
    chart
        .draw_series(LineSeries::new([(makespan, 0.0), (makespan, top)], BLACK.stroke_width(2)))?
        .label(format!("makespan {makespan:.3}s"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(pid: u32, n: u64, start_ms: u64, ms: u64) -> PrimeResult {
        PrimeResult {
            index: 0,
            n,
            prime: false,
            started_at: Duration::from_millis(start_ms),
            elapsed: Duration::from_millis(ms),
            cpu: Duration::from_millis(ms),
            pid,
        }
    }

    #[test]
    fn one_bar_per_job_while_few_and_lanes_in_order_of_first_job() {
        let mut timeline = Timeline::default();
        timeline.record(&result(9, 1, 5, 10));
        timeline.record(&result(7, 2, 0, 10));
        timeline.record(&result(9, 3, 15, 10));
        assert_eq!(timeline.bars().len(), 3);
        assert_eq!(timeline.lanes(), [7, 9]);
    }

    #[test]
    fn back_to_back_jobs_merge_once_there_are_many() {
        let mut timeline = Timeline::default();
        for i in 0..(EXACT_BARS as u64 + 1000) {
            timeline.record(&result(1, i, i, 1));
        }
        assert_eq!(timeline.bars().len(), EXACT_BARS);
        assert_eq!(timeline.bars().iter().map(|b| b.jobs).sum::<u64>(), EXACT_BARS as u64 + 1000);
    }
}
