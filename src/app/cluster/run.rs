//! One rank's run: its pool first (forking after `MPI_Init` is unsafe with
//! some interconnects), then MPI; then rank 0 leads and the others serve.

use std::cell::RefCell;
use std::io;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mpi::Threading;
use procpool::{available_cores, Kernel, PoolEvent, PrimeCheck, ProcessPool, WorkerOutput};
use procpool_worker::timing::monotonic_now;

use super::hosts;
use super::link::Link;
use super::node::Node;
use super::report::{self, Traffic};
use super::serve::{self, End};
use super::supervisor::{Stopped, Supervisor};
use super::wire::Hello;
use crate::app::measure::print_event;
use crate::app::progress::Progress;
use crate::app::resume::{print_carried, Resume, RunId};
use crate::app::{chart_path, same_file, AppError, StopSignals};
use crate::cli::RunArgs;
use crate::completed::Completed;
use crate::executor::{ExecError, RunFacts, Variant};
use crate::input::{shown_path, Numbers};
use crate::report::machine::Machine;
use crate::report::output::Output;
use crate::report::summary::{RunSummary, Tally};
use crate::report::timeline::Timeline;
use crate::report::{json, lines};

/// A rank's pool may hold every job rank 0 can send it (rank 0's window bounds those).
const LOCAL_WINDOW: usize = 1 << 20;

