//! The cluster run's summary: the local run's figures (speedup against
//! min(workers, cores) over the cluster, efficiency, wall over the lower
//! bound), then the cluster itself: ranks, hosts, one line per host, and
//! what rank 0 sent and received (the figures the README's 64-node
//! estimate starts from).

use std::time::Duration;

use serde_json::{json, Value};

use super::hosts::Host;
use crate::report::machine::Machine;
use crate::report::summary::RunSummary;
use crate::report::words::{count, secs};
use crate::report::{json, text};

/// Rank 0's MPI traffic: (messages, 8-byte words) each way, the jobs that
/// went to other ranks, and how long `MPI_Init` took (left out of the wall).
#[derive(Debug, Clone, Copy, Default)]
pub struct Traffic {
    pub sent: (u64, u64),
    pub received: (u64, u64),
    pub remote_jobs: u64,
    pub mpi_init: Duration,
}

/// `Checking 20 numbers on 3 ranks of an MPI launch:`
pub fn header(numbers: Option<u64>, source: &str, ranks: usize) -> String {
    let what = match numbers {
        Some(n) => count(n, "number", "numbers"),
        None => format!("numbers from {source}"),
    };
    format!("Checking {what} on {} of an MPI launch:", count(ranks as u64, "rank", "ranks"))
}

/// The indented lines under `Total time`.
pub fn summary_lines(
    s: &RunSummary,
    hosts: &[Host],
    traffic: &Traffic,
    kernel: &str,
    machine: &Machine,
) -> Vec<String> {
    let ranks: usize = hosts.iter().map(|h| h.ranks.len()).sum();
    let mut lines = text::summary_lines(s, kernel, machine);
    // After a resume, a line on what was carried over comes first.
    let at = usize::from(s.resumed.is_some());
    if lines.len() <= at {
        return lines; // everything was carried over: nothing ran
    }
    lines[at] = format!(
        "  {} on {}, {} in all on {} in all{}, kernel {kernel}: {}",
        count(ranks as u64, "rank", "ranks"),
        count(hosts.len() as u64, "host", "hosts"),
        count(s.workers as u64, "worker process", "worker processes"),
        count(s.cores as u64, "core", "cores"),
        text::oversubscribed(s),
        text::checked(s),
    );
    let mut cluster: Vec<String> = hosts
        .iter()
        .map(|h| {
            format!(
                "  host {}: {} {}, {} on {}: {}, {} CPU, busy {:.0}%",
                h.name,
                if h.ranks.len() == 1 { "rank" } else { "ranks" },
                h.ranks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                count(h.workers as u64, "worker", "workers"),
                count(h.cores as u64, "core", "cores"),
                count(h.jobs, "job", "jobs"),
                secs(h.cpu),
                100.0 * h.busy(s.wall),
            )
        })
        .collect();
    cluster.push(traffic_line(traffic, s));
    let after = (at + 3).min(lines.len());
    lines.splice(after..after, cluster);
    lines
}

fn traffic_line(t: &Traffic, s: &RunSummary) -> String {
    let messages = t.sent.0 + t.received.0;
    let per_second = messages as f64 / s.wall.as_secs_f64().max(1e-9);
    let per_job =
        |words: u64| if t.remote_jobs == 0 { 0.0 } else { 8.0 * words as f64 / t.remote_jobs as f64 };
    format!(
        "  MPI_Init {} (not in the wall); rank 0 used {} CPU, sent {} ({}), received {} ({}): \
         {per_second:.0} messages/s, {:.1} bytes a job out, {:.1} back",
        secs(t.mpi_init),
        secs(own_usage().0),
        count(t.sent.0, "message", "messages"),
        bytes(8 * t.sent.1),
        count(t.received.0, "message", "messages"),
        bytes(8 * t.received.1),
        per_job(t.sent.1),
        per_job(t.received.1),
    )
}

/// This process's (rank 0's, where the summary is made) CPU time and
/// peak resident memory so far; its workers are other processes.
fn own_usage() -> (Duration, f64) {
    // SAFETY: rusage is plain data for getrusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return (Duration::ZERO, 0.0);
    }
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (time(usage.ru_utime) + time(usage.ru_stime), usage.ru_maxrss as f64 / 1024.0)
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// The JSON summary object: the local run's fields with `"variant": "mpi"`,
/// plus `ranks`, `hosts` and `messages`.
pub fn summary_json(
    s: &RunSummary,
    hosts: &[Host],
    traffic: &Traffic,
    kernel: &str,
    machine: &Machine,
) -> String {
    let mut object: Value =
        serde_json::from_str(&json::summary(s, kernel, machine)).unwrap_or_else(|_| json!({}));
    if let Some(map) = object.as_object_mut() {
        let ranks: usize = hosts.iter().map(|h| h.ranks.len()).sum();
        map.insert("ranks".into(), json!(ranks));
        // Rank 0's machine alone says nothing about the cluster's.
        map.insert("physical_cores".into(), Value::Null);
        let hosts: Vec<Value> = hosts
            .iter()
            .map(|h| {
                json!({
                    "host": h.name, "ranks": h.ranks, "workers": h.workers, "cores": h.cores,
                    "jobs": h.jobs, "cpu": h.cpu.as_secs_f64(), "busy": h.busy(s.wall),
                })
            })
            .collect();
        map.insert("hosts".into(), Value::Array(hosts));
        map.insert(
            "messages".into(),
            json!({
                "sent": traffic.sent.0, "sent_bytes": 8 * traffic.sent.1,
                "received": traffic.received.0, "received_bytes": 8 * traffic.received.1,
                "remote_jobs": traffic.remote_jobs,
            }),
        );
        map.insert("mpi_init".into(), json!(traffic.mpi_init.as_secs_f64()));
        let (cpu, rss) = own_usage();
        map.insert("rank0_cpu".into(), json!(cpu.as_secs_f64()));
        map.insert("rank0_peak_rss_mib".into(), json!(rss));
    }
    object.to_string()
}
