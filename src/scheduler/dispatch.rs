//! Handing out work, and taking replies back.

use std::time::Duration;

use super::types::{Action, Batch, Delivery, StreamId, Violation, WorkerId};
use super::{Rerun, Scheduler, Ticket, Why, Worker, PIPELINE_DEPTH};

impl<T: Batch> Scheduler<T> {
    /// A worker answered jobs `first..first + results.len()` of the batch it
    /// runs, which took `work` of run time in all.
    pub fn reply(
        &mut self,
        worker: WorkerId,
        first: u64,
        results: T,
        work: Duration,
    ) -> Result<(), Violation> {
        let now = self.now;
        let Some(w) = self.workers.get_mut(&worker) else {
            return Ok(()); // a worker already buried; its jobs went elsewhere
        };
        let pid = w.pid;
        let Some(ticket) = w.in_flight.front_mut() else {
            return Err(Violation { pid, detail: "reply with no job in flight".into() });
        };
        let expected = ticket.next_unanswered();
        let remaining = ticket.count - ticket.answered;
        let count = results.len();
        if first != expected || count > remaining || count == 0 {
            return Err(Violation {
                pid,
                detail: format!(
                    "expected up to {remaining} results from job {expected}, got {count} from job {first}"
                ),
            });
        }
        ticket.answered += count;
        let stream = ticket.stream;
        if ticket.answered == ticket.count {
            w.in_flight.pop_front();
        }
        w.busy_since = (!w.in_flight.is_empty()).then_some(now);
        let retiring = w.in_flight.is_empty() && self.quota_spent(worker);
        self.sizer.observe(count, work);
        self.accept(stream, first, results);
        if retiring {
            self.workers.remove(&worker);
            self.actions.push_back(Action::Retire { worker });
            self.top_up_workers();
        }
        self.dispatch();
        Ok(())
    }

    /// Delivers answered jobs, dropping any whose twin was delivered first.
    fn accept(&mut self, stream: StreamId, first: u64, results: T) {
        let Some(s) = self.streams.get(&stream) else {
            return; // closed
        };
        let end = first + results.len() as u64;
        let clean = s.twins.is_empty() && !self.deaths.keys().any(|&(id, _)| id == stream);
        if !clean {
            for index in first..end {
                self.deaths.remove(&(stream, index));
            }
        }
        if clean || !s.progress.any_done(first..end) {
            self.deliver(stream, Delivery::Results { first, results });
            return;
        }
        // Rare: split around jobs already delivered by a twin.
        let mut rest = results;
        let mut at = first;
        while at < end {
            let pending = self.pending(stream, at);
            let run = (at..end).take_while(|&i| self.pending(stream, i) == pending).count();
            let tail = rest.split_off(run);
            if pending {
                self.deliver(stream, Delivery::Results { first: at, results: rest });
            }
            rest = tail;
            at += run as u64;
        }
    }

    /// Fills every worker up to its depth: re-runs first, then fresh input,
    /// streams in turn; at the end of the input, duplicates queued batches
    /// onto idle workers.
    pub(super) fn dispatch(&mut self) {
        let depth = self.sizer.depth().min(PIPELINE_DEPTH);
        let cap = self.settings.window / (2 * PIPELINE_DEPTH * self.settings.workers.max(1));
        while let Some(worker) = self.least_loaded(depth, cap) {
            let size = self.sizer.batch_size_for(self.workers[&worker].slots, cap.max(1));
            let quota = self.quota_left(worker);
            // The least loaded worker is busy: so is every other one.
            let busy = !self.workers[&worker].in_flight.is_empty();
            let Some(ticket) = self.next_rerun(busy).or_else(|| self.fresh_batch(size.min(quota), busy))
            else {
                break;
            };
            self.send(worker, ticket);
        }
        if self.settings.duplicate_tail && self.reruns.is_empty() {
            self.duplicate_tail();
        }
    }

    /// The live worker with the fewest batches in flight, if it has room.
    fn least_loaded(&self, depth: usize, cap: usize) -> Option<WorkerId> {
        self.workers
            .iter()
            .filter(|(&id, w)| {
                w.reachable && w.in_flight.len() < self.depth_for(w, depth, cap) && self.quota_left(id) > 0
            })
            .min_by_key(|(_, w)| w.in_flight.len())
            .map(|(&id, _)| id)
    }

    /// Batches a worker may hold: `depth`, times the batches it takes to
    /// keep all its slots busy when a batch holds fewer jobs than it has slots.
    fn depth_for(&self, worker: &Worker, depth: usize, cap: usize) -> usize {
        if worker.slots == 1 {
            return depth; // a batch always has a job for its one slot
        }
        let size = self.sizer.batch_size_for(worker.slots, cap.max(1));
        depth * worker.slots.div_ceil(size).max(1)
    }

