//! One worker OS process: starting it so it cannot outlive us, killing it,
//! and reaping it.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use procpool_worker::protocol::WORKER_FLAG;

use super::error::DeathCause;

/// A started worker process, before or after its handshake.
pub(crate) struct WorkerProcess {
    pub pid: u32,
    child: Child,
    reaped: Option<ExitStatus>,
}

impl WorkerProcess {
    /// Starts `program` in worker mode, pointed at the one-shot server `server_name`.
    ///
    /// The worker sets PR_SET_PDEATHSIG=SIGKILL itself, first thing, and checks
    /// that its parent is still the supervisor whose pid it is given (closing
    /// the race where the supervisor dies before that), so if the supervisor
    /// thread that started it dies, even by SIGKILL, the kernel kills the
    /// worker too. It also exits when its job channel reaches EOF; between the
    /// two, no worker is ever orphaned. Doing this in the worker rather than
    /// in a `pre_exec` hook lets `Command` use `posix_spawn`, which starts a
    /// process without copying the supervisor's page tables.
    pub fn spawn(program: &Path, server_name: &str) -> std::io::Result<WorkerProcess> {
        let supervisor = std::process::id().to_string();
        let mut command = Command::new(program);
        command.arg(WORKER_FLAG).arg(server_name).arg(supervisor).stdin(Stdio::null()).stdout(Stdio::null());
        let child = command.spawn()?;
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

    /// Waits up to `grace` for the process to end by itself, then kills it.
    pub fn reap_within(&mut self, grace: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + grace;
        while self.try_reap().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
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
