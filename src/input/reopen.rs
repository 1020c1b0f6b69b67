//! The numbers of an invocation, opened once per run (compare, all, sweep).
//! A file is opened again; a source that can be read only once is first
//! read to its end into a copy (see `copy`), before any run is timed, and
//! every run reads the copy: so every run sees the same numbers, none waits
//! on a pipe that has ended, and none is timed waiting for a slow producer
//! while the others read a file.

use std::fs::File;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::copy::{self, Replay};
use super::{read_ahead, InputError, InputSpec, Numbers};

/// Opens the same numbers for each of several runs.
pub struct Reopener {
    spec: InputSpec,
    /// The copy, for a source that can be read only once and more than one run.
    copy: Option<Arc<File>>,
    /// Ends the copying early (a stop signal).
    stop: Arc<AtomicBool>,
    opened: bool,
}

impl Reopener {
    /// For `runs` runs over the numbers of `spec`; `stop` ends the reading
    /// of a source that is copied.
    pub fn new(spec: InputSpec, runs: usize, stop: Arc<AtomicBool>) -> Result<Self, InputError> {
        let copy = if runs > 1 && spec.read_once()? {
            let copy = copy::create().map_err(|e| spec.error(&e))?;
            Some(copy)
        } else {
            None
        };
        Ok(Reopener { spec, copy, stop, opened: false })
    }

    /// The numbers for the next run. A copied source is read to its end
    /// (or to its first bad line, which every run then meets in the copy, or
    /// to a stop) before the first run gets its copy.
    pub fn open(&mut self) -> Result<Numbers, InputError> {
        let first = !std::mem::replace(&mut self.opened, true);
        let Some(copy) = &self.copy else { return self.spec.open() };
        if first {
            let mut source = self.spec.open_copying(Some(Arc::clone(copy)))?;
            source.stop_on(Arc::clone(&self.stop));
            source.by_ref().for_each(drop);
            match source.error() {
                None | Some(InputError::BadLine { .. }) => {}
                Some(error) => return Err(error.clone()),
            }
        }
        let replay = Replay { copy: Arc::clone(copy), offset: 0 };
        let lines = read_ahead::spawn(self.spec.name(), Box::new(move || Ok(Box::new(replay))))?;
        Ok(Numbers::streamed(lines))
    }
}
