//! Opening, reading and parsing on a thread of its own, handing numbers over
//! in batches through a bounded channel: the run never blocks on a slow pipe
//! or on opening a FIFO nobody writes to (a stop signal abandons the thread),
//! and memory stays bounded however long the input is.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread;

use super::lines::LineReader;
use super::{io_reason, InputError};

/// Opens the input, on the reader thread.
pub(super) type Open = Box<dyn FnOnce() -> io::Result<Box<dyn Read + Send>> + Send>;

/// Numbers per message: big enough to make the channel cheap per number.
const BATCH: usize = 4096;

/// Messages in flight between the reader and the run (so at most
/// `BATCH * DEPTH` numbers are buffered).
const DEPTH: usize = 16;

/// What the reader thread says.
pub(super) enum Message {
    Numbers(Vec<u64>),
    /// The stream ended early at this line; nothing follows.
    Error(InputError),
}

/// Starts the reader of `origin` (the name for messages). The channel closes
/// after the last message (EOF or the first error); if the receiver is
/// dropped, the thread stops at its next send.
pub(super) fn spawn(origin: String, open: Open) -> Result<Receiver<Message>, InputError> {
    let (tx, rx) = sync_channel(DEPTH);
    let name = origin.clone();
    thread::Builder::new()
        .name("read-ahead".into())
        .spawn(move || match open() {
            Ok(reader) => read(LineReader::new(name, reader), &tx),
            Err(e) => {
                let _ = tx.send(Message::Error(InputError::Source { origin: name, reason: io_reason(&e) }));
            }
        })
        .map_err(|e| InputError::Thread { origin, reason: e.to_string() })?;
    Ok(rx)
}

/// The reader thread's loop.
fn read(mut lines: LineReader, tx: &SyncSender<Message>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // Hand on what is parsed before a read that may block, so a number
        // written to a pipe is checked at once, not when the batch fills.
        let ready = !batch.is_empty() && (batch.len() >= BATCH || lines.must_read());
        if ready
            && tx.send(Message::Numbers(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))).is_err()
        {
            return;
        }
        match lines.next() {
            Some(Ok(n)) => batch.push(n),
            Some(Err(error)) => {
                let _ = tx.send(Message::Numbers(batch));
                let _ = tx.send(Message::Error(error));
                return;
            }
            None => {
                let _ = tx.send(Message::Numbers(batch));
                return;
            }
        }
    }
}
