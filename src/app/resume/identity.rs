//! What a run's numbers were, written as the first object of its `--json`
//! output (`{"type":"run",...}`), so that `--resume` can refuse the output
//! of another input before it carries anything over. Results are checked one
//! by one as well (each names its number), which covers what a header cannot
//! see: a file edited in place, or a pipe that brings other numbers.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cli::{mode_name, Mode};
use crate::input::{io_reason, shown_path, InputError, InputSpec};
use procpool_worker::Kernel;

/// Where the numbers came from, as far as a later run can check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputId {
    Fixture,
    Range {
        start: u64,
        end: u64,
    },
    /// A regular file: its size is compared, its path and modification time
    /// (seconds since 1970) are there for the reader, so a moved or copied
    /// file still resumes.
    File {
        path: String,
        size: u64,
        modified: i64,
    },
    /// Stdin, a FIFO, `<(...)`: read once, known only by its numbers.
    Stream {
        name: String,
    },
}

impl InputId {
    /// Looks `spec` up (a file's size, its absolute path).
    pub fn of(spec: &InputSpec) -> Result<Self, InputError> {
        Ok(match spec {
            InputSpec::Fixture => InputId::Fixture,
            InputSpec::Range { start, end } => InputId::Range { start: *start, end: *end },
            InputSpec::File(_) | InputSpec::Stdin if spec.read_once()? => {
                InputId::Stream { name: spec.name() }
            }
            InputSpec::File(path) => {
                let failed =
                    |e: std::io::Error| InputError::Source { origin: spec.name(), reason: io_reason(&e) };
                let metadata = fs::metadata(path).map_err(failed)?;
                let path = fs::canonicalize(path).map_err(failed)?;
                InputId::File {
                    path: path.display().to_string(),
                    size: metadata.size(),
                    modified: metadata.mtime(),
                }
            }
            InputSpec::Stdin => InputId::Stream { name: spec.name() },
        })
    }

    /// Whether results for `self` are results for `other`.
    fn same(&self, other: &InputId) -> bool {
        match (self, other) {
            (InputId::File { size: a, .. }, InputId::File { size: b, .. }) => a == b,
            (InputId::Stream { .. }, InputId::Stream { .. }) => true,
            (a, b) => a == b,
        }
    }

    fn describe(&self) -> String {
        match self {
            InputId::Fixture => "the fixture".into(),
            InputId::Range { start, end } => format!("--range {start}..{end}"),
            InputId::File { path, size, .. } => format!("{} ({size} bytes)", shown_path(Path::new(path))),
            InputId::Stream { name } => format!("numbers read once from {name}"),
        }
    }
}

/// What identifies a run's results: its input, its kernel, and its mode
/// (`processes`, `rayon`, `sequential`, or `mpi` for a cluster run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunId {
    pub mode: String,
    pub kernel: Kernel,
    pub input: InputId,
}

/// The `run` object, as written and as read back.
#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(rename = "type")]
    kind: String,
    procpool: String,
    mode: String,
    kernel: String,
    input: InputId,
}

impl RunId {
    pub fn new(spec: &InputSpec, mode: Mode, kernel: Kernel) -> Result<Self, InputError> {
        Self::named(spec, mode_name(mode), kernel)
    }

    /// A run whose mode is no `--mode` value (`mpi`).
    pub fn named(spec: &InputSpec, mode: String, kernel: Kernel) -> Result<Self, InputError> {
        Ok(RunId { mode, kernel, input: InputId::of(spec)? })
    }

    /// The first line of `--json` output.
    pub fn header_line(&self) -> String {
        let header = Header {
            kind: "run".into(),
            procpool: env!("CARGO_PKG_VERSION").into(),
            mode: self.mode.clone(),
            kernel: self.kernel.name().into(),
            input: self.input.clone(),
        };
        serde_json::to_string(&header).expect("the header always serializes")
    }

    /// Refuses a header `file` holds unless its results belong to this run.
    pub fn check(&self, file: &str, header: serde_json::Value) -> Result<(), InputError> {
        let refuse = |reason: String| InputError::Source { origin: file.to_owned(), reason };
        let header: Header = serde_json::from_value(header)
            .map_err(|e| refuse(format!("its first line is not a run header procpool can read ({e})")))?;
        if header.mode == "compare" || header.mode == "all" {
            return Err(refuse(format!(
                "holds a --mode {} run, which checks every number more than once; \
                 only a --mode processes, rayon or sequential run can be resumed",
                header.mode
            )));
        }
        if header.kernel != self.kernel.name() {
            return Err(refuse(format!(
                "was written with --kernel {} and this run uses --kernel {}: resume it with --kernel {}",
                header.kernel,
                self.kernel.name(),
                header.kernel
            )));
        }
        if !self.input.same(&header.input) {
            return Err(refuse(format!(
                "belongs to another input: it holds results for {}, this run checks {}",
                header.input.describe(),
                self.input.describe()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(input: InputId) -> serde_json::Value {
        let id = RunId { mode: "processes".into(), kernel: Kernel::Book, input };
        serde_json::from_str(&id.header_line()).unwrap()
    }

    fn run(input: InputId) -> RunId {
        RunId { mode: "processes".into(), kernel: Kernel::Book, input }
    }

    #[test]
    fn the_same_input_is_accepted_and_another_refused() {
        let range = InputId::Range { start: 1, end: 100 };
        assert!(run(range.clone()).check("r.jsonl", header(range.clone())).is_ok());
        let error = run(InputId::Range { start: 1, end: 200 }).check("r.jsonl", header(range)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "r.jsonl: belongs to another input: it holds results for --range 1..100, this run checks --range 1..200"
        );
        assert!(run(InputId::Fixture).check("r.jsonl", header(InputId::Fixture)).is_ok());
    }

    #[test]
    fn a_file_is_known_by_its_size_not_its_path() {
        let file = |path: &str, size| InputId::File { path: path.into(), size, modified: 0 };
        assert!(run(file("/a/n.txt", 10)).check("r", header(file("/b/n.txt", 10))).is_ok());
        assert!(run(file("/a/n.txt", 11)).check("r", header(file("/a/n.txt", 10))).is_err());
    }

    #[test]
    fn another_kernel_or_a_comparison_is_refused() {
        let mut value = header(InputId::Fixture);
        value["kernel"] = "fast".into();
        let error = run(InputId::Fixture).check("r", value).unwrap_err().to_string();
        assert!(error.contains("--kernel fast"), "{error}");
        let mut value = header(InputId::Fixture);
        value["mode"] = "compare".into();
        let error = run(InputId::Fixture).check("r", value).unwrap_err().to_string();
        assert!(error.contains("--mode compare run"), "{error}");
    }
}
