//! The command line, as clap definitions and nothing else.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::input::{parse_range, InputSpec};
use crate::pool::MAX_WORKERS;

const EXAMPLES: &str = "\
Examples:
  procpool 12                        the classic 20 numbers on 12 processes, then on 12 rayon threads
  procpool --mode all 2              also time one core, measured instead of derived
  procpool --range 1..1000001 --quiet 2
  seq 1000 2000 | procpool --input - --mode processes --json";

/// Run prime checks on worker processes and measure how the work scales over cores.
#[derive(Debug, Parser)]
#[command(name = "procpool", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// Worker processes (and rayon threads) [default: the cores this process may use]
    #[arg(value_parser = parse_workers)]
    pub workers: Option<usize>,

    /// Read numbers from FILE, one decimal per line ("-" for stdin); `#` starts a comment
    #[arg(long, value_name = "FILE", conflicts_with = "range")]
    pub input: Option<PathBuf>,

    /// Check START..END (END exclusive) instead of the classic 20 numbers
    #[arg(long, value_name = "START..END", value_parser = parse_range)]
    pub range: Option<InputSpec>,

    /// What to run
    #[arg(long, value_enum, default_value_t = Mode::Compare)]
    pub mode: Mode,

    /// The primality kernel
    #[arg(long, value_enum, default_value_t = KernelArg::Fast)]
    pub kernel: KernelArg,

    /// No per-number lines: summaries only
    #[arg(long, short)]
    pub quiet: bool,

    /// JSON Lines on stdout (schema in README.md)
    #[arg(long)]
    pub json: bool,

    /// Re-runs of a job whose worker died, before the job is reported failed [default: 2]
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,

    /// Kill a worker whose job runs longer than SECS, then retry or fail the job
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
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

impl Cli {
    /// Flags that only make sense for worker processes, checked against `--mode`.
    pub fn check_conflicts(&self) -> Result<(), String> {
        let processes = matches!(self.mode, Mode::Processes | Mode::Compare | Mode::All);
        if !processes && (self.retries.is_some() || self.timeout.is_some()) {
            return Err(format!(
                "--retries and --timeout apply to worker processes, not to --mode {}",
                self.mode
                    .to_possible_value()
                    .map_or_else(String::new, |v| v.get_name().to_owned())
            ));
        }
        Ok(())
    }

    /// Where this run's numbers come from.
    pub fn input_spec(&self) -> InputSpec {
        match (&self.input, &self.range) {
            (Some(path), _) if path.as_os_str() == "-" => InputSpec::Stdin,
            (Some(path), _) => InputSpec::File(path.clone()),
            (None, Some(range)) => range.clone(),
            (None, None) => InputSpec::Fixture,
        }
    }
}

fn parse_workers(text: &str) -> Result<usize, String> {
    let workers: usize = text
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number"))?;
    if (1..=MAX_WORKERS).contains(&workers) {
        Ok(workers)
    } else {
        Err(format!("must be between 1 and {MAX_WORKERS}"))
    }
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err("must be more than 0 and at most 86400 seconds".into())
    }
}
