//! The consumer side of a stream: the iterators a map returns and the
//! handle `submit` returns. Results arrive as whole deliveries (runs of
//! consecutive jobs) and are handed out one at a time.

use std::sync::Arc;
use std::time::Duration;

use procpool_worker::protocol::{Failed, Outcomes};
use procpool_worker::timing::coarse_monotonic_ns;
use procpool_worker::Job;

use super::dispatcher::{Command, Core};
use super::error::{JobError, PoolError};
use super::feeder::Feeder;
use super::stream::{Answers, Shared};
use crate::scheduler::{DeathCause, Delivery, StreamId};

/// One finished job with what the pool knows about its run.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished<O> {
    /// Position in submission order, from 0.
    pub index: u64,
    /// The worker process that ran it (for a failure, the last one it cost).
    pub pid: u32,
    /// `CLOCK_MONOTONIC` time when it started, comparable across the
    /// processes of one machine. In a reply of several jobs (a
    /// `repeatable` pool groups them), the reply's start plus the wall
    /// times of the jobs before it: they ran back to back.
    pub started_at: Duration,
    /// Wall time of the run, measured in the worker around the job alone.
    pub elapsed: Duration,
    /// CPU time of the run; below `elapsed` when the core was shared.
    /// Exact for a job alone in its reply; in a reply of several, the
    /// reply's CPU time (read once: a read costs more than a tiny job)
    /// shared out in proportion to wall time, so an estimate.
    pub cpu: Duration,
    pub result: Result<O, JobError>,
}

/// What a stream's consumer holds: the shared state and the delivery being handed out.
#[derive(Debug)]
struct Receiver<'p, O> {
    core: &'p Core<O>,
    shared: Arc<Shared<O>>,
    stream: StreamId,
    /// The delivery being handed out, converted one job at a time.
    current: Current<O>,
    /// Jobs handed out so far, a chunk counted whole as it is taken (the
    /// index a failure of the whole stream is reported at).
    taken: u64,
    done: bool,
}

/// Jobs the consumer pulls from an iterator itself, when it has nothing to hand out.
struct Inline<'p, J: Job> {
    jobs: Box<dyn Pull<J> + 'p>,
    feeder: Feeder<'p, J>,
    /// Jobs to pull before handing them over: 1 at first and whenever the
    /// input is slow, so each job goes out as soon as it exists; doubled up
    /// to [`CHUNK`] while it is fast, so tiny jobs go out many to a command.
    limit: u64,
}

/// The most jobs pulled before they are handed to the dispatcher: a
/// command to the dispatcher (and its wake-up) per 16384 tiny jobs; a clock
/// tick while pulling still hands them over at once.
const CHUNK: u64 = 16384;

/// Jobs pulled between two looks at the clock once chunks are full (a look
/// costs a few ns, too much for every one of millions of tiny jobs).
const CLOCK_EVERY: u64 = 8;

impl<'p, O> Receiver<'p, O> {
    fn new(core: &'p Core<O>, shared: Arc<Shared<O>>, stream: StreamId) -> Self {
        Receiver { core, shared, stream, current: Current::Empty, taken: 0, done: false }
    }

    /// The next finished job; pulls input (if any) while nothing is ready.
    fn next<J: Job<Output = O>>(&mut self, input: &mut Option<Inline<'p, J>>) -> Option<Finished<O>> {
        loop {
            // Counted in `taken` when its chunk was taken.
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            self.current = self.next_chunk(input)?;
        }
    }

