//! The dispatcher behind every `map`: pulls numbers lazily, hands batches to
//! whichever worker has room, accounts for every job until it is delivered,
//! turns a worker's death or timeout into retries or failures, and at the
//! tail runs a queued job twice rather than let a worker idle.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcSelectionResult;
use ipc_channel::TrySelectError;
use procpool_worker::protocol::{self, Frame, JobBatchRef, PrimeResult, ResultBatch};

use super::error::{Death, DeathCause, FailedJob, PoolError, PoolEvent};
use super::{ProcessPool, Slot, Ticket};

/// Finished jobs, in index order: a run of checked ones, or one failure.
pub(crate) enum Chunk {
    /// Jobs `first..first + results.len()`.
    Checked {
        first: u64,
        results: Vec<PrimeResult>,
    },
    Failed(FailedJob),
}

impl Chunk {
    pub fn first(&self) -> u64 {
        match self {
            Chunk::Checked { first, .. } => *first,
            Chunk::Failed(failed) => failed.index,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Chunk::Checked { results, .. } => results.len(),
            Chunk::Failed(_) => 1,
        }
    }
}

/// Result buffers kept for reuse: a chunk of 8192 results is over half a
/// megabyte, and allocating one per message showed up as page faults.
const SPARE_BUFFERS: usize = 16;

/// The most batches a worker holds: the one it runs and the next, so it
/// never waits a supervisor round trip between cheap jobs (see
/// [`BatchSizer::depth`](super::BatchSizer::depth)). The risk, a queued job
/// waiting while another worker idles at the end of the input, is what
/// [`Engine::duplicate_tail`] removes.
pub const PIPELINE_DEPTH: usize = 2;

/// How often a waiting dispatcher wakes to check cancellation, timeouts and
/// child exits even when no message arrives.
const TICK: Duration = Duration::from_millis(50);

/// Grace for a worker whose channel closed to finish dying before we kill it.
const DEATH_GRACE: Duration = Duration::from_millis(500);

