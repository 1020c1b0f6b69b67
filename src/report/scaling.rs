//! The arithmetic of scaling over worker counts: medians of repeated runs,
//! speedup, efficiency, and the Karp-Flatt serial fraction.

use std::time::Duration;

/// Repeated wall times of one (variant, workers) point.
#[derive(Debug, Clone, PartialEq)]
pub struct Repeats {
    walls: Vec<f64>,
}

impl Repeats {
    /// `walls` in seconds; at least one.
    pub fn new(walls: &[Duration]) -> Self {
        let mut walls: Vec<f64> = walls.iter().map(Duration::as_secs_f64).collect();
        walls.sort_by(f64::total_cmp);
        Repeats { walls }
    }

    pub fn median(&self) -> f64 {
        let n = self.walls.len();
        if n % 2 == 1 {
            self.walls[n / 2]
        } else {
            (self.walls[n / 2 - 1] + self.walls[n / 2]) / 2.0
        }
    }

    pub fn min(&self) -> f64 {
        self.walls[0]
    }

    pub fn max(&self) -> f64 {
        self.walls[self.walls.len() - 1]
    }

    /// (max - min) / median: how much the repeats disagree.
    pub fn spread(&self) -> f64 {
        if self.median() > 0.0 {
            (self.max() - self.min()) / self.median()
        } else {
            0.0
        }
    }

    pub fn walls(&self) -> &[f64] {
        &self.walls
    }
}

/// Speedup of a run taking `wall` over one taking `one_worker`.
pub fn speedup(one_worker: f64, wall: f64) -> f64 {
    if wall > 0.0 {
        one_worker / wall
    } else {
        0.0
    }
}

/// Speedup per worker.
pub fn efficiency(speedup: f64, workers: usize) -> f64 {
    speedup / workers.max(1) as f64
}

/// The Karp-Flatt metric: the serial fraction e = (1/S - 1/p) / (1 - 1/p)
/// that would explain speedup S on p workers. Undefined for p = 1.
pub fn karp_flatt(speedup: f64, workers: usize) -> Option<f64> {
    if workers < 2 || speedup <= 0.0 {
        return None;
    }
    let p = workers as f64;
    Some((1.0 / speedup - 1.0 / p) / (1.0 - 1.0 / p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn median_min_max_and_spread() {
        let r = Repeats::new(&[
            Duration::from_millis(300),
            Duration::from_millis(100),
            Duration::from_millis(200),
        ]);
        assert!(close(r.median(), 0.2) && close(r.min(), 0.1) && close(r.max(), 0.3));
        assert!(close(r.spread(), 1.0));
        let even = Repeats::new(&[Duration::from_secs(1), Duration::from_secs(2)]);
        assert!(close(even.median(), 1.5));
    }

    #[test]
    fn speedup_and_efficiency_by_hand() {
        // 4 s on one worker, 2.5 s on two: 1.6x, 80 %.
        let s = speedup(4.0, 2.5);
        assert!(close(s, 1.6));
        assert!(close(efficiency(s, 2), 0.8));
    }

    #[test]
    fn karp_flatt_by_hand() {
        // S = 1.6 on p = 2: (0.625 - 0.5) / 0.5 = 0.25.
        assert!(close(karp_flatt(1.6, 2).unwrap(), 0.25));
        // Perfect speedup means no serial fraction; no speedup means all serial.
        assert!(close(karp_flatt(4.0, 4).unwrap(), 0.0));
        assert!(close(karp_flatt(1.0, 4).unwrap(), 1.0));
        // S = 3 on p = 4: (1/3 - 1/4) / (3/4) = 1/9.
        assert!(close(karp_flatt(3.0, 4).unwrap(), 1.0 / 9.0));
        assert_eq!(karp_flatt(1.0, 1), None);
    }
}
