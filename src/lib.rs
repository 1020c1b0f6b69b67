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
//!     let pool = ProcessPool::<Square>::builder().workers(4).build().expect("pool");
//!     for outcome in pool.map((0..1000).map(Square)) {
//!         let square: u64 = outcome.expect("job");
//!     }
//!     assert_eq!(pool.submit(Square(7)).wait().unwrap(), 49);
//! }
//! ```
//!
//! * [`ProcessPool`] and its [`ProcessPoolBuilder`]: the pool (see `pool` for
//!   the guarantees), [`Map`] and friends: its results.
//! * [`scheduler`]: the pool's decisions as a state machine with no I/O,
//!   for driving the same scheduling over another transport.
//!
//! Linux only: workers rely on `PR_SET_PDEATHSIG`, `/proc` and Unix sockets.

mod pool;
pub mod scheduler;

pub use pool::{
    available_cores, descriptors_needed, Chunk, Death, DeathCause, Detailed, Feeder, Finished, JobError,
    JobHandle, Map, PoolError, PoolEvent, ProcessPool, ProcessPoolBuilder, Unordered, WorkerOutput,
    MAX_WORKERS,
};
pub use procpool_worker::{Job, Kernel, PrimeCheck, PrimeResult};

/// Turns this process into a worker if a pool started it as one, and never
/// returns in that case. Call it first thing in `main` of every binary that
/// builds a [`ProcessPool`]: workers are this same binary, started again.
pub fn worker_entry() {
    use procpool_worker::protocol::WORKER_FLAG;
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(WORKER_FLAG)) {
        return;
    }
    let server = args.next().and_then(|name| name.into_string().ok());
    let supervisor = args.next().and_then(|pid| pid.into_string().ok()).and_then(|pid| pid.parse().ok());
    let code = match (server, supervisor) {
        (Some(server), Some(supervisor)) => match procpool_worker::serve::serve(&server, supervisor) {
            Ok(()) => 0,
            Err(e) => {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "procpool worker {}: {e}", std::process::id());
                1
            }
        },
        _ => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "procpool worker: usage: PROGRAM {WORKER_FLAG} SERVER SUPERVISOR_PID (started by a pool, not by hand)"
            );
            2
        }
    };
    std::process::exit(code);
}
