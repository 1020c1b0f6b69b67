//! Parsing a file or pipe line by line: one decimal number per line, blank
//! lines and `#` comments (whole-line or trailing) skipped, a UTF-8
//! byte-order mark on the first line ignored, the first bad line reported
//! and final.

use std::io::{BufRead, BufReader, Read};

use super::{io_reason, parse_number, InputError, MAX_LINE_BYTES};

/// Reads one number per line: blank lines and `#` comments skipped,
/// surrounding whitespace (CRLF included) allowed.
pub(super) struct LineReader {
    source: String,
    reader: BufReader<Box<dyn Read + Send>>,
    line: u64,
    buffer: Vec<u8>,
    failed: bool,
}

impl LineReader {
    pub(super) fn new(source: String, reader: Box<dyn Read + Send>) -> Self {
        let reader = BufReader::with_capacity(1 << 16, reader);
        LineReader { source, reader, line: 0, buffer: Vec::new(), failed: false }
    }

    /// True when the next line is not complete in the buffer, so reading it
    /// may block on the file or pipe: the moment to hand on what has been
    /// parsed so far.
    pub(super) fn must_read(&self) -> bool {
        !self.reader.buffer().contains(&b'\n')
    }

    fn bad(&mut self, text: &[u8], reason: impl Into<String>) -> InputError {
        self.failed = true;
        InputError::BadLine {
            origin: self.source.clone(),
            line: self.line,
            text: shorten(text),
            reason: reason.into(),
        }
    }
}

impl Iterator for LineReader {
    type Item = Result<u64, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            self.buffer.clear();
            self.line += 1;
            // The limit is on the line without its ending (LF or CRLF): two bytes more may come.
            let read = (&mut self.reader).take(MAX_LINE_BYTES as u64 + 2).read_until(b'\n', &mut self.buffer);
            match read {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    self.failed = true;
                    return Some(Err(InputError::Source {
                        origin: self.source.clone(),
                        reason: io_reason(&e),
                    }));
                }
            }
            if without_ending(&self.buffer).len() > MAX_LINE_BYTES {
                // Only its first bytes were read, and they are all it shows.
                self.failed = true;
                return Some(Err(InputError::BadLine {
                    origin: self.source.clone(),
                    line: self.line,
                    text: beginning(&self.buffer),
                    reason: format!("line longer than {MAX_LINE_BYTES} bytes"),
                }));
            }
            let Ok(text) = std::str::from_utf8(&self.buffer) else {
                let text = self.buffer.trim_ascii().to_vec();
                return Some(Err(self.bad(&text, "not valid UTF-8 text")));
            };
            // Editors on Windows save a byte-order mark; it is not part of the number.
            let text = if self.line == 1 { text.strip_prefix('\u{feff}').unwrap_or(text) } else { text };
            let text = without_comment(text).trim();
            if text.is_empty() {
                continue;
            }
            return Some(match parse_number(text) {
                Ok(n) => Ok(n),
                Err(reason) => {
                    let text = text.as_bytes().to_vec();
                    Err(self.bad(&text, reason))
                }
            });
        }
        None
    }
}

/// A line without its ending: `\n`, or `\r\n` as Windows editors write.
fn without_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The line up to its `#`, so `97  # prime` reads as 97.
fn without_comment(text: &str) -> &str {
    text.split_once('#').map_or(text, |(number, _comment)| number)
}

/// A path as messages show it: as it is, or quoted with its control
/// characters escaped (`"a\nb.txt"`) when it has any, so that a file named
/// with a newline cannot split a message over two lines.
pub(crate) fn shown_path(path: &std::path::Path) -> String {
    if path.to_string_lossy().chars().any(char::is_control) {
        format!("{path:?}")
    } else {
        path.display().to_string()
    }
}

/// How much of a bad line a message shows: characters, or bytes that are not UTF-8.
const SHOWN: usize = 40;

/// A bad line as messages show it, on one readable line: quoted as Rust
/// quotes a string, each byte that is not UTF-8 as `\xNN`, and a long line
/// by its start and its length.
pub(crate) fn shorten(line: &[u8]) -> String {
    let (head, cut) = escaped(line);
    if cut {
        format!("\"{head}... ({} bytes)\"", line.len())
    } else {
        format!("\"{head}\"")
    }
}

/// The start of a line that was too long to read whole, whose length is
/// therefore not known: no byte count, only that there is more.
pub(crate) fn beginning(line: &[u8]) -> String {
    format!("\"{}...\"", escaped(line).0)
}

/// The first [`SHOWN`] characters (or stray bytes) of `line`, escaped, and
/// whether there was more.
fn escaped(line: &[u8]) -> (String, bool) {
    let mut shown = String::new();
    let mut count = 0;
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            if count == SHOWN {
                return (shown, true);
            }
            let quoted = format!("{:?}", c.to_string()); // as a string quotes it: `'` stays
            shown.push_str(&quoted[1..quoted.len() - 1]);
            count += 1;
        }
        for byte in chunk.invalid() {
            if count == SHOWN {
                return (shown, true);
            }
            shown.push_str(&format!("\\x{byte:02x}"));
            count += 1;
        }
    }
    (shown, false)
}
