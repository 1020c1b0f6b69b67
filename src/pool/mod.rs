//! [`ProcessPool`]: a pool of worker processes that checks numbers for
//! primality, the Rust analogue of Python's `ProcessPoolExecutor`.
//!
//! ```no_run
//! use procpool::pool::{Completed, ProcessPool};
//!
//! let mut pool = ProcessPool::builder().workers(4).build()?;
//! for item in pool.map([97u64, 98, 99]) {
//!     if let Completed::Checked(result) = item? {
//!         println!("{} prime={} in process {}", result.n, result.prime, result.pid);
//!     }
//! }
//! pool.shutdown();
//! # Ok::<(), procpool::pool::PoolError>(())
//! ```
//!
//! Workers re-execute the current binary in worker mode, so a program that
//! builds a pool must call [`crate::worker_entry`] first thing in `main`
//! (the `procpool` binary does), or point [`ProcessPoolBuilder::program`] at
//! the `procpool` binary.
//!
//! Workers are tied to the thread that started them (`PR_SET_PDEATHSIG`):
//! build and use a pool on a thread that outlives it.

mod builder;
mod engine;
mod error;
mod handshake;
mod limits;
mod process;
mod reorder;
mod results;
mod sizing;
mod source;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{IpcReceiverSet, IpcSender};
use procpool_worker::protocol::{Frame, PrimeResult};
use procpool_worker::Kernel;

pub use builder::ProcessPoolBuilder;
pub use engine::PIPELINE_DEPTH;
pub use error::{Death, DeathCause, FailedJob, PoolError, PoolEvent};
pub use limits::{available_cores, descriptors_needed};
pub use results::{Ordered, Unordered};
pub use sizing::{BatchSizer, MAX_BATCH};
pub use source::{IterSource, JobSource, Pull};

use engine::Engine;
use process::WorkerProcess;
pub(crate) use reorder::Reorder;

/// The most workers one pool may have: each costs a process and up to four file
/// descriptors, and past this a 2..256-core machine gains nothing.
pub const MAX_WORKERS: usize = 1024;

/// How far submission may run ahead of the oldest unreported job in an
/// ordered map: bounds the reorder buffer to this many results.
pub const DEFAULT_WINDOW: usize = 1 << 17;

/// One finished job: checked, or given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completed {
    Checked(PrimeResult),
    Failed(FailedJob),
}

impl Completed {
    /// The job's position in submission order.
    pub fn index(&self) -> u64 {
        match self {
            Completed::Checked(result) => result.index,
            Completed::Failed(failed) => failed.index,
        }
    }
}

type EventHook = Box<dyn FnMut(&PoolEvent) + Send>;

/// Everything a pool was built with.
struct Config {
    workers: usize,
    kernel: Kernel,
    program: PathBuf,
    handshake_timeout: Duration,
    job_timeout: Option<Duration>,
    retries: u32,
    window: usize,
    cancel: Option<Arc<AtomicBool>>,
    on_event: Option<EventHook>,
}

/// A started worker as the dispatcher sees it.
struct Slot {
    process: WorkerProcess,
    jobs: IpcSender<Frame>,
    receiver_id: u64,
    in_flight: VecDeque<Ticket>,
    /// When the job it is running now started, as far as we can tell.
    busy_since: Option<Instant>,
}

/// Consecutive jobs sent to one worker in one message.
struct Ticket {
    first_index: u64,
    numbers: Vec<u64>,
    answered: usize,
    /// Another worker runs these jobs too (tail duplication).
    twin: bool,
    /// A re-run of a job that was (or may have been) running when a worker
    /// died: never duplicated, so a killer job costs one worker at a time.
    risky: bool,
}

/// A pool of worker processes checking numbers for primality.
///
/// Dropping the pool kills and reaps every worker; [`ProcessPool::shutdown`]
/// lets them exit by themselves first.
pub struct ProcessPool {
    config: Config,
    slots: Vec<Slot>,
    set: IpcReceiverSet,
    sizer: BatchSizer,
    startup: Duration,
}

