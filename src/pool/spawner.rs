//! Starting workers: one long-lived thread starts every worker (a worker's
//! PR_SET_PDEATHSIG is tied to the thread that started it, so that thread
//! must live as long as the pool) and shakes hands with each over its own
//! private one-shot server, without ever blocking the dispatcher or waiting
//! forever on a worker that died or hung before connecting.
//!
//! The thread first starts the pool's fork server, and has it fork each
//! worker; without one (turned off, failed to start, or died), a worker is
//! the binary executed again. Either way the worker is this process's child,
//! tied to this thread, and shakes hands the same way.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender};
use procpool_worker::build_id::{build_id, build_id_hex};
use procpool_worker::protocol::{self, Frame, Hello, Setup, PROTOCOL_VERSION};

use super::error::PoolError;
use super::fork_server::{ForkError, ForkServer};
use super::linux;
use super::process::{Launch, WorkerProcess};
use crate::scheduler::WorkerId;

/// How often pending handshakes are checked for deaths and timeouts.
const STARTUP_TICK: Duration = Duration::from_millis(2);

/// A worker that has shaken hands and been set up.
#[derive(Debug)]
pub(crate) struct Started {
    pub id: WorkerId,
    pub process: WorkerProcess,
    pub jobs: IpcSender<Frame>,
    pub results: IpcReceiver<Frame>,
}

/// What became of a start request.
#[derive(Debug)]
pub(crate) enum Startup {
    Ready(Started),
    Failed { id: WorkerId, error: PoolError },
}

enum Message {
    Start(WorkerId),
    Accepted(WorkerId, Result<Hello, String>),
    Stop,
}

/// The spawner thread's handle: ask it for workers; dropping it stops the
/// thread, which kills any worker still shaking hands.
#[derive(Debug)]
pub(crate) struct Spawner {
    requests: mpsc::Sender<Message>,
    thread: Option<thread::JoinHandle<()>>,
}

/// A worker started and not yet shaken hands with.
struct Pending {
    id: WorkerId,
    process: WorkerProcess,
    server: String,
    acceptor: thread::JoinHandle<()>,
    token: Vec<u8>,
    deadline: Instant,
}

impl Spawner {
    /// Starts the thread. `report` receives every outcome, on that thread.
    pub fn start(
        launch: Launch,
        setup: Setup,
        timeout: Duration,
        report: impl Fn(Startup) + Send + 'static,
    ) -> Result<Spawner, PoolError> {
        let (requests, inbox) = mpsc::channel();
        let looped = requests.clone();
        let thread = thread::Builder::new()
            .name("procpool-spawner".into())
            .spawn(move || run(launch, setup, timeout, inbox, looped, report))
            .map_err(PoolError::Thread)?;
        Ok(Spawner { requests, thread: Some(thread) })
    }

