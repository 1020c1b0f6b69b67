//! The worker process: connect to the supervisor, shake hands, learn what to
//! run, then run job batches until the supervisor closes the channel.

use std::any::type_name;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use ipc_channel::IpcError;

use crate::build_id::{build_id, build_id_hex};
use crate::entry;
use crate::job::Job;
use crate::protocol::{
    self, CodecError, Failed, Frame, Hello, JobBatch, Setup, PROTOCOL_VERSION, TOKEN_BYTES,
};
use crate::reply_frames::send_reply;
use crate::timing::run_timed;

/// A batch that runs longer than this sends the results it has so far, so the
/// supervisor can print them and its in-order output never waits on a batch
/// whose early jobs are long done.
pub const FLUSH_AFTER: Duration = Duration::from_millis(20);

/// Why a worker stopped other than by the supervisor closing its channel.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot reach the supervisor: {0}")]
    Connect(std::io::Error),
    #[error("cannot read the handshake secret from stdin: {0}")]
    Token(std::io::Error),
    #[error("cannot point stdin, stdout or stderr at /dev/null: {0}")]
    Stdio(std::io::Error),
    #[error("ipc failure: {0}")]
    Ipc(String),
    #[error("bad frame from the supervisor: {0}")]
    Codec(#[from] CodecError),
    #[error("supervisor {supervisor} is gone")]
    Orphaned { supervisor: u32 },
    #[error(
        "this binary (build {ours}) is not the supervisor's build ({theirs}): was it rebuilt or replaced?"
    )]
    BuildMismatch { ours: String, theirs: String },
    #[error("asked to serve jobs of type {theirs}, but this entry point serves {ours}")]
    JobTypeMismatch { ours: &'static str, theirs: String },
    #[error("the pool's initializer panicked: {0}")]
    Initializer(String),
}

/// A worker's channels to the supervisor, and what it was set up to run.
#[derive(Debug)]
pub struct Link {
    pub jobs: IpcReceiver<Frame>,
    pub results: IpcSender<Frame>,
    pub setup: Setup,
}

/// Runs the worker side until the supervisor hangs up (`Ok`) or something
/// breaks (`Err`). `server_name` is the supervisor's one-shot server and
/// `supervisor` its pid.
pub fn serve(server_name: &str, supervisor: u32) -> Result<(), ServeError> {
    die_with(supervisor)?;
    // Ctrl-C in a terminal reaches the whole process group; the supervisor
    // decides what happens to workers, so a worker ignores SIGINT.
    ignore_interrupts();
    let token = read_token()?;
    let hello_tx: IpcSender<Hello> =
        IpcSender::connect(server_name.to_owned()).map_err(ServeError::Connect)?;
    serve_connected(hello_tx, token, None)
}

/// The rest of [`serve`], from the hello on: what an executed worker does
/// once connected to its one-shot server, and a worker forked by the fork
/// server (already tied to its supervisor) at once, on the hello channel it
/// was handed.
///
/// A forked worker has its `setup` already (it came with the fork
/// request); an executed one waits for it after its hello.
pub fn serve_connected(
    hello_tx: IpcSender<Hello>,
    token: Vec<u8>,
    setup: Option<Setup>,
) -> Result<(), ServeError> {
    let (jobs_tx, jobs_rx) = ipc::channel::<Frame>().map_err(ServeError::Connect)?;
    let (results_tx, results_rx) = ipc::channel::<Frame>().map_err(ServeError::Connect)?;
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        pid: std::process::id(),
        build_id: build_id().to_vec(),
        token,
        jobs: jobs_tx,
        results: results_rx,
    };
    if hello_tx.send(hello).is_err() {
        // Nobody holds the other end: the pool gave up on this start (it
        // failed, or was dropped) and says so itself; nothing to add.
        return Ok(());
    }
    drop(hello_tx);

    let setup: Setup = match setup {
        Some(setup) => setup,
        None => match jobs_rx.recv() {
            Ok(frame) => protocol::decode(&frame)?,
            Err(IpcError::Disconnected) => return Ok(()), // turned away at the handshake
            Err(e) => return Err(ServeError::Ipc(e.to_string())),
        },
    };
    if setup.build_id != build_id() {
        return Err(ServeError::BuildMismatch {
            ours: build_id_hex(build_id()),
            theirs: build_id_hex(&setup.build_id),
        });
    }
    // SAFETY: the offset came from a supervisor running this very build.
    let serve_jobs = unsafe { entry::serve_at(setup.serve) };
    serve_jobs(Link { jobs: jobs_rx, results: results_tx, setup })
}

/// Serves jobs of type `J`: what a worker jumps to once set up.
pub fn serve_jobs<J: Job>(link: Link) -> Result<(), ServeError> {
    let Link { jobs, results, setup } = link;
    if setup.job_type != type_name::<J>() {
        return Err(ServeError::JobTypeMismatch { ours: type_name::<J>(), theirs: setup.job_type });
    }
    if let Some(offset) = setup.init {
        // SAFETY: as for the serve offset, checked in `serve`.
        let init = unsafe { entry::init_at(offset) };
        catch_unwind(init).map_err(|payload| ServeError::Initializer(panic_message(payload.as_ref())))?;
    }
    let flush_after = if setup.reply_every_job { Duration::ZERO } else { FLUSH_AFTER };
    let mut outcomes = Vec::new();
    loop {
        let frame = match jobs.recv() {
            Ok(frame) => frame,
            Err(IpcError::Disconnected) => return Ok(()),
            Err(e) => return Err(ServeError::Ipc(e.to_string())),
        };
        let batch: JobBatch<J> = protocol::decode(&frame)?;
        let first = batch.first_index;
        run_timed(
            batch.jobs,
            |job| {
                catch_unwind(AssertUnwindSafe(|| job.run()))
                    .map_err(|payload| Failed::Panicked(panic_message(payload.as_ref())))
            },
            flush_after,
            &mut outcomes,
            |segment| {
                send_reply(first + segment.offset as u64, segment, |frame| {
                    results.send(frame).map_err(|e| ServeError::Ipc(e.to_string()))
                })
            },
        )?;
    }
}

/// What a panic said, as text.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panicked with a non-text payload".into()
    }
}

/// Reads the handshake secret the supervisor wrote to our stdin, then puts
/// /dev/null in its place (jobs must not read the supervisor's pipe).
pub(crate) fn read_token() -> Result<Vec<u8>, ServeError> {
    let mut token = vec![0; TOKEN_BYTES];
    std::io::stdin().lock().read_exact(&mut token).map_err(ServeError::Token)?;
    let null = std::fs::File::open("/dev/null").map_err(ServeError::Token)?;
    nix::unistd::dup2_stdin(null).map_err(|e| ServeError::Token(e.into()))?;
    Ok(token)
}

/// Asks the kernel to SIGKILL this process when its parent goes, then makes
/// sure the parent is still the supervisor: if it died before the request
/// took effect, this process was re-parented and must not run on.
pub(crate) fn die_with(supervisor: u32) -> Result<(), ServeError> {
    use nix::sys::{prctl, signal::Signal};
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| ServeError::Connect(e.into()))?;
    let parent = nix::unistd::getppid().as_raw();
    if u32::try_from(parent).ok() != Some(supervisor) {
        return Err(ServeError::Orphaned { supervisor });
    }
    Ok(())
}

pub(crate) fn ignore_interrupts() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: installing SIG_IGN runs no handler code, so no async-signal-safety concerns.
    let _ = unsafe { signal(Signal::SIGINT, SigHandler::SigIgn) };
}
