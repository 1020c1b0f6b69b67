//! Load: hundreds of workers on two cores, millions of numbers through
//! stdin, and a million earlier results resumed, with bounded memory.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::peak_rss::{run_measured, run_with_numbers_on_stdin, PeakWatch};
use common::{json_lines, Tag, FIXTURE};

#[test]
fn two_hundred_fifty_six_workers_check_the_fixture_correctly() {
    let tag = Tag::new("256");
    let output = tag
        .cmd()
        .args(["256", "--mode", "processes", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let objects = json_lines(&output);
    let verdicts: Vec<(u64, bool)> = objects
        .iter()
        .filter(|o| o["type"] == "result")
        .map(|o| (o["n"].as_u64().unwrap(), o["prime"].as_bool().unwrap()))
        .collect();
    assert_eq!(verdicts, FIXTURE.to_vec());
    let summary = objects.iter().find(|o| o["type"] == "summary").unwrap();
    assert_eq!(summary["workers"], 256);
    tag.assert_none_left();
}

#[test]
fn millions_of_numbers_through_stdin_stay_under_fifty_megabytes() {
    let tag = Tag::new("memory");
    const COUNT: u64 = 3_000_000;
    let mut command = tag.std_cmd();
    command.args(["2", "--input", "-", "--mode", "processes", "--kernel", "fast", "--quiet", "--json"]);
    let run = run_with_numbers_on_stdin(command, COUNT);
    assert!(run.success);
    let objects = json_lines(&run.stdout);
    let summary = objects.iter().find(|o| o["type"] == "summary").unwrap();
    assert_eq!(summary["jobs"], COUNT, "every number delivered");
    let peak_mib = run.peak_rss_kib / 1024;
    assert!(peak_mib < 50, "peak RSS {peak_mib} MiB: input or results are being held in memory");
    tag.assert_none_left();
}

#[test]
fn ten_million_numbers_on_stdin_in_compare_mode_stay_under_fifty_megabytes() {
    // Two variants need the numbers twice: stdin is copied to a temporary file, not kept in memory.
    let tag = Tag::new("memory-compare");
    const COUNT: u64 = 10_000_000;
    let mut command = tag.std_cmd();
    command.args(["2", "--input", "-", "--quiet", "--json"]);
    let run = run_with_numbers_on_stdin(command, COUNT);
    assert!(run.success);
    let objects = json_lines(&run.stdout);
    let summaries: Vec<_> = objects.iter().filter(|o| o["type"] == "summary").collect();
    assert_eq!(summaries.len(), 2);
    assert!(summaries.iter().all(|s| s["jobs"] == COUNT), "every number delivered to both variants");
    let peak_mib = run.peak_rss_kib / 1024;
    assert!(peak_mib < 50, "peak RSS {peak_mib} MiB: stdin is being held in memory");
    tag.assert_none_left();
}

#[test]
#[allow(clippy::zombie_processes)] // reaped by PeakWatch::wait
fn results_nobody_reads_yet_hold_the_input_back_instead_of_piling_up() {
    // A reader slower than the workers (a terminal, `| less`): the run must
    // wait for it, not keep checking numbers whose lines cannot be printed.
    let tag = Tag::new("slow-reader");
    const COUNT: u64 = 1_500_000;
    // Runs that are compared (compare, all, sweep) first read a pipe to its
    // end into their copy on disk, by design (tests/streaming.rs): the
    // backpressure asked for here is that of each single run.
    for mode in ["processes", "rayon"] {
        let mut child = tag
            .std_cmd()
            .args(["2", "--mode", mode, "--kernel", "fast", "--input", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let watch = PeakWatch::start(&child);
        let mut stdin = child.stdin.take().unwrap();
        let written = Arc::new(AtomicU64::new(0));
        let progress = Arc::clone(&written);
        let writer = thread::spawn(move || {
            for block in (1..=COUNT).collect::<Vec<_>>().chunks(1000) {
                let text: String = block.iter().map(|n| format!("{n}\n")).collect();
                if stdin.write_all(text.as_bytes()).is_err() {
                    return;
                }
                progress.fetch_add(block.len() as u64, Ordering::Relaxed);
            }
        });
        // Stdout unread: wait until the run has taken all input or stopped
        // taking it for a second (liveness only; nothing here is timed).
        let (mut last, mut still) = (0, 0);
        while still < 10 && last < COUNT {
            thread::sleep(Duration::from_millis(100));
            let now = written.load(Ordering::Relaxed);
            still = if now == last { still + 1 } else { 0 };
            last = now;
        }
        // It may hold the pool's window, the read-ahead and the pipes' worth (some 220,000).
        assert!(last < COUNT / 3, "{mode}: took {last} of {COUNT} numbers while no result was read");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok);
        let results = lines
            .filter(|line| line.get(..16).is_some_and(|n| n.trim_start().parse::<u64>().is_ok()))
            .count();
        writer.join().unwrap();
        let (success, peak_kib) = watch.wait();
        assert!(success, "{mode}");
        assert_eq!(results as u64, COUNT, "{mode}: a line for every number");
        assert!(peak_kib / 1024 < 50, "{mode}: peak RSS {} MiB", peak_kib / 1024);
    }
    tag.assert_none_left();
}

#[test]
fn resuming_a_million_results_keeps_memory_flat() {
    use std::fs::File;
    use std::io::BufWriter;
    // Nothing large passes through this process: the child's peak RSS
    // counts the memory of the process it was started from.
    let tag = Tag::new("memory-resume");
    let dir = tempfile::tempdir().unwrap();
    let run = ["2", "--mode", "processes", "--kernel", "fast", "--json", "--range", "1..1000001"];
    let complete = dir.path().join("complete.jsonl");
    assert!(tag.std_cmd().args(run).stdout(File::create(&complete).unwrap()).status().unwrap().success());
    // The header and the first 900,000 results, as a killed run leaves them; 100,000 are left to check.
    let partial = dir.path().join("partial.jsonl");
    let mut writer = BufWriter::new(File::create(&partial).unwrap());
    for line in BufReader::new(File::open(&complete).unwrap()).lines().take(900_001) {
        writeln!(writer, "{}", line.unwrap()).unwrap();
    }
    writer.flush().unwrap();
    let done = dir.path().join("done.jsonl");
    let mut command = tag.std_cmd();
    command.args(run).arg("--resume").arg(&partial).stdout(File::create(&done).unwrap());
    let (success, peak_rss_kib) = run_measured(command);
    assert!(success);
    let last = BufReader::new(File::open(&done).unwrap()).lines().map(Result::unwrap).last().unwrap();
    let summary: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!((summary["carried"].as_u64(), summary["jobs"].as_u64()), (Some(900_000), Some(100_000)));
    let peak_mib = peak_rss_kib / 1024;
    assert!(peak_mib < 50, "peak RSS {peak_mib} MiB: the resume file is being held in memory");
    tag.assert_none_left();
}
