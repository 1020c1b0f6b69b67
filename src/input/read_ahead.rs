//! Reading and parsing on a thread of its own, handing numbers over in
//! batches through a bounded channel: the run never blocks on a slow pipe,
//! and memory stays bounded however long the input is.

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread;

use super::lines::LineReader;
use super::InputError;

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

/// Starts the reader. The channel closes after the last message (EOF or the
/// first error); if the receiver is dropped, the thread stops at its next send.
pub(super) fn spawn(mut lines: LineReader) -> Receiver<Message> {
    let (tx, rx) = sync_channel(DEPTH);
    thread::spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            // Hand on what is parsed before a read that may block, so a number
            // written to a pipe is checked at once, not when the batch fills.
            let ready = !batch.is_empty() && (batch.len() >= BATCH || lines.must_read());
            if ready
                && tx
                    .send(Message::Numbers(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))))
                    .is_err()
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
    });
    rx
}
