//! A sweep's results: one row per (variant, workers) point, rendered as a
//! side-by-side text table, as CSV, or as one JSON document.

use serde::Serialize;

use super::machine::Machine;
use super::scaling::{efficiency, karp_flatt, speedup, Repeats};
use super::words::count;
use crate::executor::Variant;

/// Repeated runs of one variant at one worker count.
#[derive(Debug, Clone)]
pub struct Point {
    pub variant: Variant,
    pub workers: usize,
    pub repeats: Repeats,
}

/// A whole sweep and its context.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub points: Vec<Point>,
    pub kernel: &'static str,
    pub source: String,
    pub jobs: u64,
    pub runs: u32,
    pub machine: Machine,
    /// Share of the machine's CPU time other processes took during the sweep.
    pub others_busy: Option<f64>,
    /// Set when a stop signal ended the sweep early: the points hold only
    /// the runs that finished.
    pub stopped: Option<Unfinished>,
}

/// How far a sweep that was stopped got.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Unfinished {
    pub runs_done: usize,
    pub runs_planned: usize,
}

/// One row of the table, every figure derived.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub variant: Variant,
    pub workers: usize,
    pub runs: usize,
    pub wall_median: f64,
    pub wall_min: f64,
    pub wall_max: f64,
    /// Median wall with 1 worker / median wall with `workers`, same variant.
    pub speedup: f64,
    /// Speedup / min(workers, cores).
    pub efficiency: f64,
    /// Karp-Flatt serial fraction with p = min(workers, cores); absent at p = 1.
    pub karp_flatt: Option<f64>,
    pub walls: Vec<f64>,
}

#[derive(Serialize)]
struct SweepJson<'a> {
    r#type: &'static str,
    machine: &'a Machine,
    kernel: &'a str,
    input: &'a str,
    jobs: u64,
    runs: u32,
    speedup_over: &'static str,
    others_busy: Option<f64>,
    /// Absent for a sweep that ran to the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<Unfinished>,
    points: Vec<Row>,
}

impl Sweep {
    /// The rows, in worker order, processes before rayon at each count.
    pub fn rows(&self) -> Vec<Row> {
        self.points
            .iter()
            .map(|point| {
                let one = self
                    .points
                    .iter()
                    .find(|p| p.variant == point.variant && p.workers == 1)
                    .map_or(point.repeats.median(), |p| p.repeats.median());
                let s = speedup(one, point.repeats.median());
                // Against what the machine allows, as in a normal run's summary.
                let p = point.workers.min(self.machine.usable_cores).max(1);
                Row {
                    variant: point.variant,
                    workers: point.workers,
                    runs: point.repeats.walls().len(),
                    wall_median: point.repeats.median(),
                    wall_min: point.repeats.min(),
                    wall_max: point.repeats.max(),
                    speedup: s,
                    efficiency: efficiency(s, p),
                    karp_flatt: karp_flatt(s, p),
                    walls: point.repeats.walls().to_vec(),
                }
            })
            .collect()
    }

    /// Points whose repeats disagree by more than `limit` (as a fraction of the median).
    pub fn noisy(&self, limit: f64) -> Vec<&Point> {
        self.points.iter().filter(|p| p.repeats.spread() > limit).collect()
    }

