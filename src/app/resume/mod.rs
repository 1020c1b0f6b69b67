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

use std::io;
use std::path::Path;

use super::signals::StopSignals;
use super::AppError;
use crate::completed::Completed;
use crate::executor::Variant;
use crate::input::{shown_path, Numbers, Skip};
use crate::report::summary::Resumed;

use emit::Emitter;
pub use emit::{print_carried, Emit};

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
    /// a `--json` run over the same input as `run`. (That it is not also
    /// stdout is checked with every other output, in `same_file`.)
    pub fn open(path: &Path, run: &RunId, input: String) -> Result<Self, AppError> {
        let name = shown_path(path);
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

#[cfg(test)]
mod tests {
    use super::file::Carried;
    use std::collections::BTreeSet;
    use std::io::Write;
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::cli::Mode;
    use crate::input::{InputSpec, JobSource, Pull};
    use procpool::PrimeResult;
    use procpool_worker::Kernel;

    const START: u64 = 1000;

    /// Resumes `--range START..START+len` from a file holding results for
    /// `held`, with an executor that runs `ahead` numbers ahead of what it
    /// delivers; returns every printed (index, n, carried).
    fn merge(len: u64, held: &BTreeSet<u64>, ahead: usize) -> Vec<(u64, u64, bool)> {
        let spec = InputSpec::Range { start: START, end: START + len };
        let run = RunId::new(&spec, Mode::Processes, Kernel::Book).unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "{}", run.header_line()).unwrap();
        for &index in held {
            let n = START + index;
            let line = format!(r#"{{"type":"result","index":{index},"n":{n},"prime":false,"elapsed":0.1}}"#);
            writeln!(file, "{line}").unwrap();
        }
        let mut resume = Resume::open(file.path(), &run, spec.name()).unwrap();
        let printed = std::cell::RefCell::new(Vec::new());
        let mut carry = |carried: &Carried| {
            printed.borrow_mut().push((carried.index, carried.n, true));
            Ok(())
        };
        let stop = StopSignals::install(|| {}).unwrap();
        let numbers = resume.start(spec.open().unwrap(), &stop, Variant::Processes, &mut carry).unwrap();
        if let Some(mut numbers) = numbers {
            // The executor: pulls up to `ahead` numbers, then delivers the oldest, in order.
            let mut in_flight = std::collections::VecDeque::new();
            let mut local = 0;
            loop {
                let ended = loop {
                    if in_flight.len() > ahead {
                        break false;
                    }
                    match numbers.pull() {
                        Pull::Number(n) => in_flight.push_back(n),
                        Pull::NotYet => unreachable!("a range is always ready"),
                        Pull::End => break true,
                    }
                };
                let Some(n) = in_flight.pop_front() else {
                    assert!(ended);
                    break;
                };
                let result = PrimeResult {
                    index: local,
                    n,
                    prime: false,
                    started_at: Duration::ZERO,
                    elapsed: Duration::ZERO,
                    cpu: Duration::ZERO,
                    pid: 1,
                };
                local += 1;
                match resume.place(&Completed::Checked(result), &mut carry).unwrap() {
                    Completed::Checked(placed) => printed.borrow_mut().push((placed.index, placed.n, false)),
                    Completed::Failed(_) => unreachable!(),
                }
            }
            assert!(numbers.error().is_none());
        }
        resume.finish(&mut carry).unwrap();
        assert_eq!(resume.resumed().carried, held.len() as u64);
        printed.into_inner()
    }

    proptest! {
        #[test]
        fn carried_and_new_results_come_out_in_submission_order_each_once(
            len in 1u64..300,
            held in proptest::collection::btree_set(0u64..300, 0..300),
            ahead in 0usize..40,
        ) {
            let held: BTreeSet<u64> = held.into_iter().filter(|&i| i < len).collect();
            let printed = merge(len, &held, ahead);
            let expected: Vec<(u64, u64, bool)> = (0..len).map(|i| (i, START + i, held.contains(&i))).collect();
            prop_assert_eq!(printed, expected);
        }
    }
}
