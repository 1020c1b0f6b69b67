//! Adaptive batching: how many consecutive jobs go in one message, and how
//! many messages a worker may hold, from the measured cost of recent jobs.
//!
//! A million 100-ns jobs must not cost a million messages, and a 10-second
//! job must never wait behind a batch. So batches aim at [`TARGET_BATCH`] of
//! work: thousands of tiny jobs, or exactly one expensive job. The estimate
//! starts at [`PRIOR_COST`] (expensive) and follows replies quickly, but a
//! batch may be at most twice the largest one answered so far (slow start,
//! as in TCP): one instant composite at the start of a run of slow primes
//! can talk the pool into a batch of two, not of thousands, while a million
//! tiny jobs reach full-size batches after a couple of dozen replies.

use std::time::Duration;

/// The work one batch should carry. Long enough that a message's ~20 µs of
/// handling is noise (pipelining hides the round trip), short enough that
/// the run's tail stays tight even when the whole run lasts milliseconds.
pub const TARGET_BATCH: Duration = Duration::from_millis(1);

/// The cost assumed before any job is measured.
pub const PRIOR_COST: Duration = Duration::from_millis(4);

/// Jobs of evidence needed to replace the estimate outright.
pub const EVIDENCE_JOBS: f64 = 4.0;

/// Jobs cheaper than this are pipelined (a worker holds its next batch);
/// dearer ones go one at a time. A supervisor round trip costs ~50-100 µs
/// here, over 2 % of a job below this cost; above it, deciding each job's
/// worker only when a worker is free (greedy list scheduling) is worth more
/// than the gap.
pub const PIPELINE_BELOW: Duration = Duration::from_millis(5);

/// The most jobs in one message (about 80 KiB of job frame).
pub const MAX_BATCH: usize = 8192;

/// Running estimate of the cost of one job.
#[derive(Debug, Clone)]
pub struct BatchSizer {
    /// Exponentially weighted mean of nanoseconds per job.
    cost_ns: f64,
    /// The most jobs one reply has answered so far.
    largest_answered: usize,
}

impl Default for BatchSizer {
    fn default() -> Self {
        BatchSizer { cost_ns: PRIOR_COST.as_nanos() as f64, largest_answered: 0 }
    }
}

impl BatchSizer {
    /// Folds in a reply: `jobs` jobs that took `total` of checking in all.
    pub fn observe(&mut self, jobs: usize, total: Duration) {
        if jobs == 0 {
            return;
        }
        let sample = total.as_nanos() as f64 / jobs as f64;
        let weight = (jobs as f64 / EVIDENCE_JOBS).min(1.0);
        self.cost_ns += weight * (sample - self.cost_ns);
        self.largest_answered = self.largest_answered.max(jobs);
    }

    /// The estimated cost of one job.
    pub fn cost(&self) -> Duration {
        Duration::from_nanos(self.cost_ns as u64)
    }

    /// Batches a worker may hold: 2 while jobs are cheap, else 1.
    pub fn depth(&self) -> usize {
        if self.cost() < PIPELINE_BELOW {
            2
        } else {
            1
        }
    }

    /// Jobs per batch, at most `cap`.
    pub fn batch_size(&self, cap: usize) -> usize {
        self.batch_size_for(1, cap)
    }

    /// Jobs per batch for a destination running `slots` jobs at once: the
    /// target work for each slot, at most `cap` (and `slots` times the
    /// usual limits).
    pub fn batch_size_for(&self, slots: usize, cap: usize) -> usize {
        let slots = slots.max(1);
        let cap = cap.min(2 * self.largest_answered).clamp(1, MAX_BATCH * slots);
        ((slots as f64 * TARGET_BATCH.as_nanos() as f64 / self.cost_ns.max(1.0)) as usize).clamp(1, cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_cost_means_one_job_a_batch() {
        let sizer = BatchSizer::default();
        assert_eq!(sizer.batch_size(MAX_BATCH), 1);
    }

    #[test]
    fn only_cheap_jobs_are_pipelined() {
        let mut sizer = BatchSizer::default();
        sizer.observe(64, Duration::from_millis(64)); // 1 ms a job
        assert_eq!(sizer.depth(), 2);
        sizer.observe(64, Duration::from_secs(1)); // 16 ms a job
        assert_eq!(sizer.depth(), 1);
    }

    #[test]
    fn one_instant_job_buys_a_batch_of_two_at_most() {
        let mut sizer = BatchSizer::default();
        sizer.observe(1, Duration::ZERO);
        assert!(sizer.batch_size(MAX_BATCH) <= 2);
    }

    #[test]
    fn tiny_jobs_reach_full_batches_in_a_couple_dozen_replies() {
        let mut sizer = BatchSizer::default();
        let mut replies = 0;
        while sizer.batch_size(MAX_BATCH) < MAX_BATCH {
            let size = sizer.batch_size(MAX_BATCH);
            sizer.observe(size, Duration::from_nanos(100) * size as u32);
            replies += 1;
        }
        assert!(replies <= 24, "{replies} replies");
    }

    #[test]
    fn cheap_jobs_fill_big_batches_up_to_the_cap() {
        let mut sizer = BatchSizer::default();
        sizer.observe(MAX_BATCH, Duration::from_nanos(100) * MAX_BATCH as u32);
        assert_eq!(sizer.batch_size(MAX_BATCH), MAX_BATCH);
        assert_eq!(sizer.batch_size(300), 300);
    }

    #[test]
    fn expensive_jobs_go_one_at_a_time() {
        let mut sizer = BatchSizer::default();
        sizer.observe(1, Duration::from_millis(400));
        assert_eq!(sizer.batch_size(MAX_BATCH), 1);
    }

    #[test]
    fn a_destination_with_slots_gets_their_share_of_work_per_batch() {
        let mut sizer = BatchSizer::default();
        sizer.observe(8192, Duration::from_nanos(100) * 8192);
        assert_eq!(sizer.batch_size_for(4, usize::MAX), 2 * MAX_BATCH); // slow start: twice the largest reply
        sizer.observe(128, Duration::from_micros(1280)); // 10 µs a job
        assert_eq!(sizer.batch_size_for(4, usize::MAX), 400);
        sizer.observe(4, Duration::from_millis(400)); // dear jobs: still one a batch
        assert_eq!(sizer.batch_size_for(4, usize::MAX), 1);
    }

    #[test]
    fn batch_aims_at_the_target_duration() {
        let mut sizer = BatchSizer::default();
        sizer.observe(128, Duration::from_micros(1280)); // 10 µs a job
        assert_eq!(sizer.batch_size(MAX_BATCH), 100); // 1 ms of work
    }
}
