//! Runs a command with numbers streamed to its stdin and reports its peak
//! resident memory, for the memory test and the benchmark. The peak is the
//! process's own high-water mark (`VmHWM` in /proc), read until it exits:
//! wait4's `ru_maxrss` also counts the spawning process's memory at the
//! moment of the spawn (the kernel adds the pre-exec address space's mark),
//! so a test harness that had grown to 75 MiB made procpool read 73.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;

/// What a streamed run left behind.
pub struct StreamedRun {
    pub success: bool,
    pub stdout: Vec<u8>,
    /// Peak RSS of the process itself.
    pub peak_rss_kib: i64,
}

/// Writes `1..=count`, one per line, to the command's stdin while collecting its stdout.
#[allow(clippy::zombie_processes)] // reaped by PeakWatch::wait
pub fn run_with_numbers_on_stdin(mut command: Command, count: u64) -> StreamedRun {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let watch = PeakWatch::start(&child);
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
    let (success, peak_rss_kib) = watch.wait();
    feeder.join().unwrap();
    StreamedRun { success, stdout: reader.join().unwrap(), peak_rss_kib }
}

/// Samples a running child's memory high-water mark from its start until
/// it exits, then reaps it.
pub struct PeakWatch {
    pid: i32,
    sampler: thread::JoinHandle<i64>,
}

impl PeakWatch {
    /// Starts sampling `child`, which must not have been waited for.
    pub fn start(child: &std::process::Child) -> PeakWatch {
        let status_file = format!("/proc/{}/status", child.id());
        let sampler = thread::spawn(move || {
            // The mark only grows; once the process has exited (a zombie,
            // not reaped until this ends), it is gone.
            let mut peak = 0;
            while let Some(mark) =
                std::fs::read_to_string(&status_file).ok().as_deref().and_then(high_water_kib)
            {
                peak = peak.max(mark);
                thread::sleep(std::time::Duration::from_millis(2));
            }
            peak
        });
        PeakWatch { pid: child.id() as i32, sampler }
    }

    /// Waits for the exit; whether it exited with 0, and its peak RSS in KiB.
    pub fn wait(self) -> (bool, i64) {
        let peak = self.sampler.join().unwrap();
        assert!(peak > 0, "process {} was never sampled", self.pid);
        let mut status = 0;
        // SAFETY: waitpid writes one int; the pid is our own, unreaped child.
        let waited = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(waited, self.pid);
        (libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, peak)
    }
}

/// `VmHWM` of a /proc status file, in KiB (None for a process that has exited).
fn high_water_kib(status: &str) -> Option<i64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Runs `command` as it is set up and returns whether it succeeded and its
/// peak RSS.
#[allow(clippy::zombie_processes)] // reaped by PeakWatch::wait
#[allow(dead_code)] // the whole-program benchmark includes this file but not this function
pub fn run_measured(mut command: Command) -> (bool, i64) {
    PeakWatch::start(&command.spawn().unwrap()).wait()
}
