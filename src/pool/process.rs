//! One worker OS process (or the fork server): starting it so it cannot
//! outlive us, killing it, and reaping it.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::error::DeathCause;
use super::linux;

/// Where a worker's stdout or stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerOutput {
    /// Shared with the supervisor's.
    Inherit,
    /// Discarded.
    Null,
}

impl WorkerOutput {
    fn stdio(self) -> Stdio {
        match self {
            WorkerOutput::Inherit => Stdio::inherit(),
            WorkerOutput::Null => Stdio::null(),
        }
    }
}

/// How workers are started: program, environment, directory, output, and
/// whether through a fork server.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub program: PathBuf,
    pub env: Vec<(String, String)>,
    pub current_dir: Option<PathBuf>,
    pub stdout: WorkerOutput,
    pub stderr: WorkerOutput,
    pub fork_server: bool,
}

impl Launch {
    /// The program with this launch's environment, directory and output.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(self.stdout.stdio())
            .stderr(self.stderr.stdio());
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
    }
}

/// A child process of ours (a worker, or the fork server), by pid: every
/// worker is our own child, whether executed by us or forked by the fork
/// server with `CLONE_PARENT`, so it is reaped and killed the same way.
#[derive(Debug)]
pub(crate) struct WorkerProcess {
    pub pid: u32,
    reaped: Option<ExitStatus>,
    /// Reaped by someone else (`waitpid` said ECHILD): never signal the pid again.
    lost: bool,
}

impl WorkerProcess {
    /// Starts the program in worker mode (`WORKER_FLAG`), pointed at the
    /// one-shot server `server_name`, and hands it `token` on its stdin (never
    /// in argv or the environment, which other users can read in /proc).
    ///
    /// The worker sets PR_SET_PDEATHSIG=SIGKILL itself, first thing, and checks
    /// that its parent is still the supervisor whose pid it is given (closing
    /// the race where the supervisor dies before that), so if the supervisor
    /// thread that started it dies, even by SIGKILL, the kernel kills the
    /// worker too. It also exits when its job channel reaches EOF; between the
    /// two, no worker is ever orphaned. Doing this in the worker rather than
    /// in a `pre_exec` hook lets `Command` use `posix_spawn`.
    pub fn spawn(
        launch: &Launch,
        flag: &str,
        server_name: &str,
        token: &[u8],
    ) -> std::io::Result<WorkerProcess> {
        let (process, mut stdin) = WorkerProcess::spawn_piped(launch, &[flag, server_name])?;
        // 16 bytes fit any pipe buffer: this never blocks. A worker that
        // died at once makes it fail, which the handshake then reports.
        let _ = stdin.write_all(token);
        Ok(process)
    }

    /// Starts the program with `args` and the supervisor's pid after them,
    /// tied to us as [`spawn`](Self::spawn) says, with its stdin a pipe for
    /// the caller to write what the child is to read there, then close (the
    /// fork server: its secret and its one-shot server, which is created
    /// while the child is being executed).
    pub fn spawn_piped(launch: &Launch, args: &[&str]) -> std::io::Result<(WorkerProcess, ChildStdin)> {
        let supervisor = std::process::id().to_string();
        let mut command = launch.command();
        command.args(args).arg(supervisor).stdin(Stdio::piped());
        let mut child = command.spawn()?;
        let process = WorkerProcess::child(child.id());
        match child.stdin.take() {
            Some(stdin) => Ok((process, stdin)),
            None => Err(std::io::Error::other("no pipe to the child's stdin")), // `process` is killed
        }
    }

    /// Our child process `pid`, not yet reaped.
    pub fn child(pid: u32) -> WorkerProcess {
        WorkerProcess { pid, reaped: None, lost: false }
    }

    /// The exit status if the process has ended, without blocking.
    pub fn try_reap(&mut self) -> Option<ExitStatus> {
        self.wait(libc::WNOHANG)
    }

    /// Whether the process is still running and ours: not ended, not
    /// reaped by someone else, and not stopped (SIGSTOP: it would answer
    /// nothing until someone continues it).
    pub fn running(&mut self) -> bool {
        if self.try_reap().is_some() || self.lost {
            return false;
        }
        !matches!(linux::process_state(self.pid), Some('T' | 'Z' | 'X') | None)
    }

    /// Sends SIGKILL (if still running) and waits for the process to end.
    pub fn kill_and_reap(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() && !self.lost {
            // SAFETY: kill has no memory effects; the pid is our unreaped
            // child, so it cannot have been reused.
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
            self.wait(0);
        }
        self.reaped
    }

    /// Waits up to `grace` for the process to end by itself (woken by the
    /// kernel, not by polling), then kills it.
    pub fn reap_within(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.try_reap().is_none() {
            linux::wait_for_exit(self.pid, grace);
        }
        self.kill_and_reap()
    }

    /// `waitpid` with `flags`, once the process has not been reaped yet.
    fn wait(&mut self, flags: libc::c_int) -> Option<ExitStatus> {
        while self.reaped.is_none() && !self.lost {
            let mut status = 0;
            // SAFETY: waitpid writes one int.
            let got = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut status, flags) };
            if got == self.pid as libc::pid_t {
                self.reaped = Some(ExitStatus::from_raw(status));
            } else if got == 0 {
                break; // still running
            } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                self.lost = true;
            }
        }
        self.reaped
    }

    /// How the process ended, once reaped.
    pub fn cause(&self) -> DeathCause {
        match self.reaped {
            Some(status) => describe(status),
            None => DeathCause::Unknown,
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// Turns an exit status into words.
pub(crate) fn describe(status: ExitStatus) -> DeathCause {
    match (status.code(), status.signal()) {
        (Some(code), _) => DeathCause::Exited(code),
        (None, Some(signal)) => DeathCause::Signaled(signal),
        (None, None) => DeathCause::Unknown,
    }
}
