//! Runs a command with numbers streamed to its stdin and reports its peak
//! resident memory (via wait4), for the memory test and the benchmark.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;

/// What a streamed run left behind.
pub struct StreamedRun {
    pub success: bool,
    pub stdout: Vec<u8>,
    /// Peak RSS of the process, or of its largest waited-for child if larger.
    pub peak_rss_kib: i64,
}

/// Writes `1..=count`, one per line, to the command's stdin while collecting its stdout.
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also yields the rusage
pub fn run_with_numbers_on_stdin(mut command: Command, count: u64) -> StreamedRun {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = thread::spawn(move || {
        let mut buffer = Vec::with_capacity(1 << 20);
        for n in 1..=count {
            writeln!(buffer, "{n}").unwrap();
            if buffer.len() > (1 << 20) - 32 {
                stdin.write_all(&buffer).unwrap();
                buffer.clear();
            }
        }
        stdin.write_all(&buffer).unwrap();
    });
    let mut stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut text = Vec::new();
        stdout.read_to_end(&mut text).unwrap();
        text
    });
    let mut status = 0;
    // SAFETY: rusage is plain data for wait4 to fill; the pid is our own, unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(waited, child.id() as i32);
    feeder.join().unwrap();
    StreamedRun {
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stdout: reader.join().unwrap(),
        peak_rss_kib: usage.ru_maxrss,
    }
}

/// Runs `command` as it is set up and returns whether it succeeded and its
/// peak RSS (or its largest waited-for child's, if larger).
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also yields the rusage
#[allow(dead_code)] // the whole-program benchmark includes this file but not this function
pub fn run_measured(mut command: Command) -> (bool, i64) {
    let child = command.spawn().unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data for wait4 to fill; the pid is our own, unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(waited, child.id() as i32);
    (libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, usage.ru_maxrss)
}
