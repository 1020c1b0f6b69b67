//! The fork server: a small single-threaded helper that starts workers by
//! forking itself, so that a worker costs the fork of a small process instead
//! of executing and loading the whole binary again (Python 3.14's default
//! start method, `forkserver`).
//!
//! A pool starts it once, by executing its binary with [`FORK_SERVER_FLAG`]
//! and the supervisor's pid; `worker_entry` runs it before `main` has started
//! any thread. Its stdin is one end of a socket pair whose other end is held
//! by the supervisor's spawner thread. It greets ([`greeting`]), then answers
//! each request ([`request`]: a one-shot server's name and a secret) with the
//! pid of a new worker ([`decode_reply`]).
//!
//! Each worker is forked with `CLONE_PARENT`, so it is the supervisor's own
//! child, as an executed worker is: the supervisor reaps and kills it by pid,
//! sees how it died, and it ties itself with `PR_SET_PDEATHSIG` to the
//! supervisor's spawner thread, not to this helper. The child closes its copy
//! of the control socket, gets the secret on a fresh stdin pipe, and runs the
//! very same [`serve`](crate::serve::serve) as an executed worker: same
//! handshake, same checks (secret, pid, protocol version, build id).
//!
//! The helper dies with the supervisor (`PR_SET_PDEATHSIG`, and EOF on its
//! stdin); if it dies first, workers already started run on, and the pool
//! starts later ones by executing the binary again.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use crate::build_id::build_id;
use crate::protocol::{PROTOCOL_VERSION, TOKEN_BYTES};
use crate::serve::{die_with, ignore_interrupts, ServeError};

/// First argument that turns a binary into a fork server; the second is the
/// supervisor's pid.
pub const FORK_SERVER_FLAG: &str = "--procpool-fork-server";

/// The helper's process name (`comm`, what `ps -o comm` and `/proc/PID/stat`
/// show). Its workers take back the binary's own name.
pub const FORK_SERVER_NAME: &str = "pp-forkserver";

/// The longest one-shot server name a request may carry.
const MAX_SERVER_NAME: usize = 4096;

/// What the helper says first: who it is, its protocol version and build, so
/// the supervisor never asks a binary of another build (or no procpool at
/// all) for workers.
pub fn greeting() -> Vec<u8> {
    let mut bytes = b"procpool fork server\0".to_vec();
    bytes.extend(PROTOCOL_VERSION.to_le_bytes());
    bytes.extend((build_id().len() as u32).to_le_bytes());
    bytes.extend(build_id());
    bytes
}

/// A request for one worker: the one-shot server it is to connect to, and
/// the secret it is to return there.
pub fn request(server: &str, token: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(2 + server.len() + token.len());
    bytes.extend((server.len() as u16).to_le_bytes());
    bytes.extend(server.as_bytes());
    bytes.extend(token);
    bytes
}

/// The reply to a request: the worker's pid, or the errno of a failed fork.
pub type ForkReply = [u8; 4];

/// The pid of the forked worker, or why no worker could be forked.
pub fn decode_reply(reply: ForkReply) -> io::Result<u32> {
    let value = i32::from_le_bytes(reply);
    match u32::try_from(value) {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(io::Error::from_raw_os_error(value.saturating_neg())),
    }
}

/// How [`run`] ended.
#[derive(Debug)]
pub enum Forked {
    /// In a forked child: go on as a worker of this one-shot server.
    Worker { server: String },
    /// In the helper: the supervisor hung up.
    Closed,
}

