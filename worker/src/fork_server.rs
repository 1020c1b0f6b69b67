//! The fork server: a small single-threaded helper that starts workers by
//! forking itself, so that a worker costs the fork of a small process instead
//! of executing and loading the whole binary again (Python 3.14's default
//! start method, `forkserver`).
//!
//! It comes about in one of two ways. Early: the program forks itself into
//! it while it still has one thread (the supervisor's `start_fork_server`),
//! with its two channels made before the fork, and the child makes itself
//! what an executed helper is ([`serve_early`]). Or executed: a pool starts
//! it as it would start a worker (the binary executed again, a private
//! one-shot server, a secret on stdin) but with [`FORK_SERVER_FLAG`];
//! `worker_entry` runs it before `main` has started any thread. The
//! one-shot server's name comes on stdin after the secret, so the
//! supervisor creates that server while the helper is being executed
//! instead of before. It shakes hands like a worker ([`ForkServerHello`]:
//! protocol version, pid, build id, secret).
//!
//! Either way it then answers each [`ForkRequest`], one secret per worker,
//! with the pid of each new worker (or minus the errno of a failed fork),
//! all in one reply. A forked worker needs no socket in TMPDIR: it sends its
//! usual [`Hello`] on the channel that came with the request (the asking
//! pool's, an anonymous socket pair the child inherits and closes once it
//! has said hello), with the same checks on the other side (secret, pid,
//! protocol version, build id). Each worker is forked with `CLONE_PARENT`,
//! so it is the supervisor's own child, as an executed worker is: the
//! supervisor reaps and kills it by pid, sees how it died, and the worker
//! ties itself with `PR_SET_PDEATHSIG` to the supervisor, not to this helper.
//!
//! The helper dies with the supervisor (`PR_SET_PDEATHSIG`, and its request
//! channel closing); if it dies first, workers already started run on, and
//! the pool starts later ones by executing the binary again.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::RawFd;

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};

use crate::build_id::build_id;
use crate::protocol::{Hello, Setup, PROTOCOL_VERSION, TOKEN_BYTES};
use crate::serve::{die_with, ignore_interrupts, ServeError};

/// First argument that turns a binary into a fork server; the second is the
/// supervisor's pid. Its stdin carries the secret, then the name of the
/// supervisor's one-shot server.
pub const FORK_SERVER_FLAG: &str = "--procpool-fork-server";

/// The helper's process name (`comm`, what `ps -o comm` and `/proc/PID/stat`
/// show). Its workers take back the binary's own name.
pub const FORK_SERVER_NAME: &str = "pp-forkserver";

/// The fork server's handshake, checked like a worker's [`Hello`].
#[derive(Debug, Serialize, Deserialize)]
pub struct ForkServerHello {
    pub protocol: u32,
    pub pid: u32,
    pub build_id: Vec<u8>,
    pub token: Vec<u8>,
    /// Where the supervisor asks for workers.
    pub requests: IpcSender<ForkRequest>,
    /// Where it hears back, once per request: each worker's pid, or minus
    /// the errno of a failed fork, in the request's order.
    pub replies: IpcReceiver<Vec<i32>>,
}

/// One worker per secret, please, forked back to back: each is to send its
/// [`Hello`] with its own secret. One request for many workers saves the
/// helper a receive and a decode per worker.
#[derive(Debug, Serialize, Deserialize)]
pub struct ForkRequest {
    pub tokens: Vec<Vec<u8>>,
    /// Where each worker forked for this request sends its [`Hello`]: the
    /// asking pool's own channel, so that a helper can serve one pool after
    /// another (see [`serve_early`]) and a pool's hellos end with it.
    pub hellos: IpcSender<Hello>,
    /// Whether the workers' stdout and stderr are /dev/null rather than the
    /// helper's own (an early helper has the program's).
    pub stdout_null: bool,
    pub stderr_null: bool,
    /// What the workers are to run: they have it from the start, so the
    /// supervisor sends them none after their hello (a message and a wake-up
    /// each fewer). They run nothing before it accepts them, as no job comes
    /// until then.
    pub setup: Setup,
}

/// How [`run`] ended.
#[derive(Debug)]
pub enum Forked {
    /// In a forked child, tied to the supervisor already: go on with
    /// [`serve_connected`](crate::serve::serve_connected).
    Worker { hello: IpcSender<Hello>, token: Vec<u8>, setup: Setup },
    /// In the helper: the supervisor hung up.
    Closed,
}

