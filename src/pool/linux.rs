//! The Linux-only calls the pool makes, in one place: process-exit waiting
//! on a pidfd, random secrets, a private handshake directory named after
//! its supervisor (so that the next pool removes it if the supervisor was
//! killed before it could), and what /proc says of this process's threads
//! and descriptors and of a child's state.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
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

/// The longest path a unix socket can be bound to (`sun_path` less its NUL).
const SOCKET_PATH_MAX: usize = 107;

/// What ipc-channel adds to the temporary directory for a one-shot server:
/// a directory `.tmp` + 6 random characters, and the socket in it.
const SERVER_SUFFIX: &str = "/.tmpXXXXXX/socket";

/// What a handshake directory is renamed to start with, before the
/// supervisor's pid, a dash and ipc-channel's 6 random characters.
const HANDSHAKE_PREFIX: &str = ".procpool-";

/// Renames the directory of a one-shot server's `socket` (ipc-channel's
/// `.tmpXXXXXX`, which says nothing of whose it is) to `.procpool-PID-XXXXXX`
/// with our pid, right after ipc-channel created it, and returns the
/// socket's new path: a bound socket is reached through its inode, so the
/// peer connects to the new name. If the supervisor is killed (SIGKILL)
/// before the handshake ends and removes it, the next pool's start sees
/// that PID is gone and removes it ([`remove_stale_handshake_dirs`]).
/// None (nothing renamed) if the new path would be too long for a socket.
pub(crate) fn name_after_us(socket: &Path) -> Option<PathBuf> {
    let dir = socket.parent()?;
    let random = dir.file_name()?.to_str()?.strip_prefix(".tmp")?;
    let tagged = dir.with_file_name(format!("{HANDSHAKE_PREFIX}{}-{random}", std::process::id()));
    let new_socket = tagged.join(socket.file_name()?);
    if new_socket.as_os_str().len() > SOCKET_PATH_MAX {
        return None;
    }
    let (from, to) =
        (CString::new(dir.as_os_str().as_bytes()).ok()?, CString::new(tagged.as_os_str().as_bytes()).ok()?);
    // SAFETY: two valid NUL-terminated paths; RENAME_NOREPLACE never
    // replaces an existing entry.
    let renamed = unsafe {
        libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::RENAME_NOREPLACE)
    };
    (renamed == 0).then_some(new_socket)
}

/// Removes the handshake directories in `temp_dir` (see [`name_after_us`])
/// of this user's supervisors that are gone: what a supervisor killed
/// mid-start (SIGKILL, the OOM killer) could not remove itself. Returns how
/// many it removed. A directory whose pid lives (ours, or reused by another
/// process) is left alone.
pub(crate) fn remove_stale_handshake_dirs(temp_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(temp_dir) else {
        return 0;
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(HANDSHAKE_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        let path = entry.path();
        let ours = std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_dir() && meta.uid() == me);
        if gone && ours && std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Checks that `dir` can hold one-shot servers' sockets: an existing,
/// writable directory whose path is UTF-8 and short enough for a socket path
/// under it. ipc-channel panics on the first problems and silently cuts a
/// long socket path, binding somewhere else and leaving the socket behind.
pub(crate) fn check_temp_dir(dir: &Path) -> Result<(), String> {
    let Some(text) = dir.to_str() else {
        return Err("its path is not valid UTF-8".into());
    };
    let socket = text.len() + SERVER_SUFFIX.len();
    if socket > SOCKET_PATH_MAX {
        return Err(format!(
            "its path is {} bytes long, so a socket in it would need {socket}, over the {SOCKET_PATH_MAX} \
             a unix socket path can have (use a TMPDIR of at most {} bytes)",
            text.len(),
            SOCKET_PATH_MAX - SERVER_SUFFIX.len()
        ));
    }
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("it does not exist".into()),
        Err(e) => return Err(e.to_string()),
        Ok(meta) if !meta.is_dir() => return Err("it is not a directory".into()),
        Ok(_) => {}
    }
    let path = CString::new(dir.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(format!("it is not writable: {}", std::io::Error::last_os_error()));
    }
    // What the permission bits cannot tell: /proc or /sys pass the check
    // above for root, yet take no directory (a tenth of a millisecond).
    // Named as a handshake directory is: one a kill left is removed later.
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let probe = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = dir.join(format!("{HANDSHAKE_PREFIX}{}-probe{probe}", std::process::id()));
    // Private from the start, as the handshake directories are, whatever the umask.
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&probe)
        .map_err(|e| format!("cannot create a directory in it: {e}"))?;
    let _ = std::fs::remove_dir(&probe);
    Ok(())
}

/// Gives the calling thread a umask of its own (`unshare(CLONE_FS)`), set to
/// 077, so the files it creates are private from the start while no other
/// thread's umask changes. Returns false, changing nothing, if the kernel
/// refuses; call it only on a thread that creates nothing else.
pub(crate) fn private_umask_for_this_thread() -> bool {
    // SAFETY: unshare with CLONE_FS only detaches this thread's cwd, root and umask.
    if unsafe { libc::unshare(libc::CLONE_FS) } != 0 {
        return false;
    }
    // SAFETY: umask cannot fail; it now affects this thread alone.
    unsafe { libc::umask(0o077) };
    true
}

/// How many threads this process has (`Threads:` in /proc/self/status).
pub(crate) fn thread_count() -> std::io::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|count| count.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("no thread count in /proc/self/status"))
}

/// Every descriptor this process has open but stdin, stdout and stderr.
pub(crate) fn open_descriptors() -> std::io::Result<Vec<i32>> {
    let names: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // The listing's own descriptor is among the names, and closed by now.
    // SAFETY: F_GETFD only reads a descriptor's flags.
    Ok(names.into_iter().filter(|&fd| fd > 2 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1).collect())
}

/// What descriptor `fd` is open on (device and inode), if it is open.
pub(crate) fn file_identity(fd: i32) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(format!("/proc/self/fd/{fd}")).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The state letter of process `pid` (`R`, `S`, `T` for stopped, `Z`...),
/// from /proc, if it still exists.
pub(crate) fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses, which may hold spaces or ')'.
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid that was ours a moment ago and is gone now.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn only_the_handshake_directories_of_gone_supervisors_are_removed() {
        let temp = tempfile::tempdir().unwrap();
        let dead = temp.path().join(format!("{HANDSHAKE_PREFIX}{}-AbC123", dead_pid()));
        let live = temp.path().join(format!("{HANDSHAKE_PREFIX}{}-dEf456", std::process::id()));
        let unnamed = temp.path().join(".tmpGhI789");
        let other = temp.path().join(format!("{HANDSHAKE_PREFIX}notapid-x"));
        for dir in [&dead, &live, &unnamed, &other] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("socket"), "").unwrap();
        }
        assert_eq!(remove_stale_handshake_dirs(temp.path()), 1);
        assert!(!dead.exists());
        assert!(live.exists() && unnamed.exists() && other.exists());
    }

    #[test]
    fn a_one_shot_servers_directory_is_renamed_after_us_and_its_socket_follows() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join(".tmpJkL012");
        std::fs::create_dir(&dir).unwrap();
        let socket = dir.join("socket");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let renamed = name_after_us(&socket).unwrap();
        assert_eq!(
            renamed,
            temp.path().join(format!("{HANDSHAKE_PREFIX}{}-JkL012/socket", std::process::id()))
        );
        assert!(!dir.exists());
        std::os::unix::net::UnixStream::connect(&renamed).unwrap(); // the same bound socket
        drop(listener);
    }
}
