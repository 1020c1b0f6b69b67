//! The timeline chart: one lane per worker process, one bar per job (or run
//! of back-to-back jobs), the makespan and its lower bound marked, as SVG.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use procpool_worker::PrimeResult;

use super::summary::RunSummary;
use super::text::workers_phrase;
use super::words::{self, count};

/// Exact bars up to this many; past it, back-to-back jobs on a lane merge
/// into one bar so a million-job run still draws a readable, small chart.
const EXACT_BARS: usize = 2000;

/// Jobs closer than this on the same lane count as back to back.
const MERGE_GAP: Duration = Duration::from_millis(1);

/// What a lane stands for: a worker process, or a thread of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    Process(u32),
    Thread(usize),
    /// A worker process on another host of a cluster run: the host's index
    /// in [`Timeline`]'s list of names, and the pid there.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    Remote(usize, u32),
}

impl Lane {
    fn of(result: &PrimeResult, thread: Option<usize>) -> Lane {
        thread.map_or(Lane::Process(result.pid), Lane::Thread)
    }

    /// The lane's label: `pid 4242`, `thread 1` (counted from 1), or
    /// `host:pid` for a cluster run (host names from `hosts`).
    pub fn label(self, hosts: &[String]) -> String {
        match self {
            Lane::Process(pid) => format!("pid {pid}"),
            Lane::Thread(index) => format!("thread {}", index + 1),
            Lane::Remote(host, pid) => format!("{}:{pid}", hosts.get(host).map_or("?", String::as_str)),
        }
    }
}

/// One bar: jobs `first_n`.. on `lane`, from `start` to `end` (monotonic clock).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub lane: Lane,
    pub start: Duration,
    pub end: Duration,
    pub first_n: u64,
    pub jobs: u64,
}

/// Collects bars as results stream past.
#[derive(Debug, Default)]
pub struct Timeline {
    bars: Vec<Bar>,
    last_bar_of: HashMap<Lane, usize>,
    /// Host names of a cluster run's lanes.
    hosts: Vec<String>,
}

impl Timeline {
    /// Adds a result; `thread` is the executor's thread index when threads of
    /// one process ran the jobs (rayon), so each thread gets a lane of its own.
    pub fn record(&mut self, result: &PrimeResult, thread: Option<usize>) {
        self.record_in(result, Lane::of(result, thread));
    }

    /// Adds a result of a cluster run, which ran on `host` (its lane is `host:pid`).
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub fn record_on(&mut self, result: &PrimeResult, host: &str) {
        let index = match self.hosts.iter().position(|h| h == host) {
            Some(index) => index,
            None => {
                self.hosts.push(host.to_owned());
                self.hosts.len() - 1
            }
        };
        self.record_in(result, Lane::Remote(index, result.pid));
    }

    fn record_in(&mut self, result: &PrimeResult, lane: Lane) {
        let end = result.started_at + result.elapsed;
        if self.bars.len() >= EXACT_BARS {
            if let Some(&last) = self.last_bar_of.get(&lane) {
                let bar = &mut self.bars[last];
                if result.started_at.saturating_sub(bar.end) <= MERGE_GAP {
                    bar.end = bar.end.max(end);
                    bar.jobs += 1;
                    return;
                }
            }
        }
        self.last_bar_of.insert(lane, self.bars.len());
        self.bars.push(Bar { lane, start: result.started_at, end, first_n: result.n, jobs: 1 });
    }

    #[cfg(test)]
    pub fn bars(&self) -> &[Bar] {
        &self.bars
    }

    /// Lanes in order of each one's first job.
    pub fn lanes(&self) -> Vec<Lane> {
        let mut first_start: Vec<(Duration, Lane)> = Vec::new();
        for bar in &self.bars {
            if !first_start.iter().any(|&(_, lane)| lane == bar.lane) {
                first_start.push((bar.start, bar.lane));
            }
        }
        first_start.sort();
        first_start.into_iter().map(|(_, lane)| lane).collect()
    }

    /// Writes the chart to `path`.
    pub fn draw(&self, path: &Path, summary: &RunSummary, kernel: &str) -> Result<(), String> {
        super::whole_chart_or_none(path, draw(self, path, summary, kernel))
    }
}

