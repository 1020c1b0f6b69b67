//! Reading a `--json` run's output back, line by line, without holding it:
//! the `run` header first, then the results in submission order. A last line
//! without its newline is what a killed run leaves mid-write, and is ignored;
//! any other line that is not what procpool writes stops the resume, named by
//! file, line number and text.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::input::{beginning, io_reason, shorten, shown_path, InputError};

/// Longer lines are not procpool's (a failure with many deaths is a few KiB).
const MAX_LINE_BYTES: u64 = 1 << 20;

/// A result of the earlier run, to be written again in its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    /// Position in submission order.
    pub index: u64,
    pub n: u64,
    pub prime: bool,
    /// Wall time of the check, as the earlier run measured it.
    pub elapsed: Duration,
    /// The line as it stands in the file, without its newline.
    pub line: String,
    /// Where the line is, for messages.
    pub line_number: u64,
}

impl Carried {
    /// As the book's line prints it (the earlier run's pid and CPU time are not kept).
    pub fn as_result(&self) -> procpool::PrimeResult {
        procpool::PrimeResult {
            index: self.index,
            n: self.n,
            prime: self.prime,
            started_at: Duration::ZERO,
            elapsed: self.elapsed,
            cpu: Duration::ZERO,
            pid: 0,
        }
    }
}

/// The fields procpool's lines may have that a resume reads; others are skipped.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    index: Option<u64>,
    n: Option<u64>,
    prime: Option<bool>,
    elapsed: Option<f64>,
}

/// The file's complete lines, one at a time, with where each one is.
struct Lines {
    reader: BufReader<File>,
    /// Lines read so far, and the byte offset after them.
    line: u64,
    offset: u64,
    buffer: Vec<u8>,
}

impl Lines {
    /// The next complete line with its number, `None` at the end (a torn
    /// last line is the end too).
    fn next(&mut self, path: &Path) -> Result<Option<(u64, &str)>, InputError> {
        self.buffer.clear();
        let read = (&mut self.reader).take(MAX_LINE_BYTES + 1).read_until(b'\n', &mut self.buffer);
        let origin = || shown_path(path);
        let read = read.map_err(|e| InputError::Source { origin: origin(), reason: io_reason(&e) })?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buffer.last() != Some(&b'\n') {
            if self.buffer.len() as u64 > MAX_LINE_BYTES {
                // Only its start was read: shown without a length, which is not known.
                return Err(InputError::BadLine {
                    origin: shown_path(path),
                    line: self.line,
                    text: beginning(&self.buffer),
                    reason: "longer than any line procpool writes".into(),
                });
            }
            // A torn last line: the run was killed while writing it.
            return Ok(None);
        }
        self.offset += read as u64;
        self.buffer.pop();
        match std::str::from_utf8(&self.buffer) {
            Ok(text) => Ok(Some((self.line, text))),
            Err(_) => Err(bad_bytes(path, self.line, &self.buffer, "not valid UTF-8 text")),
        }
    }
}

/// A bad line of the file at `path`: where it is, what it says, what is wrong.
pub fn bad(path: &Path, line: u64, text: &str, reason: impl Into<String>) -> InputError {
    bad_bytes(path, line, text.as_bytes(), reason)
}

/// [`bad`] for a line that may not be UTF-8.
fn bad_bytes(path: &Path, line: u64, text: &[u8], reason: impl Into<String>) -> InputError {
    let text = shorten(text.trim_ascii());
    InputError::BadLine { origin: shown_path(path), line, text, reason: reason.into() }
}

/// A resume file being read, from its start or from a line of it.
pub struct ResumeFile {
    path: PathBuf,
    lines: Lines,
    /// The index of the last result or failure, which the next must exceed.
    last_index: Option<u64>,
}

impl ResumeFile {
    /// Opens `path` at its first line.
    pub fn open(path: &Path) -> Result<Self, InputError> {
        Self::open_at(path, 0, 0)
    }

    /// A second reader of the same file, from the line that starts at byte
    /// `offset` (line number `line` + 1).
    pub fn open_at(path: &Path, offset: u64, line: u64) -> Result<Self, InputError> {
        let failed = |e: std::io::Error| InputError::Source {
            origin: shown_path(path),
            reason: format!("cannot read the --resume file: {}", io_reason(&e)),
        };
        if path.is_dir() {
            return Err(failed(std::io::Error::from(std::io::ErrorKind::IsADirectory)));
        }
        // A FIFO would block open(2) until someone wrote to it, deaf to a
        // stop signal, and could not be read twice (see `open_at`).
        if path.metadata().is_ok_and(|meta| !meta.is_file()) {
            return Err(failed(std::io::Error::other("it is not a regular file")));
        }
        let mut file = File::open(path).map_err(failed)?;
        file.seek(SeekFrom::Start(offset)).map_err(failed)?;
        let reader = BufReader::with_capacity(1 << 16, file);
        let lines = Lines { reader, line, offset, buffer: Vec::new() };
        Ok(ResumeFile { path: path.to_owned(), lines, last_index: None })
    }

    pub fn name(&self) -> String {
        shown_path(&self.path)
    }

    /// Where the next line starts: its byte offset and the number of lines before it.
    pub fn position(&self) -> (u64, u64) {
        (self.lines.offset, self.lines.line)
    }

