//! procpool against procspawn's pool on the same tiny jobs, in one run:
//! jobs per second for 10,000 and 100,000 jobs on 2 worker processes each.
//!
//! `cargo run --release --example versus_procspawn`

use std::time::Instant;

use procpool::{Job, ProcessPool};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Square(u64);

impl Job for Square {
    type Output = u64;
    fn run(self) -> u64 {
        self.0.wrapping_mul(self.0)
    }
}

const WORKERS: usize = 2;

/// `repeatable` jobs are answered in groups; the default (no job ever runs
/// twice) answers every job on its own, so a death blames exactly one job.
fn procpool_rate(jobs: u64, repeatable: bool) -> Result<f64, String> {
    let started = Instant::now();
    let pool = ProcessPool::<Square>::builder()
        .workers(WORKERS)
        .repeatable(repeatable)
        .build()
        .map_err(|e| e.to_string())?;
    let mut sum = 0u64;
    for outcome in pool.map((0..jobs).map(Square)) {
        sum = sum.wrapping_add(outcome.map_err(|e| e.to_string())?);
    }
    std::hint::black_box(sum);
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

/// procspawn opens channels per queued call, so all 10,000 at once run out
/// of file descriptors (it panics); queued `wave` at a time, it works.
fn procspawn_rate(jobs: u64, wave: u64) -> Result<f64, String> {
    let started = Instant::now();
    let pool = procspawn::Pool::new(WORKERS).map_err(|e| e.to_string())?;
    let mut sum = 0u64;
    for start in (0..jobs).step_by(wave as usize) {
        let handles: Vec<_> =
            (start..(start + wave).min(jobs)).map(|i| pool.spawn(i, |i: u64| i.wrapping_mul(i))).collect();
        for handle in handles {
            sum = sum.wrapping_add(handle.join().map_err(|e| e.to_string())?);
        }
    }
    std::hint::black_box(sum);
    pool.shutdown();
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

/// Whether procspawn can queue `jobs` calls at once (it panics when it cannot).
fn procspawn_queues_all(jobs: u64) -> bool {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let queued = std::panic::catch_unwind(|| procspawn_rate(jobs, jobs).is_ok()).unwrap_or(false);
    std::panic::set_hook(previous);
    queued
}

fn show(rate: &Result<f64, String>) -> String {
    match rate {
        Ok(rate) => format!("{rate:>12.0} jobs/s"),
        Err(e) => format!("failed: {e}"),
    }
}

fn main() {
    procpool::worker_entry();
    procspawn::init();
    println!("{WORKERS} worker processes each, pool start-up included");
    const WAVE: u64 = 256;
    for jobs in [10_000u64, 100_000] {
        let once = procpool_rate(jobs, false);
        let repeatable = procpool_rate(jobs, true);
        let theirs = procspawn_rate(jobs, WAVE);
        println!("{jobs:>7} jobs: procspawn (queued {WAVE} at a time) {}", show(&theirs));
        for (name, ours) in [("at most once", once), ("repeatable  ", repeatable)] {
            let ratio = match (&ours, &theirs) {
                (Ok(a), Ok(b)) => format!("{:.0}x procspawn", a / b),
                _ => String::new(),
            };
            println!("               procpool, {name}         {}  {ratio}", show(&ours));
        }
    }
    let all_at_once = procspawn_queues_all(10_000);
    println!(
        "procspawn with all 10000 calls queued at once: {}",
        if all_at_once { "ran" } else { "failed (too many open files)" }
    );
}