/// Height of the strip above the plot that holds the legend, off the lanes.
const LEGEND_STRIP: u32 = 34;

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
    let height = (150 + 36 * lanes.len()).clamp(320, 4000) as u32;
    let threads = lanes.iter().any(|lane| matches!(lane, Lane::Thread(_)));

    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "procpool timeline: {} on {} (kernel {kernel})",
        count(summary.tally.jobs, "job", "jobs"),
        workers_phrase(summary.variant, summary.workers)
    );
    let root = root.titled(&title, ("sans-serif", 18))?;
    let (strip, plot) = root.split_vertically(LEGEND_STRIP);
    // What the run's wall holds besides the jobs: starting the worker
    // processes, or (one process) only handing the jobs out and back.
    let before_jobs = if threads { "also counts handing jobs out" } else { "also counts starting workers" };
    let makespan_label = format!(
        "makespan {}: first job start to last job end (the run's wall, {}, {before_jobs})",
        words::secs(Duration::from_secs_f64(makespan)),
        words::secs(summary.wall)
    );
    let bound_label =
        format!("lower bound {}: max(longest job, CPU time / cores)", words::secs(summary.lower_bound()));
    legend(&strip, &makespan_label, &bound_label)?;

    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .margin_top(4)
        .x_label_area_size(45)
        .y_label_area_size(110)
        .build_cartesian_2d(0f64..x_max, 0f64..lanes.len().max(1) as f64)?;
    let lane_of: HashMap<Lane, usize> = lanes.iter().enumerate().map(|(i, &lane)| (lane, i)).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("seconds since the first job started")
        .y_desc(if threads { "rayon thread (one process)" } else { "worker process" })
        .y_labels(lanes.len().max(1) * 2 + 1)
        .y_label_formatter(&|y| {
            let lane = y.floor() as usize;
            match lanes.get(lane) {
                Some(lane_id) if (y - lane as f64 - 0.5).abs() < 0.26 => lane_id.label(&timeline.hosts),
                _ => String::new(),
            }
        })
        .draw()?;

    let label_jobs = timeline.bars.len() <= 60;
    chart.draw_series(timeline.bars.iter().map(|bar| {
        let lane = lane_of[&bar.lane];
        let colour = Palette99::pick(lane).mix(0.85);
        let y = lane as f64;
        Rectangle::new([(secs(bar.start), y + 0.15), (secs(bar.end), y + 0.85)], colour.filled())
    }))?;
    // A thin white outline keeps back-to-back jobs of one lane apart.
    chart.draw_series(timeline.bars.iter().map(|bar| {
        let y = lane_of[&bar.lane] as f64;
        Rectangle::new([(secs(bar.start), y + 0.15), (secs(bar.end), y + 0.85)], WHITE.stroke_width(1))
    }))?;
    // A label goes only where it fits: about 7 px a digit on a ~960 px wide plot.
    let fits = |bar: &Bar| {
        secs(bar.end) - secs(bar.start) > x_max * 7.5 * bar.first_n.to_string().len() as f64 / 960.0
    };
    if label_jobs {
        chart.draw_series(timeline.bars.iter().filter(|bar| fits(bar)).map(|bar| {
            let lane = lane_of[&bar.lane] as f64;
            Text::new(bar.first_n.to_string(), (secs(bar.start), lane + 0.6), ("sans-serif", 11))
        }))?;
    }
    let top = lanes.len().max(1) as f64;
    chart.draw_series(DashedLineSeries::new([(bound, 0.0), (bound, top)], 6, 4, RED.stroke_width(2)))?;
    chart.draw_series(LineSeries::new([(makespan, 0.0), (makespan, top)], BLACK.stroke_width(2)))?;
    root.present()?;
    Ok(())
}

/// The legend, in its own strip above the plot: a bar, the makespan line,
/// the lower bound's dashed line, each drawn as it is in the plot.
fn legend<DB: DrawingBackend>(
    strip: &DrawingArea<DB, plotters::coord::Shift>,
    makespan: &str,
    bound: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let font = ("sans-serif", 13).into_font();
    let (y, x0) = (12, 60);
    strip.draw(&Rectangle::new([(x0, y - 6), (x0 + 14, y + 6)], Palette99::pick(0).mix(0.85).filled()))?;
    strip.draw(&Text::new("a job (back-to-back jobs merge past 2000)", (x0 + 20, y - 7), font.clone()))?;
    strip.draw(&PathElement::new([(x0 + 330, y), (x0 + 350, y)], BLACK.stroke_width(2)))?;
    strip.draw(&Text::new(makespan.to_owned(), (x0 + 356, y - 7), font.clone()))?;
    strip.draw(&DashedPathElement::new([(x0, y + 17), (x0 + 26, y + 17)], 6, 4, RED.stroke_width(2)))?;
    strip.draw(&Text::new(bound.to_owned(), (x0 + 32, y + 10), font))?;
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
        timeline.record(&result(9, 1, 5, 10), None);
        timeline.record(&result(7, 2, 0, 10), None);
        timeline.record(&result(9, 3, 15, 10), None);
        assert_eq!(timeline.bars().len(), 3);
        assert_eq!(timeline.lanes(), [Lane::Process(7), Lane::Process(9)]);
    }

    #[test]
    fn threads_of_one_process_get_a_lane_each() {
        let mut timeline = Timeline::default();
        timeline.record(&result(5, 1, 0, 10), Some(1));
        timeline.record(&result(5, 2, 0, 10), Some(0));
        timeline.record(&result(5, 3, 10, 10), Some(1));
        assert_eq!(timeline.lanes(), [Lane::Thread(0), Lane::Thread(1)]);
        assert_eq!(Lane::Thread(0).label(&[]), "thread 1");
    }

    #[test]
    fn cluster_lanes_are_named_host_and_pid() {
        let mut timeline = Timeline::default();
        timeline.record_on(&result(7, 3, 0, 5), "node-a");
        timeline.record_on(&result(7, 5, 1, 5), "node-b");
        let labels: Vec<String> = timeline.lanes().iter().map(|lane| lane.label(&timeline.hosts)).collect();
        assert_eq!(labels, ["node-a:7", "node-b:7"], "the same pid on two hosts is two lanes");
    }

    #[test]
    fn back_to_back_jobs_merge_once_there_are_many() {
        let mut timeline = Timeline::default();
        for i in 0..(EXACT_BARS as u64 + 1000) {
            timeline.record(&result(1, i, i, 1), None);
        }
        assert_eq!(timeline.bars().len(), EXACT_BARS);
        assert_eq!(timeline.bars().iter().map(|b| b.jobs).sum::<u64>(), EXACT_BARS as u64 + 1000);
    }
}