impl ProcessPool {
    /// A builder with the defaults: one worker per usable core, the fast kernel, 2 retries.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            config: Config {
                workers: available_cores(),
                kernel: Kernel::Fast,
                program: PathBuf::new(),
                handshake_timeout: Duration::from_secs(10),
                job_timeout: None,
                retries: 2,
                window: DEFAULT_WINDOW,
                cancel: None,
                on_event: None,
            },
            program: None,
        }
    }

    /// The configured number of workers.
    pub fn workers(&self) -> usize {
        self.config.workers
    }

    /// Process ids of the live workers.
    pub fn pids(&self) -> Vec<u32> {
        self.slots.iter().map(|slot| slot.process.pid).collect()
    }

    /// How long `build` took to start every worker and shake hands.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Checks every number, yielding results in submission order, each as
    /// soon as it and all earlier ones are in. Numbers are pulled lazily and
    /// at most [`ProcessPoolBuilder::window`] results are held at once.
    pub fn map<I: IntoIterator<Item = u64>>(&mut self, numbers: I) -> Ordered<'_, IterSource<I::IntoIter>> {
        self.map_source(IterSource(numbers.into_iter()))
    }

    /// Like [`ProcessPool::map`], for a source that may have no number ready
    /// yet (a pipe read on another thread): meanwhile the pool keeps
    /// delivering results and watching for deaths, timeouts and cancellation.
    pub fn map_source<S: JobSource>(&mut self, source: S) -> Ordered<'_, S> {
        let window = self.config.window as u64;
        Ordered::new(Engine::new(self, source), window)
    }

    /// Like [`ProcessPool::map`], but yields results in completion order.
    pub fn map_unordered<I: IntoIterator<Item = u64>>(
        &mut self,
        numbers: I,
    ) -> Unordered<'_, IterSource<I::IntoIter>> {
        Unordered::new(Engine::new(self, IterSource(numbers.into_iter())))
    }

    /// Closes every job channel, gives workers a moment to exit on their
    /// own, then kills and reaps any that have not.
    pub fn shutdown(mut self) {
        // Dropping each job sender is what lets its worker see EOF and exit.
        let mut processes: Vec<WorkerProcess> =
            std::mem::take(&mut self.slots).into_iter().map(|slot| slot.process).collect();
        let deadline = Instant::now() + Duration::from_secs(1);
        for process in &mut processes {
            process.reap_within(deadline.saturating_duration_since(Instant::now()));
        }
    }

    /// Starts workers until the pool has its configured number again.
    fn ensure_workers(&mut self) -> Result<(), PoolError> {
        let missing = self.config.workers.saturating_sub(self.slots.len());
        if missing == 0 {
            return Ok(());
        }
        let replacing = !self.slots.is_empty() || self.startup != Duration::ZERO;
        let started = handshake::start_workers(&self.config.program, missing, self.config.handshake_timeout)?;
        for worker in started {
            let receiver_id = self.set.add(worker.results).map_err(|e| PoolError::Ipc(e.to_string()))?;
            let pid = worker.process.pid;
            self.slots.push(Slot {
                process: worker.process,
                jobs: worker.jobs,
                receiver_id,
                in_flight: VecDeque::new(),
                busy_since: None,
            });
            if replacing {
                self.emit(&PoolEvent::WorkerStarted { pid });
            }
        }
        Ok(())
    }

    /// The live worker with the fewest batches in flight, if it has room.
    fn least_loaded(&self, depth: usize) -> Option<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].in_flight.len() < depth)
            .min_by_key(|&i| self.slots[i].in_flight.len())
    }

    fn slot_of(&self, receiver_id: u64) -> Option<usize> {
        self.slots.iter().position(|slot| slot.receiver_id == receiver_id)
    }

    fn remove_slot(&mut self, slot: usize) -> Slot {
        self.slots.swap_remove(slot)
    }

    fn emit(&mut self, event: &PoolEvent) {
        if let Some(hook) = self.config.on_event.as_mut() {
            hook(event);
        }
    }
}
