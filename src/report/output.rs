//! Standard output that is both fast and prompt: lines are buffered, and a
//! background thread flushes whatever is pending every few milliseconds, so a
//! million lines cost a few hundred writes yet a line never waits long.

use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long a finished line may wait in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// The buffer, and a write error the flusher met (reported at the next write):
/// one lock per line.
struct Sink {
    writer: BufWriter<io::Stdout>,
    error: Option<io::ErrorKind>,
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
    flusher: Option<JoinHandle<()>>,
}

impl Output {
    pub fn stdout() -> Self {
        let shared = Arc::new(Shared {
            sink: Mutex::new(Sink { writer: BufWriter::with_capacity(1 << 16, io::stdout()), error: None }),
            stop: AtomicBool::new(false),
        });
        let background = Arc::clone(&shared);
        let flusher = thread::spawn(move || {
            while !background.stop.load(Ordering::Relaxed) {
                thread::park_timeout(FLUSH_EVERY);
                let mut sink = background.sink();
                if let Err(e) = sink.writer.flush() {
                    sink.error = Some(e.kind());
                    return;
                }
            }
        });
        Output { shared, flusher: Some(flusher) }
    }

    /// Writes one line (a newline is added).
    pub fn line(&self, text: &str) -> io::Result<()> {
        let mut sink = self.shared.sink();
        if let Some(kind) = sink.error {
            return Err(kind.into());
        }
        sink.writer.write_all(text.as_bytes())?;
        sink.writer.write_all(b"\n")
    }

    /// Flushes now.
    pub fn flush(&self) -> io::Result<()> {
        self.shared.sink().writer.flush()
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
