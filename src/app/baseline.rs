//! The measured one-core time, taken the way hyperfine takes a figure: the
//! printed sequential run serves as the warm-up, then the best of a few more.
//! One cold run made `--mode all` report speedups above the possible.

use super::measure::Plan;
use super::AppError;
use crate::input::Numbers;
use crate::report::summary::RunSummary;

/// Timed sequential runs after the warm-up; the fastest is the baseline.
pub const BASELINE_RUNS: usize = 3;

/// Runs `plan` (a sequential one) `runs` more times on fresh numbers and
/// returns the fastest run's summary, marked as the best of `runs`. The
/// fastest, not the median: a baseline that is too slow inflates every
/// speedup, one that is too fast can only understate them. A stop signal
/// during a repeat is reported with the `printed` results of the run shown,
/// not with the silent repeat's.
pub fn best_of(
    runs: usize,
    plan: &Plan<'_>,
    printed: u64,
    mut numbers: impl FnMut() -> Result<Numbers, AppError>,
) -> Result<RunSummary, AppError> {
    let quiet = Plan { progress: false, ..plan.clone() };
    let mut best: Option<RunSummary> = None;
    for repeat in 1..=runs {
        let summary = quiet.measure(&mut numbers()?, &mut |_, _| Ok(())).map_err(|error| match error {
            AppError::Interrupted { signal, code, .. } => {
                AppError::InterruptedBaseline { signal, code, repeat, runs, results: printed }
            }
            other => other,
        })?;
        if best.as_ref().is_none_or(|b| summary.wall < b.wall) {
            best = Some(summary);
        }
    }
    let mut best = best.ok_or_else(|| AppError::Usage("no baseline runs".into()))?;
    best.one_core = best.wall;
    best.one_core_runs = runs;
    Ok(best)
}
