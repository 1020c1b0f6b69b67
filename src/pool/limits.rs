//! What a pool may use of the machine: cores, and open files.

use super::PoolError;

/// Open files the supervisor needs for `workers`: four per worker while
/// shaking hands (listening socket, connection, two received channel ends).
pub fn descriptors_needed(workers: usize) -> u64 {
    64 + 4 * workers as u64
}

/// Raises the soft open-file limit when `workers` would not fit under it,
/// and refuses up front if even the hard limit is too low: running out of
/// descriptors mid-handshake makes ipc-channel panic.
pub(super) fn make_room_for_descriptors(workers: usize) -> Result<(), PoolError> {
    let needed = descriptors_needed(workers);
    room_for_descriptors(needed).map_err(|limit| PoolError::TooFewDescriptors { workers, needed, limit })
}

/// Raises the soft open-file limit to `needed` if it is lower; the hard
/// limit if even that is too low. ipc-channel panics when it finds no
/// descriptor (for a channel, or for the socket it sizes messages with).
pub(super) fn room_for_descriptors(needed: u64) -> Result<(), u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(());
    };
    if soft >= needed {
        return Ok(());
    }
    if hard >= needed && setrlimit(Resource::RLIMIT_NOFILE, needed, hard).is_ok() {
        return Ok(());
    }
    Err(hard)
}

/// Cores this process may run on (affinity and cgroup limits included), as
/// they were the first time it asked: each answer reads the cgroup's files
/// (some ten system calls), and a program's start asked four times.
pub fn available_cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
