//! [`ProcessPoolBuilder`]: every knob of a pool, and `build`, which starts it.

use std::any::type_name;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use procpool_worker::build_id::build_id;
use procpool_worker::entry::{self, InitFn};
use procpool_worker::protocol::{Frame, Setup};
use procpool_worker::serve::serve_jobs;
use procpool_worker::Job;

use super::dispatcher::{Command, Core, Dispatcher, Start};
use super::error::{PoolError, PoolEvent};
use super::limits::{available_cores, make_room_for_descriptors};
use super::linux;
use super::process::{Launch, WorkerOutput};
use super::spawner::Spawner;
use super::{ProcessPool, MAX_WORKERS};
use crate::scheduler::{Scheduler, Settings};

/// Set to `0`, pools start workers without a fork server by default.
pub(crate) const FORK_SERVER_ENV: &str = "PROCPOOL_FORK_SERVER";

/// The program workers are by default: this very executable.
pub(crate) const OWN_PROGRAM: &str = "/proc/self/exe";

/// Configures a [`ProcessPool`]; start from [`ProcessPool::builder`].
pub struct ProcessPoolBuilder<J: Job> {
    settings: Settings,
    retries: Option<u32>,
    repeatable: bool,
    program: Option<PathBuf>,
    env: Vec<(String, String)>,
    current_dir: Option<PathBuf>,
    stdout: WorkerOutput,
    stderr: WorkerOutput,
    handshake_timeout: Duration,
    fork_server: Option<bool>,
    initializer: Option<InitFn>,
    cancel: Option<Arc<AtomicBool>>,
    on_event: Option<super::EventHook<J>>,
    job: PhantomData<fn(J)>,
}

impl<J: Job> std::fmt::Debug for ProcessPoolBuilder<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("job", &type_name::<J>())
            .field("settings", &self.settings)
            .field("retries", &self.retries)
            .field("repeatable", &self.repeatable)
            .field("program", &self.program)
            .finish_non_exhaustive()
    }
}

impl<J: Job> Default for ProcessPoolBuilder<J> {
    fn default() -> Self {
        ProcessPoolBuilder {
            settings: Settings { workers: available_cores().min(MAX_WORKERS), ..Settings::default() },
            retries: None,
            repeatable: false,
            program: None,
            env: Vec::new(),
            current_dir: None,
            stdout: WorkerOutput::Inherit,
            stderr: WorkerOutput::Inherit,
            handshake_timeout: Duration::from_secs(10),
            fork_server: None,
            initializer: None,
            cancel: None,
            on_event: None,
            job: PhantomData,
        }
    }
}

impl<J: Job> ProcessPoolBuilder<J> {
    /// Number of worker processes (1..=[`MAX_WORKERS`]; default: the cores this process may use).
    pub fn workers(mut self, workers: usize) -> Self {
        self.settings.workers = workers;
        self
    }

    /// Declares the jobs safe to run more than once (pure, or idempotent).
    /// Then a job whose worker died is retried (2 times unless
    /// [`retries`](Self::retries) says otherwise), workers answer in groups
    /// (cheaper for tiny jobs), and at the end of the input an idle worker
    /// runs a copy of a batch another worker has queued. Without it, no job
    /// ever starts twice: retries default to 0, and a job that completed
    /// is never re-run because its answer was lost with its worker.
    pub fn repeatable(mut self, repeatable: bool) -> Self {
        self.repeatable = repeatable;
        self
    }

