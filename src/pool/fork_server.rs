//! The supervisor's end of a pool's fork server (see
//! `procpool_worker::fork_server`): the early one, forked from the program
//! before it had threads and lent to one pool at a time (see
//! [`early_fork_server`]), or else one started for the pool on its spawner
//! thread the way a worker is (executed, a private one-shot server, a
//! secret, the same checks). Either is asked for each worker, which it
//! forks as the supervisor's own child for a fraction of an exec's cost.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{self, IpcSender};
use ipc_channel::TryRecvError;
use procpool_worker::build_id::build_id;
use procpool_worker::fork_server::{decode_reply, ForkRequest, ForkServerHello, FORK_SERVER_FLAG};
use procpool_worker::protocol::{Hello, Setup, PROTOCOL_VERSION};

use super::early_fork_server::{self, Helper};
use super::handshake::{self, Acceptor};
use super::limits::available_cores;
use super::linux;
use super::process::{Launch, WorkerOutput, WorkerProcess};

/// Whether a pool launched so that starts with `workers` has them forked by
/// its fork server, started first thing; if not, they are executed, all at
/// once, and the fork server is started when the pool needs a worker more
/// (a replacement, a recycled worker).
///
/// Measured on this project's 2-core machine: executing the binary costs a
/// worker about 1 ms of CPU time, an executed fork server about 1.2 ms once
/// and a forked worker about 0.3 ms. Up to one worker per core, executed
/// workers start side by side in about the time of one, sooner than an
/// executed fork server alone; past that, forking wins, and the more
/// workers the more. The early fork server is there already: it always wins.
pub(crate) fn fork_first(workers: usize, launch: &Launch) -> bool {
    workers > available_cores() || early_fork_server::idle_for(launch)
}

/// How often a starting fork server is checked for an early death.
const START_TICK: Duration = Duration::from_millis(2);

/// How often a fork server that has not answered yet is checked for a
/// death, a stop, or its pool stopping.
const ANSWER_TICK: Duration = Duration::from_millis(10);

/// A pool's fork server: the early one (see [`early_fork_server`]), lent to
/// this pool, or one executed for it. Dropping it gives the early one back
/// (or kills and reaps an executed one) and ends the thread that receives
/// its workers' hellos.
#[derive(Debug)]
pub(crate) struct ForkServer {
    /// None once it died or hung: never asked again. The hello thread
    /// lives on for the workers it forked that are still shaking hands.
    helper: Option<Helper>,
    early: bool,
    /// The pool's hello channel, a copy of which goes with each request:
    /// every worker forked for this pool says hello there.
    hello_tx: Option<IpcSender<Hello>>,
    hellos: Option<Acceptor>,
    stdout_null: bool,
    stderr_null: bool,
    timeout: Duration,
    /// Raised when the pool stops: no wait for the helper goes on then.
    stopping: Arc<AtomicBool>,
    /// What the pool's workers run, handed to each in its fork request.
    setup: Setup,
}

/// Why a fork server gave no worker.
#[derive(Debug)]
pub(crate) enum ForkError {
    /// The server died, or did not answer within the handshake timeout:
    /// start this and later workers another way.
    Gone,
    /// The server is fine but could not fork (e.g. `ulimit -u`).
    Failed(std::io::Error),
}

impl ForkServer {
    /// The early fork server if it suits `launch` and is idle, else one
    /// executed now (waiting up to `timeout` for its hello); None if none
    /// can start, or it is not a fork server of this very build. Every hello
    /// of a worker it forks goes to `deliver`, on a thread of its own. It is
    /// asked at once for a worker per secret in `ahead` (the pool's first
    /// workers): their pids come back with it, in order.
    pub fn start(
        launch: &Launch,
        timeout: Duration,
        stopping: &Arc<AtomicBool>,
        setup: &Setup,
        ahead: &[Vec<u8>],
        deliver: impl Fn(Hello) + Send + 'static,
    ) -> Option<(ForkServer, Vec<Result<u32, ForkError>>)> {
        let (helper, handshake, early) = match early_fork_server::borrow(launch) {
            Some(helper) => (helper, None, true),
            None => {
                let (helper, handshake) = execute(launch, timeout, stopping)?;
                (helper, Some(handshake), false)
            }
        };
        let (hello_tx, hello_rx) = ipc::channel::<Hello>().ok()?; // `helper` is killed
        let mut server = ForkServer {
            helper: Some(helper),
            early,
            hello_tx: Some(hello_tx),
            hellos: None,
            stdout_null: launch.stdout == WorkerOutput::Null,
            stderr_null: launch.stderr == WorkerOutput::Null,
            timeout,
            stopping: Arc::clone(stopping),
            setup: setup.clone(),
        };
        server.ask(ahead);
        if let Some(handshake) = handshake {
            handshake.finish(); // its directory removed while the helper forks
        }
        // Its workers' hellos wait in their socket until this thread reads them.
        let hellos = handshake::receive_all(hello_rx, deliver);
        let forked = server.answers(ahead.len());
        let Ok(hellos) = hellos else {
            // No thread to hear them (`ulimit -u`): the workers it forked are
            // killed and reaped.
            for pid in forked.into_iter().flatten() {
                drop(WorkerProcess::child(pid));
            }
            return None;
        };
        server.hellos = Some(hellos);
        Some((server, forked))
    }

