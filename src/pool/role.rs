//! Whether this process was started as a pool's worker or fork server. Such
//! a process must serve (`worker_entry`); one whose `main` forgot to call it
//! would build a pool of its own, whose workers would do the same: a chain
//! of processes without end. Building a pool there is refused instead.

use procpool_worker::fork_server::FORK_SERVER_FLAG;
use procpool_worker::protocol::WORKER_FLAG;

use super::PoolError;

/// Refuses to go on in a process a pool started as a worker or a fork server.
pub fn refuse_in_worker() -> Result<(), PoolError> {
    let first = std::env::args_os().nth(1);
    match [WORKER_FLAG, FORK_SERVER_FLAG].into_iter().find(|flag| first.as_deref() == Some((*flag).as_ref()))
    {
        Some(flag) => Err(PoolError::NoWorkerEntry { flag }),
        None => Ok(()),
    }
}
