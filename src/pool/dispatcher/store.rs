//! A stream's jobs as the supervisor keeps them until delivered: encoded
//! once, back to back, so a batch frame is a copy of a byte range and a
//! retry never needs the job value again. A job that could not be encoded
//! leaves a gap between segments; it is never sent.

use std::collections::VecDeque;

/// Jobs `first..first + ends.len()`, encoded back to back; job `first + k`
/// is `bytes[ends[k - 1]..ends[k]]` (from 0 for `k = 0`).
#[derive(Debug, Default)]
pub(crate) struct Segment {
    pub first: u64,
    pub bytes: Vec<u8>,
    pub ends: Vec<usize>,
}

impl Segment {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The size of its largest job, in bytes.
    pub fn largest_job(&self) -> usize {
        let mut start = 0;
        let mut largest = 0;
        for &end in &self.ends {
            largest = largest.max(end - start);
            start = end;
        }
        largest
    }

    fn end(&self) -> u64 {
        self.first + self.ends.len() as u64
    }

    /// The byte range of job `index` (which must be in this segment).
    fn range(&self, index: u64) -> std::ops::Range<usize> {
        let k = (index - self.first) as usize;
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        start..self.ends[k]
    }
}

/// Every undelivered job of one stream.
#[derive(Debug, Default)]
pub(crate) struct JobStore {
    segments: VecDeque<Segment>,
}

impl JobStore {
    /// Adds the next jobs (their indices follow the last segment's).
    pub fn push(&mut self, segment: Segment) {
        debug_assert!(self.segments.back().is_none_or(|last| last.end() <= segment.first));
        if !segment.ends.is_empty() {
            self.segments.push_back(segment);
        }
    }

    /// Appends the encodings of jobs `first..first + count` to `out`.
    pub fn write(&self, first: u64, count: usize, out: &mut Vec<u8>) {
        let end = first + count as u64;
        let mut index = first;
        for segment in self.segments.iter().skip_while(|s| s.end() <= first) {
            if index >= end {
                break;
            }
            let last = end.min(segment.end()) - 1;
            out.extend_from_slice(&segment.bytes[segment.range(index).start..segment.range(last).end]);
            index = last + 1;
        }
        debug_assert_eq!(index, end, "jobs {first}..{end} are not all stored");
    }

    /// The encoding of job `index`, if stored.
    pub fn job(&self, index: u64) -> Option<&[u8]> {
        let segment = self.segments.iter().find(|s| s.first <= index && index < s.end())?;
        Some(&segment.bytes[segment.range(index)])
    }

    /// Drops every segment whose jobs are all below `below`.
    pub fn forget(&mut self, below: u64) {
        while self.segments.front().is_some_and(|s| s.end() <= below) {
            self.segments.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(first: u64, jobs: &[&[u8]]) -> Segment {
        let mut s = Segment { first, ..Segment::default() };
        for job in jobs {
            s.bytes.extend_from_slice(job);
            s.ends.push(s.bytes.len());
        }
        s
    }

    #[test]
    fn ranges_span_segments_and_forgetting_keeps_the_rest() {
        let mut store = JobStore::default();
        store.push(segment(0, &[b"a", b"bb"]));
        store.push(segment(2, &[b"ccc", b"d"]));
        let mut out = Vec::new();
        store.write(1, 3, &mut out);
        assert_eq!(out, b"bbcccd");
        assert_eq!(store.job(2), Some(&b"ccc"[..]));
        store.forget(2);
        assert_eq!(store.job(1), None);
        assert_eq!(store.job(3), Some(&b"d"[..]));
    }
}
