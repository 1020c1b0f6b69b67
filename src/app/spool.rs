//! Stdin read up front: it can be read once, and several runs (compare,
//! all, sweep) need the same numbers.

use super::signals::StopSignals;
use super::AppError;
use crate::executor::Variant;
use crate::input::{InputError, InputSpec, Numbers};

/// Stdin's numbers up to its end or its first bad line.
pub(super) struct Spool {
    numbers: Vec<u64>,
    error: Option<InputError>,
}

impl Spool {
    pub fn len(&self) -> u64 {
        self.numbers.len() as u64
    }

    /// The bad line that ended stdin early, reported once its prefix has run.
    pub fn error(&self) -> Option<&InputError> {
        self.error.as_ref()
    }
}

/// Reads stdin into memory when `runs` runs need it; a stop signal ends the
/// read at once (as `Interrupted` in the `first` variant, with no results).
pub(super) fn spool_if_needed(
    spec: &InputSpec,
    runs: usize,
    stop: &StopSignals,
    first: Variant,
) -> Result<Option<Spool>, AppError> {
    if runs < 2 || *spec != InputSpec::Stdin {
        return Ok(None);
    }
    let mut numbers = spec.open()?;
    numbers.stop_on(stop.flag.clone());
    let all: Vec<u64> = numbers.by_ref().collect();
    if stop.raised() {
        return Err(AppError::Interrupted {
            signal: stop.name(),
            code: stop.exit_code(),
            variant: first,
            results: 0,
        });
    }
    Ok(Some(Spool { numbers: all, error: numbers.error().cloned() }))
}

/// Opens the numbers again for the next run.
pub(super) fn reopen(spec: &InputSpec, spool: &Option<Spool>) -> Result<Numbers, AppError> {
    Ok(match spool {
        Some(spool) => Numbers::from_vec(spool.numbers.clone()),
        None => spec.open()?,
    })
}