    /// The rest of the delivery being handed out, or the next one; pulls
    /// input (if any) while nothing is ready.
    fn next_chunk<J: Job<Output = O>>(&mut self, input: &mut Option<Inline<'p, J>>) -> Option<Current<O>> {
        loop {
            let current = std::mem::replace(&mut self.current, Current::Empty);
            if current.remaining() > 0 {
                self.taken += current.remaining() as u64;
                return Some(current);
            }
            if self.done {
                return None;
            }
            let mut state = self.shared.lock();
            if let Some(delivery) = state.ready.pop_front() {
                drop(state);
                self.current = Current::from(delivery);
                continue;
            }
            if let Some(error) = state.error.clone() {
                self.done = true;
                return Some(Current::Failed(Some(failure(self.taken, JobError::Pool(error)))));
            }
            if state.finished {
                self.done = true;
                return None;
            }
            if let Some(inline) = input.as_mut() {
                let room = state.allowed.saturating_sub(inline.feeder.len());
                if room > 0 {
                    drop(state);
                    match feed(inline, room) {
                        Ok(true) => *input = None,
                        Ok(false) => {}
                        // The pool stopped: the stream says why (below).
                        Err(JobError::Pool(e)) if matches!(*e, PoolError::ShutDown) => *input = None,
                        Err(error) => {
                            *input = None;
                            self.done = true;
                            return Some(Current::Failed(Some(failure(self.taken, error))));
                        }
                    }
                    continue;
                }
            }
            drop(self.shared.changed.wait(state).unwrap_or_else(|p| p.into_inner()));
        }
    }
}

/// Moves up to `room` jobs (at most `inline.limit`) from the iterator to
/// the feeder, and hands them over at once when a clock tick (a few ms)
/// passes while pulling; ends the input, and says so, when the iterator is
/// exhausted. The next limit follows the pace: halved from what one tick
/// yielded, doubled while no tick passes.
fn feed<J: Job>(inline: &mut Inline<'_, J>, room: u64) -> Result<bool, JobError> {
    let started = coarse_monotonic_ns();
    let most = room.min(inline.limit);
    // Every job while the pace is unknown; at full chunks the input has
    // been fast for a while, and a look every few jobs is enough.
    let every = if inline.limit < CHUNK { 1 } else { CLOCK_EVERY };
    let pulled = inline.jobs.pull(&mut inline.feeder, most, every, started)?;
    if pulled.ended {
        return inline.feeder.end().map(|()| true);
    }
    inline.limit = if pulled.ticked { (pulled.jobs / 2).max(1) } else { (inline.limit * 2).min(CHUNK) };
    inline.feeder.flush().map(|()| false)
}

/// What one [`Pull::pull`] did.
pub(crate) struct Pulled {
    jobs: u64,
    /// The clock ticked while pulling (and pulling stopped there).
    ticked: bool,
    /// The iterator is exhausted.
    ended: bool,
}

/// A map's job iterator, boxed once per map: the loop that pulls from it
/// is compiled for the iterator's own type, so millions of tiny jobs cost
/// no call through a vtable each and the iterator inlines into the loop.
pub(crate) trait Pull<J: Job> {
    /// Adds up to `most` jobs to `feeder`, stopping early when the iterator
    /// ends or when, looking every `every` jobs, the coarse clock has moved
    /// on from `started`.
    fn pull(
        &mut self,
        feeder: &mut Feeder<'_, J>,
        most: u64,
        every: u64,
        started: u64,
    ) -> Result<Pulled, JobError>;
}

impl<J: Job, I: Iterator<Item = J>> Pull<J> for I {
    fn pull(
        &mut self,
        feeder: &mut Feeder<'_, J>,
        most: u64,
        every: u64,
        started: u64,
    ) -> Result<Pulled, JobError> {
        let mut jobs = 0;
        while jobs < most {
            match self.next() {
                Some(job) => feeder.add(&job)?,
                None => return Ok(Pulled { jobs, ticked: false, ended: true }),
            }
            jobs += 1;
            if (jobs % every == 0 || jobs == most) && coarse_monotonic_ns() != started {
                return Ok(Pulled { jobs, ticked: true, ended: false });
            }
        }
        Ok(Pulled { jobs, ticked: false, ended: false })
    }
}

impl<O> Drop for Receiver<'_, O> {
    /// A consumer that stops early closes its stream: its queued jobs are
    /// dropped and workers still running them are replaced.
    fn drop(&mut self) {
        if !self.done {
            let _ = self.core.send(Command::Close { stream: self.stream });
        }
    }
}

fn failure<O>(index: u64, error: JobError) -> Finished<O> {
    let pid = error.deaths().last().map_or(0, |d| d.pid);
    Finished {
        index,
        pid,
        started_at: Duration::ZERO,
        elapsed: Duration::ZERO,
        cpu: Duration::ZERO,
        result: Err(error),
    }
}

