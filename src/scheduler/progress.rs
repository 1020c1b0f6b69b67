//! Which jobs of a stream are delivered: everything below `base`, and a
//! window of flags above it. Doubles as the exactly-once check.

use std::collections::VecDeque;

#[derive(Debug, Default)]
pub(super) struct Progress {
    /// Every job below this is delivered.
    base: u64,
    /// Delivered flags for `base..base + flags.len()`.
    flags: VecDeque<bool>,
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
        if first < self.base {
            return false;
        }
        if first == self.base && self.flags.is_empty() {
            self.base += count as u64; // the common case: in order, nothing pending
            return true;
        }
        let offset = (first - self.base) as usize;
        if self.flags.len() < offset + count {
            self.flags.resize(offset + count, false);
        }
        if self.flags.range(offset..offset + count).any(|&done| done) {
            return false;
        }
        for flag in self.flags.range_mut(offset..offset + count) {
            *flag = true;
        }
        while self.flags.front() == Some(&true) {
            self.flags.pop_front();
            self.base += 1;
        }
        true
    }

    /// Whether job `index` is delivered.
    pub fn is_done(&self, index: u64) -> bool {
        index < self.base || self.flags.get((index - self.base) as usize).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
