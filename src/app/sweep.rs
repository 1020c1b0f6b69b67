//! `procpool sweep [MAX]`: the same numbers with 1..=MAX workers, processes
//! and rayon, each point repeated, tabulated and optionally charted.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use procpool_worker::Kernel;

use super::busy::CpuSample;
use super::chart_path;
use super::measure::Plan;
use super::progress::Progress;
use super::same_file;
use super::signals::StopSignals;
use super::AppError;
use crate::cli::SweepArgs;
use crate::executor::Variant;
use crate::input::{shown_path, Reopener};
use crate::report::machine::Machine;
use crate::report::output::{stderr_line, Output};
use crate::report::scaling::Repeats;
use crate::report::sweep_table::{Point, Sweep, Unfinished};
use crate::report::text::BUSY;
use crate::report::words::{count, secs};
use crate::report::{speedup_chart, sweep_noise};
use procpool::available_cores;

/// Repeats that disagree by more than this fraction of their median get a warning.
const NOISY: f64 = 0.25;

pub fn sweep(args: &SweepArgs, stop: &StopSignals) -> Result<ExitCode, AppError> {
    let machine = Machine::detect();
    let cores = available_cores();
    let max = args.max.unwrap_or(2 * cores);
    let kernel = Kernel::from(args.source.kernel);
    let spec = args.source.spec();
    let variants = [Variant::Processes, Variant::Rayon];
    let total_runs = args.runs as usize * max * variants.len();
    same_file::refuse_overlaps(&spec, None, args.plot.as_deref().map(|path| ("--plot", path)))?;
    if let Some(path) = &args.plot {
        chart_path::check("--plot", path)?;
    }
    let mut input = Reopener::new(spec.clone(), total_runs, stop.flag.clone())?;
    let source = spec.name();
    let closed = stop.clone();
    let out = Output::stdout(move || closed.stdout_closed());

    let mut walls: BTreeMap<(usize, Variant), Vec<Duration>> = BTreeMap::new();
    let mut jobs = 0;
    let mut any_failed = false;
    let before = CpuSample::now();
    let mut progress = Progress::new(!args.json && !args.csv, "sweep".into(), Some(total_runs as u64));
    // Repeats are interleaved (every point once, then again) so that a slow
    // spell on a shared machine spreads over all points instead of one.
    let mut runs_done = 0;
    let mut stopped = None;
    'runs: for _ in 0..args.runs {
        for workers in 1..=max {
            for variant in variants {
                let mut numbers = input.open()?;
                let plan = Plan {
                    variant,
                    workers,
                    kernel,
                    retries: 2,
                    timeout: None,
                    stop,
                    cores,
                    measured_one_core: None,
                    progress: false,
                    source: &source,
                    count: None,
                };
                let summary = match plan.measure(&mut numbers, &mut |_, _| Ok(())) {
                    Ok(summary) => summary,
                    // What finished so far is still shown, then the stop reported.
                    Err(AppError::Interrupted { signal, code, .. }) if runs_done > 0 => {
                        stopped = Some((signal, code));
                        break 'runs;
                    }
                    Err(e) => return Err(e),
                };
                jobs = summary.tally.jobs;
                any_failed |= summary.tally.failed > 0;
                walls.entry((workers, variant)).or_default().push(summary.wall);
                runs_done += 1;
                progress.tick(1);
            }
        }
    }
    drop(progress);
    let others_busy = CpuSample::now().zip(before).map(|(after, before)| after.others_since(&before));

    let points = walls
        .into_iter()
        .map(|((workers, variant), walls)| Point { variant, workers, repeats: Repeats::new(&walls) })
        .collect();
    let unfinished = stopped.map(|_| Unfinished { runs_done, runs_planned: total_runs });
    let sweep = Sweep {
        points,
        kernel: kernel.name(),
        source,
        jobs,
        runs: args.runs,
        machine,
        others_busy,
        stopped: unfinished,
    };
    for point in sweep.noisy(NOISY) {
        stderr_line(&format!(
            "procpool: warning: the {} runs of {} at {} disagree by {:.0}% ({} to {}); is the machine busy?",
            point.repeats.walls().len(),
            point.variant,
            count(point.workers as u64, "worker", "workers"),
            100.0 * point.repeats.spread(),
            secs(Duration::from_secs_f64(point.repeats.min())),
            secs(Duration::from_secs_f64(point.repeats.max()))
        ));
    }
    for warning in sweep_noise::implausible(&sweep) {
        stderr_line(&format!("procpool: warning: {warning}"));
    }
    if let Some(share) = sweep.others_busy.filter(|&share| share > BUSY) {
        stderr_line(&format!(
            "procpool: warning: the machine was busy: other processes took {:.0}% of its CPU time during the sweep, so every figure is noisy",
            100.0 * share
        ));
    }
    if args.json {
        out.line(&sweep.json())?;
    } else if args.csv {
        for line in sweep.csv().lines() {
            out.line(line)?;
        }
    } else {
        for line in sweep.text_lines() {
            out.line(&line)?;
        }
    }
    if let Some(path) = &args.plot {
        speedup_chart::draw(&sweep, path)
            .map_err(|reason| AppError::Chart { path: shown_path(path), reason })?;
        let written = format!("Chart written to {}", shown_path(path));
        if args.json || args.csv {
            stderr_line(&format!("procpool: {written}"));
        } else {
            out.line(&written)?;
        }
    }
    out.flush()?;
    if let Some((signal, code)) = stopped {
        return Err(AppError::InterruptedSweep { signal, code, runs_done, runs_planned: total_runs });
    }
    Ok(if any_failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
