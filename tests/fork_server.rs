//! The fork server, with real processes and real signals: the program's
//! workers, however few, are forked by one helper that is not a worker (the
//! early one, forked before the program had threads), a killed worker is
//! replaced through it, a killed helper costs nothing (later workers are
//! executed instead), it can be turned off, and nothing is left behind.

mod common;

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    first_argument, fork_server_of, forked, json_lines, run_interrupted, send, wait_for_children, Tag,
};
use nix::sys::signal::Signal;
use procpool_worker::protocol::WORKER_FLAG;

/// 0.1-0.2 s each with the book kernel.
const PRIME: &str = "9999999999999917";

/// A JSON run of `workers` over `copies` of PRIME.
fn slow_run(tag: &Tag, workers: usize, copies: usize) -> (std::process::Command, tempfile::NamedTempFile) {
    let file = common::input_file(&vec![PRIME; copies]);
    let mut command = tag.std_cmd();
    command.arg(workers.to_string());
    command.args(["--mode", "processes", "--kernel", "book", "--json", "--input"]).arg(file.path());
    (command, file)
}

/// More workers than cores: a pool forks them all from the start.
fn many() -> usize {
    procpool::available_cores() + 1
}

/// Waits until `supervisor` has a live worker not in `known`, and returns it.
/// A fork server just started looks like a forked worker until it has
/// named itself, so a forked one counts only beside a named fork server.
fn new_worker(supervisor: u32, known: &[u32]) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let helper = fork_server_of(supervisor);
        let candidate = wait_for_children(supervisor, 1).into_iter().find(|p| !known.contains(p));
        if let Some(pid) = candidate {
            if !forked(pid) || helper.is_some_and(|h| h != pid) {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "no replacement worker appeared");
        thread::sleep(Duration::from_millis(5));
    }
}

/// The pids the results name, once every one of the `copies` results came, in order, prime.
fn result_pids(stdout: &str, copies: usize) -> HashSet<u32> {
    let results: Vec<_> =
        json_lines(stdout.as_bytes()).into_iter().filter(|o| o["type"] == "result").collect();
    assert_eq!(results.len(), copies, "{stdout}");
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["index"], i as u64, "{stdout}");
        assert_eq!(result["prime"], true, "{stdout}");
    }
    results.iter().map(|r| r["pid"].as_u64().unwrap() as u32).collect()
}

/// Every result names one of the first workers or the replacement (which of
/// them ran what depends on timing), never anything else.
fn assert_only_workers(pids: &HashSet<u32>, workers: &[u32], replacement: u32) {
    let known: HashSet<u32> = workers.iter().copied().chain([replacement]).collect();
    assert!(pids.is_subset(&known), "results name {pids:?}, the workers were {known:?}");
}

#[test]
fn workers_are_forked_by_one_helper_that_is_not_a_worker_and_replaced_through_it() {
    let tag = Tag::new("forked");
    let (command, _file) = slow_run(&tag, many(), 24);
    let mut seen = (None, Vec::new(), None, false);
    let run = run_interrupted(command, many(), |supervisor, workers| {
        let helper = fork_server_of(supervisor).expect("the supervisor has a fork server");
        for &worker in workers {
            assert!(forked(worker), "worker {worker} was not forked");
        }
        send(workers[0] as i32, Signal::SIGKILL);
        let replacement = new_worker(supervisor, workers);
        seen = (Some(helper), workers.to_vec(), Some(replacement), forked(replacement));
        assert_eq!(fork_server_of(supervisor), Some(helper), "the same fork server lives on");
    });
    let (helper, workers, replacement, replacement_forked) = seen;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(replacement_forked, "the replacement was not forked");
    assert!(run.stderr.contains(&format!("worker {} was killed by signal 9", workers[0])), "{}", run.stderr);
    let pids = result_pids(&run.stdout, 24);
    assert!(!pids.contains(&helper.unwrap()), "a result names the fork server: {pids:?}");
    assert_only_workers(&pids, &workers, replacement.unwrap());
    tag.assert_none_left();
}

