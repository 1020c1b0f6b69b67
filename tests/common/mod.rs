//! Shared by the integration tests: the real binary, a tag that marks every
//! process a test starts, and checks that none of them is left behind.
#![allow(dead_code)]

pub mod peak_rss;

use std::fs;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The classic fixture, largest first, as `procpool` submits it.
pub const FIXTURE: [(u64, bool); 20] = procpool_worker::primes::FIXTURE;

/// The largest prime below 2^64: the book kernel needs seconds for it.
pub const SLOW_PRIME: u64 = 18_446_744_073_709_551_557;

/// Inherited by every worker, so a test can find exactly its own processes.
pub struct Tag(pub String);

impl Tag {
    pub fn new(test: &str) -> Tag {
        default_stop_signals();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        Tag(format!("{test}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)))
    }

    /// `procpool` as assert_cmd runs it, tagged.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("procpool").unwrap();
        cmd.env("PROCPOOL_TEST_TAG", &self.0);
        cmd
    }

    /// `procpool` as a std Command (for tests that signal it mid-run), tagged.
    pub fn std_cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_procpool"));
        cmd.env("PROCPOOL_TEST_TAG", &self.0);
        cmd
    }

    /// Pids of live processes carrying this tag (zombies included: their
    /// environment is gone, so they are matched by their parent instead).
    pub fn processes(&self) -> Vec<u32> {
        let needle = format!("PROCPOOL_TEST_TAG={}", self.0);
        let mut found = Vec::new();
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(environ) = fs::read(entry.path().join("environ")) else {
                continue;
            };
            if environ.split(|&b| b == 0).any(|var| var == needle.as_bytes()) {
                found.push(pid);
            }
        }
        found
    }

    /// Fails unless every tagged process is gone within `within`.
    pub fn assert_none_left_within(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = self.processes();
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "processes left behind: {left:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn assert_none_left(&self) {
        self.assert_none_left_within(Duration::from_secs(2));
    }
}

/// Puts SIGINT, SIGTERM and SIGHUP back to their defaults in this test
/// process if it was started with them ignored (a script's background job
/// starts with SIGINT ignored): procpool keeps a stop signal it inherits as
/// ignored ignored, so the tests that send one would otherwise see it do nothing.
fn default_stop_signals() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let mut current = std::mem::MaybeUninit::<libc::sigaction>::uninit();
            // SAFETY: with a null new action, sigaction only reads the current one into `current`.
            let read = unsafe { libc::sigaction(signal, std::ptr::null(), current.as_mut_ptr()) } == 0;
            // SAFETY: it was filled in when the call succeeded; SIG_DFL runs no handler code.
            if read && unsafe { current.assume_init() }.sa_sigaction == libc::SIG_IGN {
                unsafe { libc::signal(signal, libc::SIG_DFL) };
            }
        }
    });
}

/// Direct children of `pid`, with their state letter (Z = zombie).
pub fn children(pid: u32) -> Vec<(u32, char)> {
    children_named(pid).into_iter().map(|(child, state, _)| (child, state)).collect()
}

/// Direct children of `pid`, with their state letter and command name.
pub fn children_named(pid: u32) -> Vec<(u32, char, String)> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command name: state, ppid, ...
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("", |(_, name)| name).to_owned();
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if fields.next().and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            found.push((child, state, name));
        }
    }
    found
}

/// What a pool's fork server calls itself: a child of the supervisor, but not a worker.
pub const FORK_SERVER_NAME: &str = procpool_worker::fork_server::FORK_SERVER_NAME;

