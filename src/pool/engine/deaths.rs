//! What a worker's death or timeout does to the jobs it held.

use std::time::{Duration, Instant};

use super::super::error::{Death, DeathCause, FailedJob, PoolEvent};
use super::super::Ticket;
use super::{runs_of, Chunk, Engine, Rerun, Why};
use crate::pool::source::JobSource;

/// Grace for a worker whose channel closed to finish dying before we kill it.
const DEATH_GRACE: Duration = Duration::from_millis(500);

/// The jobs of a ticket that have not been answered, as `(index, n)`.
fn unanswered(ticket: Ticket) -> impl Iterator<Item = (u64, u64)> {
    let first = ticket.first_index + ticket.answered as u64;
    (first..).zip(ticket.numbers.into_iter().skip(ticket.answered))
}

impl<S: JobSource> Engine<'_, S> {
    /// Kills every worker whose current job has run past the timeout.
    pub(super) fn kill_overdue(&mut self) {
        let Some(limit) = self.pool.config.job_timeout else {
            return;
        };
        let now = Instant::now();
        let overdue: Vec<usize> = (0..self.pool.slots.len())
            .filter(|&i| self.pool.slots[i].busy_since.is_some_and(|since| now - since >= limit))
            .collect();
        // Highest slot first: removing a slot moves the last one into its place.
        for slot in overdue.into_iter().rev() {
            self.bury(slot, Some(DeathCause::TimedOut(limit)));
        }
    }

    /// Removes a dead (or overdue) worker, reaps it, and decides what its jobs
    /// become.
    ///
    /// Only a job known to have been running is blamed. A worker answers its
    /// running batch job by job (flushing every 20 ms), so when that batch has
    /// one unanswered job left, that job was running. When several are left,
    /// any of them may have been: they are all re-run one at a time, each in
    /// its own message, so a job that kills workers is caught alone and
    /// blamed then. Batches the worker had not started go back whole, blamed
    /// on no one.
    pub(super) fn bury(&mut self, slot: usize, cause: Option<DeathCause>) {
        let mut worker = self.pool.remove_slot(slot);
        if cause.is_some() {
            worker.process.kill_and_reap();
        } else {
            worker.process.reap_within(DEATH_GRACE);
        }
        if self.cancelled() {
            return; // a stop signal to the whole group: nothing to replace or report
        }
        let death = Death { pid: worker.process.pid, cause: cause.unwrap_or_else(|| worker.process.cause()) };
        let delivered = &self.delivered_twins;
        let pending = |&(index, _): &(u64, u64)| !delivered.contains(&index);
        let mut tickets = std::mem::take(&mut worker.in_flight).into_iter();
        // Blame is decided on everything unanswered, delivered twins included:
        // the worker may have been stuck on one of those.
        let running: Vec<(u64, u64)> = tickets.next().into_iter().flat_map(unanswered).collect();
        let queued: Vec<(u64, u64)> = tickets.flat_map(unanswered).filter(pending).collect();

        let mut blamed = None;
        let mut retrying = false;
        let mut suspects = Vec::new();
        match running.as_slice() {
            [] => {}
            &[(index, n)] if !pending(&(index, n)) => {} // its twin answered: nothing to blame or redo
            &[(index, n)] => {
                blamed = Some(n);
                let deaths = self.deaths.entry(index).or_default();
                deaths.push(death.clone());
                if deaths.len() as u64 > u64::from(self.pool.config.retries) {
                    let deaths = self.deaths.remove(&index).unwrap_or_default();
                    if self.twins.contains(&index) {
                        self.delivered_twins.insert(index); // its other copy must not deliver it too
                    }
                    self.undelivered -= 1;
                    self.ready.push_back(Chunk::Failed(FailedJob { index, n, deaths }));
                } else {
                    retrying = true;
                    self.reruns.push_back(Rerun { first_index: index, numbers: vec![n], why: Why::Blamed });
                }
            }
            several => {
                for &(index, n) in several.iter().filter(|job| pending(job)) {
                    suspects.push(n);
                    self.reruns.push_back(Rerun { first_index: index, numbers: vec![n], why: Why::Suspect });
                }
            }
        }
        let requeued: Vec<u64> = queued.iter().map(|&(_, n)| n).collect();
        self.reruns.extend(runs_of(queued.into_iter(), Why::Requeued));
        self.pool.emit(&PoolEvent::WorkerDied { death, running: blamed, retrying, suspects, requeued });
    }
}
