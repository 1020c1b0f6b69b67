//! Starting workers: one long-lived thread starts every worker (a worker's
//! PR_SET_PDEATHSIG is tied to the thread that started it, so that thread
//! must live as long as the pool) and shakes hands with each over its own
//! private one-shot server, without ever blocking the dispatcher or waiting
//! forever on a worker that died or hung before connecting.
//!
//! The thread takes the early fork server or starts the pool's own (first
//! thing, with the pool's first workers forked as soon as it is up, or once
//! the first workers are executed: see [`fork_first`]) and has it fork each
//! worker; without one (turned off, failed to start, or died), a worker is
//! the binary executed again. Either way the worker is this process's child, tied to this
//! thread, and shakes hands the same way. Once per pool it also removes
//! what supervisors killed mid-start left in TMPDIR.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{IpcReceiver, IpcSender};
use procpool_worker::build_id::{build_id, build_id_hex};
use procpool_worker::protocol::{self, Frame, Hello, Setup, PROTOCOL_VERSION, WORKER_FLAG};

use super::error::PoolError;
use super::fork_server::{fork_first, ForkError, ForkServer};
use super::handshake::{self, Acceptor};
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
    /// A forked worker's hello, to be matched to its worker by pid.
    Forked(Hello),
    Stop,
}

/// The spawner thread's handle: ask it for workers; dropping it stops the
/// thread, which kills any worker still shaking hands.
#[derive(Debug)]
pub(crate) struct Spawner {
    requests: mpsc::Sender<Message>,
    thread: Option<thread::JoinHandle<()>>,
    /// Raised as the pool stops, for a wait on a fork server to give up.
    stopping: Arc<AtomicBool>,
}

/// A worker started and not yet shaken hands with.
struct Pending {
    /// None for a worker forked ahead, before the pool asked for it (see
    /// [`ForkServer::start`]): the next start asked for takes it.
    id: Option<WorkerId>,
    process: WorkerProcess,
    /// The thread waiting for an executed worker's hello (a forked one's
    /// comes through the fork server's).
    acceptor: Option<Acceptor>,
    token: Vec<u8>,
    deadline: Instant,
    /// A forked-ahead worker's hello, kept until a start takes it.
    hello: Option<Hello>,
}

