//! Inputs that can be read only once (stdin, a FIFO, /dev/stdin,
//! /proc/self/fd/N, process substitution): every variant of a run sees the
//! same numbers, and a stop signal ends a run blocked on opening or reading one.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use common::{fifo, send, wait_guarded, Tag};
use nix::sys::signal::Signal;

/// 1..=100, one per line.
fn hundred() -> String {
    (1..=100).map(|n| format!("{n}\n")).collect()
}

#[test]
fn a_fifo_without_a_writer_does_not_block_a_stop_signal() {
    let tag = Tag::new("fifo-stop");
    for (mode, signal, code) in [
        ("compare", Signal::SIGINT, 130),
        ("processes", Signal::SIGTERM, 143),
        ("rayon", Signal::SIGTERM, 143),
        ("sequential", Signal::SIGHUP, 129),
        ("all", Signal::SIGHUP, 129),
        ("sweep", Signal::SIGINT, 130),
    ] {
        let (_dir, path) = fifo();
        let mut command = tag.std_cmd();
        match mode {
            "sweep" => command.args(["sweep", "2"]),
            _ => command.args(["2", "--mode", mode]),
        };
        let mut child =
            command.arg("--input").arg(&path).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        // Nobody ever opens the FIFO for writing: open(2) for reading would wait forever.
        thread::sleep(Duration::from_millis(300));
        send(child.id() as i32, signal);
        let status = wait_guarded(&mut child, mode);
        let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
        assert_eq!(status.code(), Some(code), "{mode}: {stderr}");
        assert!(stderr.contains(&format!("stopped by {signal}")), "{mode}: {stderr}");
    }
    tag.assert_none_left();
}

/// Runs procpool with `args` and `--input FIFO`, writes 1..=100 into the
/// FIFO once, and returns its stdout after checking that it succeeded.
fn fed_once_through_a_fifo(tag: &Tag, args: &[&str]) -> String {
    let (_dir, path) = fifo();
    let mut child =
        tag.std_cmd().args(args).arg("--input").arg(&path).stdout(Stdio::piped()).spawn().unwrap();
    // Blocks until procpool opens the FIFO for reading.
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().write_all(hundred().as_bytes()).unwrap();
    let status = wait_guarded(&mut child, &format!("{args:?} on a FIFO"));
    let stdout = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    assert!(status.success(), "{args:?}: {stdout}");
    stdout
}

#[test]
fn a_fifo_written_once_feeds_every_variant() {
    let tag = Tag::new("fifo-once");
    let stdout = fed_once_through_a_fifo(&tag, &["2", "--mode", "all", "--quiet"]);
    assert_eq!(stdout.matches(": 100 checked (25 prime)").count(), 3, "{stdout}");
    // A sweep reads it once for each of its runs (1 and 2 workers, processes and rayon).
    let stdout = fed_once_through_a_fifo(&tag, &["sweep", "2", "--runs", "1"]);
    assert!(stdout.starts_with("Sweep: 100 numbers from "), "{stdout}");
    tag.assert_none_left();
}

#[test]
fn paths_that_name_stdin_are_read_once() {
    let tag = Tag::new("dev-stdin");
    for path in ["/dev/stdin", "/proc/self/fd/0"] {
        let output =
            tag.cmd().args(["2", "--quiet", "--input", path]).write_stdin(hundred()).assert().success();
        let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
        assert_eq!(stdout.matches(": 100 checked (25 prime)").count(), 2, "{path}: {stdout}");
    }
    tag.assert_none_left();
}

#[test]
fn process_substitution_is_read_once() {
    let tag = Tag::new("proc-subst");
    let output = std::process::Command::new("bash")
        .args(["-c", r#""$0" 2 --quiet --input <(seq 1 100)"#, env!("CARGO_BIN_EXE_procpool")])
        .env("PROCPOOL_TEST_TAG", &tag.0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.matches(": 100 checked (25 prime)").count(), 2, "{stdout}");
    tag.assert_none_left();
}

#[test]
fn a_tmpdir_that_cannot_hold_the_copy_is_one_line_before_anything_runs() {
    let tag = Tag::new("copy-tmpdir");
    tag.cmd()
        .args(["2", "--input", "-"])
        .env("TMPDIR", "/nonexistent")
        .write_stdin(hundred())
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::starts_with(
            "procpool: <stdin>: cannot create its copy for the later runs in /nonexistent (TMPDIR): ",
        ));
    tag.assert_none_left();
}
