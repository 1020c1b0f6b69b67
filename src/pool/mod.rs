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

mod engine;
mod error;
mod handshake;
mod process;
mod reorder;
mod sizing;
mod source;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{IpcReceiverSet, IpcSender};
use procpool_worker::protocol::{Frame, PrimeResult};
use procpool_worker::Kernel;

pub use engine::PIPELINE_DEPTH;
pub use error::{Death, DeathCause, FailedJob, PoolError, PoolEvent};
pub use sizing::{BatchSizer, MAX_BATCH};
pub use source::{IterSource, JobSource, Pull};

use engine::{Chunk, Engine};
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

/// Configures a [`ProcessPool`]; start from [`ProcessPool::builder`].
pub struct ProcessPoolBuilder {
    config: Config,
    program: Option<PathBuf>,
}

impl ProcessPoolBuilder {
    /// Number of worker processes (1..=[`MAX_WORKERS`]; default: the cores this process may use).
    pub fn workers(mut self, workers: usize) -> Self {
        self.config.workers = workers;
        self
    }

    /// The primality kernel the workers run (default [`Kernel::Fast`]).
    pub fn kernel(mut self, kernel: Kernel) -> Self {
        self.config.kernel = kernel;
        self
    }

    /// The executable started in worker mode (default: the current executable).
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Kill a worker whose current job runs longer than this, and retry or fail the job.
    pub fn job_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.job_timeout = timeout;
        self
    }

    /// How many times a job that killed its worker is run again before it is
    /// reported as failed (default 2).
    pub fn retries(mut self, retries: u32) -> Self {
        self.config.retries = retries;
        self
    }

    /// How long a starting worker may take to shake hands (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// Bound on results held for reordering (default [`DEFAULT_WINDOW`]).
    pub fn window(mut self, window: usize) -> Self {
        self.config.window = window.max(1);
        self
    }

    /// A flag that, once set (e.g. by a signal handler), makes a running map
    /// return [`PoolError::Cancelled`] within about 50 ms.
    pub fn cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.config.cancel = Some(flag);
        self
    }

    /// Called with every [`PoolEvent`] (worker deaths, replacements) as it happens.
    pub fn on_event(mut self, hook: impl FnMut(&PoolEvent) + Send + 'static) -> Self {
        self.config.on_event = Some(Box::new(hook));
        self
    }

    /// Starts the workers and waits for every handshake.
    ///
    /// Each worker costs the supervisor up to four file descriptors while
    /// starting and two after; the soft `RLIMIT_NOFILE` is raised to the hard
    /// limit if the pool would not fit under it.
    pub fn build(mut self) -> Result<ProcessPool, PoolError> {
        self.config.program = match self.program {
            Some(program) => program,
            None => std::env::current_exe()
                .map_err(|source| PoolError::Spawn { program: "the current executable".into(), source })?,
        };
        self.config.workers = self.config.workers.clamp(1, MAX_WORKERS);
        make_room_for_descriptors(self.config.workers)?;
        let started = Instant::now();
        let mut pool = ProcessPool {
            config: self.config,
            slots: Vec::new(),
            set: IpcReceiverSet::new().map_err(|e| PoolError::Ipc(e.to_string()))?,
            sizer: BatchSizer::default(),
            startup: Duration::ZERO,
        };
        pool.ensure_workers()?;
        pool.startup = started.elapsed();
        Ok(pool)
    }
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
        Ordered {
            engine: Engine::new(self, source),
            held: BTreeMap::new(),
            next: 0,
            current: Cursor::new(),
            window,
            finished: false,
        }
    }

    /// Like [`ProcessPool::map`], but yields results in completion order.
    pub fn map_unordered<I: IntoIterator<Item = u64>>(
        &mut self,
        numbers: I,
    ) -> Unordered<'_, IterSource<I::IntoIter>> {
        Unordered {
            engine: Engine::new(self, IterSource(numbers.into_iter())),
            current: Cursor::new(),
            finished: false,
        }
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

/// Open files the supervisor needs for `workers`: four per worker while
/// shaking hands (listening socket, connection, two received channel ends).
pub fn descriptors_needed(workers: usize) -> u64 {
    64 + 4 * workers as u64
}

