//! What can go wrong in a pool, and what it tells its owner along the way.

use std::fmt;
use std::time::Duration;

use procpool_worker::protocol::CodecError;

/// How a worker process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
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
            DeathCause::Signaled(signal) => match nix::sys::signal::Signal::try_from(*signal) {
                Ok(name) => write!(f, "was killed by signal {signal} ({name})"),
                Err(_) => write!(f, "was killed by signal {signal}"),
            },
            DeathCause::TimedOut(limit) => {
                write!(f, "was killed after a job exceeded the {limit:?} timeout")
            }
            DeathCause::Unknown => write!(f, "disappeared (exit status unavailable)"),
        }
    }
}

/// One worker death, as blamed on the job it was running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    pub pid: u32,
    pub cause: DeathCause,
}

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {} {}", self.pid, self.cause)
    }
}

/// A job given up on after it killed its worker more times than allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedJob {
    /// Position in submission order.
    pub index: u64,
    pub n: u64,
    /// Every death this job caused, oldest first.
    pub deaths: Vec<Death>,
}

/// Things the pool noticed that its owner may want to report; the pool itself never prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolEvent {
    /// A worker died. `running` is the number it is known to have been
    /// checking (blamed for the death); when several of its batch were
    /// unanswered, no one is blamed and they are `suspects`, re-run one at a
    /// time; `requeued` are numbers it had not started, sent elsewhere.
    WorkerDied { death: Death, running: Option<u64>, retrying: bool, suspects: Vec<u64>, requeued: Vec<u64> },
    /// A replacement worker joined the pool.
    WorkerStarted { pid: u32 },
}

impl fmt::Display for PoolEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolEvent::WorkerDied { death, running, retrying, suspects, requeued } => {
                write!(f, "{death}")?;
                if let Some(n) = running {
                    let fate = if *retrying { "retrying it" } else { "giving up on it" };
                    write!(f, " while checking {n}; {fate}")?;
                }
                if !suspects.is_empty() {
                    write!(
                        f,
                        " while checking one of {} numbers ({}); re-running them one at a time to find which",
                        suspects.len(),
                        preview(suspects)
                    )?;
                }
                if !requeued.is_empty() {
                    write!(f, "; re-queued {} waiting job(s): {}", requeued.len(), preview(requeued))?;
                }
                Ok(())
            }
            PoolEvent::WorkerStarted { pid } => write!(f, "started replacement worker {pid}"),
        }
    }
}

fn preview(numbers: &[u64]) -> String {
    const SHOWN: usize = 5;
    let mut text: Vec<String> = numbers.iter().take(SHOWN).map(u64::to_string).collect();
    if numbers.len() > SHOWN {
        text.push(format!("... ({} more)", numbers.len() - SHOWN));
    }
    text.join(", ")
}

/// Why a pool could not start or a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot start worker process {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("worker {pid} {cause} before completing the handshake")]
    DiedAtStartup { pid: u32, cause: DeathCause },
    #[error("worker {pid} sent a bad handshake: {reason}")]
    BadHandshake { pid: u32, reason: String },
    #[error("worker {pid} did not complete the handshake within {timeout:?}")]
    HandshakeTimeout { pid: u32, timeout: Duration },
    #[error("worker {pid} speaks protocol version {theirs}, this supervisor speaks {ours}")]
    ProtocolMismatch { pid: u32, theirs: u32, ours: u32 },
    #[error("worker {pid} sent a bad frame: {source}")]
    BadFrame { pid: u32, source: CodecError },
    #[error("worker {pid} broke the protocol: {detail}")]
    ProtocolViolation { pid: u32, detail: String },
    #[error("inter-process channel failed: {0}")]
    Ipc(String),
    #[error("cannot encode a job batch: {0}")]
    Encode(CodecError),
    #[error("the run was cancelled")]
    Cancelled,
    #[error("internal error: the pool finished without job {missing} (results from job {held} on were waiting for it)")]
    Incomplete { missing: u64, held: u64 },
    #[error(
        "{workers} workers need {needed} open files, but the limit is {limit} (raise it with ulimit -n)"
    )]
    TooFewDescriptors { workers: usize, needed: u64, limit: u64 },
}
