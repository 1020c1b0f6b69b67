//! The end of the input: idle workers take copies of batches that others
//! have queued but not started.

use super::super::error::PoolError;
use super::super::Ticket;
use super::Engine;
use crate::pool::source::JobSource;

impl<S: JobSource> Engine<'_, S> {
    /// At the end of the input a worker with nothing to do takes a copy of a
    /// batch another worker has queued but not started; whichever copy
    /// finishes first is delivered. Jobs are pure, so running one twice is
    /// safe, and the run no longer waits on a queue while a core idles.
    /// Re-runs after a death are never copied: a job that kills workers
    /// should cost one worker at a time.
    pub(super) fn duplicate_tail(&mut self) -> Result<(), PoolError> {
        loop {
            let slots = &self.pool.slots;
            let Some(idle) = (0..slots.len()).find(|&i| slots[i].in_flight.is_empty()) else {
                return Ok(());
            };
            let queued = (0..slots.len()).find(|&i| {
                let in_flight = &slots[i].in_flight;
                in_flight.len() >= 2
                    && in_flight.back().is_some_and(|t| t.answered == 0 && !t.twin && !t.risky)
            });
            let Some(victim) = queued else {
                return Ok(());
            };
            let original = self.pool.slots[victim].in_flight.back_mut().expect("checked above");
            original.twin = true;
            let copy = Ticket {
                first_index: original.first_index,
                numbers: original.numbers.clone(),
                answered: 0,
                twin: true,
                risky: false,
            };
            self.twins.extend(copy.first_index..copy.first_index + copy.numbers.len() as u64);
            self.send(idle, copy)?;
        }
    }
}