    /// Forks one worker per secret in `tokens`, each to say hello with its
    /// own: their pids, in order. One request and one reply for them all, so
    /// the server forks them back to back.
    pub fn fork_all(&mut self, tokens: &[Vec<u8>]) -> Vec<Result<u32, ForkError>> {
        self.ask(tokens);
        self.answers(tokens.len())
    }

    /// Asks for a worker per secret in `tokens` (if any), without waiting.
    fn ask(&mut self, tokens: &[Vec<u8>]) {
        let (Some(helper), Some(hellos)) = (&self.helper, &self.hello_tx) else { return };
        if tokens.is_empty() {
            return;
        }
        let request = ForkRequest {
            tokens: tokens.to_vec(),
            hellos: hellos.clone(),
            stdout_null: self.stdout_null,
            stderr_null: self.stderr_null,
            setup: self.setup.clone(),
        };
        if helper.requests.send(request).is_err() {
            self.lose();
        }
    }

    /// The reply to the request for `count` workers: their pids, in order.
    /// Waited for a tick at a time, so that a helper that died or was
    /// stopped (SIGSTOP), or a pool told to stop, is not waited on for the
    /// whole handshake timeout.
    fn answers(&mut self, count: usize) -> Vec<Result<u32, ForkError>> {
        let mut forked: Vec<Result<u32, ForkError>> = Vec::with_capacity(count);
        let deadline = Instant::now() + self.timeout;
        while let (true, Some(helper)) = (count > 0, &mut self.helper) {
            match helper.replies.try_recv_timeout(ANSWER_TICK) {
                Ok(pids) if pids.len() == count => {
                    forked
                        .extend(pids.into_iter().map(|reply| decode_reply(reply).map_err(ForkError::Failed)));
                    break;
                }
                Err(TryRecvError::Empty)
                    if !self.stopping.load(Ordering::Relaxed)
                        && helper.process.running()
                        && Instant::now() < deadline => {}
                // Hung, dead, stopped, or not answering what we asked:
                // workers it forked anyway are strays the spawner kills at
                // their hello.
                _ => self.lose(),
            }
        }
        forked.resize_with(count, || Err(ForkError::Gone));
        forked
    }

    /// Never asks again a server that died or hung; kills it if it hung
    /// (an early one too: it is never lent again).
    fn lose(&mut self) {
        if let Some(mut helper) = self.helper.take() {
            helper.process.kill_and_reap();
        }
    }
}

impl Drop for ForkServer {
    /// Call it once no worker still shaking hands is alive: their copies of
    /// the hello channel would keep the receiving thread waiting.
    fn drop(&mut self) {
        match self.helper.take() {
            Some(helper) if self.early => early_fork_server::give_back(helper),
            executed => drop(executed), // killed and reaped
        }
        drop(self.hello_tx.take());
        if let Some(hellos) = self.hellos.take() {
            hellos.finish();
        }
    }
}

/// Executes a fork server and waits (up to `timeout`) for its hello: the
/// helper, and the handshake thread to finish once it is asked for workers.
fn execute(launch: &Launch, timeout: Duration, stopping: &AtomicBool) -> Option<(Helper, Acceptor)> {
    // Executed first: its one-shot server is created while the kernel
    // loads it, and named to it on its stdin after the secret.
    let (mut process, mut stdin) = WorkerProcess::spawn_piped(launch, &[FORK_SERVER_FLAG]).ok()?;
    let (hello_tx, hello_rx) = mpsc::channel();
    let (acceptor, server) = handshake::accept_one::<ForkServerHello>(move |hello| {
        let _ = hello_tx.send(hello);
    })
    .ok()?; // `process` is killed
    let token = linux::random_token();
    // A few dozen bytes fit any pipe buffer: this never blocks. A server
    // that died at once makes it fail, which the wait below sees.
    let _ = stdin.write_all(&[token.as_slice(), server.as_bytes()].concat());
    drop(stdin); // the end of what it reads
    let deadline = Instant::now() + timeout;
    let hello = loop {
        match hello_rx.recv_timeout(START_TICK) {
            Ok(hello) => break hello.ok(),
            Err(RecvTimeoutError::Disconnected) => break None,
            Err(RecvTimeoutError::Timeout) => {
                if !process.running() || Instant::now() >= deadline || stopping.load(Ordering::Relaxed) {
                    break None;
                }
            }
        }
    };
    let hello = hello.filter(|hello| {
        hello.token == token
            && hello.pid == process.pid
            && hello.protocol == PROTOCOL_VERSION
            && hello.build_id == build_id()
    });
    let Some(hello) = hello else {
        process.kill_and_reap();
        acceptor.finish();
        return None;
    };
    Some((Helper { process, requests: hello.requests, replies: hello.replies }, acceptor))
}
