//! The arithmetic of a run: totals from the result stream, the makespan
//! lower bound, speedup and efficiency.

use std::collections::BTreeSet;
use std::time::Duration;

use super::scaling::karp_flatt;
use crate::completed::Completed;
use crate::executor::{Batch, RunFacts, Variant, View};

/// Running totals over one variant's results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub jobs: u64,
    pub primes: u64,
    pub failed: u64,
    /// Sum of per-job CPU time: the work itself, however many cores shared it.
    pub cpu_sum: Duration,
    /// The longest job, by CPU time.
    pub longest: Duration,
    pub pids: BTreeSet<u32>,
    last_pid: Option<u32>,
}

impl Tally {
    pub fn add(&mut self, completed: &Completed) {
        match completed {
            Completed::Checked(result) => {
                self.jobs += 1;
                self.primes += u64::from(result.prime);
                self.cpu_sum += result.cpu;
                self.longest = self.longest.max(result.cpu);
                // Consecutive results mostly share a pid: skip the set then.
                if self.last_pid != Some(result.pid) {
                    self.pids.insert(result.pid);
                    self.last_pid = Some(result.pid);
                }
            }
            Completed::Failed(_) => self.failed += 1,
        }
    }

    /// Adds a whole batch: a packed one in a tight loop over its timings,
    /// with the same sums as adding its records one by one.
    pub fn add_batch(&mut self, batch: &Batch<'_>) {
        let (pid, outcomes) = match batch.view() {
            View::Records(records) => return records.iter().for_each(|completed| self.add(completed)),
            View::Packed { pid, outcomes } => (pid, outcomes),
        };
        let (mut jobs, mut primes, mut cpu_ns, mut longest_ns) = (0u64, 0u64, 0u64, 0u64);
        for timed in outcomes.peek() {
            if let Some(&prime) = timed.output {
                jobs += 1;
                primes += u64::from(prime);
                cpu_ns += timed.cpu_ns;
                longest_ns = longest_ns.max(timed.cpu_ns);
            }
        }
        self.failed += outcomes.len() as u64 - jobs;
        if jobs > 0 {
            self.jobs += jobs;
            self.primes += primes;
            // A Duration of the sum is the sum of the Durations, to the
            // nanosecond (and jobs that ran back to back in one reply add
            // up to far less than the 584 years a u64 of ns holds).
            self.cpu_sum += Duration::from_nanos(cpu_ns);
            self.longest = self.longest.max(Duration::from_nanos(longest_ns));
            if self.last_pid != Some(pid) {
                self.pids.insert(pid);
                self.last_pid = Some(pid);
            }
        }
    }
}

/// Where the one-core time that speedups are measured against came from.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OneCoreSource {
    /// A sequential run in this invocation.
    Measured,
    /// The sum of this variant's per-job CPU times.
    DerivedFromCpu,
}

/// Results that `--resume` took from an earlier run's output instead of
/// checking them again: counted apart, since every figure is over what ran now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// The file they came from.
    pub from: String,
    pub carried: u64,
    /// How many of those are prime.
    pub primes: u64,
}

/// Everything reported about one variant's run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub variant: Variant,
    pub workers: usize,
    /// Logical cores this process may use.
    pub cores: usize,
    pub tally: Tally,
    pub facts: RunFacts,
    pub wall: Duration,
    pub one_core: Duration,
    pub one_core_source: OneCoreSource,
    /// Share of the machine's CPU time that other processes took during the
    /// run (see `app::busy`), when it could be read.
    pub others_busy: Option<f64>,
    /// How many timed runs the measured one-core time is the best of.
    pub one_core_runs: usize,
    /// Set when the run resumed an earlier one.
    pub resumed: Option<Resumed>,
}

impl RunSummary {
    /// Builds the summary; `measured_one_core` is a sequential run's wall time, if one ran.
    pub fn new(
        variant: Variant,
        workers: usize,
        cores: usize,
        tally: Tally,
        facts: RunFacts,
        wall: Duration,
        measured_one_core: Option<Duration>,
    ) -> Self {
        let (one_core, one_core_source) = match measured_one_core {
            Some(measured) => (measured, OneCoreSource::Measured),
            None => (tally.cpu_sum, OneCoreSource::DerivedFromCpu),
        };
        RunSummary {
            variant,
            workers,
            cores,
            tally,
            facts,
            wall,
            one_core,
            one_core_source,
            others_busy: None,
            one_core_runs: 1,
            resumed: None,
        }
    }

    /// Cores the run could use at once: a perfect speedup equals this.
    pub fn usable_cores(&self) -> usize {
        self.workers.min(self.cores).max(1)
    }

    /// No schedule on these cores can finish sooner: max(longest job, work / cores).
    pub fn lower_bound(&self) -> Duration {
        self.tally.longest.max(self.tally.cpu_sum / self.usable_cores() as u32)
    }

