//! `procpool [WORKERS]`: each variant of the mode in turn through the same
//! reporting path, then the comparison.

use std::cell::RefCell;
use std::process::ExitCode;
use std::time::Instant;

use procpool_worker::Kernel;

use super::baseline::{self, BASELINE_RUNS};
use super::chart_path;
use super::measure::Plan;
use super::resume::{print_carried, Resume, RunId};
use super::same_file;
use super::signals::StopSignals;
use super::AppError;
use crate::cli::{Mode, RunArgs};
use crate::completed::Completed;
use crate::executor::{RunFacts, Variant};
use crate::input::{shown_path, Reopener};
use crate::report::machine::Machine;
use crate::report::output::{stderr_line, Output};
use crate::report::summary::{RunSummary, Tally};
use crate::report::timeline::Timeline;
use crate::report::{json, lines, text};
use procpool::available_cores;

pub(super) fn variants(mode: Mode) -> &'static [Variant] {
    match mode {
        Mode::Processes => &[Variant::Processes],
        Mode::Rayon => &[Variant::Rayon],
        Mode::Sequential => &[Variant::Sequential],
        Mode::Compare => &[Variant::Processes, Variant::Rayon],
        Mode::All => &[Variant::Sequential, Variant::Processes, Variant::Rayon],
    }
}

