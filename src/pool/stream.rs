//! What a stream's consumer and the dispatcher share: results ready to hand
//! out, how much more input is allowed, and how the stream ended.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::error::PoolError;
use procpool_worker::protocol::Reply;

use crate::scheduler::{Batch, Delivery};

/// Answers of consecutive jobs as they came back from one worker: the
/// packed reply itself, unpacked one job at a time only by the consumer.
#[derive(Debug)]
pub(crate) struct Answers<O> {
    pub pid: u32,
    /// Jobs the reply answers (counted once, when it was checked).
    pub jobs: usize,
    /// The size of the frame it came in: what it takes in memory, roughly.
    pub bytes: usize,
    pub reply: Reply<O>,
}

impl<O> Batch for Answers<O> {
    fn len(&self) -> usize {
        self.jobs
    }

    fn split_off(&mut self, at: usize) -> Self {
        let at = at.min(self.jobs);
        let tail = self.jobs - at;
        let tail_bytes = self.bytes * tail / self.jobs.max(1);
        self.jobs = at;
        self.bytes -= tail_bytes;
        Answers { pid: self.pid, jobs: tail, bytes: tail_bytes, reply: self.reply.split_off(at) }
    }

    fn bytes(&self) -> usize {
        self.bytes
    }
}

#[derive(Debug)]
pub(crate) struct State<O> {
    /// Deliveries in the order the consumer takes them.
    pub ready: VecDeque<Delivery<Answers<O>>>,
    /// The producer may add jobs while it has added fewer than this.
    pub allowed: u64,
    /// Every job is delivered (the last ones may still be in `ready`).
    pub finished: bool,
    /// The pool stopped; nothing more will come.
    pub error: Option<Arc<PoolError>>,
    /// Jobs re-run after their worker died.
    pub retries: u64,
}

#[derive(Debug)]
pub(crate) struct Shared<O> {
    state: Mutex<State<O>>,
    pub changed: Condvar,
}

impl<O> Shared<O> {
    pub fn new(window: usize) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                allowed: window as u64,
                finished: false,
                error: None,
                retries: 0,
            }),
            changed: Condvar::new(),
        })
    }

    /// The state, even if a thread panicked while holding it (every update
    /// is a single push or assignment, so it is never half-done).
    pub fn lock(&self) -> MutexGuard<'_, State<O>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut State<O>)) {
        change(&mut self.lock());
        self.changed.notify_all();
    }

    pub fn deliver(&self, delivery: Delivery<Answers<O>>) {
        self.update(|s| s.ready.push_back(delivery));
    }

    pub fn allow(&self, allowed: u64) {
        self.update(|s| s.allowed = s.allowed.max(allowed));
    }

    pub fn finish(&self, retries: u64) {
        self.update(|s| {
            s.finished = true;
            s.retries = retries;
        });
    }

    pub fn fail(&self, error: Arc<PoolError>) {
        self.update(|s| {
            if !s.finished && s.error.is_none() {
                s.error = Some(error);
            }
        });
    }
}