/// A delivery being handed out.
#[derive(Debug)]
pub(crate) enum Current<O> {
    Empty,
    Results { next: u64, pid: u32, outcomes: Outcomes<O> },
    Failed(Option<Finished<O>>),
}

impl<O> From<Delivery<Answers<O>>> for Current<O> {
    fn from(delivery: Delivery<Answers<O>>) -> Self {
        match delivery {
            Delivery::Results { first, results } => Current::Results {
                next: first,
                pid: results.pid,
                outcomes: results.reply.unpack(results.jobs),
            },
            Delivery::Failed { index, failure: f } => {
                let timed_out =
                    matches!(f.deaths.last(), Some(d) if matches!(d.cause, DeathCause::TimedOut(_)));
                let error = if timed_out {
                    JobError::TimedOut { deaths: f.deaths }
                } else {
                    JobError::WorkerDied { deaths: f.deaths }
                };
                Current::Failed(Some(failure(index, error)))
            }
            Delivery::Rejected { index, reason } => {
                Current::Failed(Some(failure(index, JobError::CannotSend { reason })))
            }
        }
    }
}

impl<O> Current<O> {
    /// Jobs not yet handed out.
    fn remaining(&self) -> usize {
        match self {
            Current::Empty => 0,
            Current::Failed(failed) => usize::from(failed.is_some()),
            Current::Results { outcomes, .. } => outcomes.len(),
        }
    }
}

/// Consecutive finished jobs handed over together, as they came back from
/// one worker: iterating one costs far less per job than the
/// [`Detailed`] iterator, which is what millions of tiny jobs need. See
/// [`Detailed::next_chunk`].
#[derive(Debug)]
#[must_use = "a chunk holds results; iterate it"]
pub struct Chunk<O> {
    current: Current<O>,
}

impl<O> Chunk<O> {
    /// Jobs in it not yet iterated.
    pub fn len(&self) -> usize {
        self.current.remaining()
    }

    /// True when every job in it has been iterated.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The jobs of a chunk that ran, taken apart: the index of the first
    /// not yet iterated, the worker's pid, and their outcomes with timings
    /// in nanoseconds, in order. Cheaper again than iterating the chunk: no
    /// [`Finished`] (three `Duration`s and a [`JobError`]) is built per job.
    /// Any other chunk (a job that never ran, or a failure of the whole
    /// stream) comes back as `Err`, to iterate as usual.
    #[allow(clippy::result_large_err)] // `Err` is the chunk handed back whole, not an error
    pub fn into_outcomes(self) -> Result<(u64, u32, Outcomes<O>), Chunk<O>> {
        match self.current {
            Current::Results { next, pid, outcomes } => Ok((next, pid, outcomes)),
            current => Err(Chunk { current }),
        }
    }
}

impl<O> Iterator for Chunk<O> {
    type Item = Finished<O>;

    #[inline(always)]
    fn next(&mut self) -> Option<Finished<O>> {
        self.current.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<O> ExactSizeIterator for Chunk<O> {}

impl<O> Iterator for Current<O> {
    type Item = Finished<O>;

    #[inline(always)]
    fn next(&mut self) -> Option<Finished<O>> {
        match self {
            Current::Empty => None,
            Current::Failed(failed) => failed.take(),
            Current::Results { next, pid, outcomes } => {
                let timed = outcomes.next()?;
                let index = *next;
                *next += 1;
                Some(Finished {
                    index,
                    pid: *pid,
                    started_at: Duration::from_nanos(timed.started_ns),
                    elapsed: Duration::from_nanos(timed.elapsed_ns),
                    cpu: Duration::from_nanos(timed.cpu_ns),
                    result: timed.output.map_err(|failed| match failed {
                        Failed::Panicked(message) => JobError::Panicked { message },
                        Failed::Unsendable(reason) => JobError::CannotReturn { reason },
                    }),
                })
            }
        }
    }
}

/// Results of [`ProcessPool::map`](super::ProcessPool::map), in submission order.
///
/// Jobs are pulled from the input lazily, on the thread that iterates,
/// whenever nothing is ready to hand out and the window has room; at most
/// the pool's window of jobs is held at once.
#[must_use = "iterators are lazy: no job runs until this is iterated"]
pub struct Map<'p, J: Job> {
    receiver: Receiver<'p, J::Output>,
    input: Option<Inline<'p, J>>,
}

/// Like [`Map`], with what the pool knows about each job: see [`Map::with_details`].
#[must_use = "iterators are lazy: no job runs until this is iterated"]
pub struct Detailed<'p, J: Job> {
    inner: Map<'p, J>,
}

