//! Which sweep points not to believe. Repeats that disagree are one sign;
//! with `--runs 1` there are none, so a point is also checked against what
//! its neighbours (one worker fewer or more, the other variant at the same
//! count) and the core count make plausible, and against the hardware limit.

use super::sweep_table::{Row, Sweep};

/// A point below this share of what its neighbours make plausible is suspect.
const PLAUSIBLE: f64 = 0.8;

/// Why a point looks wrong, as one sentence.
pub fn implausible(sweep: &Sweep) -> Vec<String> {
    let rows = sweep.rows();
    let cores = sweep.machine.usable_cores;
    let speedup_at = |variant, workers| rows.iter().find(|r| r.variant == variant && r.workers == workers);
    let mut found = Vec::new();
    for row in rows.iter().filter(|r| r.workers > 1) {
        let limit = row.workers.min(cores) as f64;
        if row.speedup > limit {
            found.push(format!(
                "{} at {} workers reads {:.2}x, above the {limit:.2}x that {} allow: the 1-worker runs were probably slowed",
                row.variant,
                row.workers,
                row.speedup,
                super::words::count(cores as u64, "core", "cores"),
            ));
            continue;
        }
        let other = rows.iter().find(|r| r.workers == row.workers && r.variant != row.variant);
        let neighbours: Vec<&Row> =
            [speedup_at(row.variant, row.workers - 1), speedup_at(row.variant, row.workers + 1), other]
                .into_iter()
                .flatten()
                .collect();
        let best = neighbours.iter().map(|r| r.speedup).fold(0.0, f64::max);
        let expected = best.min(limit);
        if row.speedup < PLAUSIBLE * expected {
            found.push(format!(
                "{} at {} workers reads {:.2}x where its neighbours reach {expected:.2}x on {}: \
                 probably a slow spell, not scaling",
                row.variant,
                row.workers,
                row.speedup,
                super::words::count(cores as u64, "core", "cores"),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::Variant;
    use crate::report::machine::Machine;
    use crate::report::scaling::Repeats;
    use crate::report::sweep_table::Point;
    use std::time::Duration;

    fn sweep(processes: &[u64], rayon: &[u64]) -> Sweep {
        let point = |variant, workers, ms: u64| Point {
            variant,
            workers,
            repeats: Repeats::new(&[Duration::from_millis(ms)]),
        };
        let mut points = Vec::new();
        for (i, (&p, &r)) in processes.iter().zip(rayon).enumerate() {
            points.push(point(Variant::Processes, i + 1, p));
            points.push(point(Variant::Rayon, i + 1, r));
        }
        Sweep {
            points,
            kernel: "book",
            source: "the fixture".into(),
            jobs: 20,
            runs: 1,
            machine: Machine { usable_cores: 2, ..Machine::detect() },
            others_busy: None,
            stopped: None,
        }
    }

    #[test]
    fn a_clean_sweep_raises_nothing() {
        assert!(implausible(&sweep(&[730, 380, 380, 384], &[729, 376, 378, 373])).is_empty());
    }

    #[test]
    fn a_point_far_below_its_neighbours_is_named() {
        // Processes at 2 workers read 1.04x while rayon at 2 and processes at 3 read ~1.9x.
        let found = implausible(&sweep(&[730, 700, 380, 384], &[729, 376, 378, 373]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("processes at 2 workers reads 1.04x"), "{found:?}");
    }

    #[test]
    fn a_point_above_the_hardware_limit_is_named() {
        let found = implausible(&sweep(&[900, 380, 380, 384], &[729, 376, 378, 373]));
        assert!(found.iter().all(|f| f.starts_with("processes at")), "{found:?}");
        assert!(found[0].contains("above the 2.00x"), "{found:?}");
    }
}
