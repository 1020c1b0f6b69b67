//! The command line, as clap definitions and nothing else.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::input::{parse_range, InputSpec};
use procpool::MAX_WORKERS;

const EXAMPLES: &str = "\
Examples:
  procpool 12                          the classic 20 numbers on 12 processes, then on 12 rayon threads
  procpool --mode all 2                also time one core, measured instead of derived
  procpool --range 1..1000001 --quiet 2
  seq 1000 2000 | procpool --input - --mode processes --json
  procpool 4 --timeline run.svg       which worker ran which number, when
  procpool 2 --mode processes --json --resume run.jsonl > run2.jsonl    finish a killed --json run
  procpool --range 1..1000001 --kernel fast 2    answers quickly; too little work to measure speedup
  procpool sweep 8 --plot speedup.svg
  procpool completions bash > /etc/bash_completion.d/procpool

Environment:
  PROCPOOL_FORK_SERVER=0               execute every worker instead of forking it from the fork server
  TMPDIR                               where workers' handshake sockets go, and the copy of a piped
                                       input that compare, all and sweep read again (default /tmp)

Exit codes: 0 done, 1 a job or the pool failed or stdout could not be written, 2 bad input or usage,
  128+N stopped by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP)";

/// Run prime checks on worker processes and measure how the work scales over cores.
#[derive(Debug, Parser)]
#[command(name = "procpool", version, about, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the numbers with 1..=MAX workers, processes and rayon side by side, and tabulate the scaling
    #[command(after_help = "Example:\n  procpool sweep 4 --runs 5 --plot speedup.svg")]
    Sweep(SweepArgs),
    /// Print a shell completion script to stdout
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where the numbers come from and how they are checked: shared by every command.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Read numbers from FILE, one decimal per line ("-" for stdin); `#` starts a comment
    #[arg(long, value_name = "FILE", conflicts_with = "range")]
    pub input: Option<PathBuf>,

    /// Check START..END (END exclusive) instead of the classic 20 numbers
    #[arg(long, value_name = "START..END", value_parser = parse_range)]
    pub range: Option<InputSpec>,

    /// The primality kernel: the book's loop measures real work; `fast` gets answers quickly
    #[arg(long, value_enum, default_value_t = KernelArg::Book)]
    pub kernel: KernelArg,
}

/// `procpool [WORKERS]`: one measured run.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Worker processes (and rayon threads) [default: the cores this process may use]
    #[arg(value_parser = parse_workers)]
    pub workers: Option<usize>,

    #[command(flatten)]
    pub source: InputArgs,

    /// Run under an MPI launcher (mpirun, srun): rank 0 reads and prints, every rank runs WORKERS processes
    #[arg(long, conflicts_with = "mode")]
    pub mpi: bool,

    /// What to run
    #[arg(long, value_enum, default_value_t = Mode::Compare)]
    pub mode: Mode,

    /// No per-number lines: summaries only
    #[arg(long, short)]
    pub quiet: bool,

    /// JSON Lines on stdout (schema in README.md)
    #[arg(long)]
    pub json: bool,

    /// Re-runs of a job that was running when its worker died, before it is reported failed (worker processes only) [default: 2]
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,

    /// Kill a worker that has answered nothing for SECS (0.1..=86400), then retry or fail its job (worker processes only)
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// Draw which worker ran which number when, as an SVG Gantt chart (the first variant run)
    #[arg(long, value_name = "FILE.svg")]
    pub timeline: Option<PathBuf>,

    /// Finish the run whose --json output FILE is: keep its results, check only the missing numbers
    #[arg(long, value_name = "FILE.jsonl")]
    pub resume: Option<PathBuf>,
}

/// `procpool sweep [MAX]`: the scaling curve.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Largest worker count [default: twice the cores this process may use]
    #[arg(value_parser = parse_workers)]
    pub max: Option<usize>,

    #[command(flatten)]
    pub source: InputArgs,

    /// Runs per point; the table shows the median and the min-max range
    #[arg(long, value_name = "R", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,

    /// Draw the speedup curves (processes, rayon, ideal) as an SVG chart
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// One JSON document on stdout: machine info and every point (schema in README.md)
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,

    /// The table as CSV on stdout
    #[arg(long)]
    pub csv: bool,

    /// Refused with a reason: a sweep has nothing to resume
    #[arg(long, value_name = "FILE.jsonl", hide = true)]
    pub resume: Option<PathBuf>,
}

