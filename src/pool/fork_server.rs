//! The supervisor's end of a pool's fork server (see
//! `procpool_worker::fork_server`): started once per pool, on the spawner
//! thread, the way a worker is (executed, a private one-shot server, a
//! secret, the same checks), then asked for each worker, which it forks as
//! the supervisor's own child for a fraction of an exec's cost.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use ipc_channel::ipc::{IpcReceiver, IpcSender};
use procpool_worker::build_id::build_id;
use procpool_worker::fork_server::{decode_reply, ForkRequest, ForkServerHello, FORK_SERVER_FLAG};
use procpool_worker::protocol::{Hello, PROTOCOL_VERSION};

use super::handshake::{self, Acceptor};
use super::limits::available_cores;
use super::linux;
use super::process::{Launch, WorkerProcess};

/// Whether a pool that starts with `workers` has them forked by its fork
/// server, started first thing; if not, they are executed, all at once, and
/// the fork server is started when the pool needs a worker more (a
/// replacement, a recycled worker).
///
/// Measured on this project's 2-core machine: executing the binary costs a
/// worker about 1 ms of CPU time, the fork server about 1.2 ms once and a
/// forked worker about 0.3 ms. Up to one worker per core, executed workers
/// start side by side in about the time of one, sooner than the fork server
/// alone; past that, forking wins, and the more workers the more.
pub(crate) fn fork_first(workers: usize) -> bool {
    workers > available_cores()
}

/// How often a starting fork server is checked for an early death.
const START_TICK: Duration = Duration::from_millis(2);

/// A running fork server. Dropping it kills and reaps it, and ends the
/// thread that receives its workers' hellos.
#[derive(Debug)]
pub(crate) struct ForkServer {
    requests: IpcSender<ForkRequest>,
    replies: IpcReceiver<Vec<i32>>,
    process: WorkerProcess,
    hellos: Option<Acceptor>,
    timeout: Duration,
    /// Died or hung once: never asked again. Its hello thread lives on for
    /// the workers it forked that are still shaking hands.
    gone: bool,
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
    /// Starts the server and waits (up to `timeout`) for its hello; None if
    /// it cannot start, or is not a fork server of this very build. Every
    /// hello of a worker it forks goes to `deliver`, on a thread of its own.
    /// It is asked at once for a worker per secret in `ahead` (the pool's
    /// first workers), which it forks while we finish setting it up: their
    /// pids come back with it, in order.
    pub fn start(
        launch: &Launch,
        timeout: Duration,
        ahead: &[Vec<u8>],
        deliver: impl Fn(Hello) + Send + 'static,
    ) -> Option<(ForkServer, Vec<Result<u32, ForkError>>)> {
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
                    if process.try_reap().is_some() || Instant::now() >= deadline {
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
        let mut server = ForkServer {
            requests: hello.requests,
            replies: hello.replies,
            process,
            hellos: None,
            timeout,
            gone: false,
        };
        server.ask(ahead);
        acceptor.finish();
        // Its workers' hellos wait in their socket until this thread reads them.
        let hellos = handshake::receive_all(hello.hellos, deliver);
        let forked = server.answers(ahead.len());
        let Ok(hellos) = hellos else {
            // No thread to hear them (`ulimit -u`): the workers it forked are
            // killed and reaped, and the server with `server`.
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
        if !tokens.is_empty()
            && !self.gone
            && self.requests.send(ForkRequest { tokens: tokens.to_vec() }).is_err()
        {
            self.lose();
        }
    }

    /// The reply to the request for `count` workers: their pids, in order.
    fn answers(&mut self, count: usize) -> Vec<Result<u32, ForkError>> {
        let mut forked: Vec<Result<u32, ForkError>> = Vec::with_capacity(count);
        if count > 0 && !self.gone {
            match self.replies.try_recv_timeout(self.timeout) {
                Ok(pids) if pids.len() == count => {
                    forked
                        .extend(pids.into_iter().map(|reply| decode_reply(reply).map_err(ForkError::Failed)));
                }
                // Hung, dead, or not answering what we asked: workers it
                // forked anyway are strays the spawner kills at their hello.
                _ => self.lose(),
            }
        }
        forked.resize_with(count, || Err(ForkError::Gone));
        forked
    }

    /// Never asks again a server that died or hung; kills it if it hung.
    fn lose(&mut self) {
        self.gone = true;
        self.process.kill_and_reap();
    }
}

impl Drop for ForkServer {
    /// Call it once no worker still shaking hands is alive: their copies of
    /// the hello channel would keep the receiving thread waiting.
    fn drop(&mut self) {
        self.process.kill_and_reap();
        if let Some(hellos) = self.hellos.take() {
            hellos.finish();
        }
    }
}
