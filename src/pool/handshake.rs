//! Starting a set of workers at once and shaking hands with each over its own
//! ipc-channel one-shot server, without ever blocking forever on one that
//! died or hung before connecting.

use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender};
use procpool_worker::protocol::{Frame, Hello, PROTOCOL_VERSION};

use super::error::PoolError;
use super::process::WorkerProcess;

/// A worker that has shaken hands: its process and its two channels.
pub(crate) struct Started {
    pub process: WorkerProcess,
    pub jobs: IpcSender<Frame>,
    pub results: IpcReceiver<Frame>,
}

type Accepted = (usize, Result<Hello, String>);

/// Unblocks acceptor threads whose worker never connected, by connecting to
/// their servers ourselves and hanging up, so no thread is left behind.
struct Acceptors {
    names: Vec<Option<String>>,
}

impl Drop for Acceptors {
    fn drop(&mut self) {
        for name in self.names.iter_mut().filter_map(Option::take) {
            let _ = IpcSender::<Hello>::connect(name);
        }
    }
}

/// Starts `count` workers running `program` and waits for all handshakes.
/// On any failure every worker started so far is killed and reaped.
pub(crate) fn start_workers(
    program: &Path,
    count: usize,
    timeout: Duration,
) -> Result<Vec<Started>, PoolError> {
    let (tx, rx) = mpsc::channel::<Accepted>();
    let mut acceptors = Acceptors { names: Vec::with_capacity(count) };
    let mut processes = Vec::with_capacity(count);
    for slot in 0..count {
        let (server, name) = IpcOneShotServer::<Hello>::new().map_err(|e| PoolError::Ipc(e.to_string()))?;
        let process = WorkerProcess::spawn(program, &name)
            .map_err(|source| PoolError::Spawn { program: program.display().to_string(), source })?;
        processes.push(Some(process));
        acceptors.names.push(Some(name));
        let tx = tx.clone();
        thread::spawn(move || {
            let accepted = server.accept().map(|(_, hello)| hello).map_err(|e| e.to_string());
            let _ = tx.send((slot, accepted));
        });
    }
    drop(tx);

    let deadline = Instant::now() + timeout;
    let mut started: Vec<Option<Started>> = (0..count).map(|_| None).collect();
    let mut waiting = count;
    while waiting > 0 {
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok((slot, accepted)) => {
                acceptors.names[slot] = None;
                let mut process = processes[slot].take().expect("each slot is accepted once");
                let hello = match accepted {
                    Ok(hello) => hello,
                    Err(reason) => {
                        // Dead before a handshake, or alive with a bad one: say which.
                        let deadline = Instant::now() + Duration::from_millis(200);
                        while process.try_reap().is_none() && Instant::now() < deadline {
                            thread::sleep(Duration::from_millis(1));
                        }
                        if process.try_reap().is_some() {
                            return Err(PoolError::DiedAtStartup {
                                pid: process.pid,
                                cause: process.cause(),
                            });
                        }
                        return Err(PoolError::BadHandshake { pid: process.pid, reason });
                    }
                };
                if hello.protocol != PROTOCOL_VERSION {
                    return Err(PoolError::ProtocolMismatch {
                        pid: process.pid,
                        theirs: hello.protocol,
                        ours: PROTOCOL_VERSION,
                    });
                }
                started[slot] = Some(Started { process, jobs: hello.jobs, results: hello.results });
                waiting -= 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                for process in processes.iter_mut().flatten() {
                    if process.try_reap().is_some() {
                        return Err(PoolError::DiedAtStartup { pid: process.pid, cause: process.cause() });
                    }
                    if Instant::now() >= deadline {
                        return Err(PoolError::HandshakeTimeout { pid: process.pid, timeout });
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(PoolError::Ipc("handshake threads ended early".into()));
            }
        }
    }
    Ok(started.into_iter().flatten().collect())
}
