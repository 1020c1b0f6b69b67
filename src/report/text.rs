//! The human-readable summary lines and the comparison table.

use super::machine::Machine;
use super::summary::{ratio, OneCoreSource, RunSummary};
use crate::executor::Variant;

/// What a variant's run is called in headers: "2 processes", "2 rayon threads", "1 thread".
pub fn workers_phrase(variant: Variant, workers: usize) -> String {
    let plural = if workers == 1 { "" } else { "es" };
    match variant {
        Variant::Processes => format!("{workers} process{plural}"),
        Variant::Rayon => format!("{workers} rayon thread{}", if workers == 1 { "" } else { "s" }),
        Variant::Sequential => "1 thread, sequentially".into(),
    }
}

/// `Checking 20 numbers with 12 processes:`
pub fn header(count: Option<u64>, source: &str, variant: Variant, workers: usize) -> String {
    let what = match count {
        Some(count) => format!("{count} numbers"),
        None => format!("numbers from {source}"),
    };
    format!("Checking {what} with {}:", workers_phrase(variant, workers))
}

/// The indented lines under `Total time`.
pub fn summary_lines(s: &RunSummary, kernel: &str, machine: &Machine) -> Vec<String> {
    let mut lines = vec![format!(
        "  {} on {}{}, kernel {kernel}: {} checked ({} prime){}",
        workers_phrase(s.variant, s.workers),
        machine.cores_phrase(),
        if s.workers > s.cores {
            format!(" (oversubscribed {}:{})", s.workers, s.cores)
        } else {
            String::new()
        },
        s.tally.jobs,
        s.tally.primes,
        if s.tally.failed > 0 { format!(", {} FAILED", s.tally.failed) } else { String::new() },
    )];
    lines.push(format!(
        "  speedup {:.2}x over one core (perfect here: {}.00x), efficiency {:.1}%",
        s.speedup(),
        s.usable_cores(),
        100.0 * s.efficiency(),
    ));
    lines.push(format!(
        "  wall {:.3}s = {:.3}x the lower bound {:.3}s (max of longest job, CPU time / {} cores)",
        s.wall.as_secs_f64(),
        s.wall_over_bound(),
        s.lower_bound().as_secs_f64(),
        s.usable_cores(),
    ));
    let mut extra = Vec::new();
    if s.variant == Variant::Processes {
        extra.push(format!("startup {:.1} ms", s.facts.startup.as_secs_f64() * 1e3));
        extra.push(format!("{} worker pids took part", s.tally.pids.len()));
    }
    if s.facts.retries > 0 {
        extra.push(format!("{} retries", s.facts.retries));
    }
    if !extra.is_empty() {
        lines.push(format!("  {}", extra.join(", ")));
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
            format!("one core = {:.3}s, measured by the sequential run", first.one_core.as_secs_f64())
        }
        OneCoreSource::DerivedFromCpu => {
            "one core = each run's summed per-job CPU time (derived, not measured; --mode all measures it)"
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
            "  {:<11}{:>8}{:>10.3}s{:>9.2}x{:>11.1}%{:>11.3}x",
            s.variant.to_string(),
            s.workers,
            s.wall.as_secs_f64(),
            s.speedup(),
            100.0 * s.efficiency(),
            s.wall_over_bound(),
        ));
    }
    let find = |v| runs.iter().find(|s| s.variant == v);
    if let (Some(p), Some(r)) = (find(Variant::Processes), find(Variant::Rayon)) {
        let q = ratio(p.wall, r.wall);
        lines.push(format!(
            "  processes / rayon = {q:.3} (processes took {:.1}% {} than threads)",
            (q - 1.0).abs() * 100.0,
            if q >= 1.0 { "longer" } else { "less" }
        ));
    }
    lines.push(format!(
        "  On {} logical cores a perfect speedup is {}.00x.",
        first.cores,
        runs.iter().map(RunSummary::usable_cores).max().unwrap_or(1)
    ));
    lines
}