    /// The table for people: processes and rayon side by side.
    pub fn text_lines(&self) -> Vec<String> {
        let rows = self.rows();
        // Runs under a second are shown in milliseconds, so tiny sweeps keep their digits.
        let slowest = rows.iter().map(|r| r.wall_max).fold(0.0, f64::max);
        let (unit, scale) = if slowest < 1.0 { ("milliseconds", 1e3) } else { ("seconds", 1.0) };
        let wall = |r: &Row| {
            format!("{:.3} ({:.3}-{:.3})", r.wall_median * scale, r.wall_min * scale, r.wall_max * scale)
        };
        // As wide as the widest wall (hundreds of milliseconds need 25), so columns stay aligned.
        let w_wall = rows.iter().map(|r| wall(r).len()).max().unwrap_or(0).max(20);
        let w_cell = w_wall + 24;
        let mut lines = vec![
            format!(
                "Sweep: {} from {}, kernel {}, {} per point, on {}",
                count(self.jobs, "number", "numbers"),
                self.source,
                self.kernel,
                count(self.runs, "run", "runs"),
                self.machine.cores_phrase()
            ),
            format!("median wall in {unit} (min-max); speedup = wall at 1 worker / wall at p, same variant"),
            format!(
                "(not a normal run's one-core time); eff. = speedup / min(p, {0}); K-F = Karp-Flatt serial fraction, same p",
                self.machine.usable_cores
            ),
        ];
        if let Some(Unfinished { runs_done, runs_planned }) = self.stopped {
            lines.push(format!(
                "stopped after {runs_done} of {runs_planned} runs: only finished runs are shown, so a point may have fewer runs than planned, or none (-)"
            ));
        }
        lines.extend([
            String::new(),
            format!("{:>7}  {:^w_cell$}  {:^w_cell$}", "", "processes", "rayon"),
            format!(
                "{:>7}  {:>w_wall$} {:>8} {:>7} {:>6}  {:>w_wall$} {:>8} {:>7} {:>6}",
                "workers", "wall", "speedup", "eff.", "K-F", "wall", "speedup", "eff.", "K-F"
            ),
        ]);
        let workers: Vec<usize> = {
            let mut w: Vec<usize> = rows.iter().map(|r| r.workers).collect();
            w.dedup();
            w
        };
        for w in workers {
            let cell = |variant| match rows.iter().find(|r| r.variant == variant && r.workers == w) {
                Some(r) => format!(
                    "{:>w_wall$} {:>7.2}x {:>6.1}% {:>6}",
                    wall(r),
                    r.speedup,
                    100.0 * r.efficiency,
                    r.karp_flatt.map_or("-".into(), |e| format!("{e:.3}")),
                ),
                None => format!("{:>w_cell$}", "-"),
            };
            let marker = if w > self.machine.usable_cores { " (oversubscribed)" } else { "" };
            lines.push(format!("{w:>7}  {}  {}{marker}", cell(Variant::Processes), cell(Variant::Rayon)));
        }
        lines.push(String::new());
        lines.push(format!(
            "A perfect speedup is min(workers, {}) on this machine; past {} workers the extra ones only share cores.",
            self.machine.usable_cores, self.machine.usable_cores
        ));
        lines
    }

    /// The table as CSV, one row per point, with a header.
    pub fn csv(&self) -> String {
        let mut csv = String::from(
            "workers,variant,runs,wall_median,wall_min,wall_max,speedup,efficiency,karp_flatt\n",
        );
        for r in self.rows() {
            csv.push_str(&format!(
                "{},{},{},{:.6},{:.6},{:.6},{:.4},{:.4},{}\n",
                r.workers,
                r.variant,
                r.runs,
                r.wall_median,
                r.wall_min,
                r.wall_max,
                r.speedup,
                r.efficiency,
                r.karp_flatt.map_or(String::new(), |e| format!("{e:.4}")),
            ));
        }
        csv
    }

