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

struct Shared {
    writer: Mutex<BufWriter<io::Stdout>>,
    stop: AtomicBool,
    /// A write error the flusher met, reported at the next write.
    error: Mutex<Option<io::ErrorKind>>,
}

/// Buffered stdout with a periodic flush. Dropping it flushes and stops the thread.
pub struct Output {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

impl Output {
    pub fn stdout() -> Self {
        let shared = Arc::new(Shared {
            writer: Mutex::new(BufWriter::with_capacity(1 << 16, io::stdout())),
            stop: AtomicBool::new(false),
            error: Mutex::new(None),
        });
        let background = Arc::clone(&shared);
        let flusher = thread::spawn(move || {
            while !background.stop.load(Ordering::Relaxed) {
                thread::park_timeout(FLUSH_EVERY);
                let mut writer = background.writer.lock().unwrap_or_else(PoisonError::into_inner);
                if let Err(e) = writer.flush() {
                    *background.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.kind());
                    return;
                }
            }
        });
        Output { shared, flusher: Some(flusher) }
    }

    /// Writes one line (a newline is added).
    pub fn line(&self, text: &str) -> io::Result<()> {
        if let Some(kind) = *self.shared.error.lock().unwrap_or_else(PoisonError::into_inner) {
            return Err(kind.into());
        }
        let mut writer = self.shared.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer.write_all(text.as_bytes())?;
        writer.write_all(b"\n")
    }

    /// Flushes now.
    pub fn flush(&self) -> io::Result<()> {
        self.shared.writer.lock().unwrap_or_else(PoisonError::into_inner).flush()
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
