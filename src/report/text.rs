//! The human-readable summary lines and the comparison table.

use super::machine::Machine;
use super::summary::{processes_over_rayon, OneCoreSource, RunSummary};
use super::words::{count, secs};
use crate::executor::Variant;

/// What a variant's run is called in headers: "2 processes", "2 rayon threads", "1 thread".
pub fn workers_phrase(variant: Variant, workers: usize) -> String {
    match variant {
        Variant::Processes => count(workers as u64, "process", "processes"),
        Variant::Rayon => count(workers as u64, "rayon thread", "rayon threads"),
        Variant::Sequential => "1 thread, sequentially".into(),
        Variant::Mpi => count(workers as u64, "worker process", "worker processes"),
    }
}

/// `Checking 20 numbers with 12 processes:`
pub fn header(numbers: Option<u64>, source: &str, variant: Variant, workers: usize) -> String {
    let what = match numbers {
        Some(n) => count(n, "number", "numbers"),
        None => format!("numbers from {source}"),
    };
    format!("Checking {what} with {}:", workers_phrase(variant, workers))
}

/// Other processes taking more than this share of the machine make a run's
/// (or a sweep's) figures worth a caveat.
pub const BUSY: f64 = 0.10;

/// The indented lines under `Total time`.
pub fn summary_lines(s: &RunSummary, kernel: &str, machine: &Machine) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(resumed) = &s.resumed {
        let ran = s.tally.jobs + s.tally.failed;
        let carried = format!(
            "  resumed from {}: {} carried over ({} prime)",
            resumed.from,
            count(resumed.carried, "result", "results"),
            resumed.primes
        );
        if ran == 0 {
            lines.push(format!("{carried}, nothing left to check"));
            return lines;
        }
        lines.push(format!("{carried}, {ran} checked now; the figures below are over those {ran}"));
    }
    let cores = count(s.usable_cores() as u64, "core", "cores");
    lines.push(format!(
        "  {} on {}{}, kernel {kernel}: {}",
        workers_phrase(s.variant, s.workers),
        machine.cores_phrase(),
        oversubscribed(s),
        checked(s),
    ));
    if s.variant == Variant::Sequential && s.one_core_runs > 1 {
        lines.push(format!(
            "  one core = {}: the best of {} runs after a warm-up",
            secs(s.one_core),
            s.one_core_runs
        ));
    } else {
        lines.push(format!(
            "  speedup {:.2}x over one core ({}; perfect here: {}.00x), efficiency {:.1}% of {cores}{}",
            s.speedup(),
            match s.one_core_source {
                OneCoreSource::Measured => "its time measured",
                OneCoreSource::DerivedFromCpu => "the jobs' CPU time",
            },
            s.usable_cores(),
            100.0 * s.efficiency(),
            s.karp_flatt().map_or_else(String::new, |e| format!(", Karp-Flatt {e:.3}")),
        ));
    }
    lines.push(format!(
        "  wall {} = {:.3}x the lower bound {} (max of longest job, CPU time / {cores})",
        secs(s.wall),
        s.wall_over_bound(),
        secs(s.lower_bound()),
    ));
    let mut extra = Vec::new();
    if s.variant == Variant::Processes {
        extra.push(format!("startup {:.1} ms", s.facts.startup.as_secs_f64() * 1e3));
        extra.push(format!("{} took part", count(s.tally.pids.len() as u64, "worker pid", "worker pids")));
    }
    if s.facts.retries > 0 {
        extra.push(count(s.facts.retries, "retry", "retries"));
    }
    if !extra.is_empty() {
        lines.push(format!("  {}", extra.join(", ")));
    }
    lines.extend(caveats(s));
    lines
}

/// ` (oversubscribed 12:2)` when there are more workers than cores, else nothing.
pub fn oversubscribed(s: &RunSummary) -> String {
    if s.workers > s.cores {
        format!(" (oversubscribed {}:{})", s.workers, s.cores)
    } else {
        String::new()
    }
}

/// `20 checked (9 prime)`, and how many failed if any did.
pub fn checked(s: &RunSummary) -> String {
    let failed = if s.tally.failed > 0 { format!(", {} FAILED", s.tally.failed) } else { String::new() };
    format!("{} checked ({} prime){failed}", s.tally.jobs, s.tally.primes)
}

/// Why a figure cannot be taken at face value: it beats the machine, or the
/// machine was busy with other work while it was measured.
fn caveats(s: &RunSummary) -> Vec<String> {
    let mut lines = Vec::new();
    let busy = s.others_busy.filter(|&share| share > BUSY);
    if s.beats_perfect() && s.variant != Variant::Sequential {
        let baseline = match s.one_core_source {
            OneCoreSource::Measured => "the one-core time and this run were measured at different moments",
            OneCoreSource::DerivedFromCpu => "per-job CPU times are read with a coarse clock",
        };
        lines.push(format!(
            "  note: better than {} cores allow, which no run can be: timing noise ({baseline}){}",
            s.usable_cores(),
            if busy.is_some() { ", and the machine was busy" } else { "" }
        ));
    }
    if let Some(share) = busy {
        lines.push(format!(
            "  note: the machine was busy: other processes took {:.0}% of its CPU time during this run",
            100.0 * share
        ));
    }
    lines
}

