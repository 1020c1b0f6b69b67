//! The in-process comparison: the same jobs on a rayon `ThreadPool` of
//! WORKERS threads, streamed back in submission order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use procpool_worker::protocol::{Outcome, PrimeResult};
use procpool_worker::serve::FLUSH_AFTER;
use procpool_worker::timing::check_timed;
use procpool_worker::Kernel;
use rayon::prelude::*;

use super::{take_chunk, ExecError, Executor, RunFacts, Sink, Variant};
use crate::pool::{BatchSizer, Completed, Reorder, DEFAULT_WINDOW};

/// Checks numbers with rayon's `par_chunks` on its own thread pool.
pub struct RayonThreads {
    pub kernel: Kernel,
    pub threads: usize,
}

impl Executor for RayonThreads {
    fn variant(&self) -> Variant {
        Variant::Rayon
    }

    fn workers(&self) -> usize {
        self.threads
    }

    fn run(
        &mut self,
        numbers: &mut dyn Iterator<Item = u64>,
        sink: &mut Sink<'_>,
    ) -> Result<RunFacts, ExecError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .build()?;
        let pid = std::process::id();
        let kernel = self.kernel;
        let mut sizer = BatchSizer::default();
        let mut base = 0u64;
        loop {
            // A window of input at a time keeps memory bounded on endless input.
            let window = take_chunk(numbers, DEFAULT_WINDOW);
            if window.is_empty() {
                return Ok(RunFacts::default());
            }
            let grain = sizer.batch_size(window.len().div_ceil(4 * self.threads));
            let (tx, rx) = mpsc::channel::<(usize, Vec<Outcome>)>();
            let mut reorder = Reorder::default();
            let mut emitted = 0usize;
            let mut failure = None;
            let stop = AtomicBool::new(false);
            pool.in_place_scope(|scope| {
                let (chunks, stop) = (&window, &stop);
                scope.spawn(move |_| {
                    chunks
                        .par_chunks(grain)
                        .enumerate()
                        .for_each_with(tx, |tx, (c, chunk)| {
                            if stop.load(Ordering::Relaxed) {
                                return; // the sink failed; nobody wants the rest
                            }
                            let _ = check_timed(kernel, chunk, FLUSH_AFTER, |offset, outcomes| {
                                tx.send((c * grain + offset, outcomes.to_vec()))
                            });
                        });
                });
                // This thread is not one of the pool's: it only reorders and reports.
                for (start, outcomes) in rx {
                    let count = outcomes.len();
                    let mut total = Duration::ZERO;
                    for (i, outcome) in outcomes.into_iter().enumerate() {
                        total += Duration::from_nanos(outcome.elapsed_ns);
                        reorder.insert((start + i) as u64, outcome);
                    }
                    sizer.observe(count, total);
                    while let Some(outcome) = reorder.pop() {
                        if failure.is_none() {
                            let result =
                                PrimeResult::new(base + emitted as u64, window[emitted], outcome, pid);
                            failure = sink(Completed::Checked(result)).err();
                            stop.store(failure.is_some(), Ordering::Relaxed);
                        }
                        emitted += 1;
                    }
                }
            });
            if let Some(error) = failure {
                return Err(error.into());
            }
            base += window.len() as u64;
        }
    }
}