#[test]
fn a_killed_fork_server_costs_nothing_and_later_workers_are_executed() {
    let tag = Tag::new("helper-killed");
    let (command, _file) = slow_run(&tag, many(), 24);
    let mut seen = (Vec::new(), None, String::new());
    let run = run_interrupted(command, many(), |supervisor, workers| {
        let helper = fork_server_of(supervisor).expect("the supervisor has a fork server");
        send(helper as i32, Signal::SIGKILL);
        thread::sleep(Duration::from_millis(200));
        let mut left = wait_for_children(supervisor, many());
        left.sort_unstable();
        let mut all = workers.to_vec();
        all.sort_unstable();
        assert_eq!(left, all, "the workers outlive their fork server");
        send(workers[0] as i32, Signal::SIGKILL);
        let replacement = new_worker(supervisor, workers);
        seen = (workers.to_vec(), Some(replacement), first_argument(replacement));
    });
    let (workers, replacement, argument) = seen;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(argument, WORKER_FLAG, "the replacement was not executed");
    assert!(run.stderr.contains(&format!("worker {} was killed by signal 9", workers[0])), "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("was killed").count(),
        1,
        "only the worker's death is reported: {}",
        run.stderr
    );
    assert_only_workers(&result_pids(&run.stdout, 24), &workers, replacement.unwrap());
    tag.assert_none_left();
}

#[test]
fn with_procpool_fork_server_0_every_worker_is_executed() {
    let tag = Tag::new("no-fork-server");
    let (mut command, _file) = slow_run(&tag, many(), 24);
    command.env("PROCPOOL_FORK_SERVER", "0");
    let mut seen = (None, Vec::new(), String::new());
    let run = run_interrupted(command, many(), |supervisor, workers| {
        let arguments = workers.iter().map(|&w| first_argument(w)).collect();
        send(workers[0] as i32, Signal::SIGKILL);
        let replacement = new_worker(supervisor, workers);
        seen = (fork_server_of(supervisor), arguments, first_argument(replacement));
    });
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(seen.0, None, "a fork server was started");
    assert_eq!(seen.1, vec![WORKER_FLAG; many()]);
    assert_eq!(seen.2, WORKER_FLAG, "the replacement was not executed");
    result_pids(&run.stdout, 24);
    tag.assert_none_left();
}

#[test]
fn even_one_worker_is_forked_by_the_early_fork_server_and_so_is_its_replacement() {
    // The program forks its fork server before it has threads, so executing
    // even one worker is later than forking it.
    let tag = Tag::new("one-forked");
    // 48 checks, about 5 s for one worker: with 12 the run could finish
    // while this thread was starved by the 1024-worker test beside it, and
    // a replacement that had come and gone was never seen.
    let (command, _file) = slow_run(&tag, 1, 48);
    let mut seen = (None, false, None, false);
    let run = run_interrupted(command, 1, |supervisor, workers| {
        let before = (fork_server_of(supervisor), forked(workers[0]));
        send(workers[0] as i32, Signal::SIGKILL);
        let replacement = new_worker(supervisor, workers);
        seen = (before.0, before.1, fork_server_of(supervisor), forked(replacement));
    });
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(seen.0.is_some() && seen.1, "the first worker was not forked by a fork server: {seen:?}");
    assert_eq!(seen.2, seen.0, "the replacement's fork server is not the first one");
    assert!(seen.3, "the replacement was not forked");
    result_pids(&run.stdout, 48);
    tag.assert_none_left();
}

#[test]
fn the_largest_pool_is_forked_without_either_socket_filling() {
    // Fork requests once all went out before any reply was read: past a
    // few hundred workers both sockets filled and the start hung for ever.
    let tag = Tag::new("fork-many");
    let workers = procpool::MAX_WORKERS;
    let range = format!("1..{}", workers + 1);
    let mut child = tag
        .std_cmd()
        .args([&workers.to_string(), "--mode", "processes", "--kernel", "fast", "--quiet", "--range", &range])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = common::wait_guarded(&mut child, "a pool of MAX_WORKERS");
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if status.code() == Some(2) && stderr.contains("open files") {
        eprintln!("skipped: this machine's descriptor limit is below {workers} workers: {stderr}");
        return;
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    // Every worker started and the run ended; how many of them got one of
    // the numbers depends on which were ready first (under load, 16 of 1024).
    assert!(stdout.contains(&format!("with {workers} processes")), "{stdout}");
    assert!(stdout.contains(&format!("{workers} checked")), "{stdout}");
    tag.assert_none_left();
}
