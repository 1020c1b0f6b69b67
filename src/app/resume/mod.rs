//! `--resume FILE.jsonl`: finish a run that was killed, checking only the
//! numbers whose results are not in its `--json` output yet.
//!
//! Results are written in submission order, so a killed run's output holds
//! the results of a prefix of the input (at most a torn last line more);
//! failures are left out, to be checked again. The resumed run walks the
//! input and that file side by side (`plan`): a number with a result in the
//! file is carried over, after checking that the file names the same number
//! there; the others go to the executor. The printing side (`emit`) puts the
//! carried results back between the new ones, reading the file a second time,
//! so the output is the complete run in submission order, and neither the
//! file nor the input is ever held in memory. The results at the head of the
//! file are carried before the run starts, so the run's wall time, and every
//! figure from it, covers only the numbers checked now.

mod emit;
mod file;
mod identity;
mod plan;

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::signals::StopSignals;
use super::AppError;
use crate::completed::Completed;
use crate::executor::Variant;
use crate::input::{Numbers, Skip};
use crate::report::summary::Resumed;

pub use emit::Emit;
use emit::Emitter;
pub use file::Carried;
use file::ResumeFile;
pub use identity::RunId;
use plan::{Planner, Segments};

/// An earlier run's output being merged into this run's.
pub struct Resume {
    planner: Option<Planner>,
    emitter: Emitter,
    name: String,
}

impl Resume {
    /// Opens `path` and refuses it, in one line, unless it is the output of
    /// a `--json` run over the same input as `run`.
    pub fn open(path: &Path, run: &RunId, input: String) -> Result<Self, AppError> {
        let name = path.display().to_string();
        if is_stdout(path) {
            return Err(AppError::Usage(format!(
                "--resume {name} is also this run's stdout, which would overwrite what it reads; \
                 write the resumed run to another file"
            )));
        }
        let mut file = ResumeFile::open(path)?;
        // An empty file (or a torn first line) is a run killed before its first line.
        if let Some(header) = file.header()? {
            run.check(&name, header)?;
        }
        let segments = Segments::default();
        let planner = Planner::new(file, input, segments.clone())?;
        Ok(Resume { planner: Some(planner), emitter: Emitter::new(segments), name })
    }

    /// Carries the results at the head of the file over to `emit`, then
    /// returns the rest of the input with the numbers that have results left
    /// out, or `None` when there are none to check. Stops early, as a run
    /// does, on a stop signal or a bad line.
    pub fn start(
        &mut self,
        mut numbers: Numbers,
        stop: &StopSignals,
        variant: Variant,
        emit: &mut Emit<'_>,
    ) -> Result<Option<Numbers>, AppError> {
        let mut planner = self.planner.take().expect("a resume starts once");
        numbers.stop_on(stop.flag.clone());
        let mut front = None;
        for n in numbers.by_ref() {
            match planner.take_carried(n)? {
                Some(carried) => self.emitter.carry(&carried, emit)?,
                None => {
                    front = Some(n);
                    break;
                }
            }
        }
        if stop.raised() {
            return Err(stop.error(variant, self.emitter.carried));
        }
        if let Some(error) = numbers.error() {
            return Err(error.clone().into());
        }
        if front.is_none() {
            planner.end()?;
            return Ok(None);
        }
        let (offset, line) = planner.unread();
        self.emitter.read_through(ResumeFile::open_at(Path::new(&self.name), offset, line)?);
        Ok(Some(Numbers::skipping(numbers, front, Box::new(planner))))
    }

    /// Prints the carried results that come before `completed` (the next
    /// result from the executor) and returns it with its position in the input.
    pub fn place(&mut self, completed: &Completed, emit: &mut Emit<'_>) -> io::Result<Completed> {
        let index = self.emitter.before_next(emit)?;
        Ok(match completed {
            Completed::Checked(result) => Completed::Checked(procpool::PrimeResult { index, ..*result }),
            Completed::Failed(failed) => {
                Completed::Failed(crate::completed::FailedJob { index, ..failed.clone() })
            }
        })
    }

    /// After the run: prints the carried results after its last result.
    pub fn finish(&mut self, emit: &mut Emit<'_>) -> Result<(), AppError> {
        self.emitter.rest(emit).map_err(|e| self.explain(e.into()))
    }

    /// What a run that failed while resuming should report: the resume
    /// file's own error rather than the write error it was wrapped in, and
    /// an interruption counted with the carried results printed before it.
    pub fn explain(&mut self, error: AppError) -> AppError {
        if let Some(failure) = self.emitter.failure.take() {
            return failure.into();
        }
        match error {
            AppError::Interrupted { signal, code, variant, results } => {
                AppError::Interrupted { signal, code, variant, results: results + self.emitter.carried }
            }
            other => other,
        }
    }

    /// Carried results printed so far.
    pub fn carried(&self) -> u64 {
        self.emitter.carried
    }

    /// What the summary says about the carried results.
    pub fn resumed(&self) -> Resumed {
        Resumed { from: self.name.clone(), carried: self.emitter.carried, primes: self.emitter.primes }
    }
}

/// True when `path` is the file stdout writes to (`--resume run.jsonl > run.jsonl`).
fn is_stdout(path: &Path) -> bool {
    match (fs::metadata(path), fs::metadata("/proc/self/fd/1")) {
        (Ok(file), Ok(stdout)) => file.dev() == stdout.dev() && file.ino() == stdout.ino(),
        _ => false,
    }
}
