//! The subject of the measurement: prime checks on a [`ProcessPool`] of
//! worker processes. Starting the pool is part of the run, as it is for a user.
//!
//! Numbers go in on a feeder thread, which may block on a slow pipe while
//! this thread keeps printing results as they come.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use procpool::{
    Detailed, Feeder, JobError, Kernel, PoolError, PoolEvent, PrimeCheck, PrimeResult, ProcessPool,
    WorkerOutput,
};

use super::{take_chunk, ExecError, Executor, RunFacts, Sink};
use crate::completed::{Completed, FailedJob};
use crate::input::Numbers;

/// Numbers handed to the pool at a time when they are ready.
const FEED: usize = 4096;

/// Chunks the feeder thread may be ahead of the results reported (32 x 4096:
/// the pool's default window). The pool bounds only what it has not yet
/// finished, so without this a reader slower than the workers (a terminal,
/// a pipe) let finished results pile up in memory, over 100 MB for 10M numbers.
const AHEAD: usize = 32;

/// Checks numbers on a fresh [`ProcessPool`] per run.
pub struct Processes {
    pub kernel: Kernel,
    pub workers: usize,
    pub retries: u32,
    pub timeout: Option<Duration>,
    pub cancel: Option<Arc<AtomicBool>>,
    /// Where pool events go (the CLI prints them to stderr).
    pub on_event: Option<fn(&PoolEvent<PrimeCheck>)>,
}

impl Processes {
    /// Processes with the defaults: 2 retries, no timeout.
    pub fn new(kernel: Kernel, workers: usize) -> Self {
        Processes { kernel, workers, retries: 2, timeout: None, cancel: None, on_event: None }
    }

    fn pool(&self) -> Result<ProcessPool<PrimeCheck>, ExecError> {
        let mut builder = ProcessPool::builder()
            .workers(self.workers)
            .repeatable(true)
            .retries(self.retries)
            .job_timeout(self.timeout)
            .worker_stdout(WorkerOutput::Null);
        if let Some(flag) = &self.cancel {
            builder = builder.cancel_flag(flag.clone());
        }
        if let Some(hook) = self.on_event {
            builder = builder.on_event(hook);
        }
        Ok(builder.build()?)
    }
}

impl Executor for Processes {
    fn workers(&self) -> usize {
        self.workers
    }

    fn run(&mut self, numbers: &mut Numbers, sink: &mut Sink<'_>) -> Result<RunFacts, ExecError> {
        let pool = self.pool()?;
        let startup = pool.startup_time();
        let kernel = self.kernel;
        let (delivered, retries) = if numbers.never_blocks() {
            // The fixture or a range: the pool pulls it on this thread, and
            // the numbers in flight wait here to name their results.
            let in_flight = RefCell::new(VecDeque::new());
            let jobs = numbers.by_ref().map(|n| {
                in_flight.borrow_mut().push_back(n);
                PrimeCheck { n, kernel }
            });
            let mut results = pool.map(jobs).with_details();
            let delivered =
                report(&mut results, || in_flight.borrow_mut().pop_front().unwrap_or_default(), sink)?;
            (delivered, results.retries())
        } else {
            let (feeder, results) = pool.stream();
            let mut results = results.with_details();
            // Told to the feeder thread when this one stops early, so a read
            // blocked on a pipe gives up and the thread can be joined.
            let abandon = Arc::new(AtomicBool::new(false));
            numbers.stop_on(Arc::clone(&abandon));
            let delivered = thread::scope(|scope| {
                let (numbers_tx, numbers_rx) = mpsc::sync_channel(AHEAD);
                thread::Builder::new()
                    .name("procpool-feeder".into())
                    .spawn_scoped(scope, move || feed(numbers, feeder, kernel, numbers_tx))
                    .map_err(|e| ExecError::from(PoolError::Thread(e)))?;
                let mut pending: VecDeque<u64> = VecDeque::new();
                let next_n = || {
                    if pending.is_empty() {
                        // Sent before the jobs themselves, so it is there already.
                        pending.extend(numbers_rx.recv().unwrap_or_default());
                    }
                    pending.pop_front().unwrap_or_default()
                };
                let delivered = report(&mut results, next_n, sink);
                abandon.store(true, Ordering::Relaxed);
                delivered
            })?;
            (delivered, results.retries())
        };
        pool.shutdown();
        Ok(RunFacts { startup, retries, delivered: Some(delivered) })
    }
}

/// Hands every result to the sink, in order, named by `next_n` (the
/// number of the oldest job not yet reported); returns when the last was
/// handed on. Results are taken a whole chunk at a time: with millions of
/// tiny jobs, the supervisor's work per result is what competes with the
/// workers for the cores.
fn report(
    results: &mut Detailed<'_, PrimeCheck>,
    mut next_n: impl FnMut() -> u64,
    sink: &mut Sink<'_>,
) -> Result<Instant, ExecError> {
    let mut batch = Vec::new();
    while let Some(chunk) = results.next_chunk() {
        batch.clear();
        for finished in chunk {
            let n = next_n();
            batch.push(match finished.result {
                Ok(prime) => Completed::Checked(PrimeResult {
                    index: finished.index,
                    n,
                    prime,
                    started_at: finished.started_at,
                    elapsed: finished.elapsed,
                    cpu: finished.cpu,
                    pid: finished.pid,
                }),
                Err(JobError::Pool(error)) => {
                    sink(&batch, None)?; // what came before the pool stopped
                    return Err(ExecError::Pool(error));
                }
                Err(error) => {
                    Completed::Failed(FailedJob { index: finished.index, n, deaths: error.deaths().to_vec() })
                }
            });
        }
        sink(&batch, None)?;
    }
    Ok(Instant::now())
}

/// Moves numbers from the input to the pool, a ready chunk at a time; each
/// chunk goes to the consumer first, so it can name each result's number.
fn feed(
    numbers: &mut Numbers,
    mut feeder: Feeder<'_, PrimeCheck>,
    kernel: Kernel,
    tx: mpsc::SyncSender<Vec<u64>>,
) {
    loop {
        let chunk = take_chunk(numbers, FEED, true);
        if chunk.is_empty() || tx.send(chunk.clone()).is_err() {
            return;
        }
        for n in chunk {
            if feeder.push(PrimeCheck { n, kernel }).is_err() {
                return;
            }
        }
        if feeder.flush().is_err() {
            return;
        }
    }
}
