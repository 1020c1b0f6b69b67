//! Which jobs of a stream are delivered: everything below `base`, and the
//! runs delivered above it (replies of several workers arrive out of order).
//! Doubles as the exactly-once check. Runs, not a flag per job: a reply of
//! thousands of jobs costs a map operation or two, whatever its length.

use std::collections::BTreeMap;
use std::ops::Range;

#[derive(Debug, Default)]
pub(super) struct Progress {
    /// Every job below this is delivered.
    base: u64,
    /// Delivered runs above `base`, start to end: disjoint, never touching
    /// (touching runs are merged) and never starting at `base`.
    runs: BTreeMap<u64, u64>,
}

impl Progress {
    /// Every job below this index is delivered.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Marks `first..first + count` delivered. Returns false (and marks
    /// nothing) if any of them already was: the invariant is broken.
    pub fn mark(&mut self, first: u64, count: usize) -> bool {
        if count == 0 {
            return true;
        }
        let Some(end) = first.checked_add(count as u64) else {
            return false;
        };
        if self.any_done(first..end) {
            return false;
        }
        let mut run = first..end;
        if let Some((&start, &before_end)) = self.runs.range(..first).next_back() {
            if before_end == first {
                self.runs.remove(&start);
                run.start = start;
            }
        }
        if let Some(after_end) = self.runs.remove(&end) {
            run.end = after_end;
        }
        if run.start == self.base {
            self.base = run.end;
        } else {
            self.runs.insert(run.start, run.end);
        }
        true
    }

    /// Whether job `index` is delivered.
    pub fn is_done(&self, index: u64) -> bool {
        self.any_done(index..index + 1)
    }

    /// Whether any job of `jobs` is delivered.
    pub fn any_done(&self, jobs: Range<u64>) -> bool {
        if jobs.is_empty() {
            return false;
        }
        jobs.start < self.base
            || self.runs.range(..jobs.end).next_back().is_some_and(|(_, &end)| end > jobs.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_of_order_marks_advance_the_base_once_the_gap_fills() {
        let mut progress = Progress::default();
        assert!(progress.mark(3, 2));
        assert_eq!(progress.base(), 0);
        assert!(progress.mark(0, 3));
        assert_eq!(progress.base(), 5);
        assert!(!progress.mark(4, 1), "a second delivery must be refused");
        assert!(progress.is_done(4) && !progress.is_done(5));
    }

    proptest! {
        /// The same answers as a flag per job, for any order of marks.
        #[test]
        fn runs_agree_with_a_flag_per_job(marks in proptest::collection::vec((0u64..60, 1usize..8), 1..40)) {
            let mut progress = Progress::default();
            let mut flags = [false; 80];
            for (first, count) in marks {
                let range = first as usize..first as usize + count;
                let fresh = !flags[range.clone()].iter().any(|&done| done);
                prop_assert_eq!(progress.mark(first, count), fresh);
                if fresh {
                    flags[range].iter_mut().for_each(|done| *done = true);
                }
                let base = flags.iter().position(|&done| !done).unwrap() as u64;
                prop_assert_eq!(progress.base(), base);
                for (index, &done) in flags.iter().enumerate() {
                    prop_assert_eq!(progress.is_done(index as u64), done);
                }
                for start in 0..70u64 {
                    let any = flags[start as usize..start as usize + 5].iter().any(|&done| done);
                    prop_assert_eq!(progress.any_done(start..start + 5), any);
                }
            }
        }
    }
}
