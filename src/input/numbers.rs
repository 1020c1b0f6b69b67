//! The numbers of a run, as every executor consumes them: an iterator for
//! those that may block, a [`JobSource`] for the process pool, which must not.
//! A [`Skip`] can leave numbers out on the way (`--resume`: those already checked).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use super::read_ahead::Message;
use super::source::{JobSource, Pull};
use super::InputError;

/// How often a blocked read looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Numbers an input that never blocks yields between two looks at the stop
/// flags: a look per number cost the pool's feeding loop as much as the
/// number itself, and a thousand tiny jobs more after a stop is nothing.
const STOP_EVERY: u32 = 1024;

enum Inner {
    /// The fixture or a range: always ready.
    Memory(Box<dyn Iterator<Item = u64> + Send>),
    /// A file or pipe parsed on the read-ahead thread.
    Stream { messages: Receiver<Message>, batch: std::vec::IntoIter<u64> },
    /// Another stream with some numbers left out; `front` comes first.
    Skipping { inner: Box<Numbers>, front: Option<u64>, skip: Box<dyn Skip> },
}

/// Decides, number by number in input order, which numbers a run leaves out.
/// It sees every number exactly once, on whichever thread pulls the stream.
pub trait Skip: Send {
    /// True to leave out `n`, the next number of the input; an error ends the stream.
    fn skip(&mut self, n: u64) -> Result<bool, InputError>;

    /// The input has ended (not stopped early): a last chance to object.
    fn end(&mut self) -> Result<(), InputError>;
}

/// A lazy stream of numbers that ends at the first bad line and remembers it.
pub struct Numbers {
    inner: Inner,
    error: Option<InputError>,
    done: bool,
    /// Flags that end a blocked read (a stop signal, or a run that gave up).
    stop: Vec<Arc<AtomicBool>>,
    /// Numbers to yield before the next look at `stop` (see [`STOP_EVERY`]).
    unchecked: u32,
}

impl Numbers {
    pub(super) fn in_memory(numbers: impl Iterator<Item = u64> + Send + 'static) -> Self {
        Numbers::with(Inner::Memory(Box::new(numbers)))
    }

    pub(super) fn streamed(messages: Receiver<Message>) -> Self {
        Numbers::with(Inner::Stream { messages, batch: Vec::new().into_iter() })
    }

    /// `inner` without the numbers `skip` leaves out, starting with `front`
    /// (a number already taken from `inner` and offered to `skip` next).
    pub fn skipping(inner: Numbers, front: Option<u64>, skip: Box<dyn Skip>) -> Self {
        Numbers::with(Inner::Skipping { inner: Box::new(inner), front, skip })
    }

    fn with(inner: Inner) -> Self {
        Numbers { inner, error: None, done: false, stop: Vec::new(), unchecked: 0 }
    }

    /// Makes a blocked read give up (ending the stream) once `flag` is set.
    pub fn stop_on(&mut self, flag: Arc<AtomicBool>) {
        if let Inner::Skipping { inner, .. } = &mut self.inner {
            inner.stop_on(Arc::clone(&flag));
        }
        if !self.stop.iter().any(|f| Arc::ptr_eq(f, &flag)) {
            self.stop.push(flag);
        }
    }

    /// True for the fixture and ranges, which never make a reader wait.
    pub fn never_blocks(&self) -> bool {
        match &self.inner {
            Inner::Memory(_) => true,
            Inner::Stream { .. } => false,
            Inner::Skipping { inner, .. } => inner.never_blocks(),
        }
    }

    /// The error that ended the stream early, if any.
    pub fn error(&self) -> Option<&InputError> {
        self.error.as_ref()
    }

    /// True once the stream has ended (input exhausted, a bad line, or stopped).
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn stopped(&self) -> bool {
        raised(&self.stop)
    }

    /// The next number; `block` says whether to wait for the reader thread.
    fn take(&mut self, block: bool) -> Pull {
        if self.done {
            return Pull::End;
        }
        let pulled = match &mut self.inner {
            Inner::Memory(numbers) => numbers.next().map_or(Pull::End, Pull::Number),
            Inner::Stream { messages, batch } => loop {
                if let Some(n) = batch.next() {
                    break Pull::Number(n);
                }
                let message = if block {
                    match messages.recv_timeout(STOP_POLL) {
                        Ok(message) => Ok(message),
                        Err(RecvTimeoutError::Timeout) if raised(&self.stop) => break Pull::End,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => Err(true),
                    }
                } else {
                    messages.try_recv().map_err(|e| e == TryRecvError::Disconnected)
                };
                match message {
                    Ok(Message::Numbers(numbers)) => *batch = numbers.into_iter(),
                    Ok(Message::Error(error)) => {
                        self.error = Some(error);
                        break Pull::End;
                    }
                    Err(true) => break Pull::End,
                    Err(false) => break Pull::NotYet,
                }
            },
            Inner::Skipping { inner, front, skip } => loop {
                let pulled = match front.take() {
                    Some(n) => Pull::Number(n),
                    None => Numbers::take(inner, block),
                };
                let verdict = match pulled {
                    Pull::Number(n) => skip.skip(n).map(|left_out| (!left_out).then_some(pulled)),
                    Pull::NotYet => break Pull::NotYet,
                    Pull::End => match inner.error.take() {
                        Some(error) => Err(error),
                        // Stopped early is not the end of the input.
                        None if inner.stopped() => break Pull::End,
                        None => skip.end().map(|()| Some(Pull::End)),
                    },
                };
                match verdict {
                    Ok(Some(pull)) => break pull,
                    Ok(None) => continue,
                    Err(error) => {
                        self.error = Some(error);
                        break Pull::End;
                    }
                }
            },
        };
        self.done = pulled == Pull::End;
        pulled
    }
}

impl Iterator for Numbers {
    type Item = u64;

    /// Waits for the next number; ends early once a stop flag is raised
    /// (within [`STOP_EVERY`] numbers for the fixture and ranges).
    fn next(&mut self) -> Option<u64> {
        if self.unchecked == 0 {
            if self.stopped() {
                self.done = true;
                return None;
            }
            // A stream that may block looks every time: its feeder thread
            // must give up as soon as the run does.
            self.unchecked = if self.never_blocks() { STOP_EVERY } else { 1 };
        }
        self.unchecked -= 1;
        match self.take(true) {
            Pull::Number(n) => Some(n),
            Pull::NotYet | Pull::End => None,
        }
    }
}

impl JobSource for Numbers {
    /// The next number if one is ready, without waiting.
    fn pull(&mut self) -> Pull {
        self.take(false)
    }
}

fn raised(stop: &[Arc<AtomicBool>]) -> bool {
    stop.iter().any(|flag| flag.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_ends_a_range_within_a_look_and_a_stream_at_once() {
        let flag = Arc::new(AtomicBool::new(false));
        let mut range = Numbers::in_memory(0..u64::MAX);
        range.stop_on(Arc::clone(&flag));
        assert_eq!(range.next(), Some(0));
        flag.store(true, Ordering::Relaxed);
        let after = range.by_ref().count();
        assert!(after < STOP_EVERY as usize, "{after} numbers after the stop");
        assert!(range.is_done() && range.next().is_none());

        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(Message::Numbers((0..10).collect())).unwrap();
        let mut stream = Numbers::streamed(rx);
        flag.store(false, Ordering::Relaxed);
        stream.stop_on(Arc::clone(&flag));
        assert_eq!(stream.next(), Some(0));
        flag.store(true, Ordering::Relaxed);
        assert_eq!(stream.next(), None, "a stream stops at the next number");
    }
}