    /// The first line, parsed, when it is complete: the run header.
    pub fn header(&mut self) -> Result<Option<serde_json::Value>, InputError> {
        let Some((line, text)) = self.lines.next(&self.path)? else {
            return Ok(None);
        };
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) if value["type"] == "run" => Ok(Some(value)),
            _ => Err(bad(
                &self.path,
                line,
                text,
                "not the output of `procpool --json` (a \"run\" object comes first)",
            )),
        }
    }

    /// The next result of the earlier run, skipping summaries, failures (a
    /// failed number is checked again) and anything else that is not a result.
    pub fn next_result(&mut self) -> Result<Option<Carried>, InputError> {
        let path = &self.path;
        while let Some((line, text)) = self.lines.next(path)? {
            let fields = serde_json::from_str::<Fields<'_>>(text)
                .map_err(|e| bad(path, line, text, format!("not a procpool JSON line ({e})")))?;
            let kind = fields.kind.as_ref();
            if kind == "run" {
                return Err(bad(
                    path,
                    line,
                    text,
                    "a second run starts here; --resume takes the output of one run",
                ));
            }
            if kind != "result" && kind != "failure" {
                continue;
            }
            let index =
                fields.index.ok_or_else(|| bad(path, line, text, format!("a {kind} without an index")))?;
            if let Some(last) = self.last_index.filter(|&last| index <= last) {
                return Err(bad(
                    path,
                    line,
                    text,
                    format!("index {index} after {last}: not in submission order"),
                ));
            }
            self.last_index = Some(index);
            if kind == "failure" {
                continue;
            }
            let (Some(n), Some(prime), Some(secs)) = (fields.n, fields.prime, fields.elapsed) else {
                return Err(bad(path, line, text, "a result needs n, prime and an elapsed time"));
            };
            let Ok(elapsed) = Duration::try_from_secs_f64(secs) else {
                let reason = format!("elapsed {secs} is not a time in seconds (0 or more, finite)");
                return Err(bad(path, line, text, reason));
            };
            return Ok(Some(Carried { index, n, prime, elapsed, line: text.to_owned(), line_number: line }));
        }
        Ok(None)
    }

    /// A bad line of this file, read earlier.
    pub fn bad_at(&self, line: u64, text: &str, reason: impl Into<String>) -> InputError {
        bad(&self.path, line, text, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    const HEADER: &str = r#"{"type":"run","kernel":"book","input":{"kind":"fixture"}}"#;

    #[test]
    fn an_elapsed_time_that_is_no_duration_is_named_as_such() {
        for elapsed in ["-1", "1e308"] {
            let text = format!("{HEADER}\n{{\"type\":\"result\",\"index\":0,\"n\":7,\"prime\":true,\"elapsed\":{elapsed}}}\n");
            let error = read_all(&text).unwrap_err().to_string();
            assert!(error.contains(":2: elapsed ") && error.contains("is not a time in seconds"), "{error}");
        }
    }

    fn result(index: u64, n: u64) -> String {
        format!(
            r#"{{"type":"result","variant":"processes","index":{index},"n":{n},"prime":true,"elapsed":0.5,"cpu":0.5,"pid":7}}"#
        )
    }

    fn read_all(text: &str) -> Result<Vec<u64>, InputError> {
        let file = file(text);
        let mut resume = ResumeFile::open(file.path())?;
        resume.header()?;
        let mut indices = Vec::new();
        while let Some(carried) = resume.next_result()? {
            indices.push(carried.index);
        }
        Ok(indices)
    }

    #[test]
    fn results_are_read_and_summaries_and_failures_skipped() {
        let failure = r#"{"type":"failure","variant":"processes","index":1,"n":5,"deaths":[]}"#;
        let text =
            format!("{HEADER}\n{}\n{failure}\n{}\n{{\"type\":\"summary\"}}\n", result(0, 3), result(2, 7));
        assert_eq!(read_all(&text).unwrap(), [0, 2]);
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_a_torn_header_is_an_empty_file() {
        let text = format!("{HEADER}\n{}\n{}", result(0, 3), &result(1, 5)[..40]);
        assert_eq!(read_all(&text).unwrap(), [0]);
        assert_eq!(read_all(&HEADER[..20]).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn a_bad_middle_line_is_named_by_file_line_and_text() {
        let text = format!("{HEADER}\n{}\ngarbage\n{}\n", result(0, 3), result(1, 5));
        let error = read_all(&text).unwrap_err().to_string();
        assert!(error.contains(":3: not a procpool JSON line") && error.ends_with("\"garbage\""), "{error}");
    }

    #[test]
    fn results_out_of_order_or_twice_are_refused() {
        let text = format!("{HEADER}\n{}\n{}\n", result(1, 3), result(1, 3));
        let error = read_all(&text).unwrap_err().to_string();
        assert!(error.contains(":3: index 1 after 1"), "{error}");
    }

    #[test]
    fn the_first_line_must_be_a_run_header() {
        let error = read_all(&format!("{}\n", result(0, 3))).unwrap_err().to_string();
        assert!(error.contains(":1: not the output of `procpool --json`"), "{error}");
    }

    #[test]
    fn a_second_reader_starts_where_it_is_told() {
        let text = format!("{HEADER}\n{}\n{}\n", result(0, 3), result(1, 5));
        let file = file(&text);
        let mut first = ResumeFile::open(file.path()).unwrap();
        first.header().unwrap();
        first.next_result().unwrap();
        let (offset, line) = first.position();
        let mut second = ResumeFile::open_at(file.path(), offset, line).unwrap();
        let carried = second.next_result().unwrap().unwrap();
        assert_eq!((carried.index, carried.n, carried.line_number), (1, 5, 3));
        assert_eq!(carried.line, result(1, 5));
    }
}
