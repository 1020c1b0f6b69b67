//! procpool: run CPU-bound prime checks on worker processes and show,
//! honestly, how the work scales over cores.
//!
//! * [`pool`]: the [`pool::ProcessPool`] library type (spawn, dispatch, reorder, death, shutdown).
//! * [`executor`]: one interface over sequential, rayon and process execution.
//! * [`input`]: where numbers come from, validated line by line.
//! * [`report`]: the book's lines, JSON Lines, summaries, the comparison.
//! * [`app`]: the command-line program that ties them together.

pub mod app;
pub mod cli;
pub mod executor;
pub mod input;
pub mod pool;
pub mod report;

pub use procpool_worker::{Kernel, PrimeResult};

/// Turns this process into a worker if it was started as one, and never
/// returns in that case. Call it first thing in `main` of any binary that
/// builds a [`pool::ProcessPool`] without setting its `program`.
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
                report::output::stderr_line(&format!("procpool worker {}: {e}", std::process::id()));
                1
            }
        },
        _ => {
            report::output::stderr_line(&format!(
                "procpool worker: usage: procpool {WORKER_FLAG} SERVER SUPERVISOR_PID (started by a pool, not by hand)"
            ));
            2
        }
    };
    std::process::exit(code);
}
