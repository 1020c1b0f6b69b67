//! What can go wrong: with one job ([`JobError`]), or with the pool itself
//! ([`PoolError`]); and what the pool tells its owner along the way.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use procpool_worker::protocol::CodecError;

pub use crate::scheduler::{Death, DeathCause};

/// Why one job has no output. The others are not affected.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The job panicked in its worker; the message is the panic's. The worker lives on.
    #[error("the job panicked: {message}")]
    Panicked { message: String },
    /// The job was running when its worker died, every time it was tried.
    #[error("the job's worker died {} time(s), last: {}", deaths.len(), last(deaths))]
    WorkerDied { deaths: Vec<Death> },
    /// The job ran past the pool's timeout, every time it was tried.
    #[error("the job timed out {} time(s), last: {}", deaths.len(), last(deaths))]
    TimedOut { deaths: Vec<Death> },
    /// The job could not be handed to a worker (it cannot be encoded, or
    /// encodes to more than the 8 MiB a job may have); it never ran.
    #[error("the job cannot be sent to a worker: {reason}")]
    CannotSend { reason: String },
    /// The job ran, but its output could not be sent back (it cannot be
    /// encoded, or is larger than a frame). The worker lives on.
    #[error("the job ran, but its output cannot be sent back: {reason}")]
    CannotReturn { reason: String },
    /// The pool stopped before the job finished (cancelled, shut down, or broken).
    #[error("the pool could not run the job: {0}")]
    Pool(Arc<PoolError>),
}

impl PartialEq for JobError {
    /// Pool errors compare by their message (they carry I/O errors, which do not compare).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (JobError::Panicked { message: a }, JobError::Panicked { message: b }) => a == b,
            (JobError::WorkerDied { deaths: a }, JobError::WorkerDied { deaths: b }) => a == b,
            (JobError::TimedOut { deaths: a }, JobError::TimedOut { deaths: b }) => a == b,
            (JobError::CannotSend { reason: a }, JobError::CannotSend { reason: b }) => a == b,
            (JobError::CannotReturn { reason: a }, JobError::CannotReturn { reason: b }) => a == b,
            (JobError::Pool(a), JobError::Pool(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

fn last(deaths: &[Death]) -> String {
    deaths.last().map(ToString::to_string).unwrap_or_default()
}

impl JobError {
    /// Every worker loss charged to the job (empty unless it died or timed out).
    pub fn deaths(&self) -> &[Death] {
        match self {
            JobError::WorkerDied { deaths } | JobError::TimedOut { deaths } => deaths,
            _ => &[],
        }
    }

    /// The pool-level error behind this one, if that is what it is.
    pub fn pool_error(&self) -> Option<&PoolError> {
        match self {
            JobError::Pool(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a pool could not start or go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    #[error("a pool has 1 to {} workers, not {asked}", super::MAX_WORKERS)]
    WorkerCount { asked: usize },
    #[error("the workers' directory {dir} cannot be used: {source}")]
    CurrentDir { dir: String, source: std::io::Error },
    #[error("cannot start worker process {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("worker {pid} {cause} before completing the handshake{}", exited_cleanly_hint(cause))]
    DiedAtStartup { pid: u32, cause: DeathCause },
    #[error("worker {pid} sent a bad handshake: {reason}")]
    BadHandshake { pid: u32, reason: String },
    #[error("worker {pid} did not complete the handshake within {timeout:?}")]
    HandshakeTimeout { pid: u32, timeout: Duration },
    #[error("worker {pid} speaks protocol version {theirs}, this supervisor speaks {ours}")]
    ProtocolMismatch { pid: u32, theirs: u32, ours: u32 },
    #[error("worker {pid} runs build {theirs}, not this supervisor's build {ours}: was {program} rebuilt or replaced?")]
    BuildMismatch { pid: u32, program: String, theirs: String, ours: String },
    #[error("worker {pid} sent a bad frame: {source}")]
    BadFrame { pid: u32, source: CodecError },
    #[error(transparent)]
    ProtocolViolation(#[from] crate::scheduler::Violation),
    #[error("inter-process channel failed: {0}")]
    Ipc(String),
    #[error("cannot encode a job: {0}")]
    Encode(CodecError),
    #[error("the run was cancelled")]
    Cancelled,
    #[error("the pool has been shut down")]
    ShutDown,
    #[error("cannot start a thread for the pool: {0}")]
    Thread(std::io::Error),
    /// The temporary directory (TMPDIR) cannot hold the handshake sockets.
    #[error("TMPDIR {dir} cannot hold the workers' handshake sockets: {reason}")]
    TempDir { dir: String, reason: String },
    #[error(
        "{workers} {} {needed} open files, but the limit is {limit} (raise it with ulimit -n)",
        if *workers == 1 { "worker needs" } else { "workers need" }
    )]
    TooFewDescriptors { workers: usize, needed: u64, limit: u64 },
    #[error("a fork server is forked only from a process with one thread, and this one has {threads}: call start_fork_server first thing in main")]
    Threaded { threads: usize },
    /// This process is one a pool started as its worker or fork server, and
    /// its `main` did not hand it to [`worker_entry`](crate::worker_entry).
    #[error("this process was started as a procpool worker ({flag}) but builds a pool instead of serving: call procpool::worker_entry() first thing in main")]
    NoWorkerEntry { flag: &'static str },
}

/// Things the pool noticed that its owner may want to report; the pool itself never prints.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PoolEvent<J> {
    /// A worker died or was killed. `running` is the job it is known to have
    /// been running (blamed for the death); when several of its batch were
    /// unanswered, no one is blamed and they are `suspects`, re-run one at a
    /// time; `requeued` jobs it had not started went elsewhere.
    WorkerDied { death: Death, running: Option<J>, retrying: bool, suspects: Vec<J>, requeued: usize },
    /// A replacement worker joined the pool.
    WorkerStarted { pid: u32 },
}

impl<J: fmt::Display> fmt::Display for PoolEvent<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolEvent::WorkerDied { death, running, retrying, suspects, requeued } => {
                write!(f, "{death}")?;
                if let Some(job) = running {
                    let fate = if *retrying { "retrying it" } else { "giving up on it" };
                    write!(f, " while running {job}; {fate}")?;
                }
                if !suspects.is_empty() {
                    write!(
                        f,
                        " while running one of {} jobs ({}); re-running them one at a time to find which",
                        suspects.len(),
                        preview(suspects)
                    )?;
                }
                if *requeued > 0 {
                    write!(f, "; re-queued {requeued} waiting job(s)")?;
                }
                Ok(())
            }
            PoolEvent::WorkerStarted { pid } => write!(f, "started replacement worker {pid}"),
        }
    }
}

fn preview<J: fmt::Display>(jobs: &[J]) -> String {
    const SHOWN: usize = 5;
    let mut text: Vec<String> = jobs.iter().take(SHOWN).map(ToString::to_string).collect();
    if jobs.len() > SHOWN {
        text.push(format!("... ({} more)", jobs.len() - SHOWN));
    }
    text.join(", ")
}

/// A worker that ended well before its hello most likely ran the program's
/// own `main`, which did not hand over to the worker first.
fn exited_cleanly_hint(cause: &DeathCause) -> &'static str {
    if matches!(cause, DeathCause::Exited(0)) {
        " (does the program's main call procpool::worker_entry() first thing?)"
    } else {
        ""
    }
}