/// The helper's loop: greets the supervisor, then forks a worker per request
/// until its stdin closes. Returns in the helper ([`Forked::Closed`]) and in
/// each forked child ([`Forked::Worker`]).
pub fn run(supervisor: u32) -> Result<Forked, ServeError> {
    die_with(supervisor)?;
    ignore_interrupts(); // inherited by every worker, as they would set it themselves
    let mut control = take_stdin().map_err(ServeError::Connect)?;
    let own_name = nix::sys::prctl::get_name().ok();
    if let Ok(name) = CString::new(FORK_SERVER_NAME) {
        let _ = nix::sys::prctl::set_name(&name);
    }
    control.write_all(&greeting()).map_err(ServeError::Connect)?;
    loop {
        let Some((server, token)) = read_request(&mut control).map_err(ServeError::Connect)? else {
            return Ok(Forked::Closed);
        };
        match fork_child() {
            Ok(0) => {
                drop(control); // the helper's death must reach the supervisor as EOF
                if let Some(name) = &own_name {
                    let _ = nix::sys::prctl::set_name(name);
                }
                give_token(&token).map_err(ServeError::Token)?;
                return Ok(Forked::Worker { server });
            }
            Ok(pid) => control.write_all(&(pid as i32).to_le_bytes()),
            Err(e) => control.write_all(&(-e.raw_os_error().unwrap_or(libc::EIO)).to_le_bytes()),
        }
        .map_err(ServeError::Connect)?;
    }
}

/// Moves the control socket off stdin to a descriptor closed on exec, and
/// puts /dev/null on stdin.
fn take_stdin() -> io::Result<UnixStream> {
    // SAFETY: duplicates descriptor 0, which we own, into a fresh one.
    let fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let control = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let null = std::fs::File::open("/dev/null")?;
    nix::unistd::dup2_stdin(null)?;
    Ok(control)
}

/// The next request, or None at EOF.
fn read_request(control: &mut UnixStream) -> io::Result<Option<(String, Vec<u8>)>> {
    let mut length = [0u8; 2];
    match control.read_exact(&mut length) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let length = usize::from(u16::from_le_bytes(length));
    if length > MAX_SERVER_NAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "a server name over 4096 bytes"));
    }
    let mut server = vec![0; length];
    control.read_exact(&mut server)?;
    let server =
        String::from_utf8(server).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let mut token = vec![0; TOKEN_BYTES];
    control.read_exact(&mut token)?;
    Ok(Some((server, token)))
}

/// Forks this (single-threaded) process with `CLONE_PARENT`: 0 in the child,
/// the child's pid in the helper.
///
/// A raw `clone`, since libc's `fork` cannot take `CLONE_PARENT`. The child
/// skips libc's fork handlers, which matters only for locks other threads
/// hold, and this process has no other thread. libc's cached thread id of
/// the child's main thread stays the helper's; glibc signals itself by the
/// kernel's `gettid` (so `abort` works), and uses the cached id only to tell
/// its own threads apart.
fn fork_child() -> io::Result<u32> {
    let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_long;
    // SAFETY: clone without CLONE_VM and with no new stack behaves as fork:
    // the child gets a copy of this single-threaded process and returns here.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid as u32)
}

/// Puts `token` on a fresh pipe as this process's stdin, where
/// [`serve`](crate::serve::serve) reads it, as it does in an executed worker.
fn give_token(token: &[u8]) -> io::Result<()> {
    let (reader, mut writer) = io::pipe()?;
    writer.write_all(token)?; // 16 bytes fit any pipe buffer
    drop(writer);
    nix::unistd::dup2_stdin(reader)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_a_pid_or_an_errno() {
        assert_eq!(decode_reply(4242i32.to_le_bytes()).unwrap(), 4242);
        let error = decode_reply((-libc::EAGAIN).to_le_bytes()).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EAGAIN));
        assert!(decode_reply(0i32.to_le_bytes()).is_err());
    }

    #[test]
    fn a_request_reads_back() {
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        let token = [7u8; TOKEN_BYTES];
        ours.write_all(&request("/tmp/.tmpabc/socket", &token)).unwrap();
        drop(ours);
        let (server, got) = read_request(&mut theirs).unwrap().unwrap();
        assert_eq!((server.as_str(), got.as_slice()), ("/tmp/.tmpabc/socket", &token[..]));
        assert!(read_request(&mut theirs).unwrap().is_none(), "EOF after the request");
    }
}
