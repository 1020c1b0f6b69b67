//! The in-process comparison: the same jobs on a rayon `ThreadPool` of
//! WORKERS threads, streamed back in submission order.
//!
//! Batches are spawned FIFO and sized by the same [`BatchSizer`] as the
//! process pool, so both variants schedule alike (in submission order, to
//! whichever thread is free) and the comparison isolates what processes cost
//! over threads, not a difference in scheduling policy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use procpool::PrimeResult;
use procpool_worker::serve::FLUSH_AFTER;
use procpool_worker::timing::check_timed;
use procpool_worker::timing::Outcome;
use procpool_worker::Kernel;

use super::reorder::Reorder;
use super::{take_chunk, Batch, ExecError, Executor, RunFacts, Sink};
use crate::completed::Completed;
use crate::input::Numbers;
use procpool::scheduler::{BatchSizer, MAX_BATCH, PIPELINE_DEPTH};

/// How often to look for new input while some is pending and batches run.
const INPUT_TICK: Duration = Duration::from_millis(2);

/// Checks numbers on its own rayon thread pool.
pub struct RayonThreads {
    pub kernel: Kernel,
    pub threads: usize,
}

/// Outcomes for jobs from `first` on, run by pool thread `thread`; `last`
/// marks the end of a batch.
struct Reply {
    first: u64,
    outcomes: Vec<Outcome>,
    thread: usize,
    last: bool,
}

impl Executor for RayonThreads {
    fn workers(&self) -> usize {
        self.threads
    }

    fn run(&mut self, numbers: &mut Numbers, sink: &mut Sink<'_>) -> Result<RunFacts, ExecError> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(self.threads).build()?;
        let pid = std::process::id();
        let kernel = self.kernel;
        let threads = self.threads;
        let stop = AtomicBool::new(false);
        let mut failure: Option<std::io::Error> = None;
        pool.in_place_scope_fifo(|scope| {
            let (tx, rx) = mpsc::channel::<Reply>();
            let mut sizer = BatchSizer::default();
            let mut reorder: Reorder<(u64, Outcome, usize)> = Reorder::default();
            // Numbers of the jobs not yet released, from index `reorder.next_index()` on.
            let mut submitted = Vec::<u64>::new();
            let mut next_index = 0u64;
            let mut in_flight = 0usize;
            let mut input_done = false;
            let mut released = Vec::new();
            loop {
                // Keep every thread fed: as many batches per thread as the pool queues per worker.
                let mut input_waiting = false;
                while !input_done && in_flight < PIPELINE_DEPTH * threads && failure.is_none() {
                    // Wait for input only when there is nothing else to wait for.
                    let batch = take_chunk(numbers, sizer.batch_size(MAX_BATCH), in_flight == 0);
                    if batch.is_empty() {
                        input_done = numbers.is_done();
                        input_waiting = !input_done;
                        break;
                    }
                    let first = next_index;
                    next_index += batch.len() as u64;
                    submitted.extend_from_slice(&batch);
                    in_flight += 1;
                    let (tx, stop) = (tx.clone(), &stop);
                    scope.spawn_fifo(move |_| {
                        if stop.load(Ordering::Relaxed) {
                            let _ = tx.send(Reply { first, outcomes: Vec::new(), thread: 0, last: true });
                            return; // the sink failed; nobody wants the rest
                        }
                        let thread = rayon::current_thread_index().unwrap_or(0);
                        let _ = check_timed(kernel, &batch, FLUSH_AFTER, |segment| {
                            let (offset, outcomes) = (segment.offset, segment.outcomes);
                            let last = offset + outcomes.len() == batch.len();
                            tx.send(Reply {
                                first: first + offset as u64,
                                outcomes: outcomes.collect(),
                                thread,
                                last,
                            })
                        });
                    });
                }
                if in_flight == 0 {
                    break;
                }
                // This thread is not one of the pool's: it only schedules, reorders and reports.
                let reply = if input_waiting {
                    match rx.recv_timeout(INPUT_TICK) {
                        Ok(reply) => reply,
                        Err(mpsc::RecvTimeoutError::Timeout) => continue,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                } else {
                    let Ok(reply) = rx.recv() else { break };
                    reply
                };
                in_flight -= usize::from(reply.last);
                let mut total = Duration::ZERO;
                let held_from = reorder.next_index();
                for (i, outcome) in reply.outcomes.iter().enumerate() {
                    let index = reply.first + i as u64;
                    total += Duration::from_nanos(outcome.elapsed_ns);
                    reorder.insert(index, (submitted[(index - held_from) as usize], *outcome, reply.thread));
                }
                sizer.observe(reply.outcomes.len(), total);
                // Handed on in runs from one thread, as the pool hands on replies.
                let mut thread_of_batch = None;
                while let Some((n, outcome, thread)) = reorder.pop() {
                    if thread_of_batch.is_some_and(|t| t != thread) {
                        hand_on(&mut released, thread_of_batch, sink, &mut failure);
                    }
                    thread_of_batch = Some(thread);
                    let index = reorder.next_index() - 1;
                    released.push(Completed::Checked(PrimeResult::new(index, n, outcome, pid)));
                }
                hand_on(&mut released, thread_of_batch, sink, &mut failure);
                stop.store(failure.is_some(), Ordering::Relaxed);
                // Forget the numbers of released jobs so memory stays bounded.
                submitted.drain(..(reorder.next_index() - held_from) as usize);
            }
        });
        match failure {
            Some(error) => Err(error.into()),
            None => Ok(RunFacts::default()),
        }
    }
}

/// Gives `released` to the sink (unless it has failed before) and empties it.
fn hand_on(
    released: &mut Vec<Completed>,
    thread: Option<usize>,
    sink: &mut Sink<'_>,
    failure: &mut Option<std::io::Error>,
) {
    if failure.is_none() && !released.is_empty() {
        *failure = sink(&mut Batch::of(released), thread).err();
    }
    released.clear();
}
