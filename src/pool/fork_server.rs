//! The supervisor's end of a pool's fork server (see
//! `procpool_worker::fork_server`): started once per pool on the spawner
//! thread by executing the binary, then asked for each worker, which it forks
//! as the supervisor's own child in a fraction of an exec's cost.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use procpool_worker::fork_server::{decode_reply, greeting, request, ForkReply};

use super::process::{Launch, WorkerProcess};

/// A running fork server. Dropping it hangs up and kills and reaps it.
#[derive(Debug)]
pub(crate) struct ForkServer {
    control: UnixStream,
    process: WorkerProcess,
}

/// Why a fork server gave no worker.
#[derive(Debug)]
pub(crate) enum ForkError {
    /// The server died, hung (no answer within the handshake timeout) or
    /// said something else: start this and later workers another way.
    Gone,
    /// The server is fine but could not fork (e.g. `ulimit -u`).
    Failed(io::Error),
}

impl ForkServer {
    /// Starts the server and waits (up to `timeout`) for its greeting; None
    /// if it cannot start or is not a fork server of this very build.
    pub fn start(launch: &Launch, timeout: Duration) -> Option<ForkServer> {
        let (control, theirs) = UnixStream::pair().ok()?;
        let process = WorkerProcess::spawn_fork_server(launch, theirs.into()).ok()?;
        let mut server = ForkServer { control, process };
        server.control.set_read_timeout(Some(timeout)).ok()?;
        let expected = greeting();
        let mut said = vec![0; expected.len()];
        server.control.read_exact(&mut said).ok()?;
        (said == expected).then_some(server)
    }

    /// Asks for a worker that is to connect to the one-shot server `name`
    /// with `token`; its pid, once forked.
    pub fn fork(&mut self, name: &str, token: &[u8]) -> Result<u32, ForkError> {
        self.control.write_all(&request(name, token)).map_err(|_| ForkError::Gone)?;
        let mut reply: ForkReply = Default::default();
        self.control.read_exact(&mut reply).map_err(|_| ForkError::Gone)?;
        decode_reply(reply).map_err(ForkError::Failed)
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        let _ = self.control.shutdown(std::net::Shutdown::Both);
        self.process.kill_and_reap();
    }
}