/// Raises the soft open-file limit when `workers` would not fit under it,
/// and refuses up front if even the hard limit is too low: running out of
/// descriptors mid-handshake makes ipc-channel panic.
fn make_room_for_descriptors(workers: usize) -> Result<(), PoolError> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let needed = descriptors_needed(workers);
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(());
    };
    if soft >= needed {
        return Ok(());
    }
    if hard >= needed && setrlimit(Resource::RLIMIT_NOFILE, needed, hard).is_ok() {
        return Ok(());
    }
    Err(PoolError::TooFewDescriptors { workers, needed, limit: hard })
}

/// Cores this process may run on (affinity and cgroup limits included).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Walks one chunk at a time, handing its buffer back to the engine for reuse.
struct Cursor {
    chunk: Option<Chunk>,
    position: usize,
}

impl Cursor {
    fn new() -> Self {
        Cursor { chunk: None, position: 0 }
    }

    fn start(&mut self, chunk: Chunk) {
        self.chunk = Some(chunk);
        self.position = 0;
    }

    /// The next job of the current chunk, if any is left.
    fn next<S: JobSource>(&mut self, engine: &mut Engine<'_, S>) -> Option<Completed> {
        if let Some(Chunk::Checked { results, .. }) = self.chunk.as_ref() {
            if let Some(&result) = results.get(self.position) {
                self.position += 1;
                return Some(Completed::Checked(result));
            }
        }
        match self.chunk.take()? {
            Chunk::Checked { results, .. } => {
                engine.recycle(results);
                None
            }
            Chunk::Failed(failed) => Some(Completed::Failed(failed)),
        }
    }
}

/// Results of [`ProcessPool::map`], in submission order.
pub struct Ordered<'p, S> {
    engine: Engine<'p, S>,
    /// The reorder buffer: chunks that arrived before an earlier one, by first index.
    held: BTreeMap<u64, Chunk>,
    /// Index of the first job not yet moved to `current`.
    next: u64,
    current: Cursor,
    window: u64,
    finished: bool,
}

impl<S: JobSource> Ordered<'_, S> {
    /// Re-runs so far of jobs that were running when their worker died.
    pub fn retries(&self) -> u64 {
        self.engine.retries
    }
}

impl<S: JobSource> Iterator for Ordered<'_, S> {
    type Item = Result<Completed, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(done) = self.current.next(&mut self.engine) {
                return Some(Ok(done));
            }
            if let Some(chunk) = self.held.remove(&self.next) {
                self.next += chunk.len() as u64;
                self.current.start(chunk);
                continue;
            }
            if self.finished {
                return None;
            }
            match self.engine.next_chunk(self.next + self.window) {
                // In order, as most chunks are: no need to park it.
                Some(Ok(chunk)) if chunk.first() == self.next => {
                    self.next += chunk.len() as u64;
                    self.current.start(chunk);
                }
                Some(Ok(chunk)) => {
                    self.held.insert(chunk.first(), chunk);
                }
                Some(Err(e)) => {
                    self.finished = true;
                    self.held.clear();
                    return Some(Err(e));
                }
                None => {
                    self.finished = true;
                    if let Some(&first) = self.held.keys().next() {
                        // Never seen; a loud error beats a silently short run.
                        self.held.clear();
                        return Some(Err(PoolError::Incomplete { missing: self.next, held: first }));
                    }
                }
            }
        }
    }
}

/// Results of [`ProcessPool::map_unordered`], in completion order.
pub struct Unordered<'p, S> {
    engine: Engine<'p, S>,
    current: Cursor,
    finished: bool,
}

impl<S: JobSource> Unordered<'_, S> {
    /// Re-runs so far of jobs that were running when their worker died.
    pub fn retries(&self) -> u64 {
        self.engine.retries
    }
}

impl<S: JobSource> Iterator for Unordered<'_, S> {
    type Item = Result<Completed, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(done) = self.current.next(&mut self.engine) {
                return Some(Ok(done));
            }
            if self.finished {
                return None;
            }
            match self.engine.next_chunk(u64::MAX) {
                Some(Ok(chunk)) => self.current.start(chunk),
                Some(Err(e)) => {
                    self.finished = true;
                    return Some(Err(e));
                }
                None => self.finished = true,
            }
        }
    }
}
