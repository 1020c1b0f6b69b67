//! Which numbers of the input a resumed run checks and which it carries
//! over, decided in input order as the executor pulls numbers, and written
//! down as runs of positions for the side that prints (see `emit`). The
//! earlier results are read from the file as the input reaches them, so
//! memory holds one of them at a time however long the file is.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use super::file::{Carried, ResumeFile};
use crate::input::{InputError, Skip};

/// Consecutive input positions treated alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Results read from the file for positions `start..start + len`.
    Carried { start: u64, len: u64 },
    /// Numbers at `start..start + len` handed to the executor.
    Run { start: u64, len: u64 },
}

/// The decisions not yet printed: the planner pushes, the printer pops. It
/// holds a few segments per number in flight, since the executor pulls only
/// as far ahead of what it delivers as its window allows.
#[derive(Clone, Default)]
pub struct Segments(Arc<Mutex<VecDeque<Segment>>>);

impl Segments {
    fn push(&self, carried: bool, position: u64) {
        let mut queue = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match (queue.back_mut(), carried) {
            (Some(Segment::Carried { start, len }), true) | (Some(Segment::Run { start, len }), false)
                if *start + *len == position =>
            {
                *len += 1;
            }
            _ if carried => queue.push_back(Segment::Carried { start: position, len: 1 }),
            _ => queue.push_back(Segment::Run { start: position, len: 1 }),
        }
    }

    pub fn pop(&self) -> Option<Segment> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop_front()
    }
}

/// Walks the input and the file side by side.
pub struct Planner {
    file: ResumeFile,
    /// The next earlier result, read ahead, with the file position before it.
    next: Option<(Carried, (u64, u64))>,
    /// Position in the input of the next number.
    position: u64,
    segments: Segments,
    /// The input's name, for messages.
    input: String,
}

impl Planner {
    pub fn new(mut file: ResumeFile, input: String, segments: Segments) -> Result<Self, InputError> {
        let before = file.position();
        let next = file.next_result()?.map(|carried| (carried, before));
        Ok(Planner { file, next, position: 0, segments, input })
    }

    /// Where a second reader of the file must start to see every result
    /// this planner has not carried yet.
    pub fn unread(&self) -> (u64, u64) {
        self.next.as_ref().map_or_else(|| self.file.position(), |(_, at)| *at)
    }

    /// The earlier result for `n`, the number at the current position, if
    /// the file has one (and then the position moves on).
    pub fn take_carried(&mut self, n: u64) -> Result<Option<Carried>, InputError> {
        let Some((carried, _)) = self.next.as_ref().filter(|(carried, _)| carried.index == self.position)
        else {
            return Ok(None);
        };
        if carried.n != n {
            let reason = format!(
                "number {} of {} is {n}, not {}: this file belongs to another input",
                self.position, self.input, carried.n
            );
            return Err(self.file.bad_at(carried.line_number, &carried.line, reason));
        }
        let before = self.file.position();
        let next = self.file.next_result()?.map(|carried| (carried, before));
        let (carried, _) = std::mem::replace(&mut self.next, next).expect("matched above");
        self.position += 1;
        Ok(Some(carried))
    }
}

impl Skip for Planner {
    fn skip(&mut self, n: u64) -> Result<bool, InputError> {
        let position = self.position;
        let carried = self.take_carried(n)?.is_some();
        if !carried {
            self.position += 1;
        }
        self.segments.push(carried, position);
        Ok(carried)
    }

    fn end(&mut self) -> Result<(), InputError> {
        match &self.next {
            None => Ok(()),
            Some((carried, _)) => Err(self.file.bad_at(
                carried.line_number,
                &carried.line,
                format!(
                    "result {} is past the end of {} ({} numbers): this file belongs to another input",
                    carried.index, self.input, self.position
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_of_a_kind_share_a_segment() {
        let segments = Segments::default();
        for (carried, position) in [(true, 0), (true, 1), (false, 2), (false, 3), (true, 4), (false, 5)] {
            segments.push(carried, position);
        }
        let all: Vec<Segment> = std::iter::from_fn(|| segments.pop()).collect();
        assert_eq!(
            all,
            [
                Segment::Carried { start: 0, len: 2 },
                Segment::Run { start: 2, len: 2 },
                Segment::Carried { start: 4, len: 1 },
                Segment::Run { start: 5, len: 1 },
            ]
        );
    }
}
