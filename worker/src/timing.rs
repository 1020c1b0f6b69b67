//! The one place a job is timed, shared by the worker processes and the
//! in-process executors so every variant measures the same way.
//!
//! Wall time is taken around each check. Thread CPU time costs a system call,
//! too much per 100-ns job, so it is read once per segment of jobs and shared
//! out in proportion to wall time: exact for a one-job segment, and a fair
//! estimate when the thread was descheduled evenly.

use std::time::Duration;

use nix::time::{clock_gettime, ClockId};

use crate::primes::Kernel;

/// `CLOCK_MONOTONIC` now: one clock for every process on the machine, so job
/// start times from different workers line up on one timeline.
pub fn monotonic_now() -> Duration {
    clock_gettime(ClockId::CLOCK_MONOTONIC).map(Duration::from).unwrap_or_default()
}

/// CPU time consumed by the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map(Duration::from).unwrap_or_default()
}

/// One job's result and what it cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timed<O> {
    pub output: O,
    /// `CLOCK_MONOTONIC` nanoseconds when the job began.
    pub started_ns: u64,
    /// Wall time around the job alone.
    pub elapsed_ns: u64,
    /// CPU time the running thread got during the job (shared out, see above).
    pub cpu_ns: u64,
}

/// A prime check's verdict and cost, as the in-process executors see it.
pub type Outcome = Timed<bool>;

/// Consecutive outcomes handed out by [`run_timed`], drained from its
/// buffer so that the buffer is reused (a fresh one per batch of tiny jobs
/// costs page faults).
#[derive(Debug)]
pub struct Segment<'a, O> {
    /// Position of the first outcome's input within the whole run.
    pub offset: usize,
    pub outcomes: std::vec::Drain<'a, Timed<O>>,
    /// CPU time / wall time of the thread over the segment (each outcome's
    /// `cpu_ns` is its `elapsed_ns` times this), so it can travel once per segment.
    pub cpu_share: f64,
}

/// Runs `inputs` through `run` in order, timing each, and hands the outcomes
/// to `flush` in segments: whenever `flush_after` of wall time has passed
/// since the last segment (so `Duration::ZERO` means after every job), and at
/// the end. An error from `flush` stops the run. `outcomes` is the buffer
/// the segments are gathered in (empty on return), kept by callers that run
/// batch after batch.
pub fn run_timed<I, O, E>(
    inputs: impl IntoIterator<Item = I>,
    mut run: impl FnMut(I) -> O,
    flush_after: Duration,
    outcomes: &mut Vec<Timed<O>>,
    mut flush: impl FnMut(Segment<'_, O>) -> Result<(), E>,
) -> Result<(), E> {
    let mut inputs = inputs.into_iter().peekable();
    outcomes.clear();
    outcomes.reserve(inputs.size_hint().0);
    let flush_after_ns = nanos(flush_after);
    let mut offset = 0;
    let mut segment_start = monotonic_ns();
    let mut segment_cpu = thread_cpu_time();
    // One clock read per job: each job's end is the next job's start. The
    // few nanoseconds of bookkeeping between two jobs land in the later job.
    // Plain u64 nanoseconds of CLOCK_MONOTONIC: no Instant arithmetic per job.
    let mut started = segment_start;
    while let Some(input) = inputs.next() {
        let output = run(input);
        let finished = monotonic_ns();
        let elapsed_ns = finished.saturating_sub(started);
        outcomes.push(Timed { output, started_ns: started, elapsed_ns, cpu_ns: elapsed_ns });
        started = finished;
        let wall_ns = finished.saturating_sub(segment_start);
        if wall_ns >= flush_after_ns || inputs.peek().is_none() {
            let cpu = thread_cpu_time().saturating_sub(segment_cpu).as_nanos() as f64;
            let share = if wall_ns > 0 { (cpu / wall_ns as f64).min(1.0) } else { 1.0 };
            if share < 1.0 {
                for outcome in outcomes.iter_mut() {
                    outcome.cpu_ns = (outcome.elapsed_ns as f64 * share) as u64;
                }
            }
            let count = outcomes.len();
            flush(Segment { offset, outcomes: outcomes.drain(..), cpu_share: share })?;
            offset += count;
            // Flushing is not a job: restart the clocks after it.
            segment_start = monotonic_ns();
            segment_cpu = thread_cpu_time();
            started = segment_start;
        }
    }
    Ok(())
}

/// `CLOCK_MONOTONIC` now, in nanoseconds: read once per job, so straight
/// from the vDSO into a u64, with no conversions on the way.
pub(crate) fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_MONOTONIC_COARSE` now, in nanoseconds: it only moves once per
/// kernel tick (a few ms), but reading it costs a few ns, so it can be read
/// for every job to tell a slow input from a fast one.
pub fn coarse_monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC_COARSE)
}

#[inline(always)]
fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to a valid pointer.
    unsafe { libc::clock_gettime(clock, &mut now) };
    (now.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(now.tv_nsec as u64)
}

/// [`run_timed`] for prime checks with `kernel`.
pub fn check_timed<E>(
    kernel: Kernel,
    numbers: &[u64],
    flush_after: Duration,
    flush: impl FnMut(Segment<'_, bool>) -> Result<(), E>,
) -> Result<(), E> {
    run_timed(numbers.iter().copied(), |n| kernel.is_prime(n), flush_after, &mut Vec::new(), flush)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_is_reported_once_in_order() {
        let numbers: Vec<u64> = (0..1000).collect();
        let mut seen = Vec::new();
        check_timed::<()>(Kernel::Book, &numbers, Duration::ZERO, |segment| {
            assert_eq!(segment.offset, seen.len());
            seen.extend(segment.outcomes.map(|o| o.output));
            Ok(())
        })
        .unwrap();
        let expected: Vec<bool> = numbers.iter().map(|&n| Kernel::Book.is_prime(n)).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn cpu_never_exceeds_wall() {
        check_timed::<()>(Kernel::Book, &[1_000_000_007; 3], Duration::MAX, |mut segment| {
            assert!(segment.cpu_share <= 1.0);
            assert!(segment.outcomes.all(|o| o.cpu_ns <= o.elapsed_ns));
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn an_error_from_flush_stops_the_run() {
        let mut calls = 0;
        let result = check_timed(Kernel::Book, &[2, 3, 4], Duration::ZERO, |_| {
            calls += 1;
            Err("stop")
        });
        assert_eq!((result, calls), (Err("stop"), 1));
    }
}
