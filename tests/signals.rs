//! Real signals to the supervisor: SIGINT and SIGTERM stop the run with an
//! in-order prefix and the conventional exit code; SIGKILL leaves no orphan
//! (no worker, no fork server).

mod common;

use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use common::{input_file, run_interrupted, send, wait_for_children, Tag};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

const PRIME: &str = "9999999999999917";

/// Sends `signal` to the supervisor of a 2-worker run over 40 slow primes,
/// once it is under way; returns (exit code, stdout, stderr).
fn stop_mid_run(tag: &Tag, signal: Signal) -> (i32, String, String) {
    let file = input_file(&vec![PRIME; 40]);
    let mut command = tag.std_cmd();
    command.args(["2", "--mode", "processes", "--kernel", "book", "--input"]).arg(file.path());
    let run = run_interrupted(command, 2, |supervisor, _| send(supervisor as i32, signal));
    (run.code.unwrap(), run.stdout, run.stderr)
}

/// Nothing (stopped before the first result: the header waits for one), or
/// a header, then only correct lines for the numbers checked so far.
fn assert_correct_prefix(stdout: &str) {
    let mut lines = stdout.lines();
    if let Some(header) = lines.next() {
        assert!(header.starts_with("Checking numbers from "), "{stdout}");
    }
    for line in lines {
        assert!(line.starts_with(&format!("{PRIME}  P ")), "unexpected line {line:?}");
    }
}

