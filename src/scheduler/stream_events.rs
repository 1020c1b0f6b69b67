//! Events from a stream's producer and consumer, and how results reach them.

use super::stream::Stream;
use super::types::{Action, Batch, Delivery, StreamId};
use super::Scheduler;

impl<T: Batch> Scheduler<T> {
    /// A new stream named `id` (unique for the scheduler's life);
    /// `ordered` streams deliver in submission order.
    pub fn open_stream(&mut self, id: StreamId, ordered: bool) {
        debug_assert!(!self.streams.contains_key(&id), "stream {id:?} opened twice");
        self.streams.insert(id, Stream::new(ordered));
        self.open_inputs += 1;
    }

    /// How many more jobs the stream may add now without exceeding its window.
    pub fn credit(&self, stream: StreamId) -> usize {
        let Some(s) = self.streams.get(&stream) else {
            return 0;
        };
        if s.closed || s.input_ended || s.held_bytes >= self.settings.window_bytes {
            return 0;
        }
        let outstanding = s.added - s.released();
        self.settings.window.saturating_sub(outstanding as usize)
    }

    /// `count` more jobs were added to the stream (indices continue from the last).
    pub fn add_jobs(&mut self, stream: StreamId, count: usize) {
        if let Some(s) = self.streams.get_mut(&stream) {
            debug_assert!(!s.input_ended, "jobs added after the end of input");
            s.added += count as u64;
            if count > 0 {
                self.fresh.insert(stream);
            }
        }
        self.dispatch();
    }

    /// The stream's next job (index: the jobs added so far) cannot be sent,
    /// for the shell's `reason` (it cannot be encoded): it takes its place in
    /// the stream and is delivered as [`Delivery::Rejected`] at once, never run.
    pub fn reject_job(&mut self, stream: StreamId, reason: String) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        debug_assert!(!s.input_ended, "a job rejected after the end of input");
        let index = s.added;
        s.added += 1;
        if s.dispatched == index {
            s.dispatched += 1;
        } else {
            s.skips.insert(index);
        }
        self.deliver(stream, Delivery::Rejected { index, reason });
    }

    /// No batch of this stream may hold more than `jobs` jobs from now on
    /// (the shell's frames have a size limit, and only it knows job sizes).
    pub fn limit_batch(&mut self, stream: StreamId, jobs: usize) {
        if let Some(s) = self.streams.get_mut(&stream) {
            s.max_batch = jobs.max(1);
        }
    }

    /// A batch of this stream sent to a worker that is still running
    /// another holds at most `jobs` jobs (0: such batches wait for an idle
    /// worker). The shell's transport may block on a large message until
    /// the worker reads it, and a busy worker reads only between batches,
    /// while its own large answers wait for the shell to read them.
    pub fn limit_pipelined(&mut self, stream: StreamId, jobs: usize) {
        if let Some(s) = self.streams.get_mut(&stream) {
            s.max_pipelined = jobs;
        }
    }

    /// The stream will get no more jobs.
    pub fn end_input(&mut self, stream: StreamId) {
        if let Some(s) = self.streams.get_mut(&stream) {
            if !s.input_ended {
                s.input_ended = true;
                self.open_inputs -= 1;
            }
        }
        self.check_finished(stream);
        self.dispatch();
    }

    /// The consumer is gone. Its queued jobs are dropped, and workers
    /// holding its jobs are killed so they serve the others instead (their
    /// other streams' jobs go back unblamed).
    pub fn close_stream(&mut self, stream: StreamId) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        s.closed = true;
        s.held.clear();
        s.held_bytes = 0;
        if !s.input_ended {
            self.open_inputs -= 1;
        }
        self.fresh.remove(&stream);
        self.reruns.retain(|r| r.stream != stream);
        self.deaths.retain(|(id, _), _| *id != stream);
        let holding: Vec<_> = self
            .workers
            .iter()
            .filter(|(_, w)| w.in_flight.iter().any(|t| t.stream == stream))
            .map(|(&id, _)| id)
            .collect();
        for worker in holding {
            self.actions.push_back(Action::Kill { worker });
            self.abandon_worker(worker);
        }
        self.streams.remove(&stream);
        self.dispatch();
    }

    /// Hands a delivery to its stream (through the reorder buffer if ordered).
    pub(super) fn deliver(&mut self, stream: StreamId, delivery: Delivery<T>) {
        if delivery.is_empty() {
            return;
        }
        let Some(s) = self.streams.get_mut(&stream) else {
            return; // closed: nobody wants it
        };
        let (first, len) = (delivery.first(), delivery.len());
        let fresh = s.progress.mark(first, len);
        // Checked in tests whatever the profile (the suite runs in release).
        assert!(
            fresh || !cfg!(any(test, debug_assertions)),
            "stream {stream:?}: jobs {first}..{} delivered twice",
            first + len as u64
        );
        if !fresh {
            return;
        }
        // Before counting them: unordered, the delivered jobs are what is released.
        let before = s.released();
        s.delivered += len as u64;
        if !s.ordered {
            self.actions.push_back(Action::Deliver { stream, delivery });
        } else if first == s.next_out {
            s.next_out += len as u64;
            self.actions.push_back(Action::Deliver { stream, delivery });
            while let Some(next) = s.held.remove(&s.next_out) {
                s.next_out += next.len() as u64;
                s.held_bytes -= next.bytes();
                self.actions.push_back(Action::Deliver { stream, delivery: next });
            }
        } else {
            s.held_bytes += delivery.bytes();
            s.held.insert(first, delivery);
        }
        let base = s.progress.base();
        if base > first {
            self.actions.push_back(Action::Forget { stream, below: base });
        }
        if s.released() > before && !s.input_ended {
            self.actions.push_back(Action::Credit { stream });
        }
        self.check_finished(stream);
    }

    fn check_finished(&mut self, stream: StreamId) {
        if let Some(s) = self.streams.get_mut(&stream) {
            if !s.finished && s.complete() {
                s.finished = true;
                let retries = s.retries;
                self.actions.push_back(Action::Finished { stream, retries });
                self.streams.remove(&stream);
            }
        }
    }

    /// Whether job `index` of `stream` still needs delivering.
    pub(super) fn pending(&self, stream: StreamId, index: u64) -> bool {
        self.streams.get(&stream).is_some_and(|s| !s.progress.is_done(index))
    }
}
