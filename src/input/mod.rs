//! Where numbers come from: the classic fixture, `--range`, or `--input FILE`
//! / `-`. Files are read lazily, line by line, on their own thread
//! (`read_ahead`), so a slow pipe never stalls the run; the first bad line
//! ends the stream and is kept as an [`InputError`] naming the source, line
//! and text. Sources that can be read only once are copied for later runs
//! ([`Reopener`]).

mod copy;
mod lines;
mod numbers;
mod read_ahead;
mod reopen;
mod source;

pub(crate) use lines::{beginning, shorten, shown_path};
pub use numbers::{Numbers, Skip};
pub use reopen::Reopener;
pub use source::{JobSource, Pull};

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use read_ahead::Open;

pub use procpool_worker::primes::FIXTURE;

/// Lines longer than this are rejected without reading them whole.
pub const MAX_LINE_BYTES: usize = 4096;

/// Where the numbers of a run come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    Fixture,
    /// `start..end`, end exclusive.
    Range {
        start: u64,
        end: u64,
    },
    File(PathBuf),
    Stdin,
}

/// A bad input, with everything a user needs to find and fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// `text` is the line as shown: quoted, escaped, shortened.
    #[error("{origin}:{line}: {reason}: {text}")]
    BadLine { origin: String, line: u64, text: String, reason: String },
    #[error("{origin}: {reason}")]
    Source { origin: String, reason: String },
    /// No thread could be started to read the input (e.g. `ulimit -u`):
    /// the machine's limits, not the input, are at fault.
    #[error("cannot start a thread to read {origin}: {reason}")]
    Thread { origin: String, reason: String },
}

impl InputSpec {
    /// A name for messages: the path, `<stdin>`, `--range` or `the fixture`.
    pub fn name(&self) -> String {
        match self {
            InputSpec::Fixture => "the fixture".into(),
            InputSpec::Range { start, end } => format!("--range {start}..{end}"),
            InputSpec::File(path) => shown_path(path),
            InputSpec::Stdin => "<stdin>".into(),
        }
    }

    /// How many numbers, when that is known before reading.
    pub fn len_hint(&self) -> Option<u64> {
        match self {
            InputSpec::Fixture => Some(FIXTURE.len() as u64),
            InputSpec::Range { start, end } => Some(end - start),
            InputSpec::File(_) | InputSpec::Stdin => None,
        }
    }

    /// Starts reading. A file is opened here, so that a missing one is
    /// reported before anything runs; stdin and other sources that can be
    /// read only once are opened on the reader thread, where a blocking
    /// open(2) (a FIFO with no writer) cannot hold up a stop signal.
    pub fn open(&self) -> Result<Numbers, InputError> {
        self.open_copying(None)
    }

    /// As [`InputSpec::open`], also copying every byte read to `copy`.
    fn open_copying(&self, copy: Option<Arc<File>>) -> Result<Numbers, InputError> {
        let open: Open = match self {
            InputSpec::Fixture => return Ok(Numbers::in_memory(FIXTURE.iter().map(|&(n, _)| n))),
            InputSpec::Range { start, end } => return Ok(Numbers::in_memory(*start..*end)),
            InputSpec::Stdin => Box::new(|| Ok(Box::new(io::stdin()))),
            InputSpec::File(path) if path.is_dir() => {
                let reason = "is a directory; --input takes a file with one number per line".into();
                return Err(InputError::Source { origin: self.name(), reason });
            }
            InputSpec::File(path) if self.read_once()? => {
                let path = path.clone();
                Box::new(move || Ok(Box::new(File::open(path)?)))
            }
            InputSpec::File(path) => {
                let file = File::open(path).map_err(|e| self.error(&e))?;
                Box::new(move || Ok(Box::new(file)))
            }
        };
        let open = match copy {
            Some(file) => Box::new(move || {
                Ok(Box::new(copy::Tee { source: open()?, copy: file }) as Box<dyn Read + Send>)
            }),
            None => open,
        };
        Ok(Numbers::streamed(read_ahead::spawn(self.name(), open)?))
    }

    /// True for stdin and for paths that name something that cannot be read
    /// twice: a FIFO, `/dev/stdin` or `/proc/self/fd/N` on a pipe, `<(...)`,
    /// a character device, a socket. stat(2) says so without blocking.
    pub fn read_once(&self) -> Result<bool, InputError> {
        match self {
            InputSpec::Stdin => Ok(true),
            InputSpec::File(path) => Ok(!reopenable(path).map_err(|e| self.error(&e))?),
            InputSpec::Fixture | InputSpec::Range { .. } => Ok(false),
        }
    }

    /// This source, and what went wrong with it.
    fn error(&self, error: &io::Error) -> InputError {
        InputError::Source { origin: self.name(), reason: io_reason(error) }
    }
}

/// Regular files, directories (reported when read) and block devices give
/// the same bytes each time they are opened.
fn reopenable(path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::metadata(path)?.file_type();
    Ok(kind.is_file() || kind.is_dir() || kind.is_block_device())
}