#[test]
fn sigint_stops_with_a_correct_prefix_and_exit_130() {
    let tag = Tag::new("sigint");
    let (code, stdout, stderr) = stop_mid_run(&tag, Signal::SIGINT);
    assert_eq!(code, 130, "{stderr}");
    assert_correct_prefix(&stdout);
    assert!(stdout.lines().count() < 41, "the run should not have finished");
    assert!(stderr.contains("stopped by SIGINT"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    tag.assert_none_left();
}

#[test]
fn sigterm_and_sighup_stop_with_exit_143_and_129() {
    // SIGHUP: the terminal was closed. Stop alike, keep the printed prefix, leave no worker.
    let tag = Tag::new("sigterm");
    for (signal, exit) in [(Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let (code, stdout, stderr) = stop_mid_run(&tag, signal);
        assert_eq!(code, exit, "{stderr}");
        assert_correct_prefix(&stdout);
        assert!(stderr.contains(&format!("stopped by {signal}")), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    tag.assert_none_left();
}

#[test]
fn workers_of_a_killed_supervisor_exit_by_themselves() {
    // Orphaned workers are re-parented to this test process, which can then
    // reap them itself and so prove they ended (instead of trusting init).
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let tag = Tag::new("sigkill");
    let file = input_file(&vec![PRIME; 40]);
    // More workers than cores, so a fork server starts them all.
    let count = procpool::available_cores() + 2;
    let mut child = tag
        .std_cmd()
        .arg(count.to_string())
        .args(["--mode", "processes", "--kernel", "book", "--input"])
        .arg(file.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut workers = wait_for_children(child.id(), count);
    // The fork server too: PR_SET_PDEATHSIG, or EOF on its stdin.
    workers.push(common::fork_server_of(child.id()).expect("a fork server"));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    // Busy workers too: PR_SET_PDEATHSIG, not just EOF on their channel.
    for pid in workers {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)).unwrap() {
                WaitStatus::StillAlive => {
                    assert!(Instant::now() < deadline, "worker {pid} survived its supervisor");
                    thread::sleep(Duration::from_millis(10));
                }
                // SIGKILL from PR_SET_PDEATHSIG; or, for a worker still
                // starting, its own exit on finding its supervisor gone (1)
                // or its channel closed (0). Any of them: it did not outlive it.
                WaitStatus::Signaled(_, Signal::SIGKILL, _) | WaitStatus::Exited(_, 0 | 1) => break,
                other => panic!("worker {pid}: {other:?}"),
            }
        }
    }
    tag.assert_none_left();
}

/// Sends `signal` to the whole process group of a run mid-way, as
/// `kill -TERM -- -PGID` or a terminal hang-up would; returns (code, stdout, stderr).
fn signal_group(tag: &Tag, args: &[&str], workers: usize, signal: Signal) -> (Option<i32>, String, String) {
    let mut command = tag.std_cmd();
    command.args(args);
    let run = run_interrupted(command, workers, |supervisor, _| send(-(supervisor as i32), signal));
    (run.code, run.stdout, run.stderr)
}

#[test]
fn sigterm_or_sighup_to_the_group_during_cheap_jobs_reports_no_worker_death() {
    // Cheap jobs keep the supervisor dispatching, not waiting: the stop must
    // be seen there too. The workers' channels may close a moment before the
    // supervisor handles its own copy of the signal; their deaths are then
    // not reported, blamed or replaced: one line says the run was stopped.
    // (Six runs: before that was handled, about half the runs printed deaths.)
    let tag = Tag::new("pgroup-cheap");
    for (signal, exit) in [(Signal::SIGTERM, 143), (Signal::SIGHUP, 129)].repeat(3) {
        let args = ["4", "--mode", "processes", "-q", "--range", "1..100000000"];
        let (code, _, stderr) = signal_group(&tag, &args, 4, signal);
        assert_eq!(code, Some(exit), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{signal}: {stderr}");
        assert!(stderr.starts_with(&format!("procpool: stopped by {signal}")), "{stderr}");
    }
    tag.assert_none_left();
}

#[test]
fn sigterm_to_the_whole_process_group_stops_without_replacing_workers() {
    let tag = Tag::new("pgroup");
    let file = input_file(&vec![PRIME; 40]);
    let path = file.path().to_str().unwrap();
    for (signal, exit) in [(Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let args = ["2", "--mode", "processes", "--kernel", "book", "--input", path];
        let (code, stdout, stderr) = signal_group(&tag, &args, 2, signal);
        assert_eq!(code, Some(exit), "{stderr}");
        assert_correct_prefix(&stdout);
        assert!(
            !stderr.contains("replacement"),
            "workers killed by the group {signal} were replaced: {stderr}"
        );
    }
    tag.assert_none_left();
}

/// The bytes a pipe can hold.
fn pipe_capacity(reader: &std::io::PipeReader) -> usize {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETPIPE_SZ reads nothing from memory and returns the size.
    let size = unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert!(size > 0);
    size as usize
}

/// Bytes waiting in a pipe, unread.
fn unread_bytes(reader: &std::io::PipeReader) -> usize {
    use std::os::fd::AsRawFd;
    let mut count: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, to a local that outlives the call.
    let result = unsafe { libc::ioctl(reader.as_raw_fd(), libc::FIONREAD, &mut count) };
    assert_eq!(result, 0);
    count as usize
}

#[test]
fn a_stop_signal_ends_a_run_whose_output_nobody_reads() {
    // `procpool | less` with less paused, `procpool | sleep 600`: the pipe
    // fills, a write blocks in the kernel, and only the signal can end it.
    let tag = Tag::new("stuck-output");
    for (mode, signal, exit) in [
        ("processes", Signal::SIGINT, 130),
        ("rayon", Signal::SIGTERM, 143),
        ("sequential", Signal::SIGHUP, 129),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        let mut child = tag
            .std_cmd()
            .args(["2", "--mode", mode, "--kernel", "fast", "--range", "1..100000000"])
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        // Full, but for a page being written. A pipe is made smaller than
        // the usual 64 KiB when its user holds many pipe pages already.
        let full = pipe_capacity(&reader).saturating_sub(4096).max(1);
        while unread_bytes(&reader) < full {
            if let Some(status) = child.try_wait().unwrap() {
                let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
                panic!("{mode}: ended ({status}) before stdout filled up: {stderr}");
            }
            assert!(Instant::now() < deadline, "{mode}: stdout never filled up");
            thread::sleep(Duration::from_millis(10));
        }
        send(child.id() as i32, signal);
        let status = common::wait_guarded(&mut child, mode);
        let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
        assert_eq!(status.code(), Some(exit), "{mode}: {stderr}");
        assert!(stderr.contains(&format!("stopped by {signal}")), "{mode}: {stderr}");
        drop(reader);
    }
    tag.assert_none_left();
}

/// `procpool` with `ignored` set to SIG_IGN before it starts, as `nohup`
/// (SIGHUP) or a non-interactive shell's `&` (SIGINT) leave it.
fn with_signal_ignored(tag: &Tag, ignored: Signal, args: &[&str]) -> std::process::Command {
    use nix::sys::signal::{signal, SigHandler};
    use std::os::unix::process::CommandExt;
    let mut command = tag.std_cmd();
    command.args(args);
    // SAFETY: between fork and exec this only calls signal(2), which is async-signal-safe.
    unsafe {
        command.pre_exec(move || signal(ignored, SigHandler::SigIgn).map(drop).map_err(std::io::Error::from));
    }
    command
}

#[test]
fn a_stop_signal_inherited_as_ignored_stays_ignored() {
    // `nohup procpool ... &` then a hang-up to the whole group: the run goes
    // on to its end, and so do its workers (they inherit SIG_IGN). The input
    // is a pipe this test holds open, so the run is surely still going when
    // the signal comes, whatever the machine's speed.
    use std::io::Write;
    let tag = Tag::new("ignored");
    // Workers forked by the fork server (past one per core), then executed ones.
    let cores = procpool::available_cores();
    for (ignored, workers) in [(Signal::SIGHUP, cores + 1), (Signal::SIGINT, cores.min(2))] {
        let (reader, mut writer) = std::io::pipe().unwrap();
        writeln!(writer, "{PRIME}\n{PRIME}").unwrap();
        let count = workers.to_string();
        let mut command =
            with_signal_ignored(&tag, ignored, &[&count, "--mode", "processes", "--input", "-"]);
        command.stdin(reader);
        let run = run_interrupted(command, workers, move |supervisor, workers| {
            send(-(supervisor as i32), ignored);
            thread::sleep(Duration::from_millis(200));
            assert!(kill(Pid::from_raw(supervisor as i32), None).is_ok(), "{ignored} killed the supervisor");
            for &worker in workers {
                assert!(kill(Pid::from_raw(worker as i32), None).is_ok(), "{ignored} killed worker {worker}");
            }
            writeln!(writer, "{PRIME}\n{PRIME}").unwrap();
        });
        assert_eq!(run.code, Some(0), "{ignored}: {}", run.stderr);
        assert_eq!(run.stderr, "", "{ignored}");
        let results = run.stdout.lines().filter(|line| line.starts_with(&format!("{PRIME}  P "))).count();
        assert_eq!(results, 4, "{ignored}: {}", run.stdout);
        assert!(run.stdout.contains("Total time: "), "{}", run.stdout);
        // The supervisor still killed and reaped its workers as it exited.
        tag.assert_none_left();
    }
}

#[test]
fn with_sighup_ignored_sigterm_still_stops_the_run_and_its_workers() {
    let tag = Tag::new("ignored-then-term");
    let args = ["2", "--mode", "processes", "-q", "--range", "1..100000000"];
    let command = with_signal_ignored(&tag, Signal::SIGHUP, &args);
    let run = run_interrupted(command, 2, |supervisor, _| {
        send(-(supervisor as i32), Signal::SIGHUP);
        thread::sleep(Duration::from_millis(100));
        send(supervisor as i32, Signal::SIGTERM);
    });
    assert_eq!(run.code, Some(143), "{}", run.stderr);
    assert!(run.stderr.starts_with("procpool: stopped by SIGTERM"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    tag.assert_none_left();
}

#[test]
fn a_stop_during_the_baseline_repeats_counts_the_printed_run() {
    // `--mode all` prints the sequential run, then repeats it silently to
    // time the one-core baseline. A stop then came with the count of the
    // silent repeat, as if the printed run had got that far.
    use std::io::{BufRead, BufReader};
    let tag = Tag::new("baseline-stop");
    let file = input_file(&[PRIME; 6]);
    let mut child = tag
        .std_cmd()
        .args(["2", "--mode", "all", "--input"])
        .arg(file.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    // The sixth result line is the printed run's last: the repeats (each as
    // long as the printed run, 3 of them) follow, and no summary is printed
    // before they end.
    while printed.iter().filter(|line: &&String| line.starts_with(&format!("{PRIME}  P "))).count() < 6 {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "stdout ended early: {printed:?}");
        printed.push(line);
    }
    // Into the first repeat (the printed run still had to end).
    thread::sleep(Duration::from_millis(300));
    send(child.id() as i32, Signal::SIGINT);
    let status = common::wait_guarded(&mut child, "the stopped run");
    let rest = std::io::read_to_string(stdout).unwrap();
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(rest, "", "a summary came before the repeats ended: {rest}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("time the one-core baseline (repeat 1 of 3), after all its 6 results"),
        "{stderr}"
    );
    tag.assert_none_left();
}

#[test]
fn a_stopped_sweep_shows_the_runs_that_finished() {
    let tag = Tag::new("sweep-stop");
    let file = input_file(&[PRIME; 4]);
    let mut child = tag
        .std_cmd()
        .args(["sweep", "2", "--runs", "1", "--kernel", "book", "--input"])
        .arg(file.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let supervisor = child.id();
    // Two workers at once are the third run's (processes at 2 workers), so
    // the first two (processes and rayon at 1) have finished. (A worker that
    // had just left was no proof: its pool's teardown, still inside the
    // first run, could meet the signal.)
    wait_for_children(supervisor, 2);
    send(supervisor as i32, Signal::SIGTERM);
    let status = common::wait_guarded(&mut child, "the stopped sweep");
    let stdout = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(143), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("procpool: stopped by SIGTERM during the sweep after "), "{stderr}");
    assert!(last.contains(" of 4 runs (the table shows the runs that finished)"), "{stderr}");
    assert!(stdout.starts_with("Sweep: 4 numbers from "), "{stdout}");
    assert!(stdout.contains(" of 4 runs: only finished runs are shown"), "{stdout}");
    let one = stdout.lines().find(|line| line.trim_start().starts_with("1 ")).unwrap_or_default();
    assert!(one.contains("1.00x"), "no finished point at 1 worker: {stdout}");
    tag.assert_none_left();
}
