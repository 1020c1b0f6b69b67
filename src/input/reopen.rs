//! The numbers of an invocation, opened once per run (compare, all, sweep).
//! A file is opened again; a source that can be read only once is copied as
//! the first run reads it (see `copy`), and the later runs read the copy, so
//! every run sees the same numbers and none waits on a pipe that has ended.

use std::fs::File;
use std::sync::Arc;

use super::copy::{self, Replay};
use super::{read_ahead, InputError, InputSpec, Numbers};

/// Opens the same numbers for each of several runs.
pub struct Reopener {
    spec: InputSpec,
    /// The copy, for a source that can be read only once and more than one run.
    copy: Option<Arc<File>>,
    opened: bool,
}

impl Reopener {
    /// For `runs` runs over the numbers of `spec`.
    pub fn new(spec: InputSpec, runs: usize) -> Result<Self, InputError> {
        let copy = if runs > 1 && spec.read_once()? {
            let copy = copy::create().map_err(|e| spec.error(&e))?;
            Some(copy)
        } else {
            None
        };
        Ok(Reopener { spec, copy, opened: false })
    }

    /// The numbers for the next run. The first run reads the source itself;
    /// later runs assume it read to the end (else they stop where it did).
    pub fn open(&mut self) -> Result<Numbers, InputError> {
        let first = !std::mem::replace(&mut self.opened, true);
        match &self.copy {
            Some(copy) if first => self.spec.open_copying(Some(Arc::clone(copy))),
            Some(copy) => {
                let replay = Replay { copy: Arc::clone(copy), offset: 0 };
                let lines = read_ahead::spawn(self.spec.name(), Box::new(move || Ok(Box::new(replay))))?;
                Ok(Numbers::streamed(lines))
            }
            None => self.spec.open(),
        }
    }
}
