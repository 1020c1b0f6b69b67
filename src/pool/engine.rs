//! The dispatcher behind every `map`: pulls numbers lazily, hands batches to
//! whichever worker has room, accounts for every job in flight, and turns a
//! worker's death or timeout into retries or failures.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcSelectionResult;
use ipc_channel::TrySelectError;
use procpool_worker::protocol::{self, Frame, JobBatchRef, PrimeResult, ResultBatch};

use super::error::{Death, DeathCause, FailedJob, PoolError, PoolEvent};
use super::{Completed, ProcessPool, Slot, Ticket};

/// Finished jobs `first..first + items.len()`, in index order.
pub(crate) struct Chunk {
    pub first: u64,
    pub items: Vec<Completed>,
}

/// How often a waiting dispatcher wakes to check cancellation, timeouts and
/// child exits even when no message arrives.
const TICK: Duration = Duration::from_millis(50);

/// Grace for a worker whose channel closed to finish dying before we kill it.
const DEATH_GRACE: Duration = Duration::from_millis(500);

/// One `map` call's state. Dropping it mid-run kills the workers still busy
/// with its jobs, so the next run starts from idle workers.
pub(crate) struct Engine<'p, I> {
    pool: &'p mut ProcessPool,
    input: I,
    input_done: bool,
    next_index: u64,
    retry: VecDeque<(u64, u64)>,
    deaths: HashMap<u64, Vec<Death>>,
    ready: VecDeque<Chunk>,
    outstanding: usize,
    pub retries: u64,
}

impl<'p, I: Iterator<Item = u64>> Engine<'p, I> {
    pub fn new(pool: &'p mut ProcessPool, input: I) -> Self {
        Engine {
            pool,
            input,
            input_done: false,
            next_index: 0,
            retry: VecDeque::new(),
            deaths: HashMap::new(),
            ready: VecDeque::new(),
            outstanding: 0,
            retries: 0,
        }
    }

    /// The next run of consecutive finished jobs, in completion order,
    /// submitting no job whose index is `limit` or more; `None` once the input
    /// is exhausted and every job is accounted for. Results travel in chunks
    /// so that reordering costs per message, not per job.
    pub fn next_chunk(&mut self, limit: u64) -> Option<Result<Chunk, PoolError>> {
        loop {
            if let Some(done) = self.ready.pop_front() {
                return Some(Ok(done));
            }
            if let Err(e) = self.dispatch(limit) {
                return Some(Err(e));
            }
            if self.outstanding == 0 && self.ready.is_empty() {
                if self.retry.is_empty() {
                    return None;
                }
                // Every worker died during dispatch; the next pass respawns them.
                continue;
            }
            if self.ready.is_empty() {
                if let Err(e) = self.wait() {
                    return Some(Err(e));
                }
            }
        }
    }

    /// Fills every worker up to its depth, retries first, then fresh input.
    fn dispatch(&mut self, limit: u64) -> Result<(), PoolError> {
        if self.retry.is_empty() && (self.input_done || self.next_index >= limit) {
            return Ok(());
        }
        self.pool.ensure_workers()?;
        let depth = self.pool.sizer.depth();
        let cap = self.pool.config.window / (2 * depth * self.pool.config.workers).max(1);
        let size = self.pool.sizer.batch_size(cap);
        loop {
            let Some(slot) = self.pool.least_loaded(depth) else {
                return Ok(());
            };
            let ticket = if let Some((index, n)) = self.retry.pop_front() {
                self.retries += 1;
                Ticket { first_index: index, numbers: vec![n], answered: 0 }
            } else {
                let first_index = self.next_index;
                let mut numbers = Vec::with_capacity(size.min(1024));
                while numbers.len() < size && self.next_index < limit && !self.input_done {
                    match self.input.next() {
                        Some(n) => {
                            numbers.push(n);
                            self.next_index += 1;
                        }
                        None => self.input_done = true,
                    }
                }
                if numbers.is_empty() {
                    return Ok(());
                }
                Ticket { first_index, numbers, answered: 0 }
            };
            self.send(slot, ticket)?;
        }
    }

    fn send(&mut self, slot: usize, ticket: Ticket) -> Result<(), PoolError> {
        let frame = protocol::encode(&JobBatchRef {
            first_index: ticket.first_index,
            kernel: self.pool.config.kernel,
            numbers: &ticket.numbers,
        })
        .map_err(PoolError::Encode)?;
        self.outstanding += ticket.numbers.len();
        let worker = &mut self.pool.slots[slot];
        if worker.in_flight.is_empty() {
            worker.busy_since = Some(Instant::now());
        }
        worker.in_flight.push_back(ticket);
        if worker.jobs.send(frame).is_err() {
            // The worker is gone; its death handling re-queues this ticket too.
            self.bury(slot, None);
        }
        Ok(())
    }

