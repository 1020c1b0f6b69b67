//! A rank's own pool as one destination of rank 0's scheduler: batches go
//! in as they come, answers come out in the same order, a batch (or, for a
//! long one, the part done so far) a message. The pool handles its workers'
//! crashes with the usual retries and blame, so a crash never leaves the rank.

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread::{self, Scope};
use std::time::{Duration, Instant};

use procpool::{Feeder, Finished, JobError, Kernel, PoolError, PrimeCheck, ProcessPool};

use super::outcome::Outcome;

/// A batch still running longer than this reports what it has done so far.
const PARTIAL_AFTER: Duration = Duration::from_millis(20);

/// Answers to jobs `first..first + outcomes.len()`, which took `work` in all.
#[derive(Debug)]
pub struct Reply {
    pub first: u64,
    pub work: Duration,
    pub outcomes: Vec<Outcome>,
}

/// The pool's stream, fed here and read on a thread of its own.
pub struct Node<'p> {
    feeder: Option<Feeder<'p, PrimeCheck>>,
    finished: Receiver<Finished<bool>>,
    kernel: Kernel,
    /// Batches handed to the pool and not answered in full: (first, count).
    batches: VecDeque<(u64, usize)>,
    /// Jobs of the front batch already in a reply sent.
    answered: usize,
    reply: Reply,
    opened: Option<Instant>,
}

impl<'p> Node<'p> {
    /// Opens a stream on `pool`; its results are read on a scoped thread.
    pub fn start<'s>(
        scope: &'s Scope<'s, 'p>,
        pool: &'p ProcessPool<PrimeCheck>,
        kernel: Kernel,
    ) -> Result<Node<'p>, PoolError> {
        let (feeder_tx, feeder_rx) = mpsc::sync_channel(1);
        let (finished_tx, finished) = mpsc::channel();
        thread::Builder::new()
            .name("procpool-rank".into())
            .spawn_scoped(scope, move || {
                // The results iterator cannot leave the thread that opened it.
                let (feeder, results) = pool.stream();
                if feeder_tx.send(feeder).is_err() {
                    return;
                }
                for job in results.with_details() {
                    if finished_tx.send(job).is_err() {
                        return;
                    }
                }
            })
            .map_err(PoolError::Thread)?;
        let feeder = feeder_rx
            .recv()
            .map_err(|_| PoolError::Thread(io::Error::other("the results thread ended at once")))?;
        let reply = Reply { first: 0, work: Duration::ZERO, outcomes: Vec::new() };
        Ok(Node { feeder: Some(feeder), finished, kernel, batches: VecDeque::new(), answered: 0, reply, opened: None })
    }

    /// Hands jobs `first..first + numbers.len()` to the pool.
    pub fn run(&mut self, first: u64, numbers: &[u64]) -> Result<(), JobError> {
        let Some(feeder) = self.feeder.as_mut() else {
            return Ok(());
        };
        for &n in numbers {
            feeder.push(PrimeCheck { n, kernel: self.kernel })?;
        }
        feeder.flush()?;
        self.batches.push_back((first, numbers.len()));
        Ok(())
    }

    /// The next reply, if one is due; waits up to `wait` for a result first.
    pub fn poll(&mut self, wait: Duration) -> Result<Option<Reply>, JobError> {
        let mut wait = wait;
        loop {
            let next = match self.finished.try_recv() {
                Err(TryRecvError::Empty) if !wait.is_zero() && self.reply.outcomes.is_empty() => {
                    let waited = self.finished.recv_timeout(wait);
                    wait = Duration::ZERO;
                    match waited {
                        Ok(job) => Some(job),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => return self.ended(),
                    }
                }
                Ok(job) => Some(job),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return self.ended(),
            };
            let Some(job) = next else {
                break;
            };
            if let Some(reply) = self.add(job)? {
                return Ok(Some(reply));
            }
        }
        let due = self.opened.is_some_and(|opened| opened.elapsed() >= PARTIAL_AFTER);
        Ok(due.then(|| self.take()))
    }

    /// Adds a finished job to the open reply; returns it if its batch is done.
    fn add(&mut self, job: Finished<bool>) -> Result<Option<Reply>, JobError> {
        let &(first, count) = self.batches.front().ok_or_else(|| {
            JobError::Pool(std::sync::Arc::new(PoolError::Thread(io::Error::other(
                "the pool answered a job it was not given",
            ))))
        })?;
        if self.reply.outcomes.is_empty() {
            self.reply.first = first + self.answered as u64;
            self.opened = Some(Instant::now());
        }
        self.reply.work += job.elapsed;
        self.reply.outcomes.push(Outcome::of(job)?);
        if self.answered + self.reply.outcomes.len() == count {
            let reply = self.take();
            self.batches.pop_front();
            self.answered = 0;
            return Ok(Some(reply));
        }
        Ok(None)
    }

    /// The open reply, closed.
    fn take(&mut self) -> Reply {
        self.opened = None;
        let reply = std::mem::replace(
            &mut self.reply,
            Reply { first: 0, work: Duration::ZERO, outcomes: Vec::new() },
        );
        self.answered += reply.outcomes.len();
        reply
    }

    /// The results thread ended: fine if nothing was outstanding.
    fn ended(&mut self) -> Result<Option<Reply>, JobError> {
        if self.batches.is_empty() {
            return Ok(None);
        }
        Err(JobError::Pool(std::sync::Arc::new(PoolError::ShutDown)))
    }

    /// Ends the pool's input: the results thread finishes once all is answered.
    pub fn finish(&mut self) {
        self.feeder = None;
    }
}
