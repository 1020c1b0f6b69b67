//! The subject of the measurement: jobs on a [`ProcessPool`] of worker
//! processes. Starting the pool is part of the run, as it is for a user.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use procpool_worker::Kernel;

use super::{ExecError, Executor, RunFacts, Sink, Variant};
use crate::input::Numbers;
use crate::pool::{PoolEvent, ProcessPool};

/// Checks numbers on a fresh [`ProcessPool`] per run.
pub struct Processes {
    pub kernel: Kernel,
    pub workers: usize,
    pub retries: u32,
    pub timeout: Option<Duration>,
    /// The binary to start in worker mode; `None` means this executable.
    pub program: Option<PathBuf>,
    pub cancel: Option<Arc<AtomicBool>>,
    /// Where pool events go (the CLI prints them to stderr).
    pub on_event: Option<fn(&PoolEvent)>,
}

impl Processes {
    /// Processes with the defaults: 2 retries, no timeout, this executable.
    pub fn new(kernel: Kernel, workers: usize) -> Self {
        Processes { kernel, workers, retries: 2, timeout: None, program: None, cancel: None, on_event: None }
    }
}

impl Executor for Processes {
    fn variant(&self) -> Variant {
        Variant::Processes
    }

    fn workers(&self) -> usize {
        self.workers
    }

    fn run(&mut self, numbers: &mut Numbers, sink: &mut Sink<'_>) -> Result<RunFacts, ExecError> {
        let mut builder = ProcessPool::builder()
            .workers(self.workers)
            .kernel(self.kernel)
            .retries(self.retries)
            .job_timeout(self.timeout);
        if let Some(program) = &self.program {
            builder = builder.program(program);
        }
        if let Some(flag) = &self.cancel {
            builder = builder.cancel_flag(flag.clone());
        }
        if let Some(hook) = self.on_event {
            builder = builder.on_event(hook);
        }
        let mut pool = builder.build()?;
        let startup = pool.startup_time();
        let mut results = pool.map_source(numbers);
        for completed in results.by_ref() {
            sink(completed?, None)?;
        }
        let delivered = Some(Instant::now());
        let retries = results.retries();
        drop(results);
        pool.shutdown();
        Ok(RunFacts { startup, retries, delivered })
    }
}
