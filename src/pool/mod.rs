//! [`ProcessPool`]: a pool of worker processes for any serde [`Job`], the
//! Rust analogue of Python's `ProcessPoolExecutor`, without its
//! BrokenProcessPool: a worker that dies costs one retry (or that job
//! alone), never the pool.
//!
//! Decisions live in the [`scheduler`](crate::scheduler) state machine; this
//! module is its shell for one host: worker processes started through a
//! spawner thread (forked by the pool's fork server, or executed),
//! ipc-channel links, and a dispatcher thread that feeds the scheduler what
//! happens and carries out what it asks.

mod builder;
mod dispatcher;
mod early_fork_server;
mod error;
mod feeder;
mod fork_server;
mod handshake;
mod limits;
mod linux;
mod process;
mod results;
mod role;
mod spawner;
mod stream;

use std::any::type_name;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use procpool_worker::Job;

pub use builder::ProcessPoolBuilder;
pub use early_fork_server::start_fork_server;
pub use error::{Death, DeathCause, JobError, PoolError, PoolEvent};
pub use feeder::Feeder;
pub use limits::{available_cores, descriptors_needed};
pub use process::WorkerOutput;
use results::Pull;
pub use results::{Chunk, Detailed, Finished, JobHandle, Map, Unordered};

use crate::scheduler::StreamId;
use dispatcher::{Command, Core};
use stream::Shared;

/// The most workers one pool may have: each costs a process and up to four file
/// descriptors, and past this a 2..256-core machine gains nothing.
pub const MAX_WORKERS: usize = 1024;

/// What `on_event` hooks are stored as.
type EventHook<J> = Box<dyn FnMut(&PoolEvent<J>) + Send>;

/// A pool of worker processes running jobs of type `J`.
///
/// Every method takes `&self`: the pool is `Send + Sync`, and several
/// threads may map over it at once, each getting its own results in its own
/// order. Dropping the pool kills and reaps every worker;
/// [`shutdown`](ProcessPool::shutdown) lets them exit by themselves first.
pub struct ProcessPool<J: Job> {
    core: Arc<Core<J::Output>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    workers: usize,
    startup: Duration,
}

impl<J: Job> ProcessPool<J> {
    /// A builder with the defaults: one worker per usable core, jobs run at
    /// most once (see [`ProcessPoolBuilder::repeatable`]).
    pub fn builder() -> ProcessPoolBuilder<J> {
        ProcessPoolBuilder::default()
    }

    /// The configured number of workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Process ids of the live workers.
    pub fn pids(&self) -> Vec<u32> {
        self.core.pids.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How long `build` took to start every worker and shake hands.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Runs every job, yielding results in submission order, each as soon as
    /// it and all earlier ones are in. Jobs are pulled lazily, on the
    /// iterating thread, and at most the pool's window is held at once.
    pub fn map<'p, I: IntoIterator<Item = J>>(&'p self, jobs: I) -> Map<'p, J>
    where
        I::IntoIter: 'p,
    {
        self.open(true, Some(Box::new(jobs.into_iter())))
    }

    /// Like [`map`](ProcessPool::map), in completion order (Python's
    /// `as_completed`): each result comes with its position in submission order.
    pub fn map_unordered<'p, I: IntoIterator<Item = J>>(&'p self, jobs: I) -> Unordered<'p, J>
    where
        I::IntoIter: 'p,
    {
        self.open(false, Some(Box::new(jobs.into_iter()))).unordered()
    }

    /// An ordered stream fed from elsewhere: push jobs into the [`Feeder`]
    /// (from another thread if the input may block, such as a pipe), and
    /// read results from the [`Map`] as they come.
    pub fn stream(&self) -> (Feeder<'_, J>, Map<'_, J>) {
        let (stream, shared) = self.open_stream(true);
        let feeder = Feeder::new(&self.core, Arc::clone(&shared), stream);
        (feeder, Map::new(&self.core, shared, stream, None))
    }

    /// Starts one job now; the handle waits for its result. Jobs submitted
    /// one after another run at once, as many at a time as there are workers.
    pub fn submit(&self, job: J) -> JobHandle<'_, J> {
        let (stream, shared) = self.open_stream(true);
        let mut feeder = Feeder::new(&self.core, Arc::clone(&shared), stream);
        let sent = feeder.add(&job).and_then(|()| feeder.end());
        JobHandle::new(Map::new(&self.core, shared, stream, None), sent.err())
    }

    /// Stops taking jobs, closes every worker's job channel, gives workers a
    /// moment to exit on their own, then kills and reaps any that have not.
    /// Maps still running end with [`PoolError::ShutDown`].
    pub fn shutdown(&self) {
        self.stop(true);
    }

    fn stop(&self, graceful: bool) {
        let _ = self.core.send(Command::Shutdown { graceful });
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    fn open<'p>(&'p self, ordered: bool, jobs: Option<Box<dyn Pull<J> + 'p>>) -> Map<'p, J> {
        let (stream, shared) = self.open_stream(ordered);
        Map::new(&self.core, shared, stream, jobs)
    }

    fn open_stream(&self, ordered: bool) -> (StreamId, Arc<Shared<J::Output>>) {
        let stream = self.core.new_stream();
        let shared = Shared::new(self.core.window);
        if let Err(error) = self.core.send(Command::Open { stream, ordered, shared: Arc::clone(&shared) }) {
            shared.fail(Arc::new(error));
        }
        (stream, shared)
    }
}

impl<J: Job> Drop for ProcessPool<J> {
    fn drop(&mut self) {
        self.stop(false);
    }
}

impl<J: Job> std::fmt::Debug for ProcessPool<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPool")
            .field("job", &type_name::<J>())
            .field("workers", &self.workers)
            .field("pids", &self.pids())
            .finish()
    }
}
