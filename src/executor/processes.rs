//! The subject of the measurement: prime checks on a [`ProcessPool`] of
//! worker processes. Starting the pool is part of the run, as it is for a user.
//!
//! Numbers go in on a feeder thread, which may block on a slow pipe while
//! this thread keeps printing results as they come.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use procpool::{
    Detailed, Feeder, JobError, Kernel, PoolError, PoolEvent, PrimeCheck, ProcessPool, WorkerOutput,
};

use super::in_flight::InFlight;
use super::{take_chunk, Batch, ExecError, Executor, RunFacts, Sink};
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
            let in_flight = RefCell::new(InFlight::default());
            let jobs = numbers.by_ref().map(|n| {
                in_flight.borrow_mut().push(n);
                PrimeCheck { n, kernel }
            });
            let mut results = pool.map(jobs).with_details();
            let delivered = report(&mut results, &in_flight, |_, _| {}, sink)?;
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
                let refill = |in_flight: &mut InFlight, count: usize| {
                    while in_flight.len() < count {
                        // Sent before the jobs themselves, so it is there already.
                        match numbers_rx.recv() {
                            Ok(numbers) => in_flight.extend(numbers),
                            Err(_) => break,
                        }
                    }
                };
                let delivered = report(&mut results, &RefCell::default(), refill, sink);
                abandon.store(true, Ordering::Relaxed);
                delivered
            })?;
            (delivered, results.retries())
        };
        pool.shutdown();
        Ok(RunFacts { startup, retries, delivered: Some(delivered) })
    }
}

/// Hands every result to the sink, in order, named by the numbers in
/// flight (`refill` brings in at least as many as asked, if it can);
/// returns when the last was handed on. Results are taken a whole chunk at
/// a time, and a chunk that ran goes on packed: with millions of tiny jobs,
/// the supervisor's work per result is what competes with the workers for
/// the cores.
fn report(
    results: &mut Detailed<'_, PrimeCheck>,
    in_flight: &RefCell<InFlight>,
    mut refill: impl FnMut(&mut InFlight, usize),
    sink: &mut Sink<'_>,
) -> Result<Instant, ExecError> {
    let mut records = Vec::new();
    while let Some(chunk) = results.next_chunk() {
        let chunk = match chunk.into_outcomes() {
            Ok((first, pid, outcomes)) => {
                let mut in_flight = in_flight.borrow_mut();
                refill(&mut in_flight, outcomes.len());
                let names = in_flight.take(outcomes.len());
                sink(&mut Batch::packed(first, pid, names, outcomes, &mut records), None)?;
                continue;
            }
            // A job that never ran, or the stream failing.
            Err(chunk) => chunk,
        };
        records.clear();
        for finished in chunk {
            let index = finished.index;
            let error = match finished.result {
                Ok(_) => unreachable!("a chunk that ran is handed on packed"),
                Err(JobError::Pool(error)) => {
                    sink(&mut Batch::of(&records), None)?; // what came before the pool stopped
                    return Err(ExecError::Pool(error));
                }
                Err(error) => error,
            };
            let mut in_flight = in_flight.borrow_mut();
            refill(&mut in_flight, 1);
            let n = in_flight.take(1).first().copied().unwrap_or_default();
            records.push(Completed::Failed(FailedJob { index, n, deaths: error.deaths().to_vec() }));
        }
        sink(&mut Batch::of(&records), None)?;
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