    /// Asks for one more worker, named `id`.
    pub fn request(&self, id: WorkerId) {
        let _ = self.requests.send(Message::Start(id));
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        let _ = self.requests.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    launch: Launch,
    setup: Setup,
    timeout: Duration,
    inbox: mpsc::Receiver<Message>,
    looped: mpsc::Sender<Message>,
    report: impl Fn(Startup),
) {
    let mut forks = if launch.fork_server { ForkServer::start(&launch, timeout) } else { None };
    let mut pending: Vec<Pending> = Vec::new();
    loop {
        let message = if pending.is_empty() {
            inbox.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            inbox.recv_timeout(STARTUP_TICK)
        };
        match message {
            Ok(Message::Start(id)) => match begin(&launch, &mut forks, id, timeout, &looped) {
                Ok(started) => pending.push(started),
                Err(error) => report(Startup::Failed { id, error }),
            },
            Ok(Message::Accepted(id, hello)) => {
                let Some(at) = pending.iter().position(|p| p.id == id) else {
                    continue; // given up on already
                };
                let started = pending.swap_remove(at);
                report(finish(started, hello, &setup, &launch.program));
            }
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        // Deaths and timeouts before a handshake.
        let now = Instant::now();
        let mut at = 0;
        while at < pending.len() {
            let p = &mut pending[at];
            let died = p.process.try_reap().is_some();
            if !died && now < p.deadline {
                at += 1;
                continue;
            }
            let mut p = pending.swap_remove(at);
            let error = if died {
                PoolError::DiedAtStartup { pid: p.process.pid, cause: p.process.cause() }
            } else {
                p.process.kill_and_reap();
                PoolError::HandshakeTimeout { pid: p.process.pid, timeout }
            };
            finish_acceptor(&p.server, p.acceptor);
            report(Startup::Failed { id: p.id, error });
        }
    }
    for mut p in pending {
        p.process.kill_and_reap();
        finish_acceptor(&p.server, p.acceptor);
    }
}

/// How long to wait for a handshake thread to finish once its server has
/// been woken, so its directory is removed before we go on (or exit).
const ACCEPTOR_GRACE: Duration = Duration::from_secs(2);

/// Opens a private one-shot server, starts the worker pointed at it (forked
/// by the fork server if there is one), and waits for its connection, all on
/// a thread of its own, which owns the server (and its directory, removed
/// when it ends).
fn begin(
    launch: &Launch,
    forks: &mut Option<ForkServer>,
    id: WorkerId,
    timeout: Duration,
    looped: &mpsc::Sender<Message>,
) -> Result<Pending, PoolError> {
    let (named_tx, named) = mpsc::sync_channel(1);
    let accepted = looped.clone();
    let acceptor = thread::Builder::new()
        .name("procpool-handshake".into())
        .spawn(move || {
            let server = match open_server() {
                Ok((server, name)) => {
                    if named_tx.send(Ok(name)).is_err() {
                        return;
                    }
                    server
                }
                Err(error) => {
                    let _ = named_tx.send(Err(error));
                    return;
                }
            };
            let hello = server.accept().map(|(_, hello)| hello).map_err(|e| e.to_string());
            let _ = accepted.send(Message::Accepted(id, hello));
        })
        .map_err(PoolError::Thread)?;
    let name = match named.recv() {
        Ok(Ok(name)) => name,
        Ok(Err(error)) => {
            let _ = acceptor.join();
            return Err(error);
        }
        Err(_) => {
            let _ = acceptor.join();
            return Err(PoolError::Ipc("the handshake thread ended before opening its server".into()));
        }
    };
    let token = linux::random_token();
    let started = match forks.as_mut().map(|server| server.fork(&name, &token)) {
        Some(Ok(pid)) => Ok(WorkerProcess::child(pid)),
        Some(Err(ForkError::Failed(source))) => Err(source),
        Some(Err(ForkError::Gone)) => {
            // A child it forked before dying could still connect here: start
            // over with a fresh server and secret, by executing the binary.
            *forks = None;
            finish_acceptor(&name, acceptor);
            return begin(launch, forks, id, timeout, looped);
        }
        None => WorkerProcess::spawn(launch, &name, &token),
    };
    let process = match started {
        Ok(process) => process,
        Err(source) => {
            finish_acceptor(&name, acceptor);
            return Err(PoolError::Spawn { program: launch.program.display().to_string(), source });
        }
    };
    Ok(Pending { id, process, server: name, acceptor, token, deadline: Instant::now() + timeout })
}

/// Creates a one-shot server whose directory and socket are private from
/// the start: this (handshake) thread gets a umask of 077 of its own, and
/// the directory is also set to 0700 afterwards, whatever the umask was.
fn open_server() -> Result<(IpcOneShotServer<Hello>, String), PoolError> {
    linux::private_umask_for_this_thread();
    // ipc-channel panics on some errors of its temporary directory; the pool
    // checks TMPDIR first, and this catches what a later change could cause.
    let (server, name) = match std::panic::catch_unwind(IpcOneShotServer::<Hello>::new) {
        Ok(Ok(created)) => created,
        Ok(Err(e)) => return Err(PoolError::Ipc(e.to_string())),
        Err(_) => {
            let dir = tempfile::env::temp_dir();
            let reason = "cannot create a handshake socket in it".to_string();
            return Err(PoolError::TempDir { dir: dir.display().to_string(), reason });
        }
    };
    let socket = PathBuf::from(&name);
    linux::make_private(&socket)
        .map_err(|e| PoolError::Ipc(format!("cannot make {} private: {e}", socket.display())))?;
    Ok((server, name))
}

/// Wakes a handshake thread whose worker never connected and waits (a
/// bounded time) for it to end, so its server's directory is gone.
fn finish_acceptor(server: &str, acceptor: thread::JoinHandle<()>) {
    unblock(server);
    let deadline = Instant::now() + ACCEPTOR_GRACE;
    while !acceptor.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    if acceptor.is_finished() {
        let _ = acceptor.join();
    }
}

/// Checks a worker's hello, and sets it up to run our job type.
fn finish(mut p: Pending, hello: Result<Hello, String>, setup: &Setup, program: &std::path::Path) -> Startup {
    let pid = p.process.pid;
    let id = p.id;
    let fail = |mut process: WorkerProcess, error: PoolError| {
        process.kill_and_reap();
        Startup::Failed { id, error }
    };
    let hello = match hello {
        Ok(hello) => hello,
        Err(reason) => {
            // Dead before a handshake, or alive with a bad one: say which.
            linux::wait_for_exit(pid, Duration::from_millis(200));
            if p.process.try_reap().is_some() {
                let cause = p.process.cause();
                return Startup::Failed { id, error: PoolError::DiedAtStartup { pid, cause } };
            }
            return fail(p.process, PoolError::BadHandshake { pid, reason });
        }
    };
    if hello.token != p.token || hello.pid != pid {
        let reason = "the peer that connected is not the worker this pool started".to_string();
        return fail(p.process, PoolError::BadHandshake { pid, reason });
    }
    if hello.protocol != PROTOCOL_VERSION {
        return fail(
            p.process,
            PoolError::ProtocolMismatch { pid, theirs: hello.protocol, ours: PROTOCOL_VERSION },
        );
    }
    if hello.build_id != build_id() {
        let error = PoolError::BuildMismatch {
            pid,
            program: program.display().to_string(),
            theirs: build_id_hex(&hello.build_id),
            ours: build_id_hex(build_id()),
        };
        return fail(p.process, error);
    }
    let sent = protocol::encode(setup)
        .map_err(PoolError::Encode)
        .and_then(|frame| hello.jobs.send(frame).map_err(|e| PoolError::Ipc(e.to_string())));
    if let Err(error) = sent {
        return fail(p.process, error);
    }
    Startup::Ready(Started { id, process: p.process, jobs: hello.jobs, results: hello.results })
}

/// Wakes an acceptor thread whose worker never connected, by connecting to
/// its server ourselves and hanging up, so no thread is left behind.
fn unblock(server: &str) {
    let _ = IpcSender::<Hello>::connect(server.to_owned());
}