/// The helper: reads its secret and the supervisor's one-shot server from
/// stdin, shakes hands there, then forks a worker per secret requested
/// until the supervisor hangs up. Returns in the helper ([`Forked::Closed`])
/// and in each forked child ([`Forked::Worker`]).
pub fn run(supervisor: u32) -> Result<Forked, ServeError> {
    die_with(supervisor)?;
    // Named first, so that the helper looks like a worker for as short a time as can be.
    let own_name = take_name();
    ignore_interrupts(); // inherited by every worker, as they would set it themselves
    let (token, server_name) = read_start()?;
    let hello_tx: IpcSender<ForkServerHello> =
        IpcSender::connect(server_name).map_err(ServeError::Connect)?;
    let (requests_tx, requests) = ipc::channel::<ForkRequest>().map_err(ServeError::Connect)?;
    let (replies, replies_rx) = ipc::channel::<Vec<i32>>().map_err(ServeError::Connect)?;
    let hello = ForkServerHello {
        protocol: PROTOCOL_VERSION,
        pid: std::process::id(),
        build_id: build_id().to_vec(),
        token,
        requests: requests_tx,
        replies: replies_rx,
    };
    hello_tx.send(hello).map_err(|e| ServeError::Ipc(e.to_string()))?;
    drop(hello_tx);
    warm_up();
    serve_requests(requests, replies, supervisor, own_name.as_ref())
}

/// The helper forked early, in the child of that fork (see the supervisor's
/// `start_fork_server`): the program was single-threaded, so this child is
/// a sound copy of it, but one with the program's signal handlers and open
/// files. It makes itself what an executed helper is (handlers back to the
/// default, SIGINT ignored, stdin /dev/null, every descriptor in `inherited`
/// closed) and serves `requests` as [`run`] does.
pub fn serve_early(
    requests: IpcReceiver<ForkRequest>,
    replies: IpcSender<Vec<i32>>,
    supervisor: u32,
    inherited: &[RawFd],
) -> Result<Forked, ServeError> {
    match die_with(supervisor) {
        // Done before this copy of it ran (a usage error, say): it asked
        // for nothing, so there is nothing to say.
        Err(ServeError::Orphaned { .. }) => return Ok(Forked::Closed),
        other => other?,
    }
    let own_name = take_name();
    default_signal_handlers();
    ignore_interrupts();
    null_stdin()?;
    for &fd in inherited {
        // SAFETY: closing a descriptor this copy of the program inherited
        // and never uses; nothing here holds it.
        unsafe { libc::close(fd) };
    }
    warm_up();
    serve_requests(requests, replies, supervisor, own_name.as_ref())
}

/// Works out once, before the first fork, what every worker would
/// otherwise work out (and fault in) on its own, as Python's forkserver
/// preloads modules: the build id its hello carries (a walk of the
/// program's headers) and the clock its jobs are timed by (whose first read
/// maps the kernel's time page, a mapping each fork copies).
fn warm_up() {
    let _ = build_id();
    let _ = crate::timing::monotonic_ns();
    // ipc-channel keeps the channels a message carries in thread-locals,
    // registered (a destructor each) the first time a channel is sent; a
    // worker's hello carries two.
    if let (Ok((carrier, carried)), Ok((sender, _receiver))) =
        (ipc::channel::<IpcSender<()>>(), ipc::channel::<()>())
    {
        if carrier.send(sender).is_ok() {
            let _ = carried.recv();
        }
    }
}

/// Names this process the helper; its own name, for the workers to take back.
fn take_name() -> Option<CString> {
    let own_name = nix::sys::prctl::get_name().ok();
    if let Ok(name) = CString::new(FORK_SERVER_NAME) {
        let _ = nix::sys::prctl::set_name(&name);
    }
    own_name
}

