//! The JSON Lines schema: one object per result or failure, one summary per
//! variant, one comparison at the end. Documented in README.md.

use serde::Serialize;

use super::machine::Machine;
use super::summary::{OneCoreSource, RunSummary};
use crate::completed::{Completed, FailedJob};
use crate::executor::Variant;
use procpool::PrimeResult;

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line<'a> {
    Result {
        variant: Variant,
        index: u64,
        n: u64,
        prime: bool,
        elapsed: f64,
        cpu: f64,
        pid: u32,
        /// The host that ran it, in a cluster run (`--mpi`).
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<&'a str>,
    },
    Failure {
        variant: Variant,
        index: u64,
        n: u64,
        deaths: Vec<DeathJson>,
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<&'a str>,
    },
    Summary(SummaryJson<'a>),
    Comparison {
        /// None (null) when the runs did not do the same work.
        processes_over_rayon: Option<f64>,
        processes_wall: f64,
        rayon_wall: f64,
    },
}

#[derive(Serialize)]
struct DeathJson {
    pid: u32,
    cause: String,
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    variant: Variant,
    workers: usize,
    cores: usize,
    physical_cores: Option<usize>,
    oversubscribed: bool,
    kernel: &'a str,
    jobs: u64,
    primes: u64,
    failed: u64,
    retries: u64,
    wall: f64,
    startup: f64,
    cpu_total: f64,
    longest_job: f64,
    lower_bound: f64,
    wall_over_bound: f64,
    one_core: f64,
    one_core_source: OneCoreSource,
    one_core_runs: usize,
    speedup: f64,
    efficiency: f64,
    karp_flatt: Option<f64>,
    others_busy: Option<f64>,
    pids: usize,
    carried: u64,
    carried_primes: u64,
    resumed_from: Option<&'a str>,
}

fn to_json(line: &Line<'_>) -> String {
    serde_json::to_string(line).expect("report types always serialize")
}

/// The object for one finished job.
pub fn completed(variant: Variant, completed: &Completed) -> String {
    completed_on(variant, completed, None)
}

/// The object for one finished job, naming the host that ran it if given.
pub fn completed_on(variant: Variant, completed: &Completed, host: Option<&str>) -> String {
    match completed {
        Completed::Checked(result) => checked(variant, result, host),
        Completed::Failed(failed) => failure(variant, failed, host),
    }
}

fn checked(variant: Variant, r: &PrimeResult, host: Option<&str>) -> String {
    to_json(&Line::Result {
        variant,
        index: r.index,
        n: r.n,
        prime: r.prime,
        elapsed: r.elapsed.as_secs_f64(),
        cpu: r.cpu.as_secs_f64(),
        pid: r.pid,
        host,
    })
}

fn failure(variant: Variant, f: &FailedJob, host: Option<&str>) -> String {
    to_json(&Line::Failure {
        variant,
        index: f.index,
        n: f.n,
        deaths: f.deaths.iter().map(|d| DeathJson { pid: d.pid, cause: d.cause.to_string() }).collect(),
        host,
    })
}

/// The object summing up one variant.
pub fn summary(s: &RunSummary, kernel: &str, machine: &Machine) -> String {
    to_json(&Line::Summary(SummaryJson {
        variant: s.variant,
        workers: s.workers,
        cores: s.cores,
        physical_cores: machine.physical_cores,
        oversubscribed: s.workers > s.cores,
        kernel,
        jobs: s.tally.jobs,
        primes: s.tally.primes,
        failed: s.tally.failed,
        retries: s.facts.retries,
        wall: s.wall.as_secs_f64(),
        startup: s.facts.startup.as_secs_f64(),
        cpu_total: s.tally.cpu_sum.as_secs_f64(),
        longest_job: s.tally.longest.as_secs_f64(),
        lower_bound: s.lower_bound().as_secs_f64(),
        wall_over_bound: s.wall_over_bound(),
        one_core: s.one_core.as_secs_f64(),
        one_core_source: s.one_core_source,
        one_core_runs: s.one_core_runs,
        speedup: s.speedup(),
        efficiency: s.efficiency(),
        karp_flatt: s.karp_flatt(),
        others_busy: s.others_busy,
        pids: s.tally.pids.len(),
        carried: s.resumed.as_ref().map_or(0, |r| r.carried),
        carried_primes: s.resumed.as_ref().map_or(0, |r| r.primes),
        resumed_from: s.resumed.as_ref().map(|r| r.from.as_str()),
    }))
}

/// The object comparing processes with rayon.
pub fn comparison(processes: &RunSummary, rayon: &RunSummary) -> String {
    to_json(&Line::Comparison {
        processes_over_rayon: super::summary::processes_over_rayon(processes, rayon),
        processes_wall: processes.wall.as_secs_f64(),
        rayon_wall: rayon.wall.as_secs_f64(),
    })
}