    /// How far the wall time is above the lower bound (1.0 is perfect).
    pub fn wall_over_bound(&self) -> f64 {
        ratio(self.wall, self.lower_bound())
    }

    /// One-core time over wall time.
    pub fn speedup(&self) -> f64 {
        ratio(self.one_core, self.wall)
    }

    /// Speedup per core the run could use: against what this machine allows,
    /// so 12 workers on 2 cores at 1.9x read 95%, not 16%.
    pub fn efficiency(&self) -> f64 {
        self.speedup() / self.usable_cores() as f64
    }

    /// The Karp-Flatt serial fraction with the same p as [`Self::efficiency`];
    /// none when only one core could be used.
    pub fn karp_flatt(&self) -> Option<f64> {
        karp_flatt(self.speedup(), self.usable_cores())
    }

    /// True when a figure beats what the machine can do: a speedup above the
    /// usable cores or a wall time under its lower bound. Only noise does that.
    pub fn beats_perfect(&self) -> bool {
        let bound = self.lower_bound();
        self.speedup() > self.usable_cores() as f64 || (!bound.is_zero() && self.wall < bound)
    }
}

/// `processes.wall / rayon.wall`, or None when the two runs did not do the
/// same work (a job given up on after a timeout or its retries in one of
/// them): their walls then time different things, and a ratio would flatter
/// the one that gave up.
pub fn processes_over_rayon(processes: &RunSummary, rayon: &RunSummary) -> Option<f64> {
    let done = |s: &RunSummary| (s.tally.jobs, s.tally.failed);
    (done(processes) == done(rayon)).then(|| ratio(processes.wall, rayon.wall))
}

/// `a / b` in seconds, 0 when `b` is zero.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        0.0
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(workers: usize, cores: usize, cpu: &[u64], wall_ms: u64) -> RunSummary {
        let mut tally = Tally::default();
        for &ms in cpu {
            tally.add(&Completed::Checked(procpool_worker::PrimeResult {
                index: 0,
                n: 3,
                prime: true,
                started_at: Duration::ZERO,
                elapsed: Duration::from_millis(ms),
                cpu: Duration::from_millis(ms),
                pid: 7,
            }));
        }
        RunSummary::new(
            Variant::Processes,
            workers,
            cores,
            tally,
            RunFacts::default(),
            Duration::from_millis(wall_ms),
            None,
        )
    }

    #[test]
    fn lower_bound_is_the_work_spread_over_usable_cores() {
        // 4 s of work on 2 cores: 2 s at best.
        let run = summary(2, 2, &[1000, 1000, 1000, 1000], 2100);
        assert_eq!(run.lower_bound(), Duration::from_secs(2));
        assert!((run.wall_over_bound() - 1.05).abs() < 1e-9);
        assert!((run.speedup() - 4.0 / 2.1).abs() < 1e-9);
        assert!((run.efficiency() - 2.0 / 2.1).abs() < 1e-9);
        assert!(!run.beats_perfect());
    }

    #[test]
    fn efficiency_and_karp_flatt_count_only_the_cores_the_run_could_use() {
        // 12 workers on 2 cores at 1.9x: 95% of what the machine allows.
        let run = summary(12, 2, &[950; 4], 2000);
        assert!((run.speedup() - 1.9).abs() < 1e-9);
        assert!((run.efficiency() - 0.95).abs() < 1e-9);
        assert!((run.karp_flatt().unwrap() - (1.0 / 1.9 - 0.5) / 0.5).abs() < 1e-9);
        assert_eq!(summary(1, 2, &[1000], 1000).karp_flatt(), None);
    }

    #[test]
    fn a_speedup_above_the_cores_is_flagged() {
        let run = summary(2, 2, &[1000; 4], 2000);
        let faster = RunSummary::new(
            run.variant,
            2,
            2,
            run.tally,
            run.facts,
            run.wall,
            Some(Duration::from_millis(4300)),
        );
        assert!(faster.beats_perfect());
    }

    #[test]
    fn one_long_job_bounds_the_run() {
        let run = summary(4, 4, &[3000, 100, 100], 3000);
        assert_eq!(run.lower_bound(), Duration::from_secs(3));
    }

    #[test]
    fn extra_workers_do_not_add_cores() {
        let run = summary(12, 2, &[1000; 4], 2000);
        assert_eq!(run.usable_cores(), 2);
        assert_eq!(run.lower_bound(), Duration::from_secs(2));
    }

    #[test]
    fn a_measured_baseline_wins_over_the_derived_one() {
        let mut run = summary(2, 2, &[1000; 4], 2000);
        run =
            RunSummary::new(run.variant, 2, 2, run.tally, run.facts, run.wall, Some(Duration::from_secs(5)));
        assert_eq!(run.one_core_source, OneCoreSource::Measured);
        assert!((run.speedup() - 2.5).abs() < 1e-9);
    }
}