    /// One JSON document: `{"type": "sweep", "machine": ..., "points": [...]}`.
    pub fn json(&self) -> String {
        serde_json::to_string(&SweepJson {
            r#type: "sweep",
            machine: &self.machine,
            kernel: self.kernel,
            input: &self.source,
            jobs: self.jobs,
            runs: self.runs,
            speedup_over: "the same variant at 1 worker",
            others_busy: self.others_busy,
            stopped: self.stopped,
            points: self.rows(),
        })
        .expect("sweep types always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sweep() -> Sweep {
        let point = |variant, workers, ms: &[u64]| Point {
            variant,
            workers,
            repeats: Repeats::new(&ms.iter().map(|&m| Duration::from_millis(m)).collect::<Vec<_>>()),
        };
        Sweep {
            points: vec![
                point(Variant::Processes, 1, &[4000, 4050, 3950]),
                point(Variant::Rayon, 1, &[4000]),
                point(Variant::Processes, 2, &[2500, 2400, 2600]),
                point(Variant::Rayon, 2, &[2000]),
            ],
            kernel: "book",
            source: "the fixture".into(),
            jobs: 20,
            runs: 3,
            machine: Machine { usable_cores: 4, ..Machine::detect() },
            others_busy: None,
            stopped: None,
        }
    }

    #[test]
    fn rows_compute_speedup_efficiency_and_karp_flatt() {
        let rows = sweep().rows();
        let p2 = rows.iter().find(|r| r.variant == Variant::Processes && r.workers == 2).unwrap();
        assert!((p2.speedup - 1.6).abs() < 1e-9);
        assert!((p2.efficiency - 0.8).abs() < 1e-9);
        assert!((p2.karp_flatt.unwrap() - 0.25).abs() < 1e-9);
        assert!((p2.wall_min - 2.4).abs() < 1e-9 && (p2.wall_max - 2.6).abs() < 1e-9);
        let r2 = rows.iter().find(|r| r.variant == Variant::Rayon && r.workers == 2).unwrap();
        assert!((r2.speedup - 2.0).abs() < 1e-9 && r2.karp_flatt == Some(0.0));
    }

    #[test]
    fn csv_has_a_header_and_a_row_per_point() {
        let csv = sweep().csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("workers,variant,"));
        assert_eq!(lines[3], "2,processes,3,2.500000,2.400000,2.600000,1.6000,0.8000,0.2500");
    }

    #[test]
    fn json_round_trips_through_serde() {
        let value: serde_json::Value = serde_json::from_str(&sweep().json()).unwrap();
        assert_eq!(value["type"], "sweep");
        assert_eq!(value["points"].as_array().unwrap().len(), 4);
        assert_eq!(value["points"][2]["karp_flatt"], 0.25);
        assert!(value["machine"]["usable_cores"].as_u64().unwrap() >= 1);
    }

    #[test]
    fn tiny_sweeps_are_shown_in_milliseconds_and_one_run_is_singular() {
        let mut tiny = sweep();
        tiny.runs = 1;
        for point in &mut tiny.points {
            let walls: Vec<Duration> =
                point.repeats.walls().iter().map(|&w| Duration::from_secs_f64(w / 1000.0)).collect();
            point.repeats = Repeats::new(&walls);
        }
        let text = tiny.text_lines().join("\n");
        assert!(text.contains("1 run per point") && text.contains("median wall in milliseconds"), "{text}");
        assert!(text.contains("4.000 (3.950-4.050)"), "{text}");
        assert!(sweep().text_lines().join("\n").contains("median wall in seconds"));
    }

    #[test]
    fn a_stopped_sweep_says_how_far_it_got_in_text_and_json() {
        let mut stopped = sweep();
        stopped.points.pop(); // rayon at 2 never ran
        stopped.stopped = Some(Unfinished { runs_done: 3, runs_planned: 12 });
        let text = stopped.text_lines().join("\n");
        assert!(text.contains("stopped after 3 of 12 runs"), "{text}");
        let value: serde_json::Value = serde_json::from_str(&stopped.json()).unwrap();
        assert_eq!(value["stopped"]["runs_done"], 3);
        assert_eq!(value["points"].as_array().unwrap().len(), 3);
        let complete: serde_json::Value = serde_json::from_str(&sweep().json()).unwrap();
        assert!(complete.get("stopped").is_none());
    }

    #[test]
    fn noisy_points_are_found() {
        let s = sweep();
        assert_eq!(s.noisy(0.05).len(), 1); // processes at 2: (2.6 - 2.4) / 2.5 = 8 %
        assert!(s.noisy(0.10).is_empty());
    }
}
