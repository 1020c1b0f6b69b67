//! One worker OS process: starting it so it cannot outlive us, killing it,
//! and reaping it.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use procpool_worker::protocol::WORKER_FLAG;

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

/// How workers are started: program, environment, directory, output.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub program: PathBuf,
    pub env: Vec<(String, String)>,
    pub current_dir: Option<PathBuf>,
    pub stdout: WorkerOutput,
    pub stderr: WorkerOutput,
}

/// A started worker process, before or after its handshake.
#[derive(Debug)]
pub(crate) struct WorkerProcess {
    pub pid: u32,
    child: Child,
    reaped: Option<ExitStatus>,
}

impl WorkerProcess {
    /// Starts the program in worker mode, pointed at the one-shot server
    /// `server_name`, and hands it `token` on its stdin (never in argv or the
    /// environment, which other users can read in /proc).
    ///
    /// The worker sets PR_SET_PDEATHSIG=SIGKILL itself, first thing, and checks
    /// that its parent is still the supervisor whose pid it is given (closing
    /// the race where the supervisor dies before that), so if the supervisor
    /// thread that started it dies, even by SIGKILL, the kernel kills the
    /// worker too. It also exits when its job channel reaches EOF; between the
    /// two, no worker is ever orphaned. Doing this in the worker rather than
    /// in a `pre_exec` hook lets `Command` use `posix_spawn`.
    pub fn spawn(launch: &Launch, server_name: &str, token: &[u8]) -> std::io::Result<WorkerProcess> {
        let supervisor = std::process::id().to_string();
        let mut command = Command::new(&launch.program);
        command
            .arg(WORKER_FLAG)
            .arg(server_name)
            .arg(supervisor)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(launch.stdout.stdio())
            .stderr(launch.stderr.stdio());
        if let Some(dir) = &launch.current_dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            // 16 bytes fit any pipe buffer: this never blocks. A worker that
            // died at once makes it fail, which the handshake then reports.
            let _ = stdin.write_all(token);
        }
        Ok(WorkerProcess { pid: child.id(), child, reaped: None })
    }

    /// The exit status if the process has ended, without blocking.
    pub fn try_reap(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait().ok().flatten();
        }
        self.reaped
    }

    /// Sends SIGKILL (if still running) and waits for the process to end.
    pub fn kill_and_reap(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() {
            let _ = self.child.kill();
            self.reaped = self.child.wait().ok();
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
