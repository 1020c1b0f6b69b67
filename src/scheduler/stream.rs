//! One stream's bookkeeping: how much input it has, what is delivered, and
//! for an ordered stream the results waiting for an earlier one.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::progress::Progress;
use super::types::{Batch, Delivery};

#[derive(Debug)]
pub(super) struct Stream<T> {
    pub ordered: bool,
    /// Jobs added so far: indices `0..added`.
    pub added: u64,
    /// Fresh jobs handed to workers: `dispatched..added` wait for a worker.
    pub dispatched: u64,
    /// Rejected jobs in `dispatched..added`, which dispatch steps over
    /// (`dispatched` never rests on one).
    pub skips: BTreeSet<u64>,
    pub input_ended: bool,
    /// The consumer is gone: nothing more is delivered.
    pub closed: bool,
    pub progress: Progress,
    /// Ordered streams: deliveries that arrived before an earlier one.
    pub held: BTreeMap<u64, Delivery<T>>,
    /// What `held` takes, in [`Batch::bytes`].
    pub held_bytes: usize,
    /// Ordered streams: the next index to hand to the consumer.
    pub next_out: u64,
    /// Jobs delivered so far (in any order).
    pub delivered: u64,
    /// Jobs that run on two workers at once; the first answer wins.
    pub twins: HashSet<u64>,
    pub retries: u64,
    pub finished: bool,
    /// The most jobs one batch of this stream may hold (large jobs must fit a frame).
    pub max_batch: usize,
    /// The most a batch may hold when sent to a worker still busy with
    /// another (0: batches go to idle workers only).
    pub max_pipelined: usize,
}

impl<T: Batch> Stream<T> {
    pub fn new(ordered: bool) -> Self {
        Stream {
            ordered,
            added: 0,
            dispatched: 0,
            skips: BTreeSet::new(),
            input_ended: false,
            closed: false,
            progress: Progress::default(),
            held: BTreeMap::new(),
            held_bytes: 0,
            next_out: 0,
            delivered: 0,
            twins: HashSet::new(),
            retries: 0,
            finished: false,
            max_batch: usize::MAX,
            max_pipelined: usize::MAX,
        }
    }

    /// Jobs the consumer has been handed (ordered) or that are done (unordered):
    /// the window counts from here.
    pub fn released(&self) -> u64 {
        if self.ordered {
            self.next_out
        } else {
            self.delivered
        }
    }

    /// Fresh jobs waiting for a worker.
    pub fn available(&self) -> u64 {
        self.added - self.dispatched - self.skips.len() as u64
    }

    /// Takes up to `count` fresh jobs from `dispatched` on (stopping before
    /// a rejected one), and steps over the rejected jobs that follow them.
    pub fn take_fresh(&mut self, count: usize) -> (u64, usize) {
        let first = self.dispatched;
        let before_skip = self.skips.first().map_or(u64::MAX, |&skip| skip - first);
        let count = (count as u64).min(self.added - first).min(before_skip);
        self.dispatched += count;
        while self.skips.first() == Some(&self.dispatched) {
            self.skips.pop_first();
            self.dispatched += 1;
        }
        (first, count as usize)
    }

    /// All input is in and every job is delivered.
    pub fn complete(&self) -> bool {
        self.input_ended && self.delivered == self.added && self.held.is_empty()
    }
}
