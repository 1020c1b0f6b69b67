//! procpool: a crash-proof pool of worker processes for any serde [`Job`],
//! the Rust answer to Python's `ProcessPoolExecutor`.
//!
//! ```no_run
//! use procpool::{Job, ProcessPool};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Square(u64);
//!
//! impl Job for Square {
//!     type Output = u64;
//!     fn run(self) -> u64 { self.0 * self.0 }
//! }
//!
//! fn main() {
//!     procpool::worker_entry(); // in a worker: serves jobs and never returns
//!     procpool::start_fork_server().expect("no thread yet"); // workers forked, not executed
//!     let pool = ProcessPool::<Square>::builder().workers(4).build().expect("pool");
//!     let mut sum = 0;
//!     for outcome in pool.map((0..1000).map(Square)) {
//!         sum += outcome.expect("job");
//!     }
//!     assert_eq!(sum, 332_833_500);
//!     assert_eq!(pool.submit(Square(7)).wait().unwrap(), 49);
//! }
//! ```
//!
//! * [`ProcessPool`] and its [`ProcessPoolBuilder`]: the pool (the README's
//!   library section lists the guarantees), [`Map`] and friends: its
//!   results; [`Outcomes`] and [`Timed`]: a [`Chunk`]'s raw outcomes.
//! * [`scheduler`]: the pool's decisions as a state machine with no I/O,
//!   for driving the same scheduling over another transport.
//!
//! Linux only: workers rely on `PR_SET_PDEATHSIG`, `/proc` and Unix sockets.

mod pool;
pub mod scheduler;

pub use pool::{
    available_cores, descriptors_needed, start_fork_server, Chunk, Death, DeathCause, Detailed, Feeder,
    Finished, JobError, JobHandle, Map, PoolError, PoolEvent, ProcessPool, ProcessPoolBuilder, Unordered,
    WorkerOutput, MAX_WORKERS,
};
pub use procpool_worker::protocol::{CodecError, Failed, Outcomes};
pub use procpool_worker::timing::Timed;
pub use procpool_worker::{Job, Kernel, PrimeCheck, PrimeResult};

/// Turns this process into a worker (or a pool's fork server, which forks
/// workers) if a pool started it as one, and never returns in that case.
/// Call it first thing in `main` of every binary that builds a
/// [`ProcessPool`]: workers are this same binary, started again, and the
/// fork server must start before any thread exists. Then, to have every
/// pool fork its workers from the start, call [`start_fork_server`].
pub fn worker_entry() {
    use procpool_worker::fork_server::{self, FORK_SERVER_FLAG};
    use procpool_worker::protocol::WORKER_FLAG;
    let mut args = std::env::args_os().skip(1);
    let role = args.next();
    let mut text = || args.next().and_then(|arg| arg.into_string().ok());
    let code = if role.as_deref() == Some(std::ffi::OsStr::new(WORKER_FLAG)) {
        match (text(), text().and_then(|pid| pid.parse().ok())) {
            (Some(server), Some(supervisor)) => {
                finish(procpool_worker::serve::serve(&server, supervisor), "worker", supervisor)
            }
            _ => usage(&format!("{WORKER_FLAG} SERVER SUPERVISOR_PID")),
        }
    } else if role.as_deref() == Some(std::ffi::OsStr::new(FORK_SERVER_FLAG)) {
        match text().and_then(|pid| pid.parse().ok()) {
            Some(supervisor) => fork_server_ended(fork_server::run(supervisor), supervisor),
            None => usage(&format!("{FORK_SERVER_FLAG} SUPERVISOR_PID")),
        }
    } else {
        return;
    };
    std::process::exit(code);
}

/// The exit code of a fork server that ended so; in each worker it
/// forked, the worker's whole life, and its end.
fn fork_server_ended(
    forked: Result<procpool_worker::fork_server::Forked, procpool_worker::serve::ServeError>,
    supervisor: u32,
) -> i32 {
    use procpool_worker::fork_server::{exit_forked, Forked};
    match forked {
        Ok(Forked::Worker { hello, token, setup }) => {
            let served = procpool_worker::serve::serve_connected(hello, token, Some(setup));
            exit_forked(finish(served, "worker", supervisor))
        }
        Ok(Forked::Closed) => 0,
        Err(e) => finish(Err(e), "fork server", supervisor),
    }
}

/// The exit code of a worker (or fork server) that ended so. Once its
/// supervisor is gone (this process was re-parented), whatever else broke
/// (a secret never written, a socket gone) is only that: it is said so, not
/// as the error it led to.
fn finish(ended: Result<(), procpool_worker::serve::ServeError>, what: &str, supervisor: u32) -> i32 {
    use procpool_worker::serve::ServeError;
    let orphaned = || u32::try_from(nix::unistd::getppid().as_raw()).ok() != Some(supervisor);
    match ended {
        Ok(()) => 0,
        Err(e) => {
            let e = if orphaned() { ServeError::Orphaned { supervisor } } else { e };
            complain(&format!("procpool {what} {}: {e}", std::process::id()))
        }
    }
}

fn usage(arguments: &str) -> i32 {
    complain(&format!("procpool worker: usage: PROGRAM {arguments} (started by a pool, not by hand)"));
    2
}

/// One line on stderr (lost if stderr is gone); exit code 1.
fn complain(line: &str) -> i32 {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
    1
}
