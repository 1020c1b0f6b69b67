//! The worker process: connect to the supervisor, shake hands, then check
//! job batches until the supervisor closes the channel.

use std::time::Duration;

use ipc_channel::ipc::{self, IpcSender};
use ipc_channel::IpcError;

use crate::protocol::{self, CodecError, Frame, Hello, JobBatch, ResultBatch, PROTOCOL_VERSION};
use crate::timing::check_timed;

/// A batch that runs longer than this sends the results it has so far, so the
/// supervisor can print them and its in-order output never waits on a batch
/// whose early jobs are long done.
pub const FLUSH_AFTER: Duration = Duration::from_millis(20);

/// Why a worker stopped other than by the supervisor closing its channel.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot reach the supervisor: {0}")]
    Connect(std::io::Error),
    #[error("ipc failure: {0}")]
    Ipc(String),
    #[error("bad frame from the supervisor: {0}")]
    Codec(#[from] CodecError),
    #[error("supervisor {supervisor} is gone")]
    Orphaned { supervisor: u32 },
}

/// Runs the worker side until the supervisor hangs up (`Ok`) or something
/// breaks (`Err`). `server_name` is the supervisor's one-shot server and
/// `supervisor` its pid.
pub fn serve(server_name: &str, supervisor: u32) -> Result<(), ServeError> {
    die_with(supervisor)?;
    // Ctrl-C in a terminal reaches the whole process group; the supervisor
    // decides what happens to workers, so a worker ignores SIGINT.
    ignore_interrupts();
    let hello_tx: IpcSender<Hello> =
        IpcSender::connect(server_name.to_owned()).map_err(ServeError::Connect)?;
    let (jobs_tx, jobs_rx) = ipc::channel::<Frame>().map_err(ServeError::Connect)?;
    let (results_tx, results_rx) = ipc::channel::<Frame>().map_err(ServeError::Connect)?;
    hello_tx
        .send(Hello {
            protocol: PROTOCOL_VERSION,
            pid: std::process::id(),
            jobs: jobs_tx,
            results: results_rx,
        })
        .map_err(|e| ServeError::Ipc(e.to_string()))?;
    drop(hello_tx);

    loop {
        let frame = match jobs_rx.recv() {
            Ok(frame) => frame,
            Err(IpcError::Disconnected) => return Ok(()),
            Err(e) => return Err(ServeError::Ipc(e.to_string())),
        };
        let batch: JobBatch = protocol::decode(&frame)?;
        check_timed(batch.kernel, &batch.numbers, FLUSH_AFTER, |segment| {
            let first_index = batch.first_index + segment.offset as u64;
            let reply = ResultBatch::pack(first_index, segment.outcomes, segment.cpu_share);
            let frame = protocol::encode(&reply)?;
            results_tx.send(frame).map_err(|e| ServeError::Ipc(e.to_string()))
        })?;
    }
}

/// Asks the kernel to SIGKILL this process when its parent goes, then makes
/// sure the parent is still the supervisor: if it died before the request
/// took effect, this process was re-parented and must not run on.
fn die_with(supervisor: u32) -> Result<(), ServeError> {
    use nix::sys::{prctl, signal::Signal};
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| ServeError::Connect(e.into()))?;
    let parent = nix::unistd::getppid().as_raw();
    if u32::try_from(parent).ok() != Some(supervisor) {
        return Err(ServeError::Orphaned { supervisor });
    }
    Ok(())
}

fn ignore_interrupts() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: installing SIG_IGN runs no handler code, so no async-signal-safety concerns.
    let _ = unsafe { signal(Signal::SIGINT, SigHandler::SigIgn) };
}