/// The comparison section, written once for every pair of variants.
pub fn comparison_lines(runs: &[RunSummary]) -> Vec<String> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let measured = runs.iter().find(|s| s.one_core_source == OneCoreSource::Measured);
    let basis = match measured.map_or(first.one_core_source, |s| s.one_core_source) {
        OneCoreSource::Measured => {
            let one = measured.unwrap_or(first);
            format!(
                "one core = {}, the best of {} sequential runs after a warm-up",
                secs(one.one_core),
                one.one_core_runs
            )
        }
        OneCoreSource::DerivedFromCpu => {
            "one core = each run's summed per-job CPU time, derived, not measured: --mode all measures it"
                .into()
        }
    };
    let mut lines = vec![
        String::new(),
        format!("Comparison ({basis}):"),
        format!(
            "  {:<11}{:>8}{:>11}{:>10}{:>12}{:>12}",
            "variant", "workers", "wall", "speedup", "efficiency", "wall/bound"
        ),
    ];
    for s in runs {
        lines.push(format!(
            "  {:<11}{:>8}{:>11}{:>9.2}x{:>11.1}%{:>11.3}x",
            s.variant.to_string(),
            s.workers,
            secs(s.wall),
            s.speedup(),
            100.0 * s.efficiency(),
            s.wall_over_bound(),
        ));
    }
    let find = |v| runs.iter().find(|s| s.variant == v);
    if let (Some(p), Some(r)) = (find(Variant::Processes), find(Variant::Rayon)) {
        lines.push(match processes_over_rayon(p, r) {
            Some(q) => format!(
                "  processes / rayon = {q:.3} (processes took {:.1}% {} than threads)",
                (q - 1.0).abs() * 100.0,
                if q >= 1.0 { "longer" } else { "less" }
            ),
            None => format!(
                "  processes / rayon: not compared, the runs did different work (processes checked {}, \
                 gave up on {}; rayon checked {}, gave up on {})",
                p.tally.jobs, p.tally.failed, r.tally.jobs, r.tally.failed
            ),
        });
    }
    let workers = runs.iter().map(|s| s.workers).max().unwrap_or(1);
    lines.push(format!(
        "  With {} on {} a perfect speedup is {}.00x.",
        count(workers as u64, "worker", "workers"),
        count(first.cores as u64, "logical core", "logical cores"),
        runs.iter().map(RunSummary::usable_cores).max().unwrap_or(1)
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::completed::Completed;
    use crate::executor::RunFacts;
    use crate::report::summary::Tally;
    use std::time::Duration;

    /// 2 workers on 2 cores, 4 s of job CPU time, `wall_ms` of wall, baseline `one_core_ms`.
    fn run(wall_ms: u64, one_core_ms: Option<u64>, others_busy: Option<f64>) -> RunSummary {
        let mut tally = Tally::default();
        for _ in 0..4 {
            tally.add(&Completed::Checked(procpool_worker::PrimeResult {
                index: 0,
                n: 3,
                prime: true,
                started_at: Duration::ZERO,
                elapsed: Duration::from_secs(1),
                cpu: Duration::from_secs(1),
                pid: 7,
            }));
        }
        let wall = Duration::from_millis(wall_ms);
        let one_core = one_core_ms.map(Duration::from_millis);
        let mut s = RunSummary::new(Variant::Rayon, 2, 2, tally, RunFacts::default(), wall, one_core);
        s.others_busy = others_busy;
        s
    }

    fn machine() -> Machine {
        Machine { usable_cores: 2, physical_cores: None, ..Machine::detect() }
    }

    #[test]
    fn a_figure_above_perfect_gets_a_note_naming_the_noise() {
        let lines = summary_lines(&run(2000, Some(4300), None), "book", &machine()).join("\n");
        assert!(
            lines.contains("speedup 2.15x") && lines.contains("note: better than 2 cores allow"),
            "{lines}"
        );
        assert!(lines.contains("measured at different moments"), "{lines}");
        let plain = summary_lines(&run(2100, None, None), "book", &machine()).join("\n");
        assert!(!plain.contains("note:"), "{plain}");
    }

    #[test]
    fn a_busy_machine_gets_a_note() {
        let lines = summary_lines(&run(2100, None, Some(0.4)), "book", &machine()).join("\n");
        assert!(lines.contains("note: the machine was busy: other processes took 40%"), "{lines}");
        assert!(!summary_lines(&run(2100, None, Some(0.05)), "book", &machine()).join("\n").contains("busy"));
    }
}
