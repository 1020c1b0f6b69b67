//! Input from a live pipe: a number is checked and printed as soon as it is
//! written (by a single run; runs that are compared read all of it first),
//! and a stop signal is honoured while the pipe is silent.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::Tag;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Stdout lines as they arrive, on a channel.
fn lines_of(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// `procpool 2 --input -` with `args`, its stdin to write and its stdout lines.
fn on_a_pipe(tag: &Tag, args: &[&str]) -> (Child, ChildStdin, mpsc::Receiver<String>) {
    let mut child = tag
        .std_cmd()
        .args(["2", "--input", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    (child, stdin, lines)
}

/// Waits (generously: this is liveness, not speed) for a line containing `needle`.
fn expect_line(lines: &mpsc::Receiver<String>, needle: &str) {
    loop {
        match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains(needle) => return,
            Ok(_) => continue,
            Err(e) => panic!("no line with {needle:?}: {e}"),
        }
    }
}

#[test]
fn a_number_is_printed_while_the_rest_of_the_pipe_is_still_unwritten() {
    let tag = Tag::new("stream");
    for mode in ["processes", "rayon", "sequential"] {
        let (mut child, mut stdin, lines) = on_a_pipe(&tag, &["--mode", mode]);
        // A complete line, then half of the next: 7 must not wait for the rest.
        stdin.write_all(b"7\n1").unwrap();
        stdin.flush().unwrap();
        expect_line(&lines, "               7  P ");
        stdin.write_all(b"3\n").unwrap();
        drop(stdin);
        expect_line(&lines, "              13  P ");
        assert!(child.wait().unwrap().success(), "{mode}");
    }
    tag.assert_none_left();
}

/// Runs that are compared must read the same thing: once the first was
/// timed waiting for a slow producer while the others read the copy
/// (processes / rayon read 1813 for a writer 0.5 s late). Now a pipe is read
/// to its end before any run starts, so nothing is printed while it is open.
#[test]
fn compared_runs_start_only_once_the_pipe_has_ended() {
    let tag = Tag::new("compare-pipe");
    for mode in ["compare", "all"] {
        let (mut child, mut stdin, lines) = on_a_pipe(&tag, &["--kernel", "fast", "--mode", mode]);
        stdin.write_all(b"7\n11\n").unwrap();
        stdin.flush().unwrap();
        // A single run prints its header and 7 at once (the test above).
        thread::sleep(Duration::from_millis(300));
        assert!(lines.try_recv().is_err(), "{mode}: a run started before the input ended");
        stdin.write_all(b"13\n").unwrap();
        drop(stdin);
        expect_line(&lines, "              13  P ");
        expect_line(&lines, "processes / rayon = ");
        assert!(child.wait().unwrap().success(), "{mode}");
    }
    tag.assert_none_left();
}

#[test]
fn a_stop_signal_ends_a_run_waiting_on_a_silent_pipe() {
    let tag = Tag::new("silent");
    // compare reads stdin to its end before its first run; processes only reads it: both must hear the signal.
    for mode in ["compare", "processes", "rayon"] {
        let mut child = tag
            .std_cmd()
            .args(["2", "--input", "-", "--mode", mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"7\n").unwrap();
        stdin.flush().unwrap();
        thread::sleep(Duration::from_millis(300));
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
        // The pipe stays open: only the signal can end the run.
        let output = child.wait_with_output().unwrap();
        drop(stdin);
        assert_eq!(output.status.code(), Some(130), "{mode}: {}", String::from_utf8_lossy(&output.stderr));
    }
    tag.assert_none_left();
}
