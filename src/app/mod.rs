//! The command-line program: read the input, run each variant through the
//! same reporting path, print the comparison, choose the exit code.

mod signals;

use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use procpool_worker::Kernel;

use crate::cli::{Cli, Mode};
use crate::executor::{ExecError, Executor, Processes, RayonThreads, Sequential, Variant};
use crate::input::{InputError, InputSpec, Numbers};
use crate::pool::{available_cores, Completed, PoolError, PoolEvent};
use crate::report::output::Output;
use crate::report::summary::{RunSummary, Tally};
use crate::report::{json, lines, text};

pub use signals::StopSignals;

/// Why the program stopped early; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("{0}")]
    Run(#[from] ExecError),
    #[error("cannot install signal handlers: {0}")]
    Signals(io::Error),
    #[error("cannot write results: {0}")]
    Output(#[from] io::Error),
}

impl AppError {
    /// True when stdout was closed by the reader (`procpool | head`): not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            AppError::Output(e) | AppError::Run(ExecError::Sink(e)) => e,
            _ => return false,
        };
        io.kind() == io::ErrorKind::BrokenPipe
    }

    /// 2 for bad input, 1 for a run that failed.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            AppError::Input(_) => ExitCode::from(2),
            AppError::Run(_) | AppError::Signals(_) | AppError::Output(_) => ExitCode::from(1),
        }
    }
}

fn variants(mode: Mode) -> &'static [Variant] {
    match mode {
        Mode::Processes => &[Variant::Processes],
        Mode::Rayon => &[Variant::Rayon],
        Mode::Sequential => &[Variant::Sequential],
        Mode::Compare => &[Variant::Processes, Variant::Rayon],
        Mode::All => &[Variant::Sequential, Variant::Processes, Variant::Rayon],
    }
}

fn print_event(event: &PoolEvent) {
    eprintln!("procpool: {event}");
}

/// Runs the command line; `Ok` carries 0 (all checked) or 1 (some jobs failed)
/// or 130/143 (interrupted).
pub fn run(cli: &Cli) -> Result<ExitCode, AppError> {
    let stop = StopSignals::install().map_err(AppError::Signals)?;
    let cores = available_cores();
    let workers = cli.workers.unwrap_or(cores);
    let kernel = Kernel::from(cli.kernel);
    let spec = cli.input_spec();
    let variants = variants(cli.mode);
    // Stdin can be read once: with several variants, read it up front.
    let spooled = if variants.len() > 1 && spec == InputSpec::Stdin {
        let mut numbers = spec.open()?;
        let all: Vec<u64> = numbers.by_ref().collect();
        if let Some(error) = numbers.error() {
            return Err(error.clone().into());
        }
        Some(all)
    } else {
        None
    };

    let out = Output::stdout();
    let mut summaries: Vec<RunSummary> = Vec::new();
    let mut measured_one_core: Option<Duration> = None;
    let mut any_failed = false;
    for (position, &variant) in variants.iter().enumerate() {
        let mut numbers: Numbers = match &spooled {
            Some(all) => Numbers::from_vec(all.clone()),
            None => spec.open()?,
        };
        let count = spooled.as_ref().map(|all| all.len() as u64).or(spec.len_hint());
        let per_number = !cli.quiet && (cli.json || position == 0);
        if !cli.json {
            if position > 0 {
                out.line("")?;
            }
            out.line(&text::header(
                count,
                &spec.name(),
                variant,
                workers_of(variant, workers),
            ))?;
        }
        let mut executor = make_executor(variant, cli, kernel, workers, &stop);
        let mut tally = Tally::default();
        let started = Instant::now();
        let outcome = executor.run(&mut numbers, &mut |completed: Completed| {
            if stop.raised() {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "stop signal"));
            }
            tally.add(&completed);
            if per_number {
                let line = match (&completed, cli.json) {
                    (_, true) => json::completed(variant, &completed),
                    (Completed::Checked(result), false) => lines::result_line(result),
                    (Completed::Failed(failed), false) => lines::failure_line(failed),
                };
                out.line(&line)?;
            }
            Ok(())
        });
        let wall = started.elapsed();
        let facts = match outcome {
            Ok(facts) => facts,
            Err(e) if stop.raised() || is_interrupt(&e) => {
                out.flush()?;
                eprintln!(
                    "procpool: stopped by {} during the {variant} run after {} results (every printed line is correct and in order)",
                    stop.name(),
                    tally.jobs + tally.failed
                );
                return Ok(ExitCode::from(stop.exit_code()));
            }
            Err(e) => {
                out.flush()?;
                return Err(e.into());
            }
        };
        // A bad line ends the stream early: report it after the correct prefix.
        if let Some(error) = numbers.error() {
            out.flush()?;
            return Err(error.clone().into());
        }
        if tally.jobs + tally.failed == 0 {
            return Err(InputError::Source {
                origin: spec.name(),
                reason: "no numbers to check".into(),
            }
            .into());
        }
        any_failed |= tally.failed > 0;
        if variant == Variant::Sequential {
            measured_one_core = Some(wall);
        }
        let summary = RunSummary::new(
            variant,
            executor.workers(),
            cores,
            tally,
            facts,
            wall,
            measured_one_core,
        );
        if cli.json {
            out.line(&json::summary(&summary, kernel.name()))?;
        } else {
            out.line(&lines::total_line(wall))?;
            for line in text::summary_lines(&summary, kernel.name()) {
                out.line(&line)?;
            }
        }
        summaries.push(summary);
    }
    if summaries.len() > 1 {
        let parallel: Vec<RunSummary> = summaries
            .iter()
            .filter(|s| s.variant != Variant::Sequential)
            .cloned()
            .collect();
        if cli.json {
            if let [p, r] = parallel.as_slice() {
                out.line(&json::comparison(p, r))?;
            }
        } else {
            for line in text::comparison_lines(&summaries) {
                out.line(&line)?;
            }
        }
    }
    out.flush()?;
    Ok(if any_failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn workers_of(variant: Variant, workers: usize) -> usize {
    if variant == Variant::Sequential {
        1
    } else {
        workers
    }
}

fn make_executor(
    variant: Variant,
    cli: &Cli,
    kernel: Kernel,
    workers: usize,
    stop: &StopSignals,
) -> Box<dyn Executor> {
    match variant {
        Variant::Sequential => Box::new(Sequential { kernel }),
        Variant::Rayon => Box::new(RayonThreads {
            kernel,
            threads: workers,
        }),
        Variant::Processes => {
            let mut processes = Processes::new(kernel, workers);
            processes.retries = cli.retries.unwrap_or(2);
            processes.timeout = cli.timeout;
            processes.cancel = Some(stop.flag.clone());
            processes.on_event = Some(print_event);
            Box::new(processes)
        }
    }
}

fn is_interrupt(error: &ExecError) -> bool {
    match error {
        ExecError::Pool(PoolError::Cancelled) => true,
        ExecError::Sink(e) => e.kind() == io::ErrorKind::Interrupted,
        _ => false,
    }
}
