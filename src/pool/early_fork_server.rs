//! A fork server forked from the program itself while it still has one
//! thread ([`start_fork_server`]), instead of executed when a pool starts:
//! executing and loading the binary again, then shaking hands, is most of
//! a small pool's start (about 3 ms of a 16-worker start here, against a
//! tenth of that for a fork of a program that has barely begun).
//!
//! One process-wide helper, lent to one pool at a time: a pool takes it as
//! it starts and gives it back when it is dropped, so a sweep's pools all
//! start the same way; a pool started while another holds it executes its
//! own, as a pool does when no early helper was started. The helper is
//! never forked from a multithreaded program: the call refuses, by the
//! thread count in /proc.

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use procpool_worker::fork_server::{self, ForkRequest};

use super::error::PoolError;
use super::linux;
use super::process::{Launch, WorkerOutput, WorkerProcess};

/// A fork server's process and the supervisor's two ends of its channels.
#[derive(Debug)]
pub(crate) struct Helper {
    pub process: WorkerProcess,
    pub requests: IpcSender<ForkRequest>,
    pub replies: IpcReceiver<Vec<i32>>,
}

/// The early helper, while no pool holds it, and what its workers inherit.
static EARLY: Mutex<Early> = Mutex::new(Early { idle: None, owner: 0, outputs: [None, None] });

struct Early {
    idle: Option<Helper>,
    /// The process that forked it: a process forked from that one later
    /// has a copy of this, but the helper is not its child.
    owner: u32,
    /// What stdout and stderr were (device, inode) when it was forked: its
    /// workers write there, not where the program may have pointed them since.
    outputs: [Option<(u64, u64)>; 2],
}

impl Early {
    /// The idle helper, if it is this process's and still running (one that
    /// died is reaped and forgotten, another process's only forgotten).
    fn live(&mut self) -> Option<&mut Helper> {
        if self.owner != std::process::id() {
            if let Some(Helper { process, requests, replies }) = self.idle.take() {
                std::mem::forget(process); // its parent's child: never killed from here
                drop((requests, replies));
            }
        }
        if !self.idle.as_mut().is_some_and(|helper| helper.process.running()) {
            self.idle = None; // killed and reaped, if it was ours
        }
        self.idle.as_mut()
    }
}

/// Forks this process into a fork server that every [`ProcessPool`]
/// started later (one at a time) forks its workers from, so that a worker
/// costs a fork of a small process from the pool's very first one, and no
/// pool waits for a helper to be executed.
///
/// Call it early in `main`, after [`worker_entry`](crate::worker_entry) and
/// before any thread is started: it refuses ([`PoolError::Threaded`]) a
/// process with more than one thread, since a fork copies only the calling
/// thread and whatever locks the others held. It returns at once if the
/// helper is running already, and does nothing if `PROCPOOL_FORK_SERVER`
/// is `0`.
///
/// The helper is what an executed one is: single-threaded, stdin
/// /dev/null, the program's signal handlers back to the default, no other
/// descriptor of the program's open; it and its workers die with the
/// thread that called this (`PR_SET_PDEATHSIG`), so call it on the main
/// thread. Its workers see the environment and current directory as they
/// were at this call: a pool given [`env`](crate::ProcessPoolBuilder::env),
/// [`current_dir`](crate::ProcessPoolBuilder::current_dir) or a
/// [`program`](crate::ProcessPoolBuilder::program) executes its own helper,
/// as does one whose workers share stdout or stderr with the program after
/// the program pointed it elsewhere, and any pool of a process forked from
/// this one later (the helper is not its child).
///
/// [`ProcessPool`]: crate::ProcessPool
pub fn start_fork_server() -> Result<(), PoolError> {
    super::role::refuse_in_worker()?;
    let mut early = EARLY.lock().unwrap_or_else(PoisonError::into_inner);
    if early.live().is_some() {
        return Ok(());
    }
    if std::env::var_os(super::builder::FORK_SERVER_ENV).is_some_and(|v| v == "0") {
        return Ok(());
    }
    let threads = linux::thread_count().map_err(|source| PoolError::Spawn {
        program: "a fork server (cannot count this process's threads)".into(),
        source,
    })?;
    if threads != 1 {
        return Err(PoolError::Threaded { threads });
    }
    let spawn_error =
        |source| PoolError::Spawn { program: "a fork server (a fork of this process)".into(), source };
    // Its channels, and room for the pools that follow (which check for theirs).
    super::limits::room_for_descriptors(super::limits::descriptors_needed(0))
        .map_err(|_| spawn_error(std::io::Error::from_raw_os_error(libc::EMFILE)))?;
    // Before the helper's own channels exist, so that those stay open.
    let inherited = linux::open_descriptors().map_err(spawn_error)?;
    let (requests, requests_rx) = ipc::channel::<ForkRequest>().map_err(spawn_error)?;
    let (replies_tx, replies) = ipc::channel::<Vec<i32>>().map_err(spawn_error)?;
    // Whatever waits in stdout's buffer is the parent's to write, not the
    // helper's and its workers' when they flush it at their exit.
    let _ = std::io::stdout().flush();
    let supervisor = std::process::id();
    // SAFETY: this process has one thread (checked above, and no other can
    // appear meanwhile: only this thread could start one), so the child is a
    // sound copy of it; the child never returns from this branch.
    match unsafe { libc::fork() } {
        -1 => Err(spawn_error(std::io::Error::last_os_error())),
        0 => {
            drop((requests, replies));
            let served = fork_server::serve_early(requests_rx, replies_tx, supervisor, &inherited);
            fork_server::exit_forked(crate::fork_server_ended(served, supervisor))
        }
        pid => {
            drop((requests_rx, replies_tx));
            early.idle = Some(Helper { process: WorkerProcess::child(pid as u32), requests, replies });
            early.owner = supervisor;
            early.outputs = [linux::file_identity(1), linux::file_identity(2)];
            Ok(())
        }
    }
}

/// Whether a pool launched so would get the early helper now: idle,
/// alive, and what this pool's workers would be if it executed them.
pub(crate) fn idle_for(launch: &Launch) -> bool {
    let mut early = EARLY.lock().unwrap_or_else(PoisonError::into_inner);
    suits(&early, launch) && early.live().is_some()
}

/// The early helper, for a pool launched so, if it is idle and alive.
pub(crate) fn borrow(launch: &Launch) -> Option<Helper> {
    let mut early = EARLY.lock().unwrap_or_else(PoisonError::into_inner);
    if !suits(&early, launch) {
        return None;
    }
    early.live()?;
    early.idle.take()
}

/// Back from a pool that is done with it, alive and answering.
pub(crate) fn give_back(helper: Helper) {
    let mut early = EARLY.lock().unwrap_or_else(PoisonError::into_inner);
    if early.idle.is_none() {
        early.idle = Some(helper);
    }
}

/// Workers forked by the early helper are copies of the program as it
/// was: right for a launch that asks nothing else, while the stdout and
/// stderr they would share with the program are still the ones it had.
fn suits(early: &Early, launch: &Launch) -> bool {
    let same_output = |fd: i32, output: WorkerOutput| {
        output == WorkerOutput::Null || linux::file_identity(fd) == early.outputs[fd as usize - 1]
    };
    launch.env.is_empty()
        && launch.current_dir.is_none()
        && launch.program == std::path::Path::new(super::builder::OWN_PROGRAM)
        && same_output(1, launch.stdout)
        && same_output(2, launch.stderr)
}