/// Results of [`ProcessPool::map_unordered`](super::ProcessPool::map_unordered),
/// in completion order, each with its position in submission order.
#[must_use = "iterators are lazy: no job runs until this is iterated"]
pub struct Unordered<'p, J: Job> {
    inner: Map<'p, J>,
}

impl<'p, J: Job> Map<'p, J> {
    pub(crate) fn new(
        core: &'p Core<J::Output>,
        shared: Arc<Shared<J::Output>>,
        stream: StreamId,
        jobs: Option<Box<dyn Pull<J> + 'p>>,
    ) -> Self {
        let input = jobs.map(|jobs| Inline {
            jobs,
            feeder: Feeder::new(core, Arc::clone(&shared), stream).flushing_at(CHUNK as usize),
            limit: 1,
        });
        Map { receiver: Receiver::new(core, shared, stream), input }
    }

    /// Yields [`Finished`] records (index, worker pid, timings and result) instead of bare results.
    pub fn with_details(self) -> Detailed<'p, J> {
        Detailed { inner: self }
    }

    /// Jobs re-run so far after their worker died (known once the map is done).
    pub fn retries(&self) -> u64 {
        self.receiver.shared.lock().retries
    }

    pub(crate) fn unordered(self) -> Unordered<'p, J> {
        Unordered { inner: self }
    }

    fn next_finished(&mut self) -> Option<Finished<J::Output>> {
        self.receiver.next(&mut self.input)
    }
}

impl<J: Job> Iterator for Map<'_, J> {
    type Item = Result<J::Output, JobError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_finished().map(|finished| finished.result)
    }
}

impl<J: Job> Detailed<'_, J> {
    /// Jobs re-run so far after their worker died (known once the map is done).
    pub fn retries(&self) -> u64 {
        self.inner.retries()
    }

    /// The next results as a whole [`Chunk`] (the rest of one worker's
    /// reply, in order), instead of one at a time; `None` at the end. Mixing
    /// this with `next` is fine: a chunk starts where `next` left off.
    pub fn next_chunk(&mut self) -> Option<Chunk<J::Output>> {
        let inner = &mut self.inner;
        inner.receiver.next_chunk(&mut inner.input).map(|current| Chunk { current })
    }
}

impl<J: Job> Iterator for Detailed<'_, J> {
    type Item = Finished<J::Output>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next_finished()
    }
}

impl<J: Job> Iterator for Unordered<'_, J> {
    type Item = (u64, Result<J::Output, JobError>);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next_finished().map(|finished| (finished.index, finished.result))
    }
}

/// One job submitted with [`ProcessPool::submit`](super::ProcessPool::submit).
#[must_use = "a handle does nothing unless waited on; dropping it abandons the job"]
pub struct JobHandle<'p, J: Job> {
    inner: Map<'p, J>,
    /// Why the job could not even be handed to the pool.
    unsent: Option<JobError>,
}

impl<'p, J: Job> JobHandle<'p, J> {
    pub(crate) fn new(inner: Map<'p, J>, unsent: Option<JobError>) -> Self {
        JobHandle { inner, unsent }
    }

    /// Waits for the job's result.
    pub fn wait(mut self) -> Result<J::Output, JobError> {
        if let Some(error) = self.unsent.take() {
            return Err(error);
        }
        match self.inner.next_finished() {
            Some(finished) => finished.result,
            None => Err(JobError::Pool(Arc::new(PoolError::ShutDown))),
        }
    }
}

macro_rules! debug_as {
    ($($name:ident),*) => {$(
        impl<J: Job> std::fmt::Debug for $name<'_, J> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}
debug_as!(Map, Detailed, Unordered, JobHandle);
