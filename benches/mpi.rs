//! The cluster transport's figures (issue 9), each a ratio measured side
//! by side in one run of this program: `mpirun -n 2 procpool 1 --mpi`
//! against `procpool 2 --mode processes` on this machine, interleaved, the
//! median of several runs; rank 0's peak memory with 10,000,000 numbers on
//! stdin; and rank 0's traffic, which the README's 64-node estimate uses.
//!
//! Run with `cargo bench --features mpi --bench mpi` (about a minute; needs
//! mpirun). The machine is shared and noisy: nothing here is pass/fail.

#[path = "../tests/common/peak_rss.rs"]
mod peak_rss;

use std::process::Command;
use std::time::Instant;

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_procpool");
const RUNS: usize = 5;

fn main() {
    println!("procpool MPI benchmark: mpirun -n 2 procpool 1 --mpi vs procpool 2 --mode processes\n");
    println!("{:<76} {:>10} {:>10}", "figure", "measured", "target");
    let fixture = ["--kernel", "book", "--quiet", "--json"];
    let (wall, whole, mpi) = compare(&fixture);
    report("1. fixture, book kernel: mpi wall / processes wall", wall, "<= 1.05");
    report("   the same, whole commands (mpirun start-up and MPI_Init included)", whole, "");
    let (unbound, _, _) = compare_with(&["--bind-to", "none"], &fixture);
    report("   the same, mpirun --bind-to none (ranks not pinned to a core each)", unbound, "");
    traffic("   ", &mpi);

    let (wall, whole, _) = compare(&["--range", "1..1000001"]);
    report("2. 1,000,000 small numbers, every line printed: mpi wall / processes wall", wall, "<= 1.5");
    report("   the same, whole commands (mpirun start-up and MPI_Init included)", whole, "");
    let (wall, _, mpi) = compare(&["--range", "1..1000001", "--quiet", "--json"]);
    report("   the same, --quiet (no lines through the launcher's output forwarding)", wall, "");
    traffic("   ", &mpi);

    let mut command = mpirun();
    command.args(["--input", "-", "--kernel", "fast", "--quiet", "--json"]);
    let run = peak_rss::run_with_numbers_on_stdin(command, 10_000_000);
    assert!(run.success, "the 10M run failed");
    let objects = json(&run.stdout);
    report(
        "3. 10,000,000 numbers on stdin: rank 0's peak RSS (MiB)",
        summary(&objects)["rank0_peak_rss_mib"].as_f64().unwrap(),
        "<= 50",
    );
    let largest = run.peak_rss_kib as f64 / 1024.0;
    report("   the largest of mpirun and the ranks, as wait4 sees it (MiB)", largest, "");
}

fn mpirun() -> Command {
    mpirun_with(&[])
}

/// `mpirun OPTIONS -n 2 procpool 1 --mpi`, allowed to run as root.
fn mpirun_with(options: &[&str]) -> Command {
    let mut command = Command::new("mpirun");
    command
        .args(options)
        .args(["-n", "2", EXE, "1", "--mpi"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    command
}

/// Interleaved runs of both; medians of (wall ratio, whole-command ratio),
/// and the last MPI run's summary.
fn compare(args: &[&str]) -> (f64, f64, Value) {
    compare_with(&[], args)
}

/// [`compare`] with options for mpirun.
fn compare_with(options: &[&str], args: &[&str]) -> (f64, f64, Value) {
    let (mut walls, mut wholes, mut last) = (Vec::new(), Vec::new(), Value::Null);
    for _ in 0..RUNS {
        let mut local = Command::new(EXE);
        local.args(["2", "--mode", "processes"]).args(args);
        let (local_summary, local_whole) = timed(local);
        let mut cluster = mpirun_with(options);
        cluster.args(args);
        let (mpi_summary, mpi_whole) = timed(cluster);
        walls.push(mpi_summary["wall"].as_f64().unwrap() / local_summary["wall"].as_f64().unwrap());
        wholes.push(mpi_whole / local_whole);
        last = mpi_summary;
    }
    (median(walls), median(wholes), last)
}

/// The run's summary (from JSON, or just its wall from text) and the whole
/// command's elapsed seconds.
fn timed(mut command: Command) -> (Value, f64) {
    let started = Instant::now();
    let output = command.output().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = match stdout.lines().find_map(|line| line.strip_prefix("  wall ")) {
        Some(wall) => serde_json::json!({ "wall": text_secs(wall) }),
        None => summary(&json(&output.stdout)).clone(),
    };
    (summary, elapsed)
}

/// Seconds from the text summary's `  wall 910.5 ms = ...` (or `1.234s`).
fn text_secs(wall: &str) -> f64 {
    let figure = wall.split(" = ").next().unwrap();
    match figure.strip_suffix(" ms") {
        Some(ms) => ms.parse::<f64>().unwrap() / 1e3,
        None => figure.trim_end_matches('s').parse().unwrap(),
    }
}

fn traffic(indent: &str, s: &Value) {
    let m = &s["messages"];
    let f = |key: &str| m[key].as_f64().unwrap_or(0.0);
    let wall = s["wall"].as_f64().unwrap();
    let remote = f("remote_jobs").max(1.0);
    println!(
        "{indent}rank 0: {:.0} messages/s ({} out, {} in), {:.1} jobs a batch, {:.1} B a job out, {:.1} B back, MPI_Init {:.0} ms",
        (f("sent") + f("received")) / wall,
        f("sent"),
        f("received"),
        remote / f("sent").max(1.0),
        f("sent_bytes") / remote,
        f("received_bytes") / remote,
        s["mpi_init"].as_f64().unwrap_or(0.0) * 1e3,
    );
}

fn report(figure: &str, value: f64, target: &str) {
    println!("{figure:<76} {value:>10.3} {target:>10}");
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn json(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn summary(objects: &[Value]) -> &Value {
    objects.iter().find(|o| o["type"] == "summary").expect("a summary")
}
