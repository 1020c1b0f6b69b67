//! [`ProcessPoolBuilder`]: every knob of a pool, and `build`, which starts it.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcReceiverSet;
use procpool_worker::Kernel;

use super::limits::make_room_for_descriptors;
use super::{BatchSizer, Config, PoolError, PoolEvent, ProcessPool, MAX_WORKERS};

/// Configures a [`ProcessPool`]; start from [`ProcessPool::builder`].
pub struct ProcessPoolBuilder {
    pub(super) config: Config,
    pub(super) program: Option<PathBuf>,
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

    /// Bound on results held for reordering (default [`DEFAULT_WINDOW`](super::DEFAULT_WINDOW)).
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
