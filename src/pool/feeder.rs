//! The producer side of a stream: jobs are encoded on the producing thread
//! and handed to the dispatcher in chunks, never more than the stream's
//! window ahead of what has been delivered.

use std::sync::Arc;

use procpool_worker::protocol::{self, MAX_FRAME_BYTES};
use procpool_worker::Job;

use super::dispatcher::{Command, Core, Segment};
use super::error::{JobError, PoolError};
use super::stream::Shared;
use crate::scheduler::StreamId;

/// Jobs per command: enough that the dispatcher's doorbell is rung rarely,
/// few enough that the first jobs start at once.
const CHUNK: usize = 4096;

/// The most bytes one job may encode to: half a frame, so that a batch of
/// one always fits.
const MAX_JOB_BYTES: usize = MAX_FRAME_BYTES / 2;

/// Feeds jobs into one stream of a pool (see [`ProcessPool::stream`](super::ProcessPool::stream)).
///
/// Dropping it ends the stream's input.
#[derive(Debug)]
#[must_use = "a feeder that is dropped at once ends its stream's input"]
pub struct Feeder<'p, J: Job> {
    core: &'p Core<J::Output>,
    shared: Arc<Shared<J::Output>>,
    stream: StreamId,
    /// Jobs handed to the dispatcher so far.
    sent: u64,
    /// The window's end as last read: the shared state is locked only when
    /// this is reached, not for every job.
    allowed: u64,
    pending: Segment,
    ended: bool,
    /// Jobs buffered before they go out unasked ([`CHUNK`] unless told).
    flush_at: usize,
}

impl<'p, J: Job> Feeder<'p, J> {
    pub(crate) fn new(core: &'p Core<J::Output>, shared: Arc<Shared<J::Output>>, stream: StreamId) -> Self {
        let pending = Segment::default();
        Feeder { core, shared, stream, sent: 0, allowed: 0, pending, ended: false, flush_at: CHUNK }
    }

    /// Buffers up to `jobs` before sending them unasked: for a producer
    /// that flushes when it pauses anyway (a map's own input loop).
    pub(crate) fn flushing_at(mut self, jobs: usize) -> Self {
        self.flush_at = jobs.max(1);
        self
    }

    /// Jobs accepted so far (sent or buffered).
    pub fn len(&self) -> u64 {
        self.sent + self.pending.len() as u64
    }

    /// True before the first job.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a job, waiting while the window is full. Fails if the pool has
    /// stopped or the job cannot be encoded.
    pub fn push(&mut self, job: J) -> Result<(), JobError> {
        if self.allowed <= self.len() {
            self.allowed = self.shared.lock().allowed;
        }
        if self.allowed <= self.len() {
            self.flush()?;
            let mut state = self.shared.lock();
            while state.allowed <= self.len() && state.error.is_none() && !state.finished {
                state = self.shared.changed.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if let Some(error) = &state.error {
                return Err(JobError::Pool(Arc::clone(error)));
            }
            self.allowed = state.allowed;
        }
        self.add(&job)
    }

    /// Encodes a job into the pending chunk (the caller has checked for room).
    pub(crate) fn add(&mut self, job: &J) -> Result<(), JobError> {
        if self.pending.ends.is_empty() {
            self.pending.first = self.sent;
        }
        let start = self.pending.bytes.len();
        if let Err(e) = protocol::encode_job(job, &mut self.pending.bytes) {
            self.pending.bytes.truncate(start);
            return self.reject(e.to_string());
        }
        let size = self.pending.bytes.len() - start;
        if size > MAX_JOB_BYTES {
            self.pending.bytes.truncate(start);
            return self.reject(format!("it encodes to {size} bytes, over the {MAX_JOB_BYTES}-byte limit"));
        }
        self.pending.ends.push(self.pending.bytes.len());
        if self.pending.ends.len() >= self.flush_at {
            self.flush()?;
        }
        Ok(())
    }

    /// The job after the pending ones cannot be sent: it fails in its place
    /// with `reason` (the ones before go first, so the order holds).
    fn reject(&mut self, reason: String) -> Result<(), JobError> {
        self.flush()?;
        self.sent += 1;
        self.core.send(Command::Reject { stream: self.stream, reason }).map_err(pool_error)
    }

    /// Hands buffered jobs to the dispatcher now.
    pub fn flush(&mut self) -> Result<(), JobError> {
        if self.pending.ends.is_empty() {
            return Ok(());
        }
        // The next chunk starts as large as this one was: growing it from
        // empty again copied every chunk's bytes and ends a few times over.
        let next = Segment {
            first: 0,
            bytes: Vec::with_capacity(self.pending.bytes.len()),
            ends: Vec::with_capacity(self.pending.ends.len()),
        };
        let segment = std::mem::replace(&mut self.pending, next);
        self.sent += segment.len() as u64;
        self.core.send(Command::Jobs { stream: self.stream, segment }).map_err(pool_error)
    }

    /// Flushes and ends the stream's input (what dropping it does).
    pub fn finish(mut self) -> Result<(), JobError> {
        self.end()
    }

    pub(crate) fn end(&mut self) -> Result<(), JobError> {
        if self.ended {
            return Ok(());
        }
        self.ended = true;
        self.flush()?;
        self.core.send(Command::End { stream: self.stream }).map_err(pool_error)
    }
}

impl<J: Job> Drop for Feeder<'_, J> {
    fn drop(&mut self) {
        let _ = self.end();
    }
}

fn pool_error(error: PoolError) -> JobError {
    JobError::Pool(Arc::new(error))
}