    /// Waits for replies, deaths, a timeout or cancellation.
    fn wait(&mut self) -> Result<(), PoolError> {
        let now = Instant::now();
        let mut wait = TICK;
        if let Some(limit) = self.pool.config.job_timeout {
            for slot in &self.pool.slots {
                if let Some(since) = slot.busy_since {
                    wait = wait.min((since + limit).saturating_duration_since(now));
                }
            }
        }
        let events = match self.pool.set.try_select_timeout(wait) {
            Ok(events) => events,
            Err(TrySelectError::Empty) => Vec::new(),
            Err(TrySelectError::IoError(e)) => return Err(PoolError::Ipc(e.to_string())),
        };
        // Checked before acting on deaths: a stop signal sent to the whole
        // process group kills workers too, and those are not to be replaced.
        if self.pool.config.cancel.as_ref().is_some_and(|flag| flag.load(Ordering::Relaxed)) {
            return Err(PoolError::Cancelled);
        }
        for event in events {
            match event {
                IpcSelectionResult::MessageReceived(id, message) => {
                    let Some(slot) = self.pool.slot_of(id) else {
                        continue; // a worker already buried; its jobs were re-queued
                    };
                    let pid = self.pool.slots[slot].process.pid;
                    let frame: Frame = message.to().map_err(|e| PoolError::ProtocolViolation {
                        pid,
                        detail: format!("unreadable message: {e}"),
                    })?;
                    self.receive(slot, &frame)?;
                }
                IpcSelectionResult::ChannelClosed(id) => {
                    if let Some(slot) = self.pool.slot_of(id) {
                        self.bury(slot, None);
                    }
                }
            }
        }
        self.kill_overdue();
        Ok(())
    }

    /// Applies one reply frame from the worker in `slot`.
    fn receive(&mut self, slot: usize, frame: &Frame) -> Result<(), PoolError> {
        let worker = &mut self.pool.slots[slot];
        let pid = worker.process.pid;
        let reply: ResultBatch =
            protocol::decode(frame).map_err(|source| PoolError::BadFrame { pid, source })?;
        let Some(ticket) = worker.in_flight.front_mut() else {
            return Err(PoolError::ProtocolViolation { pid, detail: "reply with no job in flight".into() });
        };
        let expected = ticket.first_index + ticket.answered as u64;
        let remaining = ticket.numbers.len() - ticket.answered;
        if reply.first_index != expected || reply.verdicts.len() > remaining {
            return Err(PoolError::ProtocolViolation {
                pid,
                detail: format!(
                    "expected up to {remaining} results from job {expected}, got {} from job {}",
                    reply.verdicts.len(),
                    reply.first_index
                ),
            });
        }
        let count = reply.verdicts.len();
        let mut total = Duration::ZERO;
        let mut items = Vec::with_capacity(count);
        for (offset, outcome) in reply.outcomes().enumerate() {
            let index = expected + offset as u64;
            let n = ticket.numbers[ticket.answered + offset];
            let result = PrimeResult::new(index, n, outcome, pid);
            total += result.elapsed;
            if !self.deaths.is_empty() {
                self.deaths.remove(&index);
            }
            items.push(Completed::Checked(result));
        }
        self.ready.push_back(Chunk { first: expected, items });
        ticket.answered += count;
        if ticket.answered == ticket.numbers.len() {
            worker.in_flight.pop_front();
        }
        worker.busy_since = (!worker.in_flight.is_empty()).then(Instant::now);
        self.outstanding -= count;
        self.pool.sizer.observe(count, total);
        Ok(())
    }

    fn kill_overdue(&mut self) {
        let Some(limit) = self.pool.config.job_timeout else {
            return;
        };
        let now = Instant::now();
        let overdue: Vec<usize> = (0..self.pool.slots.len())
            .filter(|&i| self.pool.slots[i].busy_since.is_some_and(|since| now - since >= limit))
            .collect();
        // Highest slot first: removing a slot moves the last one into its place.
        for slot in overdue.into_iter().rev() {
            self.bury(slot, Some(DeathCause::TimedOut(limit)));
        }
    }

    /// Removes a dead (or overdue) worker, reaps it, blames the job it was
    /// running and re-queues the rest of what it held.
    fn bury(&mut self, slot: usize, cause: Option<DeathCause>) {
        let mut worker: Slot = self.pool.remove_slot(slot);
        if cause.is_some() {
            worker.process.kill_and_reap();
        } else {
            worker.process.reap_within(DEATH_GRACE);
        }
        let death = Death { pid: worker.process.pid, cause: cause.unwrap_or_else(|| worker.process.cause()) };
        let mut held = worker.in_flight.iter().flat_map(|ticket| {
            let first = ticket.first_index + ticket.answered as u64;
            (first..).zip(ticket.numbers[ticket.answered..].iter().copied())
        });
        let running = held.next();
        let requeued: Vec<(u64, u64)> = held.collect();
        self.outstanding -= running.iter().count() + requeued.len();
        let mut retrying = false;
        if let Some((index, n)) = running {
            let deaths = self.deaths.entry(index).or_default();
            deaths.push(death.clone());
            if deaths.len() as u64 > u64::from(self.pool.config.retries) {
                let deaths = self.deaths.remove(&index).unwrap_or_default();
                let items = vec![Completed::Failed(FailedJob { index, n, deaths })];
                self.ready.push_back(Chunk { first: index, items });
            } else {
                retrying = true;
                self.retry.push_back((index, n));
            }
        }
        self.retry.extend(requeued.iter().copied());
        self.pool.emit(&PoolEvent::WorkerDied {
            death,
            running: running.map(|(_, n)| n),
            retrying,
            requeued: requeued.iter().map(|&(_, n)| n).collect(),
        });
    }
}

impl<I> Drop for Engine<'_, I> {
    fn drop(&mut self) {
        // Workers still holding this run's jobs would answer into the next run.
        let mut slot = self.pool.slots.len();
        while slot > 0 {
            slot -= 1;
            if !self.pool.slots[slot].in_flight.is_empty() {
                let mut worker = self.pool.remove_slot(slot);
                worker.process.kill_and_reap();
            }
        }
    }
}