/// Waits until `pid` has at least `count` live worker children (its fork
/// server left out) and returns them.
pub fn wait_for_children(pid: u32, count: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Read afresh each time: a process just executed may show none yet.
        let own = first_argument(pid);
        let live: Vec<u32> = children_named(pid)
            .into_iter()
            .filter(|(_, state, name)| *state != 'Z' && name != FORK_SERVER_NAME)
            .map(|(p, _, _)| p)
            .filter(|&p| is_worker_argument(&first_argument(p), &own))
            .collect();
        if live.len() >= count {
            return live;
        }
        assert!(Instant::now() < deadline, "{pid} never had {count} children");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The live fork server among `pid`'s children, if it has one.
pub fn fork_server_of(pid: u32) -> Option<u32> {
    children_named(pid)
        .into_iter()
        .find(|(_, state, name)| *state != 'Z' && name == FORK_SERVER_NAME)
        .map(|(p, _, _)| p)
}

/// Whether a child's first argument is a worker's, given the supervisor's
/// own (`supervisor`): an executed worker's, one forked by an executed fork
/// server (which it shows), or one forked by the early fork server (a copy
/// of the supervisor, it shows the supervisor's; so does a child spawned and
/// not executed yet, which becomes a worker under the same pid).
pub fn is_worker_argument(argument: &str, supervisor: &str) -> bool {
    argument == procpool_worker::protocol::WORKER_FLAG
        || argument == procpool_worker::fork_server::FORK_SERVER_FLAG
        || (!supervisor.is_empty() && argument == supervisor)
}

/// Whether worker `pid` was forked (by either kind of fork server), not executed.
pub fn forked(pid: u32) -> bool {
    first_argument(pid) != procpool_worker::protocol::WORKER_FLAG
}

/// The first argument `pid` runs with: an executed worker shows
/// `--procpool-worker`, one forked by an executed fork server that server's
/// (`--procpool-fork-server`), one forked by the early fork server the
/// supervisor's own.
pub fn first_argument(pid: u32) -> String {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argument = cmdline.split(|&b| b == 0).nth(1).unwrap_or_default();
    String::from_utf8_lossy(argument).into_owned()
}

/// What a run that was interfered with left: exit code, stdout, stderr, and
/// the worker pids it had when `act` ran.
pub struct Interrupted {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub workers: Vec<u32>,
}

/// Runs `command` (in its own process group, output captured), waits until
/// it has `workers` live children and has worked a moment, then calls `act`
/// with the supervisor's pid and the workers' pids, and collects the outcome.
pub fn run_interrupted(mut command: Command, workers: usize, act: impl FnOnce(u32, &[u32])) -> Interrupted {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    command.process_group(0).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn_fresh(&mut command);
    let children = wait_for_children(child.id(), workers);
    thread::sleep(Duration::from_millis(300));
    // An `act` whose assertion fails must not leave the run going.
    let acted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| act(child.id(), &children)));
    if let Err(panic) = acted {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        // What the run had said by then, beside the failed assertion.
        let status = child.wait();
        let output = child.wait_with_output();
        let (stdout, stderr) = output.map_or_else(
            |e| (e.to_string(), String::new()),
            |o| {
                (
                    String::from_utf8_lossy(&o.stdout).into_owned(),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                )
            },
        );
        eprintln!(
            "the run ({status:?}, killed after the failure) printed:\n{stdout}\nand on stderr:\n{stderr}"
        );
        std::panic::resume_unwind(panic);
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    Interrupted { code: child.wait().unwrap().code(), stdout, stderr, workers: children }
}

/// Spawns `command`, retrying for a while on ETXTBSY: a binary just copied
/// by a test is busy while any process that another test thread forked
/// meanwhile still holds the copy's write descriptor (until it execs).
pub fn spawn_fresh(command: &mut Command) -> std::process::Child {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match command.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            spawned => return spawned.unwrap(),
        }
    }
}

/// Sends `signal` to `pid` (negative: a process group).
pub fn send(pid: i32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
}

/// A temporary input file with these lines.
pub fn input_file(lines: &[&str]) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file
}

/// Parses stdout as JSON Lines.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}")))
        .collect()
}

/// Waits for `child`, but kills it and fails if it has not exited within 20 s:
/// a guard against a hang (liveness, not speed).
pub fn wait_guarded(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after 20 s, killed");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The write end of a pipe whose reader has already gone: writing to it
/// fails with EPIPE, as for `procpool ... | head -1` once head has exited.
pub fn broken_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

/// A named pipe (FIFO) in a fresh temporary directory, made by mkfifo(1).
pub fn fifo() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("numbers.fifo");
    assert!(Command::new("mkfifo").arg(&path).status().unwrap().success());
    (dir, path)
}