/// One `map` call's state. Dropping it kills the workers still holding its
/// jobs (abandoned, or duplicates whose twin already answered), so the next
/// run starts from idle workers.
pub(crate) struct Engine<'p, I> {
    pool: &'p mut ProcessPool,
    input: I,
    input_done: bool,
    next_index: u64,
    retry: VecDeque<(u64, u64)>,
    deaths: HashMap<u64, Vec<Death>>,
    ready: VecDeque<Chunk>,
    /// Jobs pulled from the input and not yet delivered (checked or failed).
    undelivered: usize,
    /// Jobs that run on two workers at once; the first answer wins.
    twins: HashSet<u64>,
    /// Twins already delivered: the other copy's answer is dropped.
    delivered_twins: HashSet<u64>,
    /// Emptied result buffers handed back by the iterators.
    spare: Vec<Vec<PrimeResult>>,
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
            undelivered: 0,
            twins: HashSet::new(),
            delivered_twins: HashSet::new(),
            spare: Vec::new(),
            retries: 0,
        }
    }

    /// The next run of consecutive finished jobs, in completion order,
    /// submitting no job whose index is `limit` or more; `None` once the input
    /// is exhausted and every job is delivered. Results travel in chunks so
    /// that reordering costs per message, not per job.
    pub fn next_chunk(&mut self, limit: u64) -> Option<Result<Chunk, PoolError>> {
        loop {
            // Feed the workers first: handing out a chunk means its consumer
            // spends a while on it, and a worker must not starve meanwhile.
            if let Err(e) = self.dispatch(limit) {
                return Some(Err(e));
            }
            if let Some(done) = self.ready.pop_front() {
                return Some(Ok(done));
            }
            if self.undelivered == 0 {
                // Nothing pulled is pending, and dispatch pulled nothing new.
                return None;
            }
            if let Err(e) = self.wait() {
                return Some(Err(e));
            }
        }
    }

    /// Fills every worker up to its depth, retries first, then fresh
    /// input; once the input is exhausted, duplicates queued jobs onto idle workers.
    fn dispatch(&mut self, limit: u64) -> Result<(), PoolError> {
        let fresh = !self.input_done && self.next_index < limit;
        if self.retry.is_empty() && !fresh && self.undelivered == 0 {
            return Ok(());
        }
        self.pool.ensure_workers()?;
        let cap = self.pool.config.window / (2 * PIPELINE_DEPTH * self.pool.config.workers).max(1);
        let size = self.pool.sizer.batch_size(cap);
        let depth = self.pool.sizer.depth().min(PIPELINE_DEPTH);
        while let Some(slot) = self.pool.least_loaded(depth) {
            let ticket = if let Some((index, n)) = self.retry.pop_front() {
                self.retries += 1;
                Ticket {
                    first_index: index,
                    numbers: vec![n],
                    answered: 0,
                    twin: self.twins.contains(&index),
                }
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
                    break;
                }
                self.undelivered += numbers.len();
                Ticket { first_index, numbers, answered: 0, twin: false }
            };
            self.send(slot, ticket)?;
        }
        if self.input_done && self.retry.is_empty() {
            self.duplicate_tail()?;
        }
        Ok(())
    }

    /// At the end of the input a worker with nothing to do takes a copy of a
    /// batch another worker has queued but not started; whichever copy
    /// finishes first is delivered. Jobs are pure, so running one twice is
    /// safe, and the run no longer waits on a queue while a core idles.
    fn duplicate_tail(&mut self) -> Result<(), PoolError> {
        loop {
            let slots = &self.pool.slots;
            let Some(idle) = (0..slots.len()).find(|&i| slots[i].in_flight.is_empty()) else {
                return Ok(());
            };
            let queued = (0..slots.len()).find(|&i| {
                let in_flight = &slots[i].in_flight;
                in_flight.len() >= 2 && in_flight.back().is_some_and(|t| t.answered == 0 && !t.twin)
            });
            let Some(victim) = queued else {
                return Ok(());
            };
            let original = self.pool.slots[victim].in_flight.back_mut().expect("checked above");
            original.twin = true;
            let copy = Ticket {
                first_index: original.first_index,
                numbers: original.numbers.clone(),
                answered: 0,
                twin: true,
            };
            self.twins.extend(copy.first_index..copy.first_index + copy.numbers.len() as u64);
            self.send(idle, copy)?;
        }
    }

    fn send(&mut self, slot: usize, ticket: Ticket) -> Result<(), PoolError> {
        let frame = protocol::encode(&JobBatchRef {
            first_index: ticket.first_index,
            kernel: self.pool.config.kernel,
            numbers: &ticket.numbers,
        })
        .map_err(PoolError::Encode)?;
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

    /// True for a twin whose other copy has already been delivered: its
    /// answer is dropped. Otherwise the job counts as delivered now.
    fn already_delivered(&mut self, index: u64) -> bool {
        !self.twins.is_empty() && self.twins.contains(&index) && !self.delivered_twins.insert(index)
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
        let pid = self.pool.slots[slot].process.pid;
        let reply: ResultBatch =
            protocol::decode(frame).map_err(|source| PoolError::BadFrame { pid, source })?;
        let Some(ticket) = self.pool.slots[slot].in_flight.front_mut() else {
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
        let numbers = &ticket.numbers[ticket.answered..ticket.answered + count];
        let mut results = self.spare.pop().unwrap_or_default();
        results.extend(
            reply
                .outcomes()
                .zip(numbers)
                .enumerate()
                .map(|(offset, (outcome, &n))| PrimeResult::new(expected + offset as u64, n, outcome, pid)),
        );
        ticket.answered += count;
        let worker = &mut self.pool.slots[slot];
        if worker.in_flight.front().is_some_and(|t| t.answered == t.numbers.len()) {
            worker.in_flight.pop_front();
        }
        worker.busy_since = (!worker.in_flight.is_empty()).then(Instant::now);
        self.pool.sizer.observe(count, results.iter().map(|r| r.elapsed).sum());
        if self.twins.is_empty() && self.deaths.is_empty() {
            // The common case, no duplicates and no deaths: one chunk as is.
            self.undelivered -= count;
            self.push_chunk(expected, results);
            return Ok(());
        }
        let mut run = Vec::with_capacity(results.len());
        let mut first = expected;
        for result in results {
            if self.already_delivered(result.index) {
                // Keep chunks contiguous around the dropped duplicate.
                self.push_chunk(first, std::mem::take(&mut run));
                first = result.index + 1;
                continue;
            }
            self.deaths.remove(&result.index);
            self.undelivered -= 1;
            run.push(result);
        }
        self.push_chunk(first, run);
        Ok(())
    }

    fn push_chunk(&mut self, first: u64, results: Vec<PrimeResult>) {
        if !results.is_empty() {
            self.ready.push_back(Chunk::Checked { first, results });
        }
    }

    /// Takes back a drained result buffer for reuse.
    pub fn recycle(&mut self, mut buffer: Vec<PrimeResult>) {
        if self.spare.len() < SPARE_BUFFERS {
            buffer.clear();
            self.spare.push(buffer);
        }
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
        let pending = |&(index, _): &(u64, u64)| !self.delivered_twins.contains(&index);
        let mut held = worker
            .in_flight
            .iter()
            .flat_map(|ticket| {
                let first = ticket.first_index + ticket.answered as u64;
                (first..).zip(ticket.numbers[ticket.answered..].iter().copied())
            })
            .peekable();
        // The job it was running is to blame, unless another copy already answered it.
        let running = held.next_if(pending);
        let requeued: Vec<(u64, u64)> = held.filter(pending).collect();
        let mut retrying = false;
        if let Some((index, n)) = running {
            let deaths = self.deaths.entry(index).or_default();
            deaths.push(death.clone());
            if deaths.len() as u64 > u64::from(self.pool.config.retries) {
                let deaths = self.deaths.remove(&index).unwrap_or_default();
                if self.twins.contains(&index) {
                    self.delivered_twins.insert(index); // its other copy must not deliver it too
                }
                self.undelivered -= 1;
                self.ready.push_back(Chunk::Failed(FailedJob { index, n, deaths }));
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
