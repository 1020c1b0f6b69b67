//! How long the dispatcher itself was not running (stopped by SIGSTOP or
//! Ctrl-Z, or starved of CPU), so that time is not charged to any job.
//!
//! A stop can land anywhere in a loop turn: inside the wait (the wait ends
//! later than asked) or while replies are handled (the turn's work took far
//! more wall time than this thread spent on CPU). Both are measured.

use std::time::{Duration, Instant};

use procpool_worker::timing::thread_cpu_time;

/// Lateness below this is noise, not a stop.
const STALL_SLACK: Duration = Duration::from_millis(100);

/// Where the last wait ended, and this thread's CPU time then (only read
/// while a job deadline is pending: it is a system call).
#[derive(Default)]
pub(super) struct StallClock {
    woke: Option<(Instant, Duration)>,
}

impl StallClock {
    /// Before a wait: how long the work since the last wait was not running.
    pub fn before_wait(&self, now: Instant) -> Option<Duration> {
        let (woke, cpu) = self.woke?;
        let wall = now.saturating_duration_since(woke);
        if wall <= STALL_SLACK {
            return None;
        }
        let idle = wall.saturating_sub(thread_cpu_time().saturating_sub(cpu));
        (idle > STALL_SLACK).then_some(idle)
    }

    /// After a wait asked to last `wait` from `asked`: how much later than
    /// that it ended, if that is a stall. `deadline_pending` says whether
    /// the next turn's work is to be measured as well.
    pub fn after_wait(
        &mut self,
        asked: Instant,
        wait: Option<Duration>,
        now: Instant,
        deadline_pending: bool,
    ) -> Option<Duration> {
        self.woke = deadline_pending.then(|| (now, thread_cpu_time()));
        let late = now.saturating_duration_since(asked).saturating_sub(wait?);
        (late > STALL_SLACK).then_some(late)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_that_ends_late_is_a_stall_and_one_on_time_is_not() {
        let mut clock = StallClock::default();
        let asked = Instant::now();
        let wait = Some(Duration::from_millis(50));
        assert_eq!(clock.after_wait(asked, wait, asked + Duration::from_millis(60), false), None);
        let late = clock.after_wait(asked, wait, asked + Duration::from_secs(3), false);
        assert_eq!(late, Some(Duration::from_millis(2950)));
        assert_eq!(
            clock.after_wait(asked, None, asked + Duration::from_secs(3), false),
            None,
            "no wait asked, none late"
        );
    }

    #[test]
    fn work_that_took_wall_time_without_cpu_time_is_a_stall() {
        let mut clock = StallClock::default();
        let woke = Instant::now();
        clock.after_wait(woke, None, woke, true);
        assert_eq!(clock.before_wait(woke + Duration::from_millis(50)), None);
        let idle = clock.before_wait(woke + Duration::from_secs(3)).expect("a stall");
        assert!(idle > Duration::from_secs(2), "{idle:?}");
        clock.after_wait(woke, None, woke, false);
        assert_eq!(clock.before_wait(woke + Duration::from_secs(3)), None, "not measured without a deadline");
    }
}
