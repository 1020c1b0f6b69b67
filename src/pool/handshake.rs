//! Waiting for hellos on threads of their own, so that neither the spawner
//! nor the dispatcher ever blocks on a peer that died or hung: one hello on
//! a private one-shot server (an executed worker, or the fork server,
//! connects to it by name), or every hello on the channel the fork server's
//! workers share. Either way the thread can be ended, so no thread and no
//! directory in TMPDIR is left behind.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender};
use serde::{de::DeserializeOwned, Serialize};

use super::error::PoolError;
use super::linux;

/// How long to wait for a handshake thread to finish once its server has
/// been woken, so its directory is removed before we go on (or exit).
const ACCEPTOR_GRACE: Duration = Duration::from_secs(2);

/// A thread waiting for one hello.
#[derive(Debug)]
pub(crate) struct Acceptor {
    thread: thread::JoinHandle<()>,
    /// The one-shot server it listens on, if any (else it waits on a
    /// channel, which closes once every peer holding it is gone).
    server: Option<String>,
    /// Hangs up when the thread has done everything, its server's directory
    /// removed included: waiting on it is waking at once, not polling.
    done: mpsc::Receiver<()>,
}

/// What becomes of the hello: the message, or why none came.
pub(crate) type Delivered<T> = Result<T, String>;

/// Opens a private one-shot server on a thread of its own, which hands the
/// first hello sent there to `deliver`; the server's name, for the peer.
/// The thread owns the server and its directory, removed when it ends.
pub(crate) fn accept_one<T>(
    deliver: impl FnOnce(Delivered<T>) + Send + 'static,
) -> Result<(Acceptor, String), PoolError>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    let (named_tx, named) = mpsc::sync_channel(1);
    let (finished, done) = mpsc::channel::<()>();
    let thread = thread::Builder::new()
        .name("procpool-handshake".into())
        .spawn(move || {
            let _finished = finished; // dropped last, after the server
            let (server, name) = match open_server::<T>() {
                Ok(opened) => opened,
                Err(error) => {
                    let _ = named_tx.send(Err(error));
                    return;
                }
            };
            // Removed however this thread ends, once its peer has connected or never will.
            let _dir = RemovedOnDrop(PathBuf::from(&name).parent().map(PathBuf::from));
            if named_tx.send(Ok(name)).is_err() {
                return;
            }
            // Delivered before its directory is removed (an rmdir is a tenth
            // of a millisecond on ext4): the start goes on meanwhile, and
            // `finish` waits for the removal.
            deliver(server.accept().map(|(_, hello)| hello).map_err(|e| e.to_string()));
        })
        .map_err(PoolError::Thread)?;
    match named.recv() {
        Ok(Ok(name)) => Ok((Acceptor { thread, server: Some(name.clone()), done }, name)),
        Ok(Err(error)) => {
            let _ = thread.join();
            Err(error)
        }
        Err(_) => {
            let _ = thread.join();
            Err(PoolError::Ipc("the handshake thread ended before opening its server".into()))
        }
    }
}

/// Hands every hello sent on `hellos` to `deliver`, on a thread of its
/// own, until every sender has hung up.
pub(crate) fn receive_all<T>(
    hellos: IpcReceiver<T>,
    deliver: impl Fn(T) + Send + 'static,
) -> Result<Acceptor, PoolError>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    let (finished, done) = mpsc::channel::<()>();
    let thread = thread::Builder::new()
        .name("procpool-hellos".into())
        .spawn(move || {
            let _finished = finished;
            while let Ok(hello) = hellos.recv() {
                deliver(hello);
            }
        })
        .map_err(PoolError::Thread)?;
    Ok(Acceptor { thread, server: None, done })
}

impl Acceptor {
    /// Wakes the thread if its peer never connected (kill the peers first,
    /// if it waits on a channel) and waits a bounded time for it to end, so
    /// its server's directory is gone.
    pub fn finish(self) {
        if let Some(server) = &self.server {
            if !self.thread.is_finished() {
                // Connecting ourselves and hanging up ends its accept.
                let _ = IpcSender::<()>::connect(server.clone());
            }
        }
        // Woken as the thread ends (it hangs up), not by polling: the
        // supervisor's start and exit wait here.
        if let Err(RecvTimeoutError::Disconnected) = self.done.recv_timeout(ACCEPTOR_GRACE) {
            let _ = self.thread.join();
        }
    }
}

/// Creates a one-shot server whose directory and socket are private from
/// the start: this (handshake) thread gets a umask of 077 of its own, and
/// the directory is also set to 0700 afterwards, whatever the umask was.
fn open_server<T>() -> Result<(IpcOneShotServer<T>, String), PoolError>
where
    T: Serialize + DeserializeOwned,
{
    linux::private_umask_for_this_thread();
    // ipc-channel panics on some errors of its temporary directory; the pool
    // checks TMPDIR first, and this catches what a later change could cause.
    let (server, name) = match std::panic::catch_unwind(IpcOneShotServer::<T>::new) {
        Ok(Ok(created)) => created,
        Ok(Err(e)) => return Err(PoolError::Ipc(e.to_string())),
        Err(_) => {
            let dir = tempfile::env::temp_dir();
            let reason = "cannot create a handshake socket in it".to_string();
            return Err(PoolError::TempDir { dir: dir.display().to_string(), reason });
        }
    };
    // Named after us at once, so that a pool started after our death removes it.
    let socket = linux::name_after_us(Path::new(&name)).unwrap_or_else(|| PathBuf::from(&name));
    let _dir = RemovedOnDrop(socket.parent().map(PathBuf::from)); // if we fail below
    linux::make_private(&socket)
        .map_err(|e| PoolError::Ipc(format!("cannot make {} private: {e}", socket.display())))?;
    std::mem::forget(_dir);
    let name = socket
        .into_os_string()
        .into_string()
        .map_err(|_| PoolError::Ipc("a socket path that is not UTF-8".into()))?;
    Ok((server, name))
}

/// A handshake directory, removed with what is in it when this is dropped
/// (ipc-channel removes the one it made under its own name, which is gone
/// once [`linux::name_after_us`] renamed it).
struct RemovedOnDrop(Option<PathBuf>);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