/// Runs the command line; `Ok` carries 0 (all checked) or 1 (some jobs failed).
pub fn run(args: &RunArgs, stop: &StopSignals) -> Result<ExitCode, AppError> {
    let machine = Machine::detect();
    let cores = available_cores();
    let workers = args.workers.unwrap_or(cores);
    let kernel = Kernel::from(args.source.kernel);
    let spec = args.source.spec();
    let variants = variants(args.mode);
    let timeline = args.timeline.as_deref().map(|path| ("--timeline", path));
    same_file::refuse_overlaps(&spec, args.resume.as_deref(), timeline)?;
    if let Some(path) = &args.timeline {
        chart_path::check("--timeline", path)?;
    }
    let repeats = if args.mode == Mode::All { BASELINE_RUNS } else { 0 };
    let mut input = Reopener::new(spec.clone(), variants.len() + repeats, stop.flag.clone())?;
    let run_id = RunId::new(&spec, args.mode, kernel)?;
    let mut resume = args.resume.as_ref().map(|path| Resume::open(path, &run_id, spec.name())).transpose()?;
    let mut count = spec.len_hint();
    let stdout_is_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());

    let closed = stop.clone();
    let out = Output::stdout(move || closed.stdout_closed());
    let mut summaries: Vec<RunSummary> = Vec::new();
    let mut measured_one_core = None;
    let mut timeline = args.timeline.as_ref().map(|_| Timeline::default());
    let mut written = Vec::new();
    for (position, &variant) in variants.iter().enumerate() {
        let numbers = input.open()?;
        let per_number = !args.quiet && (args.json || position == 0);
        let workers = if variant == Variant::Sequential { 1 } else { workers };
        // The header waits for the first line under it, so an input that
        // fails at once (empty, a directory) shows only its error. JSON Lines
        // open with the run's identity, which `--resume` checks.
        let header = match (args.json, position) {
            (true, 0) => Some(run_id.header_line()),
            (true, _) => None,
            (false, _) => {
                let blank = if position > 0 { "\n" } else { "" };
                Some(format!("{blank}{}", text::header(count, &spec.name(), variant, workers)))
            }
        };
        let header = RefCell::new(header.into_iter());
        let print = |line: &[u8]| -> std::io::Result<()> {
            header.borrow_mut().try_for_each(|line| out.line(&line))?;
            out.line_bytes(line)
        };
        let mut carry = print_carried(per_number, args.json, &print);
        let started = Instant::now();
        let numbers = match &mut resume {
            Some(resume) => resume.start(numbers, stop, variant, &mut carry)?,
            None => Some(numbers),
        };
        let plan = Plan {
            variant,
            workers,
            kernel,
            retries: args.retries.unwrap_or(2),
            timeout: args.timeout,
            stop,
            cores,
            measured_one_core,
            progress: !(args.json || args.quiet || per_number && stdout_is_terminal),
            source: &spec.name(),
            count: count.map(|count| count.saturating_sub(resume.as_ref().map_or(0, Resume::carried))),
        };
        let mut recorder = if position == 0 { timeline.as_mut() } else { None };
        let mut line = Vec::new();
        let mut summary = match numbers {
            Some(mut numbers) => plan
                .measure(&mut numbers, &mut |batch, thread| {
                    if resume.is_none() && recorder.is_none() && !per_number {
                        return Ok(()); // counted by `measure`; nothing to show or keep
                    }
                    batch.completed().iter().try_for_each(|completed| {
                        let placed;
                        let completed = match &mut resume {
                            Some(resume) => {
                                placed = resume.place(completed, &mut carry)?;
                                &placed
                            }
                            None => completed,
                        };
                        if let (Some(timeline), Completed::Checked(result)) =
                            (recorder.as_deref_mut(), completed)
                        {
                            timeline.record(result, thread);
                        }
                        if per_number {
                            match (completed, args.json) {
                                (_, true) => print(json::completed(variant, completed).as_bytes())?,
                                (Completed::Checked(result), false) => {
                                    line.clear();
                                    lines::write_result_line(result, &mut line);
                                    print(&line)?;
                                }
                                (Completed::Failed(failed), false) => {
                                    print(lines::failure_line(failed).as_bytes())?
                                }
                            }
                        }
                        Ok(())
                    })
                })
                .map_err(|error| match &mut resume {
                    Some(resume) => resume.explain(error),
                    None => error,
                })?,
            // Every result was carried over: nothing ran now.
            None => {
                let wall = started.elapsed();
                RunSummary::new(variant, workers, cores, Tally::default(), RunFacts::default(), wall, None)
            }
        };
        if let Some(resume) = &mut resume {
            resume.finish(&mut carry)?;
            summary.resumed = Some(resume.resumed());
        }
        header.borrow_mut().try_for_each(|line| out.line(&line))?;
        // Later runs' headers and progress bars know how many numbers there are.
        count = count.or(Some(summary.tally.jobs + summary.tally.failed));
        if variant == Variant::Sequential && repeats > 0 {
            let printed = summary.tally.jobs + summary.tally.failed;
            summary = baseline::best_of(repeats, &plan, printed, || Ok(input.open()?))?;
            measured_one_core = Some((summary.wall, summary.one_core_runs));
        }
        if args.json {
            out.line(&json::summary(&summary, kernel.name(), &machine))?;
        } else {
            out.line(&lines::total_line(summary.wall))?;
            for line in text::summary_lines(&summary, kernel.name(), &machine) {
                out.line(&line)?;
            }
        }
        if position == 0 {
            if let (Some(path), Some(timeline)) = (&args.timeline, &timeline) {
                timeline
                    .draw(path, &summary, kernel.name())
                    .map_err(|reason| AppError::Chart { path: shown_path(path), reason })?;
                written.push(format!("Timeline written to {}", shown_path(path)));
            }
        }
        summaries.push(summary);
    }
    if summaries.len() > 1 {
        if args.json {
            let find = |v| summaries.iter().find(|s| s.variant == v);
            if let (Some(p), Some(r)) = (find(Variant::Processes), find(Variant::Rayon)) {
                out.line(&json::comparison(p, r))?;
            }
        } else {
            for line in text::comparison_lines(&summaries) {
                out.line(&line)?;
            }
        }
    }
    for line in written {
        // Text mode says it with the results; JSON Lines keep stdout to JSON.
        if args.json {
            stderr_line(&format!("procpool: {line}"));
        } else {
            out.line(&line)?;
        }
    }
    out.flush()?;
    let any_failed = summaries.iter().any(|s| s.tally.failed > 0);
    Ok(if any_failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
