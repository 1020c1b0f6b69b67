//! The pool's decisions, with no I/O: which job goes to which worker, batch
//! sizes, pipelining, reordering, retries and blame, timeouts, tail
//! duplication and recycling.
//!
//! Like quinn-proto's QUIC state machine, it is driven by a shell that owns
//! the sockets and processes: the shell feeds it events (input, a reply, a
//! death, the time) and carries out the [`Action`]s it asks for (start a
//! worker, send a batch, kill a worker, deliver results). It never reads a
//! clock, spawns, sends or sleeps, so it can be tested without processes and
//! driven over any transport.
//!
//! Jobs are named by `(stream, index)`: a stream is one `map` (or `submit`),
//! its indices count from 0 in submission order. Batches are always runs of
//! consecutive indices of one stream, so the shell keeps the payloads and the
//! scheduler only counts.
//!
//! **Invariant:** every job added to a stream is delivered exactly once (as
//! results or as a failure), and an ordered stream delivers in index order.
//! It is `debug_assert`ed where deliveries are made and checked by the
//! property test in `tests.rs`.

mod blame;
mod dispatch;
mod progress;
mod sizing;
mod stream;
mod stream_events;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

pub use sizing::{BatchSizer, MAX_BATCH};
pub use types::{
    Action, Batch, Death, DeathCause, Delivery, Failure, Loss, Settings, StreamId, Violation, WorkerId,
};

use stream::Stream;

/// The most batches a worker holds: the one it runs and the next, so it
/// never waits a round trip between cheap jobs. The risk, a queued job
/// waiting while another worker idles at the end of the input, is what tail
/// duplication removes.
pub const PIPELINE_DEPTH: usize = 2;

/// Consecutive jobs of one stream sent to one worker in one message.
#[derive(Debug, Clone)]
struct Ticket {
    stream: StreamId,
    first: u64,
    count: usize,
    answered: usize,
    /// Another worker runs these jobs too (tail duplication).
    twin: bool,
    /// A re-run of a job that was (or may have been) running when a worker
    /// died: never duplicated, so a killer job costs one worker at a time.
    risky: bool,
}

impl Ticket {
    /// The first job not yet answered.
    fn next_unanswered(&self) -> u64 {
        self.first + self.answered as u64
    }

    fn end(&self) -> u64 {
        self.first + self.count as u64
    }
}

/// A worker as the scheduler sees it.
#[derive(Debug)]
struct Worker {
    pid: u32,
    in_flight: VecDeque<Ticket>,
    /// When the job it is running now started, as far as we can tell.
    busy_since: Option<Instant>,
    /// Jobs sent to it so far (for recycling).
    jobs_sent: u64,
    /// Jobs it runs at once: 1 for a worker process, a node's worker count
    /// when a whole pool is one destination (the cluster transport).
    slots: usize,
    /// False once a batch could not reach it: it is dying, and is sent
    /// nothing more while the replies it sent before are still read.
    reachable: bool,
}

/// Why jobs run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// It was running when its worker died.
    Blamed,
    /// It may have been running: one of several unanswered jobs of the dead
    /// worker's running batch (re-run alone, so the next death is precise).
    Suspect,
    /// Its worker died (or was killed) before starting it.
    Requeued,
}

/// Jobs to run again: `first..first + count` of `stream`.
#[derive(Debug, Clone, Copy)]
struct Rerun {
    stream: StreamId,
    first: u64,
    count: usize,
    why: Why,
}

/// The state machine. `T` holds the results of a run of consecutive jobs
/// as the shell decoded them; the scheduler never looks inside.
#[derive(Debug)]
pub struct Scheduler<T> {
    settings: Settings,
    now: Instant,
    workers: BTreeMap<WorkerId, Worker>,
    starting: usize,
    next_worker: u64,
    streams: BTreeMap<StreamId, Stream<T>>,
    /// Streams with fresh jobs waiting for a worker, so that dispatch does
    /// not scan every open stream (tens of thousands of `submit`s).
    fresh: BTreeSet<StreamId>,
    /// Streams whose input has not ended.
    open_inputs: usize,
    reruns: VecDeque<Rerun>,
    sizer: BatchSizer,
    actions: VecDeque<Action<T>>,
    /// Streams served last, for round-robin dispatch.
    cursor: u64,
    /// Deaths charged to each job still being retried.
    deaths: HashMap<(StreamId, u64), Vec<Death>>,
    /// A job the loss being handled has made fail, delivered after its report.
    given_up: Option<(u64, Failure)>,
}

