//! Standard output that is both fast and prompt: a line that comes a while
//! after the last write is written at once (so a killed run's file holds
//! every result it printed), lines that come in a flood are buffered, and a
//! background thread flushes whatever is pending every few milliseconds, so a
//! million lines cost a few thousand writes yet a line never waits long. The
//! same thread notices a reader that left (`procpool | head -1`) while no
//! line is being written, e.g. during a long job.

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// How long a finished line may wait in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// A line written this long after the last write goes out at once: results
/// that come less often than this are each on disk as soon as printed, and a
/// flood still costs at most one write per this interval (one per line cost
/// 7x the run's time for a million tiny results).
pub const WRITE_AT_ONCE_AFTER: Duration = Duration::from_millis(1);

/// The buffer, and a write error the flusher met (reported at the next write):
/// one lock per line.
struct Sink {
    writer: BufWriter<io::Stdout>,
    error: Option<io::Error>,
    /// When the buffer was last written out.
    flushed: Instant,
}

impl Sink {
    fn flush(&mut self) -> io::Result<()> {
        self.flushed = Instant::now();
        self.writer.flush()
    }
}

struct Shared {
    sink: Mutex<Sink>,
    stop: AtomicBool,
}

impl Shared {
    fn sink(&self) -> std::sync::MutexGuard<'_, Sink> {
        self.sink.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Buffered stdout with a periodic flush. Dropping it flushes and stops the thread.
pub struct Output {
    shared: Arc<Shared>,
    /// None when no thread could be started: then every line is flushed at once.
    flusher: Option<JoinHandle<()>>,
}

impl Output {
    /// `on_closed` is called once, from the flusher thread, when stdout's
    /// reader has gone, so a run can stop at once instead of at its next line.
    pub fn stdout(on_closed: impl FnOnce() + Send + 'static) -> Self {
        let shared = Arc::new(Shared {
            sink: Mutex::new(Sink {
                writer: BufWriter::with_capacity(1 << 16, io::stdout()),
                error: None,
                flushed: Instant::now(),
            }),
            stop: AtomicBool::new(false),
        });
        let background = Arc::clone(&shared);
        let flusher = thread::Builder::new()
            .name("stdout".into())
            .spawn(move || flush_until_stopped(&background, on_closed));
        Output { shared, flusher: flusher.ok() }
    }

    /// Writes one line (a newline is added).
    pub fn line(&self, text: &str) -> io::Result<()> {
        self.line_bytes(text.as_bytes())
    }

    /// Writes one line of UTF-8 bytes (a newline is added).
    pub fn line_bytes(&self, text: &[u8]) -> io::Result<()> {
        let mut sink = self.shared.sink();
        if let Some(error) = &sink.error {
            return Err(copy(error));
        }
        sink.writer.write_all(text)?;
        sink.writer.write_all(b"\n")?;
        if self.flusher.is_none() || sink.flushed.elapsed() >= WRITE_AT_ONCE_AFTER {
            sink.flush()?;
        }
        Ok(())
    }

    /// Flushes now.
    pub fn flush(&self) -> io::Result<()> {
        let mut sink = self.shared.sink();
        match &sink.error {
            Some(error) => Err(copy(error)),
            None => sink.flush(),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(flusher) = self.flusher.take() {
            flusher.thread().unpark();
            let _ = flusher.join();
        }
        let _ = self.flush();
    }
}

/// The flusher thread: flushes every [`FLUSH_EVERY`] until dropped or until
/// stdout fails; a reader that left is an error too, found without writing.
fn flush_until_stopped(shared: &Shared, on_closed: impl FnOnce()) {
    while !shared.stop.load(Ordering::Relaxed) {
        thread::park_timeout(FLUSH_EVERY);
        let mut sink = shared.sink();
        let flushed = if reader_gone() { Err(io::ErrorKind::BrokenPipe.into()) } else { sink.flush() };
        if let Err(error) = flushed {
            let closed = error.kind() == io::ErrorKind::BrokenPipe;
            sink.error = Some(error);
            drop(sink);
            if closed {
                on_closed();
            }
            return;
        }
    }
}

/// True when stdout is a pipe or socket whose reader has gone (POLLERR or
/// POLLHUP), which a write would only discover at the next line.
fn reader_gone() -> bool {
    let stdout = io::stdout();
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::empty())];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1))
        && fds[0].revents().is_some_and(|events| events.intersects(PollFlags::POLLERR | PollFlags::POLLHUP))
}

/// The same error again, for every later write (io::Error is not Clone).
fn copy(error: &io::Error) -> io::Error {
    error.raw_os_error().map_or_else(|| error.kind().into(), io::Error::from_raw_os_error)
}

/// Writes one line to stderr. A stderr that cannot be written (a closed
/// pipe, a full disk) loses the line, never the run: `eprintln!` would panic.
/// A control character in it (a newline in a file name or in a library's
/// message) is escaped, so the line stays one line.
pub fn stderr_line(text: &str) {
    let text = one_line(text);
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes()).and_then(|()| stderr.write_all(b"\n"));
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`).
fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.into() })
            .collect(),
    )
}
