//! The iterators a map returns: [`Ordered`] (submission order, through a
//! reorder buffer of whole chunks) and [`Unordered`] (completion order).

use std::collections::BTreeMap;

use super::engine::{Chunk, Engine};
use super::{Completed, JobSource, PoolError};

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

/// Results of [`ProcessPool::map`](super::ProcessPool::map), in submission order.
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

/// Results of [`ProcessPool::map_unordered`](super::ProcessPool::map_unordered), in completion order.
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

impl<'p, S: JobSource> Ordered<'p, S> {
    /// Results of `engine`, reordered; submission runs at most `window` jobs ahead.
    pub(super) fn new(engine: Engine<'p, S>, window: u64) -> Self {
        Ordered { engine, held: BTreeMap::new(), next: 0, current: Cursor::new(), window, finished: false }
    }
}

impl<'p, S: JobSource> Unordered<'p, S> {
    pub(super) fn new(engine: Engine<'p, S>) -> Self {
        Unordered { engine, current: Cursor::new(), finished: false }
    }
}