    /// Jobs the worker may still be sent before it is recycled.
    fn quota_left(&self, worker: WorkerId) -> usize {
        match (self.settings.max_jobs_per_worker, self.workers.get(&worker)) {
            (Some(max), Some(w)) => max.saturating_sub(w.jobs_sent) as usize,
            _ => usize::MAX,
        }
    }

    fn quota_spent(&self, worker: WorkerId) -> bool {
        self.quota_left(worker) == 0
    }

    /// The next queued re-run still needed, minus jobs delivered meanwhile;
    /// none for a `busy` worker if it may not be pipelined.
    fn next_rerun(&mut self, busy: bool) -> Option<Ticket> {
        while let Some(rerun) = self.reruns.pop_front() {
            let Some(s) = self.streams.get(&rerun.stream) else {
                continue;
            };
            if busy && rerun.count > s.max_pipelined {
                self.reruns.push_front(rerun); // for an idle worker
                return None;
            }
            let end = rerun.first + rerun.count as u64;
            if s.progress.any_done(rerun.first..end) {
                // Rare: keep only the pieces still pending, in order.
                let pending: Vec<u64> = (rerun.first..end).filter(|&i| !s.progress.is_done(i)).collect();
                for piece in runs_of(rerun.stream, &pending, rerun.why).into_iter().rev() {
                    self.reruns.push_front(piece);
                }
                continue;
            }
            let s = self.streams.get_mut(&rerun.stream).expect("checked above");
            s.retries += u64::from(rerun.why == Why::Blamed);
            let twin = s.twins.contains(&rerun.first);
            return Some(Ticket {
                stream: rerun.stream,
                first: rerun.first,
                count: rerun.count,
                answered: 0,
                twin,
                risky: rerun.why != Why::Requeued,
            });
        }
        None
    }

    /// Up to `size` fresh jobs of the next stream (round robin) that has any
    /// (and may be pipelined, for a `busy` worker).
    fn fresh_batch(&mut self, size: usize, busy: bool) -> Option<Ticket> {
        let after = self.cursor;
        // A stream holding its byte window of results back waits for the gap.
        let limit = self.settings.window_bytes;
        let id = *self.fresh.range(StreamId(after + 1)..).chain(self.fresh.range(..=StreamId(after))).find(
            |id| self.streams.get(id).is_some_and(|s| s.held_bytes < limit && (!busy || s.max_pipelined > 0)),
        )?;
        self.cursor = id.0;
        let s = self.streams.get_mut(&id).expect("a stream with fresh jobs is open");
        let most = if busy { s.max_batch.min(s.max_pipelined) } else { s.max_batch };
        let (first, count) = s.take_fresh(size.max(1).min(most));
        if s.available() == 0 {
            self.fresh.remove(&id);
        }
        Some(Ticket { stream: id, first, count, answered: 0, twin: false, risky: false })
    }

    pub(super) fn send(&mut self, worker: WorkerId, ticket: Ticket) {
        let w = self.workers.get_mut(&worker).expect("sending to a live worker");
        if w.in_flight.is_empty() {
            w.busy_since = Some(self.now);
        }
        w.jobs_sent += ticket.count as u64;
        self.actions.push_back(Action::Send {
            worker,
            stream: ticket.stream,
            first: ticket.first,
            count: ticket.count,
        });
        w.in_flight.push_back(ticket);
    }

    /// At the end of the input a worker with nothing to do takes a copy of a
    /// batch another worker has queued but not started; whichever copy
    /// finishes first is delivered, so the run never waits on a queue while
    /// a core idles. Re-runs after a death are never copied: a job that
    /// kills workers should cost one worker at a time.
    fn duplicate_tail(&mut self) {
        loop {
            if !self.fresh.is_empty() || self.open_inputs > 0 {
                return;
            }
            let Some(idle) = self
                .workers
                .iter()
                .find(|(&id, w)| w.reachable && w.in_flight.is_empty() && self.quota_left(id) > 0)
                .map(|(&id, _)| id)
            else {
                return;
            };
            let victim = self.workers.iter_mut().find(|(_, w)| {
                w.in_flight.len() >= 2
                    && w.in_flight.back().is_some_and(|t| t.answered == 0 && !t.twin && !t.risky)
            });
            let Some((_, victim)) = victim else {
                return;
            };
            let original = victim.in_flight.back_mut().expect("checked above");
            original.twin = true;
            let copy = original.clone();
            if self.quota_left(idle) < copy.count {
                return;
            }
            if let Some(s) = self.streams.get_mut(&copy.stream) {
                s.twins.extend(copy.first..copy.end());
            }
            self.send(idle, copy);
        }
    }
}

/// Splits sorted indices into runs of consecutive ones.
pub(super) fn runs_of(stream: StreamId, indices: &[u64], why: Why) -> Vec<Rerun> {
    let mut runs: Vec<Rerun> = Vec::new();
    for &index in indices {
        match runs.last_mut() {
            Some(run) if run.first + run.count as u64 == index => run.count += 1,
            _ => runs.push(Rerun { stream, first: index, count: 1, why }),
        }
    }
    runs
}