    /// How many times a job that was running when its worker died (or timed
    /// out) runs again before it fails (default 2 if
    /// [`repeatable`](Self::repeatable), else 0).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// Kill a worker whose current job runs longer than this, and retry or fail the job.
    pub fn job_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.job_timeout = timeout;
        self
    }

    /// Replace a worker after it has run this many jobs (for jobs that leak).
    pub fn max_jobs_per_worker(mut self, jobs: u64) -> Self {
        self.settings.max_jobs_per_worker = Some(jobs.max(1));
        self
    }

    /// A function run once in each worker before its first job (a plain
    /// `fn`: it runs in another process, so it cannot capture anything).
    /// If it panics, that worker exits and its first jobs count it as a death.
    pub fn initializer(mut self, init: fn()) -> Self {
        self.initializer = Some(init);
        self
    }

    /// Sets an environment variable for every worker.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The working directory of every worker (default: the supervisor's).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// Where workers' stdout goes (default: the supervisor's).
    pub fn worker_stdout(mut self, output: WorkerOutput) -> Self {
        self.stdout = output;
        self
    }

    /// Where workers' stderr goes (default: the supervisor's).
    pub fn worker_stderr(mut self, output: WorkerOutput) -> Self {
        self.stderr = output;
        self
    }

    /// The executable started in worker mode (default: this very executable,
    /// through `/proc/self/exe`, so deleting or replacing the file mid-run
    /// changes nothing). Another path must be the same build: the handshake
    /// checks it.
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Whether workers are forked by a fork server, one small helper process
    /// (a worker then costs a fork, about 0.3 ms of CPU time, instead of an
    /// exec, about 1 ms), or each executed on its own. Default: a fork
    /// server, unless a [`program`](Self::program) is given or the
    /// environment variable `PROCPOOL_FORK_SERVER` is `0`. The fork server
    /// is the one [`start_fork_server`](crate::start_fork_server) forked, if
    /// it is idle and this pool sets no `env`, `current_dir` or `program`;
    /// else the pool starts its own by executing the binary once: a pool of
    /// at most one worker per core then executes its first workers (side by
    /// side that is sooner) and starts it when it needs another, a larger
    /// one starts it first. Workers are executed anyway when the fork server
    /// cannot start or has died.
    pub fn fork_server(mut self, fork_server: bool) -> Self {
        self.fork_server = Some(fork_server);
        self
    }

    /// How long a starting worker may take to shake hands (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Bound on jobs submitted and not yet delivered, per map (default 131072).
    pub fn window(mut self, window: usize) -> Self {
        self.settings.window = window.max(1);
        self
    }

    /// Bound on the bytes of results an ordered map holds back behind a job
    /// still running (default 256 MiB): past it, no more of its jobs start
    /// until that job is in. Counts encoded outputs; jobs already running
    /// still finish, so it can be passed by a few batches.
    pub fn window_bytes(mut self, bytes: usize) -> Self {
        self.settings.window_bytes = bytes.max(1);
        self
    }

    /// A flag that, once set (e.g. by a signal handler), stops every map
    /// with [`PoolError::Cancelled`] within about 50 ms and shuts the pool
    /// down for good: its workers are killed, later maps get
    /// [`PoolError::ShutDown`], and clearing the flag brings nothing back.
    /// It is the program's stop (a Ctrl-C); to end one batch and go on,
    /// build a new pool (a build with the flag already set fails).
    pub fn cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Called with every [`PoolEvent`] (worker deaths, replacements) as it
    /// happens, on the pool's own thread.
    pub fn on_event(mut self, hook: impl FnMut(&PoolEvent<J>) + Send + 'static) -> Self {
        self.on_event = Some(Box::new(hook));
        self
    }

    /// Starts the workers and waits for every handshake.
    ///
    /// Each worker costs the supervisor up to four file descriptors while
    /// starting and two after; the soft `RLIMIT_NOFILE` is raised to the hard
    /// limit if the pool would not fit under it.
    pub fn build(mut self) -> Result<ProcessPool<J>, PoolError> {
        let started = Instant::now();
        super::role::refuse_in_worker()?;
        if !(1..=MAX_WORKERS).contains(&self.settings.workers) {
            return Err(PoolError::WorkerCount { asked: self.settings.workers });
        }
        if let Some(dir) = &self.current_dir {
            // Checked here: a failed spawn names only the program.
            std::fs::read_dir(dir)
                .map_err(|source| PoolError::CurrentDir { dir: dir.display().to_string(), source })?;
        }
        self.settings.retries = self.retries.unwrap_or(if self.repeatable { 2 } else { 0 });
        self.settings.duplicate_tail = self.repeatable;
        self.settings.exact_blame = !self.repeatable;
        make_room_for_descriptors(self.settings.workers)?;
        // Where ipc-channel puts the handshake sockets (TMPDIR, or /tmp).
        let temp_dir = tempfile::env::temp_dir();
        if temp_dir.as_os_str().is_empty() {
            // ipc-channel would put the sockets in the current directory.
            let reason = "it is set but empty: unset it, or name a directory".to_string();
            return Err(PoolError::TempDir { dir: "\"\"".into(), reason });
        }
        linux::check_temp_dir(&temp_dir)
            .map_err(|reason| PoolError::TempDir { dir: temp_dir.display().to_string(), reason })?;
        let fork_server = self.fork_server.unwrap_or_else(|| {
            self.program.is_none() && std::env::var_os(FORK_SERVER_ENV).is_none_or(|v| v != "0")
        });
        let launch = Launch {
            fork_server,
            program: self.program.unwrap_or_else(|| PathBuf::from(OWN_PROGRAM)),
            env: self.env,
            current_dir: self.current_dir,
            stdout: self.stdout,
            stderr: self.stderr,
        };
        let setup = Setup {
            build_id: build_id().to_vec(),
            job_type: type_name::<J>().to_string(),
            serve: entry::serve_offset(serve_jobs::<J>),
            init: self.initializer.map(entry::init_offset),
            reply_every_job: self.settings.exact_blame,
        };
        let (commands, inbox) = mpsc::channel::<Command<J::Output>>();
        let (doorbell_tx, doorbell_rx) =
            ipc_channel::ipc::channel::<Frame>().map_err(|e| PoolError::Ipc(e.to_string()))?;
        let core = Arc::new(Core::new(commands, doorbell_tx, self.settings.window));
        let reporter = Arc::clone(&core);
        let first = self.settings.workers;
        let spawner = Spawner::start(launch, setup, first, self.handshake_timeout, move |startup| {
            let _ = reporter.send(Command::Startup(startup));
        })?;
        let (ready, ready_rx) = mpsc::channel();
        let start = Start::<J> {
            core: Arc::clone(&core),
            inbox,
            doorbell: doorbell_rx,
            scheduler: Scheduler::new(self.settings.clone(), Instant::now()),
            spawner,
            cancel: self.cancel,
            on_event: self.on_event,
            ready,
            workers: self.settings.workers,
        };
        let dispatcher = Dispatcher::new(start)?;
        let thread = thread::Builder::new()
            .name("procpool-dispatcher".into())
            .spawn(move || dispatcher.run())
            .map_err(PoolError::Thread)?;
        let outcome = ready_rx.recv().unwrap_or(Err(PoolError::ShutDown));
        if let Err(error) = outcome {
            let _ = thread.join();
            return Err(error);
        }
        Ok(ProcessPool {
            core,
            thread: std::sync::Mutex::new(Some(thread)),
            workers: self.settings.workers,
            startup: started.elapsed(),
        })
    }
}
