//! Putting the earlier results back in their places: before each result the
//! executor delivers, every carried result that comes before it in
//! submission order is printed from the file, read a second time where the
//! planner left it, so nothing of the file is held in memory.

use std::io;

use super::file::{Carried, ResumeFile};
use super::plan::{Segment, Segments};
use crate::input::InputError;

/// Prints one carried result.
pub type Emit<'a> = dyn FnMut(&Carried) -> io::Result<()> + 'a;

/// How a run prints its carried results through `print` (which writes one
/// line): as they stand in JSON Lines, as the book's lines in text, and not
/// at all without per-number lines.
pub fn print_carried<'a>(
    per_number: bool,
    json: bool,
    print: &'a dyn Fn(&[u8]) -> io::Result<()>,
) -> impl FnMut(&Carried) -> io::Result<()> + 'a {
    let mut line = Vec::new();
    move |carried| match (per_number, json) {
        (false, _) => Ok(()),
        (true, true) => print(carried.line.as_bytes()),
        (true, false) => {
            line.clear();
            crate::report::lines::write_result_line(&carried.as_result(), &mut line);
            print(&line)
        }
    }
}

/// The printing side of a resume.
pub struct Emitter {
    segments: Segments,
    /// The second reader of the file; none when nothing is left to carry.
    file: Option<ResumeFile>,
    /// The current run of executed numbers: its next position, and how many are left.
    run: (u64, u64),
    /// Carried results printed so far, and how many of them are prime.
    pub carried: u64,
    pub primes: u64,
    /// What went wrong with the file, behind the io::Error a sink must return.
    pub failure: Option<InputError>,
}

impl Emitter {
    pub fn new(segments: Segments) -> Self {
        Emitter { segments, file: None, run: (0, 0), carried: 0, primes: 0, failure: None }
    }

    /// Reads the carried results that are left through `file`.
    pub fn read_through(&mut self, file: ResumeFile) {
        self.file = Some(file);
    }

    /// Counts a carried result and prints it.
    pub fn carry(&mut self, carried: &Carried, emit: &mut Emit<'_>) -> io::Result<()> {
        self.carried += 1;
        self.primes += u64::from(carried.prime);
        emit(carried)
    }

    /// Prints every carried result that comes before the executor's next
    /// result, and returns that result's position in the input.
    pub fn before_next(&mut self, emit: &mut Emit<'_>) -> io::Result<u64> {
        loop {
            let (position, left) = self.run;
            if left > 0 {
                self.run = (position + 1, left - 1);
                return Ok(position);
            }
            match self.segments.pop() {
                Some(Segment::Run { start, len }) => self.run = (start, len),
                Some(Segment::Carried { start, len }) => self.carry_segment(start, len, emit)?,
                None => {
                    return Err(io::Error::other("a result arrived for a number that was never handed out"))
                }
            }
        }
    }

    /// After the last result: prints the carried results that follow it.
    pub fn rest(&mut self, emit: &mut Emit<'_>) -> io::Result<()> {
        let undelivered =
            |start| io::Error::other(format!("no result came for the number at position {start}"));
        if self.run.1 > 0 {
            return Err(undelivered(self.run.0));
        }
        while let Some(segment) = self.segments.pop() {
            match segment {
                Segment::Carried { start, len } => self.carry_segment(start, len, emit)?,
                Segment::Run { start, .. } => return Err(undelivered(start)),
            }
        }
        Ok(())
    }

    fn carry_segment(&mut self, start: u64, len: u64, emit: &mut Emit<'_>) -> io::Result<()> {
        for position in start..start + len {
            let carried = self.read(position).map_err(|error| {
                let message = error.to_string();
                self.failure = Some(error);
                io::Error::other(message)
            })?;
            self.carry(&carried, emit)?;
        }
        Ok(())
    }

    /// The carried result at `position`, which the planner has already read once.
    fn read(&mut self, position: u64) -> Result<Carried, InputError> {
        let file = self.file.as_mut().ok_or_else(|| InputError::Source {
            origin: "--resume".into(),
            reason: "the file was not opened a second time".into(),
        })?;
        match file.next_result()? {
            Some(carried) if carried.index == position => Ok(carried),
            _ => Err(InputError::Source {
                origin: file.name(),
                reason: "changed while it was being resumed".into(),
            }),
        }
    }
}