/// Runs this rank: rank 0 leads, the others serve it.
pub fn run_rank(args: &RunArgs, stop: &StopSignals) -> Result<ExitCode, AppError> {
    let started = Instant::now();
    let workers = args.workers.unwrap_or_else(available_cores);
    let kernel = Kernel::from(args.source.kernel);
    let retries = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&retries);
    let pool = ProcessPool::<PrimeCheck>::builder()
        .workers(workers)
        .repeatable(true)
        .retries(args.retries.unwrap_or(2))
        .job_timeout(args.timeout)
        .worker_stdout(WorkerOutput::Null)
        .window(LOCAL_WINDOW)
        .cancel_flag(stop.flag.clone())
        .on_event(move |event: &PoolEvent<PrimeCheck>| {
            print_event(event);
            if let PoolEvent::WorkerDied { running: Some(_), retrying: true, .. } = event {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .map_err(ExecError::from)?;
    let initialising = Instant::now();
    let Some((universe, _)) = mpi::initialize_with_threading(Threading::Funneled) else {
        return Err(AppError::Cluster("MPI was initialised twice".into()));
    };
    // The launcher's wire-up, like starting a process, is not part of the wall.
    let mpi_init = initialising.elapsed();
    let mut link = Link::new(universe.world());
    let hello = Hello {
        workers,
        cpus: hosts::own_cpus(),
        clock: monotonic_now(),
        host: mpi::environment::processor_name().unwrap_or_else(|_| "?".into()),
    };
    let (result, finalize) = thread::scope(|scope| {
        let mut node = match Node::start(scope, &pool, kernel, retries) {
            Ok(node) => node,
            Err(error) => return (Err(ExecError::from(error).into()), false),
        };
        let ended = if link.rank() == 0 {
            let mut supervisor = Supervisor::new(&mut link, &mut node, hello);
            let result = lead(args, &mut supervisor, stop, (started, mpi_init), pool.startup_time());
            // After a stop signal the launcher is ending every rank: no goodbyes.
            let interrupted = matches!(result, Err(AppError::Interrupted { .. }));
            if !interrupted {
                supervisor.stop_ranks();
            }
            (result, !interrupted)
        } else {
            match serve::serve(&mut link, &mut node, &hello, stop) {
                End::Told => (Ok(ExitCode::SUCCESS), true),
                // Rank 0 says why; the others end quietly.
                End::Failed => (Ok(ExitCode::from(1)), true),
                End::Interrupted => (Ok(interrupted_code(stop)), false),
            }
        };
        node.finish();
        drop(node);
        pool.shutdown();
        ended
    });
    if finalize {
        drop(universe);
    } else {
        // MPI_Finalize waits for ranks that are being killed.
        std::mem::forget(universe);
    }
    result
}

/// The exit code a stop signal calls for (128 + its number).
fn interrupted_code(stop: &StopSignals) -> ExitCode {
    match stop.error(Variant::Mpi, 0) {
        AppError::Interrupted { code, .. } => ExitCode::from(code),
        _ => ExitCode::from(1),
    }
}

/// Rank 0: reads, schedules, prints, sums up.
fn lead(
    args: &RunArgs,
    supervisor: &mut Supervisor<'_, '_>,
    stop: &StopSignals,
    (started, mpi_init): (Instant, Duration),
    startup: Duration,
) -> Result<ExitCode, AppError> {
    let machine = Machine::detect();
    let kernel = Kernel::from(args.source.kernel);
    let spec = args.source.spec();
    let timeline = args.timeline.as_deref().map(|path| ("--timeline", path));
    same_file::refuse_overlaps(&spec, args.resume.as_deref(), timeline)?;
    if let Some(path) = &args.timeline {
        chart_path::check("--timeline", path)?;
    }
    let numbers = spec.open()?;
    let run_id = RunId::named(&spec, "mpi".into(), kernel)?;
    let mut resume = args.resume.as_ref().map(|path| Resume::open(path, &run_id, spec.name())).transpose()?;
    let ranks = supervisor.ranks.len();
    let count = spec.len_hint();
    let closed = stop.clone();
    let out = Output::stdout(move || closed.stdout_closed());
    // As in a local run: JSON Lines open with the run's identity, which
    // `--resume` checks; either header waits for the first line under it.
    let header = if args.json { run_id.header_line() } else { report::header(count, &spec.name(), ranks) };
    let header = RefCell::new(Some(header).into_iter());
    let print = |line: &[u8]| -> io::Result<()> {
        header.borrow_mut().try_for_each(|line| out.line(&line))?;
        out.line_bytes(line)
    };
    let per_number = !args.quiet;
    let mut carry = print_carried(per_number, args.json, &print);
    let numbers = match &mut resume {
        Some(resume) => resume.start(numbers, stop, Variant::Mpi, &mut carry)?,
        None => Some(numbers),
    };
    let stdout_is_terminal = io::IsTerminal::is_terminal(&io::stdout());
    let mut progress = Progress::new(
        !(args.json || args.quiet || per_number && stdout_is_terminal),
        format!("mpi x{ranks} ranks"),
        count,
    );
    let mut tally = Tally::default();
    let mut jobs = vec![0u64; ranks];
    let mut cpu = vec![Duration::ZERO; ranks];
    let mut timeline = args.timeline.as_ref().map(|_| Timeline::default());
    let mut line = Vec::new();
    let mut sink = |completed: Completed, rank: usize, host: &str| {
        if stop.raised() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "stop signal"));
        }
        let completed = match &mut resume {
            Some(resume) => resume.place(&completed, &mut carry)?,
            None => completed,
        };
        tally.add(&completed);
        if let Completed::Checked(result) = &completed {
            jobs[rank] += 1;
            cpu[rank] += result.cpu;
            if let Some(timeline) = timeline.as_mut() {
                timeline.record_on(result, host);
            }
        }
        progress.tick(1);
        if per_number {
            match (&completed, args.json) {
                (_, true) => print(json::completed_on(Variant::Mpi, &completed, Some(host)).as_bytes())?,
                (Completed::Checked(result), false) => {
                    line.clear();
                    lines::write_result_line(result, &mut line);
                    print(&line)?;
                }
                (Completed::Failed(failed), false) => print(lines::failure_line(failed).as_bytes())?,
            }
        }
        Ok(())
    };
    // Every result carried over: nothing is left to send to the ranks.
    let outcome = match numbers {
        Some(mut numbers) => supervisor.run(&mut numbers, stop, &mut sink).map(|at| (at, Some(numbers))),
        None => Ok((Instant::now(), None)),
    };
    drop(progress);
    let results = tally.jobs + tally.failed;
    let stopped = |outcome| -> Result<_, AppError> {
        match outcome {
            Ok(_) if stop.raised() => Err(stop.error(Variant::Mpi, results)),
            Ok(ended) => Ok(ended),
            Err(Stopped::Interrupted) => Err(stop.error(Variant::Mpi, results)),
            Err(Stopped::Sink(e)) if stop.raised() || e.kind() == io::ErrorKind::Interrupted => {
                Err(stop.error(Variant::Mpi, results))
            }
            Err(Stopped::Sink(e)) => Err(AppError::Output(e)),
            Err(Stopped::Rank { rank, message }) => {
                let host = supervisor
                    .ranks
                    .get(rank)
                    .and_then(Option::as_ref)
                    .map_or("?", |r| r.hello.host.as_str());
                Err(AppError::Cluster(format!(
                    "rank {rank} on {host} cannot go on, after {results} results (every printed line is correct and in order): {message}"
                )))
            }
            Err(Stopped::Violation(message)) => Err(AppError::Cluster(format!("MPI run stopped: {message}"))),
        }
    };
    let (delivered, numbers) = stopped(outcome).map_err(|error| match &mut resume {
        Some(resume) => resume.explain(error),
        None => error,
    })?;
    if let Some(error) = numbers.as_ref().and_then(Numbers::error) {
        return Err(error.clone().into());
    }
    if let Some(resume) = &mut resume {
        resume.finish(&mut carry)?;
    }
    header.borrow_mut().try_for_each(|line| out.line(&line))?;
    let carried = resume.as_ref().map_or(0, Resume::carried);
    if results == 0 && carried == 0 {
        let reason = "no numbers to check".into();
        return Err(crate::input::InputError::Source { origin: spec.name(), reason }.into());
    }
    let wall = delivered.saturating_duration_since(started).saturating_sub(mpi_init);
    supervisor.await_hellos();
    let hellos: Vec<Option<Hello>> =
        supervisor.ranks.iter().map(|rank| rank.as_ref().map(|r| r.hello.clone())).collect();
    let hosts = hosts::by_host(&hellos, &jobs, &cpu);
    let workers = hosts.iter().map(|h| h.workers).sum();
    let cores = hosts.iter().map(|h| h.cores).sum();
    let facts = RunFacts { startup, retries: supervisor.retries(), delivered: Some(delivered) };
    let mut summary = RunSummary::new(Variant::Mpi, workers, cores, tally, facts, wall, None);
    summary.resumed = resume.as_ref().map(Resume::resumed);
    let (sent, received) = supervisor.traffic();
    let traffic = Traffic { sent, received, remote_jobs: jobs.iter().skip(1).sum(), mpi_init };
    if args.json {
        out.line(&report::summary_json(&summary, &hosts, &traffic, kernel.name(), &machine))?;
    } else {
        out.line(&lines::total_line(summary.wall))?;
        for line in report::summary_lines(&summary, &hosts, &traffic, kernel.name(), &machine) {
            out.line(&line)?;
        }
    }
    if let (Some(path), Some(timeline)) = (&args.timeline, &timeline) {
        timeline
            .draw(path, &summary, kernel.name())
            .map_err(|reason| AppError::Chart { path: shown_path(path), reason })?;
        let line = format!("Timeline written to {}", shown_path(path));
        if args.json {
            eprintln!("procpool: {line}");
        } else {
            out.line(&line)?;
        }
    }
    out.flush()?;
    Ok(if summary.tally.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