/// Forks a worker per secret of each request until the supervisor hangs up.
fn serve_requests(
    requests: IpcReceiver<ForkRequest>,
    replies: IpcSender<Vec<i32>>,
    supervisor: u32,
    own_name: Option<&CString>,
) -> Result<Forked, ServeError> {
    loop {
        // Its only peer is the supervisor: a channel that closed or broke is
        // a supervisor that is done or gone, and nothing to report (it reads
        // its own end's failure; once the supervisor exits, the channel
        // breaks here before PR_SET_PDEATHSIG comes).
        let Ok(request) = requests.recv() else { return Ok(Forked::Closed) };
        let ForkRequest { tokens, hellos, stdout_null, stderr_null, setup } = request;
        // Every fork first, then one reply: between two forks the helper
        // writes as little as it can, since each page it writes after a
        // fork costs it a copy-on-write fault. (The supervisor reads no
        // worker's hello before it has this reply, so none is early.)
        let mut pids = Vec::with_capacity(tokens.len());
        for token in tokens {
            pids.push(match fork_child() {
                Ok(0) => {
                    // The helper's death must reach the supervisor as a closed channel.
                    drop((requests, replies));
                    if let Some(name) = own_name {
                        let _ = nix::sys::prctl::set_name(name);
                    }
                    match die_with(supervisor) {
                        // Killed before this worker ran: it was started for
                        // nobody, and has nothing to say.
                        Err(ServeError::Orphaned { .. }) => exit_forked(0),
                        other => other?,
                    }
                    null_output(stdout_null, stderr_null)?;
                    return Ok(Forked::Worker { hello: hellos, token, setup });
                }
                Ok(pid) => pid as i32,
                Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
            });
        }
        drop(hellos); // so that the pool's hello channel ends with its workers
        if replies.send(pids).is_err() {
            return Ok(Forked::Closed);
        }
    }
}

/// Points stdout and/or stderr at /dev/null.
fn null_output(stdout: bool, stderr: bool) -> Result<(), ServeError> {
    if !stdout && !stderr {
        return Ok(());
    }
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null").map_err(ServeError::Stdio)?;
    if stdout {
        nix::unistd::dup2_stdout(&null).map_err(|e| ServeError::Stdio(e.into()))?;
    }
    if stderr {
        nix::unistd::dup2_stderr(&null).map_err(|e| ServeError::Stdio(e.into()))?;
    }
    Ok(())
}

/// /dev/null takes stdin's place: jobs must not read the supervisor's
/// input, and workers inherit it.
fn null_stdin() -> Result<(), ServeError> {
    let null = std::fs::File::open("/dev/null").map_err(ServeError::Stdio)?;
    nix::unistd::dup2_stdin(null).map_err(|e| ServeError::Stdio(e.into()))
}

/// Every signal the program had a handler for back to the default, as an
/// exec would do (ignored ones stay ignored, as across an exec): a worker
/// must die of SIGTERM, not run the supervisor's handler.
fn default_signal_handlers() {
    for signal in 1..32 {
        // the standard signals; glibc keeps 32 and 33 for itself
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction with no new action only reads the current one
        // into `old`; the default action set after it runs no code of ours.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
    }
}

/// The secret and the one-shot server's name, all the supervisor writes to
/// our stdin before closing it; then /dev/null takes stdin's place (jobs
/// must not read the supervisor's pipe, and workers inherit it).
fn read_start() -> Result<(Vec<u8>, String), ServeError> {
    let mut start = Vec::new();
    io::stdin().lock().read_to_end(&mut start).map_err(ServeError::Token)?;
    null_stdin()?;
    let short = || ServeError::Token(io::Error::from(io::ErrorKind::UnexpectedEof));
    if start.len() <= TOKEN_BYTES {
        return Err(short());
    }
    let name = start.split_off(TOKEN_BYTES);
    let name = String::from_utf8(name).map_err(|_| ServeError::Token(io::ErrorKind::InvalidData.into()))?;
    Ok((start, name))
}

/// Ends a forked worker: its output flushed, then `_exit`, without the exit
/// handlers and library destructors of the program it is a copy of (which
/// cost a forked worker some twenty page faults of its own, a third of
/// what it touches), as Python's multiprocessing ends its forked children
/// with `os._exit`.
pub fn exit_forked(code: i32) -> ! {
    let _ = io::stdout().flush(); // (std's stderr is unbuffered: nothing to flush)
                                  // SAFETY: _exit ends the process at once; nothing runs after it.
    unsafe { libc::_exit(code) }
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

/// The pid in a reply, or why no worker could be forked.
pub fn decode_reply(reply: i32) -> io::Result<u32> {
    match u32::try_from(reply) {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(io::Error::from_raw_os_error(reply.saturating_neg())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_a_pid_or_an_errno() {
        assert_eq!(decode_reply(4242).unwrap(), 4242);
        assert_eq!(decode_reply(-libc::EAGAIN).unwrap_err().raw_os_error(), Some(libc::EAGAIN));
        assert!(decode_reply(0).is_err());
    }
}