impl<T: Batch> Scheduler<T> {
    /// A scheduler that immediately asks for `settings.workers` workers.
    pub fn new(settings: Settings, now: Instant) -> Self {
        let mut scheduler = Scheduler {
            settings,
            now,
            workers: BTreeMap::new(),
            starting: 0,
            next_worker: 0,
            streams: BTreeMap::new(),
            fresh: BTreeSet::new(),
            open_inputs: 0,
            reruns: VecDeque::new(),
            sizer: BatchSizer::default(),
            actions: VecDeque::new(),
            cursor: 0,
            deaths: HashMap::new(),
            given_up: None,
        };
        scheduler.top_up_workers();
        scheduler
    }

    /// The time every later event happens at, as the shell reads it.
    pub fn set_now(&mut self, now: Instant) {
        self.now = now.max(self.now);
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action<T>> {
        self.actions.pop_front()
    }

    /// Workers that have shaken hands and are still alive.
    pub fn live_workers(&self) -> usize {
        self.workers.len()
    }

    /// Workers asked for but not yet ready.
    pub fn starting_workers(&self) -> usize {
        self.starting
    }

    /// Pids of the live workers.
    pub fn pids(&self) -> Vec<u32> {
        self.workers.values().map(|w| w.pid).collect()
    }

    /// The running estimate of one job's cost.
    pub fn job_cost(&self) -> Duration {
        self.sizer.cost()
    }

    /// A worker the shell started for [`Action::StartWorker`] has shaken hands.
    pub fn worker_ready(&mut self, worker: WorkerId, pid: u32) {
        self.worker_ready_with_slots(worker, pid, 1);
    }

    /// Like [`worker_ready`](Scheduler::worker_ready) for a destination that
    /// runs `slots` jobs at once (a remote pool): its batches carry `slots`
    /// times the work, or it holds `slots` times the batches when jobs are
    /// dear, so every slot stays busy while messages stay few.
    pub fn worker_ready_with_slots(&mut self, worker: WorkerId, pid: u32, slots: usize) {
        self.starting = self.starting.saturating_sub(1);
        let slots = slots.max(1);
        self.workers.insert(
            worker,
            Worker {
                pid,
                in_flight: VecDeque::new(),
                busy_since: None,
                jobs_sent: 0,
                slots,
                reachable: true,
            },
        );
        self.dispatch();
    }

    /// A worker asked for could not be started; it is asked for again only
    /// when another worker leaves.
    pub fn worker_failed_to_start(&mut self, _worker: WorkerId) {
        self.starting = self.starting.saturating_sub(1);
    }

    /// When the earliest running job will have exceeded the timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        let limit = self.settings.job_timeout?;
        self.workers.values().filter_map(|w| w.busy_since).min().map(|since| since + limit)
    }

    /// The shell itself was not running for `stalled` (stopped by SIGSTOP,
    /// or starved): that time is not charged to any running job.
    pub fn paused(&mut self, stalled: Duration) {
        for worker in self.workers.values_mut() {
            if let Some(since) = worker.busy_since.as_mut() {
                *since += stalled;
            }
        }
    }

    /// Kills every worker whose current job has run past the timeout. Call
    /// it after every reply already waiting has been fed in.
    pub fn tick(&mut self) {
        let Some(limit) = self.settings.job_timeout else {
            return;
        };
        let now = self.now;
        let overdue: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| w.busy_since.is_some_and(|since| now.saturating_duration_since(since) >= limit))
            .map(|(&id, _)| id)
            .collect();
        for worker in overdue {
            self.actions.push_back(Action::Kill { worker });
            self.lose_worker(worker, DeathCause::TimedOut(limit));
        }
        self.dispatch();
    }

    /// A worker's channel closed or its process ended, as `cause` says.
    /// Unknown workers (already killed) are ignored.
    pub fn worker_died(&mut self, worker: WorkerId, cause: DeathCause) {
        self.lose_worker(worker, cause);
        self.dispatch();
    }

    /// Asks for workers until live + starting reaches the configured number.
    fn top_up_workers(&mut self) {
        while self.workers.len() + self.starting < self.settings.workers {
            let id = WorkerId(self.next_worker);
            self.next_worker += 1;
            self.starting += 1;
            self.actions.push_back(Action::StartWorker(id));
        }
    }

    /// Forgets a worker and decides what its jobs become (see [`blame`]).
    fn lose_worker(&mut self, id: WorkerId, cause: DeathCause) {
        let Some(worker) = self.workers.remove(&id) else {
            return;
        };
        self.bury(id, worker, cause);
        self.top_up_workers();
    }
}
