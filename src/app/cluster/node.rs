//! A rank's own pool as one destination of rank 0's scheduler: batches go
//! in as they come, answers come out in the same order, one reply a batch.
//! The pool handles its workers' crashes with the usual retries and blame,
//! so a crash never leaves the rank.
//!
//! A reply waits for its whole batch: results are delivered in order, so
//! nothing after an unanswered job could be printed earlier anyway, and one
//! reply a batch keeps the per-job cost to the work of collecting it.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::{self, Scope};
use std::time::Duration;

use procpool::{Feeder, JobError, Kernel, PoolError, PrimeCheck, ProcessPool};

use super::outcome::Outcome;

/// Answers to jobs `first..first + outcomes.len()`, which took `work` in
/// all; `retries` counts the jobs the rank's pool has re-run so far.
#[derive(Debug, Default)]
pub struct Reply {
    pub first: u64,
    pub work: Duration,
    pub outcomes: Vec<Outcome>,
    pub retries: u64,
}

/// The pool's stream: fed here, read on a thread of its own that turns
/// results back into one reply per batch.
pub struct Node<'p> {
    feeder: Option<Feeder<'p, PrimeCheck>>,
    batches: Sender<(u64, usize)>,
    replies: Receiver<Result<Reply, JobError>>,
    kernel: Kernel,
    /// Batches handed in and not yet answered.
    outstanding: usize,
}

impl<'p> Node<'p> {
    /// Opens a stream on `pool`; its results are read on a scoped thread.
    pub fn start<'s>(
        scope: &'s Scope<'s, 'p>,
        pool: &'p ProcessPool<PrimeCheck>,
        kernel: Kernel,
        retries: Arc<AtomicU64>,
    ) -> Result<Node<'p>, PoolError> {
        let (feeder_tx, feeder_rx) = mpsc::sync_channel(1);
        let (batches, batches_rx) = mpsc::channel();
        let (replies_tx, replies) = mpsc::channel();
        thread::Builder::new()
            .name("procpool-rank".into())
            .spawn_scoped(scope, move || {
                // The results iterator cannot leave the thread that opened it.
                let (feeder, results) = pool.stream();
                if feeder_tx.send(feeder).is_ok() {
                    collect(results.with_details(), &batches_rx, &replies_tx, &retries);
                }
            })
            .map_err(PoolError::Thread)?;
        let feeder = feeder_rx
            .recv()
            .map_err(|_| PoolError::Thread(io::Error::other("the results thread ended at once")))?;
        Ok(Node { feeder: Some(feeder), batches, replies, kernel, outstanding: 0 })
    }

    /// Hands jobs `first..first + numbers.len()` to the pool.
    pub fn run(&mut self, first: u64, numbers: &[u64]) -> Result<(), JobError> {
        let Some(feeder) = self.feeder.as_mut() else {
            return Ok(());
        };
        // Told before the jobs go in, so the batch is known when its first result is.
        if self.batches.send((first, numbers.len())).is_err() {
            return Err(JobError::Pool(Arc::new(PoolError::ShutDown)));
        }
        self.outstanding += 1;
        for &n in numbers {
            feeder.push(PrimeCheck { n, kernel: self.kernel })?;
        }
        feeder.flush()
    }

    /// The next reply, waiting up to `wait` for one.
    pub fn poll(&mut self, wait: Duration) -> Result<Option<Reply>, JobError> {
        let next = if wait.is_zero() {
            self.replies.try_recv().map_err(|e| e == TryRecvError::Disconnected)
        } else {
            self.replies.recv_timeout(wait).map_err(|e| e == RecvTimeoutError::Disconnected)
        };
        match next {
            Ok(reply) => {
                self.outstanding -= 1;
                reply.map(Some)
            }
            Err(false) => Ok(None),
            // The results thread ended: fine if nothing was outstanding.
            Err(true) if self.outstanding == 0 => Ok(None),
            Err(true) => Err(JobError::Pool(Arc::new(PoolError::ShutDown))),
        }
    }

    /// Ends the pool's input: the results thread finishes once all is answered.
    pub fn finish(&mut self) {
        self.feeder = None;
    }
}

/// Groups the pool's results into one reply per batch (sizes from `batches`).
fn collect(
    results: impl Iterator<Item = procpool::Finished<bool>>,
    batches: &Receiver<(u64, usize)>,
    replies: &Sender<Result<Reply, JobError>>,
    retries: &AtomicU64,
) {
    let mut pending: VecDeque<(u64, usize)> = VecDeque::new();
    let mut reply = Reply::default();
    for job in results {
        pending.extend(batches.try_iter());
        let Some(&(first, count)) = pending.front() else {
            let _ = replies.send(Err(JobError::Pool(Arc::new(PoolError::Thread(io::Error::other(
                "the pool answered a job it was not given",
            ))))));
            return;
        };
        reply.first = first;
        reply.work += job.elapsed;
        match Outcome::of(job) {
            Ok(outcome) => reply.outcomes.push(outcome),
            Err(error) => {
                let _ = replies.send(Err(error));
                return;
            }
        }
        if reply.outcomes.len() == count {
            pending.pop_front();
            reply.retries = retries.load(Ordering::Relaxed);
            let full = std::mem::take(&mut reply);
            if replies.send(Ok(full)).is_err() {
                return;
            }
        }
    }
}