impl Spawner {
    /// Starts the thread. `report` receives every outcome, on that thread.
    /// `first`: how many workers the pool starts with.
    pub fn start(
        launch: Launch,
        setup: Setup,
        first: usize,
        timeout: Duration,
        report: impl Fn(Startup) + Send + 'static,
    ) -> Result<Spawner, PoolError> {
        let (requests, inbox) = mpsc::channel();
        let looped = requests.clone();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stopping);
        let thread = thread::Builder::new()
            .name("procpool-spawner".into())
            .spawn(move || run(launch, setup, first, timeout, &stop, inbox, looped, report))
            .map_err(PoolError::Thread)?;
        Ok(Spawner { requests, thread: Some(thread), stopping })
    }

    /// Asks for one more worker, named `id`.
    pub fn request(&self, id: WorkerId) {
        let _ = self.requests.send(Message::Start(id));
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _ = self.requests.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[allow(clippy::too_many_arguments)] // the thread's whole world, handed over once
fn run(
    launch: Launch,
    setup: Setup,
    first: usize,
    timeout: Duration,
    stopping: &Arc<AtomicBool>,
    inbox: mpsc::Receiver<Message>,
    looped: mpsc::Sender<Message>,
    report: impl Fn(Startup),
) {
    let forked = looped.clone();
    let mut deliver = launch.fork_server.then_some(move |hello| {
        let _ = forked.send(Message::Forked(hello));
    });
    let forked_first = launch.fork_server && fork_first(first, &launch);
    // Workers still to be executed before the fork server is started.
    let mut first_executed = if launch.fork_server && !forked_first { first } else { 0 };
    let mut forks = None;
    let mut pending: Vec<Pending> = Vec::new();
    if forked_first {
        if let Some(deliver) = deliver.take() {
            (forks, pending) = fork_ahead(&launch, first, timeout, stopping, &setup, deliver);
        }
    }
    let mut next_check = Instant::now();
    let mut deferred = None;
    let mut swept = false;
    loop {
        let message = match deferred.take() {
            Some(message) => Ok(message),
            None if pending.is_empty() => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
            None => inbox.recv_timeout(STARTUP_TICK),
        };
        let idle = matches!(message, Err(RecvTimeoutError::Timeout));
        match message {
            Ok(Message::Start(id)) => {
                // Every start queued now, in one go: the fork server forks
                // them back to back instead of waiting on us between each.
                let mut ids = vec![id];
                while let Ok(message) = inbox.try_recv() {
                    match message {
                        Message::Start(id) => ids.push(id),
                        other => {
                            deferred = Some(other);
                            break;
                        }
                    }
                }
                let ids = take_forked_ahead(&mut pending, ids, |id, started, hello| {
                    report(finish(id, started, Ok(hello), &setup, &launch.program));
                });
                let executed = ids.len().min(first_executed);
                first_executed -= executed;
                if executed < ids.len() {
                    if let Some(deliver) = deliver.take() {
                        let started = ForkServer::start(&launch, timeout, stopping, &setup, &[], deliver); // once, if at all
                        forks = started.map(|(server, _)| server);
                    }
                }
                let tokens: Vec<Vec<u8>> = ids.iter().map(|_| linux::random_token()).collect();
                let mut forked =
                    forks.as_mut().map(|server| server.fork_all(&tokens[executed..]).into_iter());
                for (at, (id, token)) in ids.into_iter().zip(tokens).enumerate() {
                    let fork = if at < executed { None } else { forked.as_mut().and_then(Iterator::next) };
                    if stopping.load(Ordering::Relaxed) {
                        // The pool is being dropped (a stop signal during a
                        // start of hundreds): no more starts, each of which
                        // could be an exec of a millisecond, for it to wait
                        // on. One forked already is our child: killed and
                        // reaped now, not left a zombie.
                        if let Some(Ok(pid)) = fork {
                            drop(WorkerProcess::child(pid));
                        }
                        continue;
                    }
                    match begin(&launch, fork, id, token, timeout, &looped) {
                        Ok(started) => pending.push(started),
                        Err(error) => report(Startup::Failed { id, error }),
                    }
                }
            }
            Ok(Message::Accepted(id, hello)) => {
                let Some(at) = pending.iter().position(|p| p.id == Some(id)) else {
                    continue; // given up on already
                };
                let started = pending.swap_remove(at);
                report(finish(id, started, hello, &setup, &launch.program));
            }
            Ok(Message::Forked(hello)) => {
                let Some(at) = pending.iter().position(|p| p.process.pid == hello.pid) else {
                    // Given up on already (killed and reaped: this finds no
                    // child), or forked by a server that did not answer in
                    // time, so never ours to wait for: killed and reaped here,
                    // not left a zombie. (Never pid 0 or a negative one: to
                    // kill and waitpid those name whole process groups.)
                    if (1..=i32::MAX as u32).contains(&hello.pid) {
                        drop(WorkerProcess::child(hello.pid));
                    }
                    continue;
                };
                let Some(id) = pending[at].id else {
                    pending[at].hello = Some(hello); // until a start takes it
                    continue;
                };
                let started = pending.swap_remove(at);
                report(finish(id, started, Ok(hello), &setup, &launch.program));
            }
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if !swept && (idle || pending.is_empty()) {
            // Once per pool, when no hello is waiting (a readdir of TMPDIR
            // is a tenth of a millisecond): what supervisors killed mid-start
            // left there (see `linux::name_after_us`).
            swept = true;
            linux::remove_stale_handshake_dirs(&tempfile::env::temp_dir());
        }
        // Deaths and timeouts before a handshake, once a tick (not after
        // every message: a start of many workers would cost n² waitpids).
        let now = Instant::now();
        if now < next_check {
            continue;
        }
        next_check = now + STARTUP_TICK;
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
            if let Some(acceptor) = p.acceptor {
                acceptor.finish();
            }
            // One forked ahead that no start took yet is no one's failure:
            // the start that would have taken it forks another.
            if let Some(id) = p.id {
                report(Startup::Failed { id, error });
            }
        }
    }
    for mut p in pending {
        p.process.kill_and_reap();
        if let Some(acceptor) = p.acceptor {
            acceptor.finish();
        }
    }
    drop(forks); // after every worker still shaking hands is gone
}

/// Starts the fork server now, not when the pool's first start is asked
/// for, and has it fork the pool's `first` workers as soon as it has said
/// hello: the pool sets itself up meanwhile, and the server's exec is most
/// of a start's wait. The workers it forked wait, without an id, for the
/// starts asked for later ([`take_forked_ahead`]); one it failed to fork is
/// forked again, or executed, when asked for.
fn fork_ahead(
    launch: &Launch,
    first: usize,
    timeout: Duration,
    stopping: &Arc<AtomicBool>,
    setup: &Setup,
    deliver: impl Fn(Hello) + Send + 'static,
) -> (Option<ForkServer>, Vec<Pending>) {
    let tokens: Vec<Vec<u8>> = (0..first).map(|_| linux::random_token()).collect();
    let Some((server, forked)) = ForkServer::start(launch, timeout, stopping, setup, &tokens, deliver) else {
        return (None, Vec::new());
    };
    let deadline = Instant::now() + timeout;
    let pending = tokens
        .into_iter()
        .zip(forked)
        .filter_map(|(token, pid)| {
            let process = WorkerProcess::child(pid.ok()?);
            Some(Pending { id: None, process, acceptor: None, token, deadline, hello: None })
        })
        .collect();
    (Some(server), pending)
}

/// Gives the workers forked ahead that no start has taken yet the first of
/// `ids`, hands those whose hello came already to `done`, and returns the
/// ids left for workers still to be started.
fn take_forked_ahead(
    pending: &mut Vec<Pending>,
    ids: Vec<WorkerId>,
    mut done: impl FnMut(WorkerId, Pending, Hello),
) -> Vec<WorkerId> {
    let mut ids = ids.into_iter();
    for p in pending.iter_mut().filter(|p| p.id.is_none()) {
        let Some(id) = ids.next() else { break };
        p.id = Some(id);
    }
    let mut at = 0;
    while at < pending.len() {
        let (Some(id), Some(_)) = (pending[at].id, &pending[at].hello) else {
            at += 1;
            continue;
        };
        let mut started = pending.swap_remove(at);
        if let Some(hello) = started.hello.take() {
            done(id, started, hello);
        }
    }
    ids.collect()
}

/// Starts a worker with secret `token`: taken as `forked` by the fork
/// server (its hello comes through the fork server's channel), or, without
/// a fork server or if it is gone, executed, pointed at a private one-shot
/// server with a thread waiting there for its hello.
fn begin(
    launch: &Launch,
    forked: Option<Result<u32, ForkError>>,
    id: WorkerId,
    token: Vec<u8>,
    timeout: Duration,
    looped: &mpsc::Sender<Message>,
) -> Result<Pending, PoolError> {
    let spawn_error = |source| PoolError::Spawn { program: launch.program.display().to_string(), source };
    let deadline = Instant::now() + timeout;
    match forked {
        Some(Ok(pid)) => {
            let process = WorkerProcess::child(pid);
            return Ok(Pending { id: Some(id), process, acceptor: None, token, deadline, hello: None });
        }
        Some(Err(ForkError::Failed(source))) => return Err(spawn_error(source)),
        Some(Err(ForkError::Gone)) | None => {}
    }
    let accepted = looped.clone();
    let (acceptor, server) = handshake::accept_one(move |hello| {
        let _ = accepted.send(Message::Accepted(id, hello));
    })?;
    match WorkerProcess::spawn(launch, WORKER_FLAG, &server, &token) {
        Ok(process) => {
            Ok(Pending { id: Some(id), process, acceptor: Some(acceptor), token, deadline, hello: None })
        }
        Err(source) => {
            acceptor.finish();
            Err(spawn_error(source))
        }
    }
}

/// Checks a worker's hello, and sets up an executed worker to run our job
/// type (a forked one had its set-up in its fork request); for an executed
/// worker, then waits for its handshake thread, so that the directory of
/// its one-shot server is gone before anyone hears of it (the thread
/// removes it after delivering the hello, not before, so that a start
/// waits on it only here).
fn finish(
    id: WorkerId,
    mut p: Pending,
    hello: Result<Hello, String>,
    setup: &Setup,
    program: &std::path::Path,
) -> Startup {
    let acceptor = p.acceptor.take();
    let setup = acceptor.is_some().then_some(setup);
    let outcome = set_up(id, p, hello, setup, program);
    if let Some(acceptor) = acceptor {
        acceptor.finish();
    }
    outcome
}

/// [`finish`] less the wait; `setup` is sent if given.
fn set_up(
    id: WorkerId,
    mut p: Pending,
    hello: Result<Hello, String>,
    setup: Option<&Setup>,
    program: &std::path::Path,
) -> Startup {
    let pid = p.process.pid;
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
    if let Some(setup) = setup {
        let sent = protocol::encode(setup)
            .map_err(PoolError::Encode)
            .and_then(|frame| hello.jobs.send(frame).map_err(|e| PoolError::Ipc(e.to_string())));
        if let Err(error) = sent {
            return fail(p.process, error);
        }
    }
    Startup::Ready(Started { id, process: p.process, jobs: hello.jobs, results: hello.results })
}
