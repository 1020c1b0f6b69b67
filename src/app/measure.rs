//! One variant, measured: the executor run, the tally, the wall clock, the
//! progress bar, and the summary. Shared by the normal run and the sweep.

use std::io;
use std::time::{Duration, Instant};

use procpool_worker::Kernel;

use super::busy::CpuSample;
use super::progress::Progress;
use super::signals::StopSignals;
use super::AppError;
use crate::executor::{Batch, ExecError, Executor, Processes, RayonThreads, Sequential, Sink, Variant};
use crate::input::{InputError, Numbers};
use procpool::{PoolError, PoolEvent, PrimeCheck};

use crate::report::output::stderr_line;
use crate::report::summary::{RunSummary, Tally};

/// How to run one variant.
#[derive(Clone)]
pub struct Plan<'a> {
    pub variant: Variant,
    pub workers: usize,
    pub kernel: Kernel,
    pub retries: u32,
    pub timeout: Option<Duration>,
    pub stop: &'a StopSignals,
    /// Logical cores of the machine, for the summary.
    pub cores: usize,
    /// A sequential run's wall time from this invocation, if any, with the
    /// number of timed runs it is the best of.
    pub measured_one_core: Option<(Duration, usize)>,
    /// Whether a progress bar may appear (see [`Progress::new`]).
    pub progress: bool,
    /// For messages: where the numbers come from, and how many there are if known.
    pub source: &'a str,
    pub count: Option<u64>,
}

/// Pool events on stderr (a job shows as its number).
pub(super) fn print_event(event: &PoolEvent<PrimeCheck>) {
    stderr_line(&format!("procpool: {event}"));
}

impl Plan<'_> {
    fn executor(&self) -> Box<dyn Executor> {
        match self.variant {
            Variant::Sequential => Box::new(Sequential { kernel: self.kernel }),
            Variant::Rayon => Box::new(RayonThreads { kernel: self.kernel, threads: self.workers }),
            Variant::Mpi => unreachable!("an MPI run has its own loop (app::cluster)"),
            Variant::Processes => {
                let mut processes = Processes::new(self.kernel, self.workers);
                processes.retries = self.retries;
                processes.timeout = self.timeout;
                processes.cancel = Some(self.stop.flag.clone());
                processes.on_event = Some(print_event);
                Box::new(processes)
            }
        }
    }

    /// Runs the variant over `numbers`, handing every finished job to `each`
    /// in submission order, and sums it up. A bad input line, a stop signal,
    /// or empty input end it with the matching [`AppError`].
    pub fn measure(&self, numbers: &mut Numbers, each: &mut Sink<'_>) -> Result<RunSummary, AppError> {
        numbers.stop_on(self.stop.flag.clone());
        let mut executor = self.executor();
        let mut tally = Tally::default();
        let mut progress =
            Progress::new(self.progress, format!("{} x{}", self.variant, self.workers), self.count);
        // Wall time runs from before the executor starts (worker processes or
        // threads included) to the moment the last result has been handed
        // on (what a user waits for); tearing the pool down afterwards is not.
        let before = CpuSample::now();
        let started = Instant::now();
        let outcome = executor.run(numbers, &mut |batch: &mut Batch<'_>, thread| {
            if self.stop.raised() {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "stop signal"));
            }
            tally.add_batch(batch);
            progress.tick(batch.len() as u64);
            each(batch, thread)
        });
        let returned = Instant::now();
        let others_busy = CpuSample::now().zip(before).map(|(after, before)| after.others_since(&before));
        drop(progress);
        let interrupted = |tally: &Tally| self.stop.error(self.variant, tally.jobs + tally.failed);
        let facts = match outcome {
            // A stop signal can also end the input early, which looks like success.
            Ok(_) if self.stop.raised() => return Err(interrupted(&tally)),
            Ok(facts) => facts,
            Err(e) if self.stop.raised() || is_interrupt(&e) => return Err(interrupted(&tally)),
            Err(e) => return Err(e.into()),
        };
        // A bad line ends the stream early: it is reported after the correct prefix.
        if let Some(error) = numbers.error() {
            return Err(error.clone().into());
        }
        if tally.jobs + tally.failed == 0 {
            let reason = "no numbers to check".into();
            return Err(InputError::Source { origin: self.source.to_owned(), reason }.into());
        }
        let wall = facts.delivered.unwrap_or(returned).saturating_duration_since(started);
        let (one_core, one_core_runs) = match self.measured_one_core {
            _ if self.variant == Variant::Sequential => (Some(wall), 1),
            Some((time, runs)) => (Some(time), runs),
            None => (None, 1),
        };
        let mut summary =
            RunSummary::new(self.variant, executor.workers(), self.cores, tally, facts, wall, one_core);
        summary.one_core_runs = one_core_runs;
        summary.others_busy = others_busy;
        Ok(summary)
    }
}

fn is_interrupt(error: &ExecError) -> bool {
    match error {
        ExecError::Pool(e) if matches!(**e, PoolError::Cancelled) => true,
        ExecError::Sink(e) => e.kind() == io::ErrorKind::Interrupted,
        _ => false,
    }
}
