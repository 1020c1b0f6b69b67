//! The scheduler's vocabulary: names, settings, the actions it asks for and
//! what it delivers.

use std::fmt;
use std::time::Duration;

/// A worker, named for its whole life (positions change, ids never do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(pub u64);

/// One `map` or `submit`: its jobs are numbered from 0 in submission order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u64);

/// What the scheduler is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Workers to keep alive.
    pub workers: usize,
    /// Re-runs of a job that was running when its worker died, before it fails.
    pub retries: u32,
    /// A job running longer than this has its worker killed.
    pub job_timeout: Option<Duration>,
    /// Bound on jobs added and not yet delivered, per stream.
    pub window: usize,
    /// Bound on the bytes of results an ordered stream holds back behind a
    /// job not yet answered: past it, no fresh job of the stream is sent
    /// and no more are taken in until the gap is filled.
    pub window_bytes: usize,
    /// Run a queued batch on an idle worker too at the end of the input
    /// (only for jobs that are safe to run twice).
    pub duplicate_tail: bool,
    /// Workers reply after every job, so the first unanswered job of a dead
    /// worker is exactly the one it was running (no suspects).
    pub exact_blame: bool,
    /// Replace a worker after it has been sent this many jobs.
    pub max_jobs_per_worker: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            workers: 1,
            retries: 0,
            job_timeout: None,
            window: 1 << 17,
            window_bytes: 256 << 20,
            duplicate_tail: false,
            exact_blame: true,
            max_jobs_per_worker: None,
        }
    }
}

/// What the shell must do next.
#[derive(Debug)]
pub enum Action<T> {
    /// Start a worker; report [`Scheduler::worker_ready`](super::Scheduler::worker_ready)
    /// or [`worker_failed_to_start`](super::Scheduler::worker_failed_to_start).
    StartWorker(WorkerId),
    /// Send jobs `first..first + count` of `stream` to `worker`, in one message.
    Send { worker: WorkerId, stream: StreamId, first: u64, count: usize },
    /// Kill the worker now; the scheduler has already forgotten it.
    Kill { worker: WorkerId },
    /// The worker has done its share (recycling): let it exit, then reap it.
    Retire { worker: WorkerId },
    /// Hand these to the stream's consumer.
    Deliver { stream: StreamId, delivery: Delivery<T> },
    /// Every job of `stream` below `below` is delivered: its payload can go.
    Forget { stream: StreamId, below: u64 },
    /// The stream has room for more input (see [`Scheduler::credit`](super::Scheduler::credit)).
    Credit { stream: StreamId },
    /// A worker was lost (died, or killed for a timeout): what became of its jobs.
    Lost(Loss),
    /// Every job of the stream has been delivered and its input has ended;
    /// `retries` jobs were re-run after their worker died.
    Finished { stream: StreamId, retries: u64 },
}

/// What a worker's loss did to the jobs it held, for the owner's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    pub worker: WorkerId,
    pub death: Death,
    /// The job known to have been running, blamed for the loss.
    pub running: Option<(StreamId, u64)>,
    /// Whether the blamed job runs again (else it failed).
    pub retrying: bool,
    /// Jobs one of which was running: re-run one at a time to find which.
    pub suspects: Vec<(StreamId, u64)>,
    /// Jobs it had not started, sent elsewhere.
    pub requeued: usize,
}

/// Finished jobs of one stream.
#[derive(Debug, PartialEq)]
pub enum Delivery<T> {
    /// Jobs `first..first + results.len()`, answered by workers.
    Results { first: u64, results: T },
    /// A job given up on.
    Failed { index: u64, failure: Failure },
    /// A job the shell could not send (see [`Scheduler::reject_job`](super::Scheduler::reject_job)):
    /// failed in its place without running, for the shell's `reason`.
    Rejected { index: u64, reason: String },
}

impl<T: Batch> Delivery<T> {
    /// The first job this delivery covers.
    pub fn first(&self) -> u64 {
        match self {
            Delivery::Results { first, .. } => *first,
            Delivery::Failed { index, .. } | Delivery::Rejected { index, .. } => *index,
        }
    }

    /// How many jobs it covers.
    pub fn len(&self) -> usize {
        match self {
            Delivery::Results { results, .. } => results.len(),
            Delivery::Failed { .. } | Delivery::Rejected { .. } => 1,
        }
    }

    /// True for a results delivery with no results (never delivered).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The memory its results take, as the shell counts it.
    pub fn bytes(&self) -> usize {
        match self {
            Delivery::Results { results, .. } => results.bytes(),
            Delivery::Failed { .. } | Delivery::Rejected { .. } => 0,
        }
    }
}

/// Results of consecutive jobs as the shell keeps them (a `Vec`, or a
/// packed reply): the scheduler only counts them and, rarely, splits them
/// around jobs already delivered by a twin.
pub trait Batch: Sized {
    /// How many jobs it answers.
    fn len(&self) -> usize;

    /// True if it answers none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `at` results and returns the rest.
    fn split_off(&mut self, at: usize) -> Self;

    /// The memory it takes, for the stream's byte window (0: not counted).
    fn bytes(&self) -> usize {
        0
    }
}

impl<T> Batch for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn split_off(&mut self, at: usize) -> Self {
        Vec::split_off(self, at)
    }

    fn bytes(&self) -> usize {
        Vec::len(self) * std::mem::size_of::<T>()
    }
}

/// Why a job was given up on: every worker loss charged to it, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub deaths: Vec<Death>,
}

/// How a worker ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeathCause {
    /// It exited by itself with this code.
    Exited(i32),
    /// A signal killed it (SIGKILL from the OOM killer, SIGSEGV, SIGABRT, ...).
    Signaled(i32),
    /// A job ran past the timeout, so the pool killed it.
    TimedOut(Duration),
    /// Its channel broke but its status could not be read.
    Unknown,
}

impl fmt::Display for DeathCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeathCause::Exited(code) => write!(f, "exited with code {code}"),
            DeathCause::Signaled(signal) => match signal_name(*signal) {
                Some(name) => write!(f, "was killed by signal {signal} ({name})"),
                None => write!(f, "was killed by signal {signal}"),
            },
            DeathCause::TimedOut(limit) => write!(f, "was killed after a job exceeded the {limit:?} timeout"),
            DeathCause::Unknown => write!(f, "disappeared (exit status unavailable)"),
        }
    }
}

/// The usual name of a POSIX signal number.
fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// One worker loss charged to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    /// The worker's process id (or whatever label the shell gave it).
    pub pid: u32,
    pub cause: DeathCause,
}

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {} {}", self.pid, self.cause)
    }
}

/// A reply that does not fit what the worker was sent: a bug or a forgery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("worker {pid} broke the protocol: {detail}")]
pub struct Violation {
    pub pid: u32,
    pub detail: String,
}
