//! Was the machine busy while we measured? The CPU time every core spent
//! (from /proc/stat) minus our own and our reaped workers' (getrusage) is
//! what other processes, or a hypervisor stealing time, took from the run.

use std::fs;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};

/// One reading of the machine's and our own CPU time.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    /// Busy CPU time of the whole machine, stolen time included, in seconds.
    machine: f64,
    /// CPU time of this process and its reaped children, in seconds.
    ours: f64,
    cpus: usize,
}

impl CpuSample {
    /// Reads the counters; `None` where /proc/stat is not there (not Linux).
    pub fn now() -> Option<Self> {
        let stat = fs::read_to_string("/proc/stat").ok()?;
        let (machine, cpus) = parse_stat(&stat)?;
        let ours = [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN]
            .into_iter()
            .filter_map(|who| getrusage(who).ok())
            .map(|u| timeval(u.user_time()) + timeval(u.system_time()))
            .sum();
        Some(CpuSample { at: Instant::now(), machine, ours, cpus })
    }

    /// The share (0..=1) of the machine's cores that others used since `earlier`.
    pub fn others_since(&self, earlier: &CpuSample) -> f64 {
        let wall = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        others_share(self.machine - earlier.machine, self.ours - earlier.ours, wall, self.cpus)
    }
}

/// `others / capacity`, where others = machine busy - ours, capacity = wall x CPUs.
pub fn others_share(machine_busy: f64, ours: f64, wall: f64, cpus: usize) -> f64 {
    let capacity = wall * cpus.max(1) as f64;
    if capacity <= 0.0 {
        return 0.0;
    }
    ((machine_busy - ours) / capacity).clamp(0.0, 1.0)
}

fn timeval(t: nix::sys::time::TimeVal) -> f64 {
    Duration::new(t.tv_sec().max(0) as u64, (t.tv_usec().max(0) as u32) * 1000).as_secs_f64()
}

/// (busy seconds of all CPUs, number of CPUs) from /proc/stat: every field of
/// the `cpu` line but idle and iowait, in clock ticks of 1/100 s.
pub fn parse_stat(stat: &str) -> Option<(f64, usize)> {
    const TICKS_PER_SEC: f64 = 100.0; // USER_HZ, fixed at 100 on Linux
    let mut lines = stat.lines();
    let total: Vec<f64> =
        lines.next()?.strip_prefix("cpu ")?.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already)
    let busy: f64 = total.iter().take(8).enumerate().filter(|&(i, _)| i != 3 && i != 4).map(|(_, v)| v).sum();
    let cpus = lines.filter(|l| l.starts_with("cpu")).count();
    Some((busy / TICKS_PER_SEC, cpus))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 0 50 1000 20 5 5 40 0 0\ncpu0 1 2 3\ncpu1 1 2 3\nintr 5\n";
        assert_eq!(parse_stat(stat), Some((2.0, 2)));
    }

    #[test]
    fn others_are_what_the_machine_did_beyond_us() {
        // 2 CPUs for 1 s; the machine was busy 1.5 s, we used 1 s: others took 25%.
        assert!((others_share(1.5, 1.0, 1.0, 2) - 0.25).abs() < 1e-9);
        assert_eq!(others_share(0.5, 1.0, 1.0, 2), 0.0);
    }
}
