//! What a worker's loss does to the jobs it held.
//!
//! Only a job known to have been running is blamed. A worker answers its
//! running batch job by job (every job with `exact_blame`, else every
//! ~20 ms), so when the batch has one unanswered job left, or the worker
//! answers every job, the first unanswered job was running. When several are
//! left and answers are grouped, any of them may have been: they are all
//! re-run one at a time, each in its own message, so a job that kills
//! workers is caught alone and blamed then. Batches the worker had not
//! started go back whole, blamed on no one.

use super::dispatch::runs_of;
use super::types::{Action, Batch, Death, DeathCause, Delivery, Failure, Loss, StreamId, WorkerId};
use super::{Rerun, Scheduler, Ticket, Why, Worker};

/// The jobs of a ticket that have not been answered.
fn unanswered(ticket: &Ticket) -> impl Iterator<Item = u64> {
    ticket.next_unanswered()..ticket.end()
}

impl<T: Batch> Scheduler<T> {
    /// Charges a lost worker's running job and re-queues the rest.
    pub(super) fn bury(&mut self, id: WorkerId, worker: Worker, cause: DeathCause) {
        let death = Death { pid: worker.pid, cause };
        let mut loss = Loss {
            worker: id,
            death: death.clone(),
            running: None,
            retrying: false,
            suspects: Vec::new(),
            requeued: 0,
        };
        let mut tickets = worker.in_flight.into_iter();
        let Some(running) = tickets.next() else {
            self.actions.push_back(Action::Lost(loss));
            return;
        };
        let stream = running.stream;
        // Blame is decided on everything unanswered, delivered twins included:
        // the worker may have been stuck on one of those.
        let unanswered_running: Vec<u64> = unanswered(&running).collect();
        let pending: Vec<u64> =
            unanswered_running.iter().copied().filter(|&i| self.pending(stream, i)).collect();
        match unanswered_running.as_slice() {
            [] => {}
            [index] => self.blame(stream, *index, death, pending.is_empty(), &mut loss),
            [index, ..] if self.settings.exact_blame => {
                self.blame(stream, *index, death, !pending.contains(index), &mut loss);
                let rest: Vec<u64> = pending.into_iter().filter(|i| i != index).collect();
                loss.requeued += rest.len();
                self.reruns.extend(runs_of(stream, &rest, Why::Requeued));
            }
            _ => {
                for index in pending {
                    loss.suspects.push((stream, index));
                    self.reruns.push_back(Rerun { stream, first: index, count: 1, why: Why::Suspect });
                }
            }
        }
        loss.requeued += self.requeue(tickets);
        self.actions.push_back(Action::Lost(loss));
        // After the report, which names the job from its stored payload.
        if let Some((index, failure)) = self.given_up.take() {
            self.deliver(stream, Delivery::Failed { index, failure });
        }
    }

    /// The job `index` was running when its worker was lost: retry it, or
    /// give up on it once it has cost more workers than the retries allow.
    fn blame(&mut self, stream: StreamId, index: u64, death: Death, twin_delivered: bool, loss: &mut Loss) {
        if twin_delivered {
            return; // its twin answered: nothing to blame or redo
        }
        loss.running = Some((stream, index));
        let deaths = self.deaths.entry((stream, index)).or_default();
        deaths.push(death);
        if deaths.len() as u64 > u64::from(self.settings.retries) {
            let deaths = self.deaths.remove(&(stream, index)).unwrap_or_default();
            self.given_up = Some((index, Failure { deaths }));
        } else {
            loss.retrying = true;
            self.reruns.push_back(Rerun { stream, first: index, count: 1, why: Why::Blamed });
        }
    }

    /// Sends the unanswered jobs of `tickets` elsewhere, unblamed; returns how many.
    fn requeue(&mut self, tickets: impl Iterator<Item = Ticket>) -> usize {
        let mut requeued = 0;
        for ticket in tickets {
            let pending: Vec<u64> = unanswered(&ticket).filter(|&i| self.pending(ticket.stream, i)).collect();
            requeued += pending.len();
            self.reruns.extend(runs_of(ticket.stream, &pending, Why::Requeued));
        }
        requeued
    }

    /// The last batch sent to `worker` never reached it (its channel was
    /// already closed): it goes back unblamed, and the worker is sent nothing
    /// more. Its death is reported once its own channel closes, after every
    /// reply it sent before dying has been fed in: judged earlier, the job it
    /// had answered would be blamed for the one that killed it.
    pub fn undeliverable(&mut self, worker: WorkerId) {
        let Some(w) = self.workers.get_mut(&worker) else {
            return;
        };
        w.reachable = false;
        let ticket = w.in_flight.pop_back();
        if w.in_flight.is_empty() {
            w.busy_since = None; // it runs nothing that could time out
        }
        if let Some(ticket) = ticket {
            self.requeue(std::iter::once(ticket));
        }
        self.dispatch();
    }

    /// Forgets a worker the scheduler itself had killed for no fault of its
    /// jobs (its stream was closed): everything it held goes back unblamed.
    pub(super) fn abandon_worker(&mut self, id: WorkerId) {
        if let Some(worker) = self.workers.remove(&id) {
            let _ = self.requeue(worker.in_flight.into_iter());
            self.top_up_workers();
        }
    }
}
