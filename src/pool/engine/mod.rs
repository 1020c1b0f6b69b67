//! The dispatcher behind every `map`: pulls numbers as they become
//! available, hands batches to whichever worker has room, accounts for every
//! job until it is delivered, turns a worker's death or timeout into retries
//! or failures ([`deaths`]), and at the tail runs a queued batch twice rather
//! than let a worker idle ([`tail`]).

mod deaths;
mod replies;
mod tail;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use procpool_worker::protocol::{self, JobBatchRef, PrimeResult};

use super::error::{Death, FailedJob, PoolError};
use super::source::{JobSource, Pull};
use super::{ProcessPool, Ticket};

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

/// Why jobs run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// It was running when its worker died (a single job).
    Blamed,
    /// It may have been running: one of several unanswered jobs of the dead
    /// worker's running batch (a single job, so the next death is precise).
    Suspect,
    /// Its worker died before starting it.
    Requeued,
}

/// Jobs to run again, consecutive: `first_index..first_index + numbers.len()`.
#[derive(Debug)]
struct Rerun {
    first_index: u64,
    numbers: Vec<u64>,
    why: Why,
}

/// The most batches a worker holds: the one it runs and the next, so it
/// never waits a supervisor round trip between cheap jobs (see
/// [`BatchSizer::depth`](super::BatchSizer::depth)). The risk, a queued job
/// waiting while another worker idles at the end of the input, is what the
/// tail duplication removes.
pub const PIPELINE_DEPTH: usize = 2;

/// Result buffers kept for reuse: a chunk of 8192 results is over half a
/// megabyte, and allocating one per message showed up as page faults.
const SPARE_BUFFERS: usize = 16;

/// How often a waiting dispatcher wakes to check cancellation, timeouts and
/// child exits even when no message arrives.
const TICK: Duration = Duration::from_millis(50);

/// How often it looks for new input while its source says "not yet".
const INPUT_TICK: Duration = Duration::from_millis(2);

/// One `map` call's state. Dropping it kills the workers still holding its
/// jobs (abandoned, or duplicates whose twin already answered), so the next
/// run starts from idle workers.
pub(crate) struct Engine<'p, S> {
    pool: &'p mut ProcessPool,
    source: S,
    input_done: bool,
    /// The source said "not yet" at the last pull.
    input_waiting: bool,
    next_index: u64,
    reruns: VecDeque<Rerun>,
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
    /// Re-runs of jobs that were running when their worker died.
    pub retries: u64,
}

impl<'p, S: JobSource> Engine<'p, S> {
    pub fn new(pool: &'p mut ProcessPool, source: S) -> Self {
        Engine {
            pool,
            source,
            input_done: false,
            input_waiting: false,
            next_index: 0,
            reruns: VecDeque::new(),
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
            if self.undelivered == 0
                && self.reruns.is_empty()
                && (self.input_done || self.next_index >= limit)
            {
                return None;
            }
            if let Err(e) = self.wait() {
                return Some(Err(e));
            }
        }
    }

