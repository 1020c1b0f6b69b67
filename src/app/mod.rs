//! The command-line program: dispatches to a measured run, a sweep, or
//! completions, and turns every failure into one message and an exit code.

mod baseline;
mod busy;
mod chart_path;
mod cluster;
mod measure;
mod progress;
mod resume;
mod run;
mod same_file;
mod signals;
mod stuck_output;
mod sweep;

use std::io::{self, Write};
use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::executor::{ExecError, Variant};
use crate::input::InputError;

pub use signals::StopSignals;

/// Why the program stopped early; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Run(#[from] ExecError),
    #[error("stopped by {signal} during the {variant} run after {results} results (every printed line is correct and in order)")]
    Interrupted { signal: &'static str, code: u8, variant: Variant, results: u64 },
    /// Stopped while `--mode all` repeated the sequential run, silently, to
    /// time the one-core baseline: every one of its `results` is printed.
    #[error("stopped by {signal} while the sequential run was repeated to time the one-core baseline (repeat {repeat} of {runs}), after all its {results} results (every printed line is correct and in order)")]
    InterruptedBaseline { signal: &'static str, code: u8, repeat: usize, runs: usize, results: u64 },
    /// Stopped mid-sweep, after the finished runs' table (and chart) was written.
    #[error("stopped by {signal} during the sweep after {runs_done} of {runs_planned} runs (the table shows the runs that finished)")]
    InterruptedSweep { signal: &'static str, code: u8, runs_done: usize, runs_planned: usize },
    #[error("cannot install signal handlers: {0}")]
    Signals(io::Error),
    #[error("cannot write to stdout: {0}")]
    Output(#[from] io::Error),
    /// A cluster run (`--mpi`) could not go on: a rank failed, or MPI did.
    #[error("{0}")]
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    Cluster(String),
    #[error("cannot write the chart {path}: {reason}")]
    Chart { path: String, reason: String },
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

    /// 2 for bad usage or input (a chart path that turned out unwritable
    /// included), 129/130/143 for a stop signal, 1 for a run that failed.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            AppError::Input(InputError::Thread { .. }) => ExitCode::from(1),
            AppError::Input(_) | AppError::Usage(_) | AppError::Chart { .. } => ExitCode::from(2),
            AppError::Interrupted { code, .. }
            | AppError::InterruptedBaseline { code, .. }
            | AppError::InterruptedSweep { code, .. } => ExitCode::from(*code),
            _ => ExitCode::from(1),
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> Result<ExitCode, AppError> {
    match &cli.command {
        Some(Command::Completions { shell }) => {
            // Generated in memory: clap_complete panics on a write error.
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "procpool", &mut script);
            let mut stdout = io::stdout().lock();
            stdout.write_all(&script).and_then(|()| stdout.flush())?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Sweep(args)) => {
            if args.resume.is_some() {
                return Err(AppError::Usage(
                    "--resume finishes one run; a sweep times every point afresh and has nothing to resume"
                        .into(),
                ));
            }
            let stop = StopSignals::install(fork_server_now).map_err(AppError::Signals)?;
            sweep::sweep(args, &stop)
        }
        None => {
            cli.run
                .check_conflicts()
                .map_err(|conflict| AppError::Usage(format!("{conflict} (see --help)")))?;
            let processes = run::variants(cli.run.mode).contains(&Variant::Processes);
            let stop = StopSignals::install(|| {
                if processes {
                    fork_server_now();
                }
            })
            .map_err(AppError::Signals)?;
            if cli.run.mpi {
                return cluster::run(&cli.run, &stop);
            }
            run::run(&cli.run, &stop)
        }
    }
}

/// Starts the pools' fork server while this process has one thread (its
/// stop signals handled already, so that one arriving now is reported as
/// any other; no output thread yet), so that no pool waits for one to be
/// executed. Without it (it could not fork) a pool executes its own.
fn fork_server_now() {
    let _ = procpool::start_fork_server();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_that_cannot_be_written_is_a_usage_error_not_a_failed_run() {
        let chart = AppError::Chart { path: "t.svg".into(), reason: "disk full".into() };
        assert_eq!(chart.exit_code(), ExitCode::from(2));
    }
}
