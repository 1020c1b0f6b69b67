//! The handle consumers and the dispatcher share: a command queue, and a
//! doorbell that wakes the dispatcher from its wait on worker channels.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use ipc_channel::ipc::IpcSender;
use procpool_worker::protocol::Frame;

use super::store::Segment;
use crate::pool::error::PoolError;
use crate::pool::spawner::Startup;
use crate::pool::stream::Shared;
use crate::scheduler::StreamId;

/// What consumers (and the spawner) ask of the dispatcher.
#[derive(Debug)]
pub(crate) enum Command<O> {
    Open {
        stream: StreamId,
        ordered: bool,
        shared: Arc<Shared<O>>,
    },
    Jobs {
        stream: StreamId,
        segment: Segment,
    },
    /// The stream's next job could not be encoded, for this reason.
    Reject {
        stream: StreamId,
        reason: String,
    },
    End {
        stream: StreamId,
    },
    Close {
        stream: StreamId,
    },
    Startup(Startup),
    Shutdown {
        graceful: bool,
    },
}

#[derive(Debug)]
pub(crate) struct Core<O> {
    /// `None` once the dispatcher has stopped taking commands.
    commands: Mutex<Option<mpsc::Sender<Command<O>>>>,
    doorbell: Mutex<IpcSender<Frame>>,
    /// A ring is on its way: no need for another until the dispatcher reads it.
    rung: AtomicBool,
    next_stream: AtomicU64,
    /// Bound on undelivered jobs per stream.
    pub window: usize,
    /// Pids of the live workers, as the dispatcher last saw them.
    pub pids: Mutex<Vec<u32>>,
}

impl<O> Core<O> {
    pub fn new(commands: mpsc::Sender<Command<O>>, doorbell: IpcSender<Frame>, window: usize) -> Self {
        Core {
            commands: Mutex::new(Some(commands)),
            doorbell: Mutex::new(doorbell),
            rung: AtomicBool::new(false),
            next_stream: AtomicU64::new(0),
            window,
            pids: Mutex::new(Vec::new()),
        }
    }

    /// A stream id never used before in this pool.
    pub fn new_stream(&self) -> StreamId {
        StreamId(self.next_stream.fetch_add(1, Ordering::Relaxed))
    }

    /// Queues a command and wakes the dispatcher; fails once it has stopped.
    pub fn send(&self, command: Command<O>) -> Result<(), PoolError> {
        let commands = self.commands.lock().unwrap_or_else(|p| p.into_inner());
        let sender = commands.as_ref().ok_or(PoolError::ShutDown)?;
        sender.send(command).map_err(|_| PoolError::ShutDown)?;
        drop(commands);
        if !self.rung.swap(true, Ordering::AcqRel) {
            let doorbell = self.doorbell.lock().unwrap_or_else(|p| p.into_inner());
            let _ = doorbell.send(Frame(Vec::new()));
        }
        Ok(())
    }

    /// Called by the dispatcher before it reads the queue.
    pub fn answered(&self) {
        self.rung.store(false, Ordering::Release);
    }

    /// Stops taking commands; returns the sender so the caller drops it last.
    pub fn close(&self) -> Option<mpsc::Sender<Command<O>>> {
        self.commands.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    pub fn set_pids(&self, pids: Vec<u32>) {
        *self.pids.lock().unwrap_or_else(|p| p.into_inner()) = pids;
    }
}
