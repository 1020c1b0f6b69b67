//! One interface, three implementations: the same numbers, the same kernel,
//! the same timing code, run sequentially, on a rayon thread pool, or on a
//! pool of worker processes. Reports consume any of them alike, so the
//! comparison is written once.

mod batch;
mod in_flight;
mod processes;
mod rayon_threads;
mod reorder;
mod sequential;

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use crate::input::Numbers;
use std::sync::Arc;

use procpool::PoolError;

use crate::input::{JobSource, Pull};

pub use batch::{Batch, View};
pub use processes::Processes;
pub use rayon_threads::RayonThreads;
pub use sequential::Sequential;

/// Which way a run was executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Processes,
    Rayon,
    Sequential,
    /// Worker processes on every rank of an MPI launch (`--mpi`, app::cluster).
    #[value(skip)]
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    Mpi,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Variant::Processes => "processes",
            Variant::Rayon => "rayon",
            Variant::Sequential => "sequential",
            Variant::Mpi => "mpi",
        })
    }
}

/// What an executor knows about its run beyond the results themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunFacts {
    /// Time spent starting workers before the first job (processes only).
    pub startup: Duration,
    /// Jobs run again after their worker died.
    pub retries: u64,
    /// When the last result had been handed to the sink, if teardown followed.
    pub delivered: Option<Instant>,
}

/// Why a run stopped before its input was exhausted.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Pool(Arc<PoolError>),
    #[error("cannot start the rayon thread pool: {0}")]
    Rayon(#[from] rayon::ThreadPoolBuildError),
    #[error("cannot write results: {0}")]
    Sink(#[from] io::Error),
}

impl From<PoolError> for ExecError {
    fn from(error: PoolError) -> Self {
        ExecError::Pool(Arc::new(error))
    }
}

/// Receives the finished jobs, in submission order, a run of consecutive
/// ones at a time (one call per worker reply, not per job: with millions of
/// tiny jobs the supervisor's work per result competes with the workers),
/// with the index of the thread that ran them when threads of one process
/// share the work (rayon): the pid tells worker processes apart, only this
/// tells threads apart. A [`Batch`] builds its records only for a sink
/// that asks for them.
pub type Sink<'a> = dyn FnMut(&mut Batch<'_>, Option<usize>) -> io::Result<()> + 'a;

/// Runs numbers through a kernel and reports them, in submission order, as
/// early as that order allows.
pub trait Executor {
    /// Processes or threads doing the checking.
    fn workers(&self) -> usize;

    /// Checks every number `numbers` yields and calls `sink` with each result
    /// in submission order. Memory stays bounded however long the input is.
    fn run(&mut self, numbers: &mut Numbers, sink: &mut Sink<'_>) -> Result<RunFacts, ExecError>;
}

/// Up to `size` numbers that are ready now. With `wait`, blocks until at
/// least one is (or the input ends); without, may return none.
fn take_chunk(numbers: &mut Numbers, size: usize, wait: bool) -> Vec<u64> {
    let mut chunk = Vec::with_capacity(size.min(4096));
    if wait {
        match numbers.next() {
            Some(n) => chunk.push(n),
            None => return chunk,
        }
    }
    while chunk.len() < size {
        match numbers.pull() {
            Pull::Number(n) => chunk.push(n),
            Pull::NotYet | Pull::End => break,
        }
    }
    chunk
}
