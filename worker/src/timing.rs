//! The one place a job is timed, shared by the worker processes and the
//! in-process executors so every variant measures the same way.
//!
//! Wall time is taken around each check. Thread CPU time costs a system call,
//! too much per 100-ns job, so it is read once per segment of jobs and shared
//! out in proportion to wall time: exact for a one-job segment, and a fair
//! estimate when the thread was descheduled evenly.

use std::time::{Duration, Instant};

use nix::time::{clock_gettime, ClockId};

use crate::primes::Kernel;
use crate::protocol::Outcome;

/// CPU time consumed by the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// Checks `numbers` in order, timing each, and hands the outcomes to `flush`
/// in segments: whenever `flush_after` of wall time has passed since the last
/// segment, and at the end. `flush` gets the offset of the segment's first
/// number within `numbers`; an error from it stops the checking.
pub fn check_timed<E>(
    kernel: Kernel,
    numbers: &[u64],
    flush_after: Duration,
    mut flush: impl FnMut(usize, &[Outcome]) -> Result<(), E>,
) -> Result<(), E> {
    let mut outcomes = Vec::with_capacity(numbers.len());
    let mut segment_start = 0;
    let mut segment_wall = Instant::now();
    let mut segment_cpu = thread_cpu_time();
    for (i, &n) in numbers.iter().enumerate() {
        let started = Instant::now();
        let prime = kernel.is_prime(n);
        let finished = Instant::now();
        outcomes.push(Outcome {
            prime,
            elapsed_ns: nanos(finished - started),
            cpu_ns: 0,
        });
        let last = i + 1 == numbers.len();
        if last || finished - segment_wall >= flush_after {
            let cpu_now = thread_cpu_time();
            let wall = (finished - segment_wall).as_secs_f64();
            let cpu = (cpu_now.saturating_sub(segment_cpu)).as_secs_f64();
            let share = if wall > 0.0 { (cpu / wall).min(1.0) } else { 1.0 };
            for outcome in &mut outcomes[segment_start..] {
                outcome.cpu_ns = (outcome.elapsed_ns as f64 * share) as u64;
            }
            flush(segment_start, &outcomes[segment_start..])?;
            segment_start = i + 1;
            segment_wall = finished;
            segment_cpu = cpu_now;
        }
    }
    Ok(())
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
        check_timed::<()>(Kernel::Book, &numbers, Duration::ZERO, |offset, outcomes| {
            assert_eq!(offset, seen.len());
            seen.extend(outcomes.iter().map(|o| o.prime));
            Ok(())
        })
        .unwrap();
        let expected: Vec<bool> = numbers.iter().map(|&n| Kernel::Book.is_prime(n)).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn cpu_never_exceeds_wall() {
        check_timed::<()>(Kernel::Book, &[1_000_000_007; 3], Duration::MAX, |_, outcomes| {
            assert!(outcomes.iter().all(|o| o.cpu_ns <= o.elapsed_ns));
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn an_error_from_flush_stops_the_run() {
        let mut calls = 0;
        let result = check_timed(Kernel::Book, &[2, 3, 4], Duration::ZERO, |_, _| {
            calls += 1;
            Err("stop")
        });
        assert_eq!((result, calls), (Err("stop"), 1));
    }
}
