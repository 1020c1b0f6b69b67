//! The last resort of a stop signal. When stdout or stderr is a pipe that
//! nobody reads (a paused pager, `| sleep 600`), a write blocks in the
//! kernel, where no flag is looked at, and the run could never stop: only
//! `kill -9` ended it. A watcher thread ends the process once a stop signal
//! has come and the output has stayed full for a second. The workers die
//! with it (`PR_SET_PDEATHSIG`), and the copy of a one-shot input has no name.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::thread;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::signals::StopSignals;
use crate::report::output::stderr_line;

/// How often the watcher looks.
const TICK: Duration = Duration::from_millis(50);

/// How long the output may stay full after a stop signal.
const PATIENCE: Duration = Duration::from_secs(1);

/// Starts the watcher (none if no thread can be started: then only a
/// blocked output can outlast a stop signal, as before).
pub fn watch(stop: StopSignals) {
    let _ = thread::Builder::new().name("stuck-output".into()).spawn(move || {
        let mut stuck = Duration::ZERO;
        loop {
            thread::sleep(TICK);
            let Some((name, code)) = stop.signal() else {
                continue;
            };
            let (stdout, stderr) = (full(io::stdout().as_fd()), full(io::stderr().as_fd()));
            stuck = if stdout || stderr { stuck + TICK } else { Duration::ZERO };
            if stuck >= PATIENCE {
                if !stderr {
                    stderr_line(&format!(
                        "procpool: stopped by {name}; its output is not being read, so the rest is dropped"
                    ));
                }
                // SAFETY: _exit ends the process at once; nothing of it is used after.
                unsafe { libc::_exit(i32::from(code)) };
            }
        }
    });
}

/// True when a write to `fd` would block: a pipe or terminal that is full.
fn full(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
}