/// Parses `START..END` (END exclusive, START < END).
pub fn parse_range(text: &str) -> Result<InputSpec, String> {
    let (start, end) = text.split_once("..").ok_or_else(|| format!("range {text:?} is not START..END"))?;
    let parse = |part: &str, what: &str| {
        parse_number(part.trim()).map_err(|reason| format!("range {what} {part:?}: {reason}"))
    };
    let (start, end) = (parse(start, "start")?, parse(end, "end")?);
    if start >= end {
        return Err(format!("range {text:?} is empty (END is exclusive and must exceed START)"));
    }
    Ok(InputSpec::Range { start, end })
}

/// Parses one decimal `u64`: digits only, no sign, no point, no prefix.
pub fn parse_number(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("empty number".into());
    }
    if let Some(bad) = text.chars().find(|c| !c.is_ascii_digit()) {
        let reason = match bad {
            '+' | '-' => "signs are not allowed",
            '.' | ',' | 'e' | 'E' => "not a whole number",
            'x' | 'X' if text.starts_with('0') => "hex is not supported",
            c if c.is_whitespace() => "more than one number on the line",
            _ => "not a decimal number",
        };
        return Err(reason.into());
    }
    text.parse::<u64>().map_err(|_| format!("out of range (the largest allowed is {})", u64::MAX))
}

pub(crate) fn io_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads `text` the way a file is read: parsed on the read-ahead thread.
    fn read(text: &[u8]) -> (Vec<u64>, Option<InputError>) {
        let text = text.to_vec();
        let lines =
            read_ahead::spawn("t".into(), Box::new(move || Ok(Box::new(io::Cursor::new(text))))).unwrap();
        let mut numbers = Numbers::streamed(lines);
        let values: Vec<u64> = numbers.by_ref().collect();
        (values, numbers.error().cloned())
    }

    #[test]
    fn skips_blanks_and_comments_and_trims() {
        assert_eq!(read(b"# header\n 7 \n\n\t8\r\n9").0, [7, 8, 9]);
    }

    #[test]
    fn trailing_comments_and_a_byte_order_mark_are_not_part_of_the_number() {
        assert_eq!(read(b"\xef\xbb\xbf97\n98 # even\n99# odd\n").0, [97, 98, 99]);
        // A mark anywhere but the start of the input is a bad character.
        let (values, error) = read(b"5\n\xef\xbb\xbf6\n");
        assert_eq!(values, [5]);
        assert!(error.unwrap().to_string().starts_with("t:2: not a decimal number"));
    }

    #[test]
    fn first_bad_line_stops_the_stream_and_names_itself() {
        let (values, error) = read(b"5\n6\n-7\n8\n");
        assert_eq!(values, [5, 6]);
        assert_eq!(error.unwrap().to_string(), r#"t:3: signs are not allowed: "-7""#);
    }

    #[test]
    fn each_class_of_bad_number_has_a_reason() {
        for (text, reason) in [
            ("+1", "signs"),
            ("1.5", "whole"),
            ("0x1f", "hex"),
            ("abc", "decimal"),
            ("18446744073709551616", "out of range"),
            ("1 2", "more than one"),
        ] {
            let error = parse_number(text).unwrap_err();
            assert!(error.contains(reason), "{text}: {error}");
        }
        assert_eq!(parse_number("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn long_lines_are_cut_off() {
        let line = vec![b'1'; MAX_LINE_BYTES * 4];
        let error = read(&line).1.unwrap().to_string();
        assert!(error.contains("longer than") && error.len() < 200, "{error}");
        assert!(error.ends_with("111...\""), "no made-up length: {error}");
    }

    #[test]
    fn the_limit_leaves_out_the_line_ending() {
        let at_limit = format!("{}7", " ".repeat(MAX_LINE_BYTES - 1));
        for ending in ["\n", "\r\n"] {
            assert_eq!(read(format!("{at_limit}{ending}5\n").as_bytes()), (vec![7, 5], None), "{ending:?}");
        }
        assert_eq!(read(at_limit.as_bytes()), (vec![7], None), "the last line, without an ending");
        let over = format!(" {at_limit}\r\n");
        assert!(read(over.as_bytes()).1.unwrap().to_string().contains("longer than 4096 bytes"));
    }

    #[test]
    fn what_cannot_be_opened_twice_for_the_same_bytes_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let file = dir.path().join("numbers");
        std::fs::write(&file, "7\n").unwrap();
        let dev_null = PathBuf::from("/dev/null"); // a character device
        for (path, once) in [(fifo, true), (dev_null, true), (file, false), (dir.path().to_owned(), false)] {
            assert_eq!(InputSpec::File(path.clone()).read_once(), Ok(once), "{}", path.display());
        }
        assert_eq!(InputSpec::Stdin.read_once(), Ok(true));
        assert_eq!(InputSpec::Fixture.read_once(), Ok(false));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("1..10"), Ok(InputSpec::Range { start: 1, end: 10 }));
        assert!(parse_range("10..10").is_err());
        assert!(parse_range("1-10").is_err());
        assert!(parse_range("1..x").is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_give_numbers_or_one_error_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let (_, error) = read(&bytes);
            if let Some(error) = error {
                prop_assert!(!error.to_string().contains('\n'));
            }
        }

        #[test]
        fn every_u64_round_trips(n in any::<u64>()) {
            prop_assert_eq!(read(format!("{n}\n").as_bytes()).0, vec![n]);
        }
    }
}
