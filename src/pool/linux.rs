//! The Linux-only calls the pool makes, in one place: process-exit waiting
//! on a pidfd, random secrets, and a private handshake directory.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use procpool_worker::protocol::TOKEN_BYTES;

/// Waits up to `timeout` for process `pid` (our child) to exit, without
/// reaping it and without a sleep loop: a pidfd becomes readable when the
/// process ends. Returns false if it is still running.
pub(crate) fn wait_for_exit(pid: u32, timeout: Duration) -> bool {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return true; // gone already (ESRCH), or no pidfds: let the caller reap
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut poll = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return ready != 0;
        }
    }
}

/// A secret for one worker's handshake, from the kernel's random source.
pub(crate) fn random_token() -> Vec<u8> {
    let mut token = vec![0u8; TOKEN_BYTES];
    let mut filled = 0;
    while filled < token.len() {
        // SAFETY: writes at most the remaining bytes of `token`.
        let got = unsafe { libc::getrandom(token[filled..].as_mut_ptr().cast(), token.len() - filled, 0) };
        if got <= 0 {
            // No getrandom: fall back on something unguessable enough from outside.
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            for (byte, seed) in token[filled..].iter_mut().zip(nanos.as_nanos().to_le_bytes().iter().cycle())
            {
                *byte ^= seed ^ (std::process::id() as u8);
            }
            break;
        }
        filled += got as usize;
    }
    token
}

/// Makes the directory of a one-shot server's socket private to this user
/// whatever the umask, so no other user can connect to it.
pub(crate) fn make_private(socket: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = socket.parent() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
