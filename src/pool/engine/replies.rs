//! What comes back: replies, closed channels, the passing of time.

use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcSelectionResult;
use ipc_channel::TrySelectError;
use procpool_worker::protocol::{self, Frame, PrimeResult, ResultBatch};

use super::{Chunk, Engine, INPUT_TICK, SPARE_BUFFERS, TICK};
use crate::pool::error::PoolError;
use crate::pool::source::JobSource;

impl<S: JobSource> Engine<'_, S> {
    /// Waits for replies, deaths, a timeout, new input or cancellation.
    pub(super) fn wait(&mut self) -> Result<(), PoolError> {
        let now = Instant::now();
        let mut wait = if self.input_waiting { INPUT_TICK } else { TICK };
        if let Some(limit) = self.pool.config.job_timeout {
            for slot in &self.pool.slots {
                if let Some(since) = slot.busy_since {
                    wait = wait.min((since + limit).saturating_duration_since(now));
                }
            }
        }
        let events = match self.pool.set.try_select_timeout(wait) {
            Ok(events) => events,
            Err(TrySelectError::Empty) => Vec::new(),
            Err(TrySelectError::IoError(e)) => return Err(PoolError::Ipc(e.to_string())),
        };
        // Checked before acting on deaths: see `dispatch`.
        if self.cancelled() {
            return Err(PoolError::Cancelled);
        }
        for event in events {
            match event {
                IpcSelectionResult::MessageReceived(id, message) => {
                    let Some(slot) = self.pool.slot_of(id) else {
                        continue; // a worker already buried; its jobs were re-queued
                    };
                    let pid = self.pool.slots[slot].process.pid;
                    let frame: Frame = message.to().map_err(|e| PoolError::ProtocolViolation {
                        pid,
                        detail: format!("unreadable message: {e}"),
                    })?;
                    self.receive(slot, &frame)?;
                }
                IpcSelectionResult::ChannelClosed(id) => {
                    if let Some(slot) = self.pool.slot_of(id) {
                        self.bury(slot, None);
                    }
                }
            }
        }
        self.kill_overdue();
        Ok(())
    }

    /// Applies one reply frame from the worker in `slot`.
    fn receive(&mut self, slot: usize, frame: &Frame) -> Result<(), PoolError> {
        let pid = self.pool.slots[slot].process.pid;
        let reply: ResultBatch =
            protocol::decode(frame).map_err(|source| PoolError::BadFrame { pid, source })?;
        let Some(ticket) = self.pool.slots[slot].in_flight.front_mut() else {
            return Err(PoolError::ProtocolViolation { pid, detail: "reply with no job in flight".into() });
        };
        let expected = ticket.first_index + ticket.answered as u64;
        let remaining = ticket.numbers.len() - ticket.answered;
        if reply.first_index != expected || reply.verdicts.len() > remaining {
            return Err(PoolError::ProtocolViolation {
                pid,
                detail: format!(
                    "expected up to {remaining} results from job {expected}, got {} from job {}",
                    reply.verdicts.len(),
                    reply.first_index
                ),
            });
        }
        let count = reply.verdicts.len();
        let numbers = &ticket.numbers[ticket.answered..ticket.answered + count];
        let mut results = self.spare.pop().unwrap_or_default();
        let mut total = Duration::ZERO;
        results.extend(reply.outcomes().zip(numbers).enumerate().map(|(offset, (outcome, &n))| {
            let result = PrimeResult::new(expected + offset as u64, n, outcome, pid);
            total += result.elapsed;
            result
        }));
        ticket.answered += count;
        let worker = &mut self.pool.slots[slot];
        if worker.in_flight.front().is_some_and(|t| t.answered == t.numbers.len()) {
            worker.in_flight.pop_front();
        }
        worker.busy_since = (!worker.in_flight.is_empty()).then(Instant::now);
        self.pool.sizer.observe(count, total);
        if self.twins.is_empty() && self.deaths.is_empty() {
            // The common case, no duplicates and no deaths: one chunk as is.
            self.undelivered -= count;
            self.push_chunk(expected, results);
            return Ok(());
        }
        let mut run = Vec::with_capacity(results.len());
        let mut first = expected;
        for result in results {
            if self.already_delivered(result.index) {
                // Keep chunks contiguous around the dropped duplicate.
                self.push_chunk(first, std::mem::take(&mut run));
                first = result.index + 1;
                continue;
            }
            self.deaths.remove(&result.index);
            self.undelivered -= 1;
            run.push(result);
        }
        self.push_chunk(first, run);
        Ok(())
    }

    fn push_chunk(&mut self, first: u64, results: Vec<PrimeResult>) {
        if !results.is_empty() {
            self.ready.push_back(Chunk::Checked { first, results });
        }
    }

    /// Takes back a drained result buffer for reuse.
    pub fn recycle(&mut self, mut buffer: Vec<PrimeResult>) {
        if self.spare.len() < SPARE_BUFFERS {
            buffer.clear();
            self.spare.push(buffer);
        }
    }
}
