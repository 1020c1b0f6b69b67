//! Output that cannot be written (a pipe whose reader left, a full disk) and
//! threads that cannot be started: one line and an exit code, never a panic,
//! and a broken stderr never costs a result.

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Output, Stdio};

use common::{broken_pipe, input_file, send, wait_for_children, wait_guarded, Tag, SLOW_PRIME};
use nix::sys::resource::Resource;
use nix::sys::signal::Signal;

fn dev_full() -> std::fs::File {
    std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap()
}

fn assert_no_panic(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(101), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_bad_line_piped_to_head_exits_2() {
    // The issue's command: head takes the error line (nothing comes before
    // it on stdout) and leaves; procpool exits with 2, never a panic.
    let tag = Tag::new("bad-line-head");
    let bad = input_file(&["abc"]);
    let output = std::process::Command::new("bash")
        .args(["-c", r#""$0" 2 --input "$1" 2>&1 | head -1; exit "${PIPESTATUS[0]}""#])
        .arg(env!("CARGO_BIN_EXE_procpool"))
        .arg(bad.path())
        .env("PROCPOOL_TEST_TAG", &tag.0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(stdout.starts_with("procpool: ") && stdout.contains(":1: not a decimal number"), "{stdout}");
    tag.assert_none_left();
}

#[test]
fn a_bad_line_with_stdout_and_stderr_closed_from_the_start_is_no_panic() {
    // Both already closed: the line cannot be shown. Exit 2 if the bad line
    // is reached first, 0 if the closed stdout is noticed first (as for any
    // run whose reader left); never 101.
    let tag = Tag::new("bad-line-closed");
    let bad = input_file(&["abc"]);
    for mode in ["processes", "sequential", "compare"] {
        let pipe = broken_pipe();
        let status = tag
            .std_cmd()
            .args(["2", "--mode", mode, "--input"])
            .arg(bad.path())
            .stdout(pipe.try_clone().unwrap())
            .stderr(pipe)
            .status()
            .unwrap();
        assert!(matches!(status.code(), Some(0 | 2)), "{mode}: {status}");
    }
    tag.assert_none_left();
}

#[test]
fn writing_completions_or_help_that_cannot_be_written_fails_cleanly() {
    let tag = Tag::new("completions-closed");
    for args in [&["completions", "bash"][..], &["--help"], &["--version"], &["completions", "zsh"]] {
        let full = tag.std_cmd().args(args).stdout(dev_full()).stderr(Stdio::piped()).output().unwrap();
        assert_no_panic(&full);
        assert_eq!(full.status.code(), Some(1), "{args:?} to /dev/full");
        let stderr = String::from_utf8_lossy(&full.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("procpool: ") && stderr.contains("No space left"), "{stderr}");
        // A reader that left early: quiet, as for a run (`procpool | head`).
        let closed = tag.std_cmd().args(args).stdout(broken_pipe()).stderr(Stdio::piped()).output().unwrap();
        assert_no_panic(&closed);
        assert_eq!(closed.status.code(), Some(0), "{args:?} to a closed pipe");
        assert!(closed.stderr.is_empty(), "{}", String::from_utf8_lossy(&closed.stderr));
    }
}

#[test]
fn a_run_whose_stdout_is_full_says_so_and_exits_1() {
    let tag = Tag::new("run-full");
    let output = tag.std_cmd().args(["2"]).stdout(dev_full()).stderr(Stdio::piped()).output().unwrap();
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("procpool: cannot write results: No space left"), "{stderr}");
    tag.assert_none_left();
}

#[test]
fn a_killed_worker_is_still_retried_when_stderr_is_closed() {
    let tag = Tag::new("stderr-closed-kill");
    let file = input_file(&vec!["9999999999999917"; 30]);
    let mut child = tag
        .std_cmd()
        .args(["2", "--mode", "processes", "--kernel", "book", "--json", "--input"])
        .arg(file.path())
        .stdout(Stdio::piped())
        .stderr(broken_pipe())
        .spawn()
        .unwrap();
    let workers = wait_for_children(child.id(), 2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    send(workers[0] as i32, Signal::SIGKILL);
    let stdout = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    let status = wait_guarded(&mut child, "run with a closed stderr");
    assert_eq!(status.code(), Some(0), "{stdout}");
    let results = common::json_lines(stdout.as_bytes());
    assert_eq!(results.iter().filter(|o| o["type"] == "result").count(), 30, "every result delivered");
    tag.assert_none_left();
}

#[test]
fn a_closed_stdout_ends_a_job_that_never_finishes() {
    // `procpool ... | head -1` where head leaves before the first line: the
    // worker is stopped, so its job never ends and stdin stays open; only
    // noticing that stdout's reader left can end the run.
    let tag = Tag::new("stdout-closed-long");
    let mut child = tag
        .std_cmd()
        .args(["1", "--mode", "processes", "--kernel", "book", "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{SLOW_PRIME}").unwrap();
    let worker = wait_for_children(child.id(), 1)[0];
    std::thread::sleep(std::time::Duration::from_millis(300)); // the job is under way
    send(worker as i32, Signal::SIGSTOP);
    drop(child.stdout.take());
    let status = wait_guarded(&mut child, "run with a closed stdout and a stopped worker");
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    drop(stdin);
    tag.assert_none_left();
}

#[test]
fn a_closed_stdout_ends_a_run_waiting_for_input_in_every_mode() {
    // Stdin open and silent: no line, no end of input is coming.
    let tag = Tag::new("stdout-closed-waiting");
    for mode in ["processes", "rayon", "sequential", "compare", "all", "sweep"] {
        let mut command = tag.std_cmd();
        match mode {
            "sweep" => command.args(["sweep", "2"]),
            _ => command.args(["2", "--mode", mode]),
        };
        let mut child = command
            .args(["--input", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300)); // started and waiting
        drop(child.stdout.take());
        let status = wait_guarded(&mut child, mode);
        let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
        assert_eq!(status.code(), Some(0), "{mode}: {stderr}");
        assert!(stderr.is_empty(), "{mode}: {stderr}");
        drop(stdin);
    }
    tag.assert_none_left();
}

/// Runs procpool as the unprivileged user `nobody` with no threads or
/// processes allowed (`ulimit -u 0`): every thread spawn and fork fails.
fn without_threads(tag: &Tag, args: &[&str]) -> Output {
    let mut command = tag.std_cmd();
    command.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).uid(65534).gid(65534);
    // After the switch to `nobody` (pre_exec runs after uid and gid are set).
    limited(&mut command, Resource::RLIMIT_NPROC, 0);
    command.output().unwrap()
}

#[test]
fn too_few_open_files_gives_one_line_and_exit_1_never_a_panic() {
    // `ulimit -n` from 5 to 20, in every mode that starts workers. Before,
    // the early fork server's channels took the last descriptors at 9 or
    // 10, and ipc-channel panicked ("Failed to obtain a socket for checking
    // maximum send size") before the pool said what it needs.
    let tag = Tag::new("ulimit-n");
    for args in [&["2", "--mode", "processes"][..], &["2"], &["sweep", "2", "--runs", "1"]] {
        for limit in 5..=20 {
            let mut command = tag.std_cmd();
            command.args(args).args(["--kernel", "fast"]).stdout(Stdio::piped()).stderr(Stdio::piped());
            limited(&mut command, Resource::RLIMIT_NOFILE, limit);
            let output = command.output().unwrap();
            assert_no_panic(&output);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{args:?} at {limit}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{args:?} at {limit}: {stderr}");
            assert!(stderr.contains(&format!("open files, but the limit is {limit}")), "{args:?}: {stderr}");
        }
    }
    tag.assert_none_left();
}

#[test]
fn no_thread_or_process_to_spare_gives_one_line_and_exit_1() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run procpool as another user (root ignores ulimit -u)");
        return;
    }
    let tag = Tag::new("ulimit-u");
    let file = input_file(&["7", "11"]);
    std::fs::set_permissions(file.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let path = file.path().to_str().unwrap();
    for (args, needs) in [
        (vec!["2", "--mode", "sequential", "--input", path], "the input's read-ahead thread"),
        (vec!["2", "--mode", "processes"], "worker processes"),
        (vec!["2", "--mode", "rayon"], "rayon's threads"),
    ] {
        let output = without_threads(&tag, &args);
        assert_no_panic(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{needs}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{needs}: {stderr}");
        assert!(stderr.starts_with("procpool: "), "{needs}: {stderr}");
    }
    // Stdout's periodic flusher is a convenience: without it every line is flushed at once.
    let output = without_threads(&tag, &["2", "--mode", "sequential"]);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("20 checked (9 prime)"));
    tag.assert_none_left();
}

#[test]
fn a_chart_note_for_a_closed_stderr_is_lost_not_a_panic() {
    // With --json, "Timeline/Chart written to ..." goes to stderr: a reader
    // that left there must cost that line only.
    let tag = Tag::new("chart-note-closed");
    let dir = tempfile::tempdir().unwrap();
    let timeline = ["2", "--kernel", "fast", "--json", "-q", "--timeline"];
    let sweep = ["sweep", "1", "--runs", "1", "--json", "--range", "1..100", "--plot"];
    for (args, chart) in [(&timeline[..], "timeline.svg"), (&sweep[..], "sweep.svg")] {
        let path = dir.path().join(chart);
        let output = tag
            .std_cmd()
            .args(args)
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(broken_pipe())
            .output()
            .unwrap();
        assert_no_panic(&output);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(path.exists(), "{args:?}: no chart");
        assert!(!output.stdout.is_empty(), "{args:?}: no JSON");
    }
    tag.assert_none_left();
}

/// Sets `resource`'s soft and hard limits to `value` in the child, between
/// fork and exec.
fn limited(command: &mut std::process::Command, resource: Resource, value: u64) {
    // SAFETY: one async-signal-safe call between fork and exec.
    unsafe {
        command.pre_exec(move || Ok(nix::sys::resource::setrlimit(resource, value, value)?));
    }
}

/// Runs procpool with its address space limited to `kib` KiB (`ulimit -v`),
/// with `tmp` as its TMPDIR: an exit for want of memory can leave the
/// handshake directory of a worker being started.
fn with_address_space(tag: &Tag, args: &[&str], kib: u64, tmp: &std::path::Path) -> Output {
    let mut command = tag.std_cmd();
    command.args(args).env("TMPDIR", tmp).stdout(Stdio::piped()).stderr(Stdio::piped());
    let bytes = kib * 1024;
    limited(&mut command, Resource::RLIMIT_AS, bytes);
    command.output().unwrap()
}

#[test]
fn too_little_memory_gives_one_line_and_exit_1_never_an_abort() {
    // From 16 to 30 MB of address space, in steps of 0.25 MB: the run either
    // completes or says in one line what it could not get (a thread, a
    // channel, memory). Before, some limits aborted in an allocation inside
    // ipc-channel ("memory allocation of 212448 bytes failed", exit 134), and
    // about one run in a hundred near 17 MB in glibc, as a new thread
    // registered its TLS destructor ("Fatal glibc error: failed to register
    // TLS destructor: out of memory").
    let tag = Tag::new("ulimit-v");
    let tmp = tempfile::tempdir().unwrap();
    let (mut completed, mut refused) = (0, 0);
    for kib in (16_000..=30_000).step_by(250) {
        let output = with_address_space(&tag, &["2", "--kernel", "fast"], kib, tmp.path());
        assert_no_panic(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            Some(0) => {
                assert!(String::from_utf8_lossy(&output.stdout).contains("20 checked (9 prime)"));
                completed += 1;
            }
            Some(1) => {
                let mut lines = stderr.lines();
                let first = lines.next().unwrap_or_default();
                assert!(first.starts_with("procpool: ") && !first.contains("worker "), "{kib} KiB: {stderr}");
                // A worker that was starting as the supervisor exited may say it found it gone.
                for line in lines {
                    assert!(line.contains(" is gone"), "{kib} KiB: {stderr}");
                }
                refused += 1;
            }
            other => panic!("{kib} KiB: exit {other:?}: {stderr}"),
        }
    }
    assert!(completed > 0 && refused > 0, "{completed} runs completed, {refused} refused");
    tag.assert_none_left();
}

#[test]
fn an_output_that_is_a_file_this_run_reads_is_refused_before_any_work() {
    // By device and inode, not by name: a hard link, a symbolic link and
    // `./` are the same file. Before, `--timeline` drew the chart over the
    // numbers, and the next variant of compare or all read the SVG.
    let tag = Tag::new("same-file");
    let dir = tempfile::tempdir().unwrap();
    let numbers = dir.path().join("numbers.svg");
    let text = "7\n11\n13\n";
    std::fs::write(&numbers, text).unwrap();
    std::fs::hard_link(&numbers, dir.path().join("hard.svg")).unwrap();
    std::os::unix::fs::symlink(&numbers, dir.path().join("soft.svg")).unwrap();
    let input = numbers.to_str().unwrap();
    let resume = dir.path().join("run.svg");
    std::fs::write(&resume, "").unwrap();
    let append = |path: &std::path::Path| std::fs::OpenOptions::new().append(true).open(path).unwrap();
    let run = |more: &[&'static str]| [&["2", "--kernel", "fast"], more].concat();
    let cases: Vec<(Vec<&str>, Stdio, &str)> = vec![
        (
            [run(&[]), vec!["--input", input, "--timeline", input]].concat(),
            Stdio::piped(),
            "is also --timeline",
        ),
        (
            [run(&["--mode", "all", "--timeline", "hard.svg"]), vec!["--input", input]].concat(),
            Stdio::piped(),
            "is also --timeline hard.svg",
        ),
        (
            run(&["--input", "./numbers.svg", "--timeline", "soft.svg"]),
            Stdio::piped(),
            "is also --timeline soft.svg",
        ),
        ([run(&[]), vec!["--input", input]].concat(), append(&numbers).into(), "is also this run's stdout"),
        (run(&["--input", "-"]), append(&numbers).into(), "stdin (--input -) is also this run's stdout"),
        (
            vec!["sweep", "2", "--kernel", "fast", "--input", input, "--plot", "hard.svg"],
            Stdio::piped(),
            "is also --plot hard.svg",
        ),
        (
            run(&["--mode", "processes", "--json", "--resume", "run.svg"]),
            append(&resume).into(),
            "--resume run.svg is also this run's stdout",
        ),
        (
            run(&["--timeline", "run.svg"]),
            append(&resume).into(),
            "--timeline run.svg is also this run's stdout",
        ),
        // `> kept.jsonl`: the shell emptied it already, and the refusal says so.
        (
            run(&["--mode", "processes", "--json", "--resume", "kept.jsonl"]),
            std::fs::File::create(dir.path().join("kept.jsonl")).unwrap().into(),
            "--resume kept.jsonl is also this run's stdout, and it is empty now: a `>` redirection empties",
        ),
    ];
    for (args, stdout, expected) in cases {
        let output = tag
            .std_cmd()
            .current_dir(dir.path())
            .args(&args)
            .stdin(std::fs::File::open(&numbers).unwrap())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("procpool: ") && stderr.contains(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing is run");
        assert_eq!(std::fs::read_to_string(&numbers).unwrap(), text, "{args:?}");
        assert_eq!(std::fs::read_to_string(&resume).unwrap(), "", "{args:?}");
    }
    // Only regular files count: reading and writing /dev/null spoils nothing.
    let output = tag.std_cmd().args(["2", "--input", "/dev/null"]).stdout(Stdio::null()).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("/dev/null: no numbers to check"));
    tag.assert_none_left();
}
