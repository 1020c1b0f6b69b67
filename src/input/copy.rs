//! The copy of a source that can be read only once (stdin, a FIFO, a
//! character device): written as the first run reads, read back by the later
//! runs. It lives in an unlinked temporary file in TMPDIR, so memory stays
//! flat however long the input and nothing is left behind, whatever ends the run.

use std::env;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::shown_path;

/// An unlinked file in TMPDIR (`O_TMPFILE` where the file system has it).
pub(super) fn create() -> io::Result<Arc<File>> {
    tempfile::tempfile().map(Arc::new).map_err(|e| failed("create", &e))
}

/// Copies every byte read from `source` to the end of `copy`.
pub(super) struct Tee {
    pub source: Box<dyn Read + Send>,
    pub copy: Arc<File>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.source.read(buf)?;
        (&*self.copy).write_all(&buf[..read]).map_err(|e| failed("write", &e))?;
        Ok(read)
    }
}

/// Reads `copy` from its start, whatever other readers of it have done.
pub(super) struct Replay {
    pub copy: Arc<File>,
    pub offset: u64,
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.copy.read_at(buf, self.offset)?;
        self.offset += read as u64;
        Ok(read)
    }
}

/// Says what went wrong and where, as `ErrorKind::Other` so that it is not
/// mistaken for a problem with the input itself ("no such file").
fn failed(what: &str, error: &io::Error) -> io::Error {
    let dir = env::temp_dir();
    io::Error::other(format!(
        "cannot {what} its copy for the later runs in {} (TMPDIR): {error}",
        shown_path(&dir)
    ))
}