    fn cancelled(&self) -> bool {
        self.pool.config.cancel.as_ref().is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Fills every worker up to its depth, re-runs first, then fresh input;
    /// once the input is exhausted, duplicates queued batches onto idle workers.
    fn dispatch(&mut self, limit: u64) -> Result<(), PoolError> {
        let fresh = !self.input_done && self.next_index < limit;
        if self.reruns.is_empty() && !fresh && self.undelivered == 0 {
            return Ok(());
        }
        // A stop signal to the whole process group kills workers too; those
        // are not to be replaced, nor their jobs sent elsewhere.
        if self.cancelled() {
            return Err(PoolError::Cancelled);
        }
        self.pool.ensure_workers()?;
        let cap = self.pool.config.window / (2 * PIPELINE_DEPTH * self.pool.config.workers).max(1);
        let size = self.pool.sizer.batch_size(cap);
        let depth = self.pool.sizer.depth().min(PIPELINE_DEPTH);
        self.input_waiting = false;
        while let Some(slot) = self.pool.least_loaded(depth) {
            let ticket = match self.next_rerun() {
                Some(rerun) => {
                    self.retries += u64::from(rerun.why == Why::Blamed);
                    let twin = self.twins.contains(&rerun.first_index);
                    let risky = rerun.why != Why::Requeued;
                    Ticket {
                        first_index: rerun.first_index,
                        numbers: rerun.numbers,
                        answered: 0,
                        twin,
                        risky,
                    }
                }
                None => match self.pull_batch(size, limit) {
                    Some(ticket) => ticket,
                    None => break,
                },
            };
            self.send(slot, ticket)?;
        }
        if self.input_done && self.reruns.is_empty() {
            self.duplicate_tail()?;
        }
        Ok(())
    }

    /// The next queued re-run, minus any job whose twin has since been delivered.
    fn next_rerun(&mut self) -> Option<Rerun> {
        while let Some(mut rerun) = self.reruns.pop_front() {
            if !self.delivered_twins.is_empty() {
                let end = rerun.first_index + rerun.numbers.len() as u64;
                if (rerun.first_index..end).any(|index| self.delivered_twins.contains(&index)) {
                    // Rare: split around the delivered ones and queue the pieces again.
                    let jobs = (rerun.first_index..end).zip(rerun.numbers);
                    let pending = jobs.filter(|(index, _)| !self.delivered_twins.contains(index));
                    for piece in runs_of(pending, rerun.why).into_iter().rev() {
                        self.reruns.push_front(piece);
                    }
                    continue;
                }
            }
            rerun.numbers.shrink_to_fit();
            return Some(rerun);
        }
        None
    }

    /// Up to `size` fresh numbers below index `limit`, as a ticket.
    fn pull_batch(&mut self, size: usize, limit: u64) -> Option<Ticket> {
        let first_index = self.next_index;
        let mut numbers = Vec::with_capacity(size.min(1024));
        while numbers.len() < size && self.next_index < limit && !self.input_done {
            match self.source.pull() {
                Pull::Number(n) => {
                    numbers.push(n);
                    self.next_index += 1;
                }
                Pull::NotYet => {
                    self.input_waiting = true;
                    break;
                }
                Pull::End => self.input_done = true,
            }
        }
        if numbers.is_empty() {
            return None;
        }
        self.undelivered += numbers.len();
        Some(Ticket { first_index, numbers, answered: 0, twin: false, risky: false })
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
            // The worker died before this reached it: the ticket is innocent
            // of the death, so it goes back unblamed before the burial.
            let ticket = worker.in_flight.pop_back().expect("pushed just above");
            if worker.in_flight.is_empty() {
                worker.busy_since = None;
            }
            let first_index = ticket.first_index + ticket.answered as u64;
            let numbers = ticket.numbers[ticket.answered..].to_vec();
            self.reruns.push_front(Rerun { first_index, numbers, why: Why::Requeued });
            self.bury(slot, None);
        }
        Ok(())
    }

    /// True for a twin whose other copy has already been delivered: its
    /// answer is dropped. Otherwise the job counts as delivered now.
    fn already_delivered(&mut self, index: u64) -> bool {
        !self.twins.is_empty() && self.twins.contains(&index) && !self.delivered_twins.insert(index)
    }
}

/// Splits `(index, n)` pairs into runs of consecutive indices.
fn runs_of(jobs: impl Iterator<Item = (u64, u64)>, why: Why) -> Vec<Rerun> {
    let mut runs: Vec<Rerun> = Vec::new();
    for (index, n) in jobs {
        match runs.last_mut() {
            Some(run) if run.first_index + run.numbers.len() as u64 == index => run.numbers.push(n),
            _ => runs.push(Rerun { first_index: index, numbers: vec![n], why }),
        }
    }
    runs
}

impl<S> Drop for Engine<'_, S> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_at_gaps() {
        let runs = runs_of([(3, 30), (4, 40), (7, 70), (8, 80), (10, 100)].into_iter(), Why::Requeued);
        let shape: Vec<(u64, Vec<u64>)> = runs.into_iter().map(|r| (r.first_index, r.numbers)).collect();
        assert_eq!(shape, [(3, vec![30, 40]), (7, vec![70, 80]), (10, vec![100])]);
    }
}