/// Which executors a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Worker processes only
    Processes,
    /// Rayon threads only
    Rayon,
    /// One thread, no parallelism
    Sequential,
    /// Processes, then rayon, then the comparison
    Compare,
    /// Sequential (the measured one-core time), processes, rayon
    All,
}

/// `--kernel` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KernelArg {
    /// The book's loop: odd trial divisors up to isqrt(n)
    Book,
    /// Trial division made fast; same verdicts
    Fast,
}

impl From<KernelArg> for procpool_worker::Kernel {
    fn from(arg: KernelArg) -> Self {
        match arg {
            KernelArg::Book => procpool_worker::Kernel::Book,
            KernelArg::Fast => procpool_worker::Kernel::Fast,
        }
    }
}

impl InputArgs {
    /// Where this run's numbers come from.
    pub fn spec(&self) -> InputSpec {
        match (&self.input, &self.range) {
            (Some(path), _) if path.as_os_str() == "-" => InputSpec::Stdin,
            (Some(path), _) => InputSpec::File(path.clone()),
            (None, Some(range)) => range.clone(),
            (None, None) => InputSpec::Fixture,
        }
    }
}

impl RunArgs {
    /// Flags that only make sense for worker processes, checked against `--mode`.
    pub fn check_conflicts(&self) -> Result<(), String> {
        let processes = matches!(self.mode, Mode::Processes | Mode::Compare | Mode::All);
        // `--mpi` has one variant of its own (`--mode` is refused with it).
        if self.resume.is_some() && !self.mpi && matches!(self.mode, Mode::Compare | Mode::All) {
            return Err(format!(
                "--resume finishes a run of one variant; --mode {} checks every number more than once \
                 to compare, which cannot be resumed halfway: use --mode processes, rayon or sequential",
                mode_name(self.mode)
            ));
        }
        if !processes && (self.retries.is_some() || self.timeout.is_some()) {
            return Err(format!(
                "--retries and --timeout apply to worker processes, not to --mode {}",
                mode_name(self.mode)
            ));
        }
        Ok(())
    }
}

/// A mode as it is spelt on the command line.
pub fn mode_name(mode: Mode) -> String {
    mode.to_possible_value().map_or_else(String::new, |v| v.get_name().to_owned())
}

/// clap reads a word after WORKERS as a subcommand and calls it one
/// (`the subcommand 'extra' cannot be used with '[WORKERS]'`); say instead
/// that it is an extra word, and where the real subcommands go.
pub fn stray_word_error(error: &clap::Error) -> Option<clap::Error> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::ArgumentConflict {
        return None;
    }
    let Some(ContextValue::String(word)) = error.get(ContextKind::InvalidSubcommand) else {
        return None;
    };
    let message = format!(
        "unexpected argument '{word}': procpool takes one WORKERS number; \
         the commands `sweep` and `completions` come first, without WORKERS"
    );
    Some(<Cli as clap::CommandFactory>::command().error(ErrorKind::UnknownArgument, message))
}

fn parse_workers(text: &str) -> Result<usize, String> {
    let range = format!("must be between 1 and {MAX_WORKERS}");
    let workers: usize = text.parse().map_err(|e: std::num::ParseIntError| match e.kind() {
        // Digits, just too many of them for a usize.
        std::num::IntErrorKind::PosOverflow => format!("too large: {range}"),
        _ => format!("{text:?} is not a whole number"),
    })?;
    if (1..=MAX_WORKERS).contains(&workers) {
        Ok(workers)
    } else {
        Err(range)
    }
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    // Below 0.1 s the clock would be coarser than the limit: a worker answers
    // at least every 20 ms, and the timeout runs from its last answer.
    if secs.is_finite() && (0.1..=86_400.0).contains(&secs) {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err("must be between 0.1 and 86400 seconds".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_number_is_workers_and_a_name_is_a_subcommand() {
        let cli = Cli::try_parse_from(["procpool", "12"]).unwrap();
        assert_eq!((cli.run.workers, cli.command.is_none()), (Some(12), true));
        let cli = Cli::try_parse_from(["procpool", "sweep", "4", "--runs", "2"]).unwrap();
        match cli.command {
            Some(Command::Sweep(sweep)) => assert_eq!((sweep.max, sweep.runs), (Some(4), 2)),
            other => panic!("{other:?}"),
        }
    }
}
