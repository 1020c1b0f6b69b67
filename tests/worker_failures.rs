//! Workers killed with real signals, and jobs that hang: the run notices at
//! once, retries or fails the job, names the worker, and loses nothing.

mod common;

use common::{input_file, json_lines, run_interrupted, send, Tag, SLOW_PRIME};
use nix::sys::signal::Signal;

/// 0.1-0.2 s each with the book kernel, so a 2-worker run lasts a few seconds.
const PRIME: &str = "9999999999999917";

/// Starts a 2-worker processes run over `copies` of PRIME, kills one worker
/// with SIGKILL once both are busy, and returns (exit code, stdout, stderr, original workers).
/// The first of the original workers is the one killed.
fn kill_a_worker_mid_run(tag: &Tag, copies: usize, extra: &[&str]) -> (i32, String, String, Vec<u32>) {
    let file = input_file(&vec![PRIME; copies]);
    let mut command = tag.std_cmd();
    command.args(["2", "--mode", "processes", "--kernel", "book", "--input"]).arg(file.path()).args(extra);
    let run = run_interrupted(command, 2, |_, workers| send(workers[0] as i32, Signal::SIGKILL));
    (run.code.unwrap(), run.stdout, run.stderr, run.workers)
}

#[test]
fn a_killed_worker_is_replaced_and_its_job_retried_with_nothing_lost() {
    let tag = Tag::new("kill-retry");
    let (code, stdout, stderr, originals) = kill_a_worker_mid_run(&tag, 24, &["--json"]);
    let victim = originals[0];
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(
        stderr.contains(&format!(
            "worker {victim} was killed by signal 9 (SIGKILL) while running {PRIME}; retrying it"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("started replacement worker"), "{stderr}");
    let objects = json_lines(stdout.as_bytes());
    let results: Vec<_> = objects.iter().filter(|o| o["type"] == "result").collect();
    assert_eq!(results.len(), 24);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["index"], i as u64);
        assert_eq!(result["prime"], true);
    }
    let summary = objects.iter().find(|o| o["type"] == "summary").unwrap();
    assert!(summary["retries"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["failed"], 0);
    let replacement_ran = results.iter().any(|r| !originals.contains(&(r["pid"].as_u64().unwrap() as u32)));
    assert!(replacement_ran, "the replacement worker took part");
    tag.assert_none_left();
}

#[test]
fn with_no_retries_the_job_fails_the_run_completes_and_exits_1() {
    let tag = Tag::new("kill-fail");
    let (code, stdout, stderr, originals) = kill_a_worker_mid_run(&tag, 16, &["--retries", "0"]);
    let victim = originals[0];
    assert_eq!(code, 1, "stderr: {stderr}");
    assert!(
        stderr.contains(&format!(
            "worker {victim} was killed by signal 9 (SIGKILL) while running {PRIME}; giving up on it"
        )),
        "{stderr}"
    );
    let number_lines: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with(PRIME)).collect();
    assert_eq!(number_lines.len(), 16, "every number still gets its line: {stdout}");
    assert_eq!(number_lines.iter().filter(|l| l.contains("FAILED")).count(), 1, "{stdout}");
    assert!(stdout.contains("1 FAILED"), "the summary counts the failure: {stdout}");
    tag.assert_none_left();
}

/// A book-kernel processes run over `input` with a timeout and retries, expected to exit 1.
fn run_with_timeout(
    tag: &Tag,
    input: &std::path::Path,
    timeout: &str,
    retries: &str,
) -> std::process::Output {
    let args = [
        "2",
        "--mode",
        "processes",
        "--kernel",
        "book",
        "--timeout",
        timeout,
        "--retries",
        retries,
        "--json",
    ];
    tag.cmd().args(args).arg("--input").arg(input).assert().code(1).get_output().clone()
}

#[test]
fn a_job_past_the_timeout_is_killed_retried_then_failed() {
    let tag = Tag::new("timeout");
    let slow = SLOW_PRIME.to_string();
    let file = input_file(&["7", &slow, "11"]);
    let output = run_with_timeout(&tag, file.path(), "1", "1");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.matches("exceeded the 1s timeout").count(), 2, "{stderr}");
    assert!(stderr.contains(&format!("while running {slow}; retrying it")), "{stderr}");
    assert!(stderr.contains(&format!("while running {slow}; giving up on it")), "{stderr}");
    let objects = json_lines(&output.stdout);
    assert_eq!(objects[0]["type"], "run", "the run header comes first");
    let objects = &objects[1..];
    let kinds: Vec<(&str, u64)> =
        objects.iter().take(3).map(|o| (o["type"].as_str().unwrap(), o["n"].as_u64().unwrap())).collect();
    assert_eq!(kinds, [("result", 7), ("failure", SLOW_PRIME), ("result", 11)]);
    assert_eq!(objects[1]["deaths"].as_array().unwrap().len(), 2);
    tag.assert_none_left();
}

#[test]
fn a_hang_inside_a_batch_is_blamed_on_the_job_that_hung_not_on_its_batch_mates() {
    // Thousands of cheap numbers travel in big batches; the slow prime sits in
    // one of them. The first timeout cannot know which job was running, so it
    // blames none; re-run one at a time, the slow prime is caught alone.
    let tag = Tag::new("blame");
    let slow = SLOW_PRIME.to_string();
    let mut lines: Vec<String> = (3..20_000).map(|n| n.to_string()).collect();
    lines.insert(15_000, slow.clone());
    let file = input_file(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    // Far past a batch reply on a loaded machine, far short of the slow prime.
    let output = run_with_timeout(&tag, file.path(), "1.5", "0");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let objects = json_lines(&output.stdout);
    let failures: Vec<u64> =
        objects.iter().filter(|o| o["type"] == "failure").map(|o| o["n"].as_u64().unwrap()).collect();
    assert_eq!(failures, [SLOW_PRIME], "{stderr}");
    assert_eq!(objects.iter().filter(|o| o["type"] == "result").count(), lines.len() - 1);
    assert!(stderr.contains(&format!("while running {slow}; giving up on it")), "{stderr}");
    assert!(!stderr.contains("; retrying it"), "no innocent job is blamed: {stderr}");
    let summary = objects.iter().find(|o| o["type"] == "summary").unwrap();
    assert_eq!(summary["retries"], 0, "nothing blamed was re-run");
    tag.assert_none_left();
}

#[test]
fn a_stopped_worker_without_a_timeout_is_waited_for() {
    // SIGSTOP is a pause, not a death: with no --timeout the run waits until SIGCONT.
    let tag = Tag::new("sigstop");
    let file = input_file(&[PRIME; 8]);
    let mut command = tag.std_cmd();
    command.args(["2", "--mode", "processes", "--kernel", "book", "--input"]).arg(file.path());
    let run = run_interrupted(command, 2, |supervisor, workers| {
        send(workers[0] as i32, Signal::SIGSTOP);
        // Long enough for the other worker to run out of work.
        std::thread::sleep(std::time::Duration::from_secs(2));
        let running = common::children(std::process::id())
            .iter()
            .any(|&(pid, state)| pid == supervisor && state != 'Z');
        send(workers[0] as i32, Signal::SIGCONT);
        assert!(running, "the run ended while a worker was stopped");
    });
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with(&format!("{PRIME}  P "))).count(),
        8,
        "{}",
        run.stdout
    );
    assert!(run.stderr.is_empty(), "nothing was killed or retried: {}", run.stderr);
    tag.assert_none_left();
}
