//! No file this run writes may be one it reads, checked before any work:
//! `--timeline nums.svg --input nums.svg` would draw the chart over the
//! numbers that the next variant (compare, all) reads again, `--input
//! nums.txt >> nums.txt` would read its own result lines back, and `--resume
//! run.jsonl > run.jsonl` would empty the file before it is read. Files are
//! compared by device and inode, so another name for the same file (`./x`,
//! a hard or symbolic link, `/dev/stdin`, `/proc/self/fd/N`) is caught too.
//! Only regular files count: `--input /dev/null > /dev/null` reads and writes
//! nothing that the other could spoil.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::AppError;
use crate::input::{shown_path, InputSpec};

/// Where stdout and stdin really go.
const STDOUT: &str = "/proc/self/fd/1";
const STDIN: &str = "/proc/self/fd/0";

/// A file of ours, named as the messages name it.
struct Named<'a> {
    what: String,
    path: &'a Path,
}

/// The usage error (exit code 2) if stdout or `chart` (`--timeline` or
/// `--plot`, with its path) is a file that the input or `resume` is read
/// from, or if the chart is stdout's file.
pub fn refuse_overlaps(
    spec: &InputSpec,
    resume: Option<&Path>,
    chart: Option<(&str, &Path)>,
) -> Result<(), AppError> {
    let mut reads = Vec::new();
    match spec {
        InputSpec::File(path) => reads.push(Named { what: format!("--input {}", shown_path(path)), path }),
        InputSpec::Stdin => reads.push(Named { what: "stdin (--input -)".into(), path: Path::new(STDIN) }),
        InputSpec::Fixture | InputSpec::Range { .. } => {}
    }
    if let Some(path) = resume {
        reads.push(Named { what: format!("--resume {}", shown_path(path)), path });
    }
    let stdout = Named { what: "this run's stdout".into(), path: Path::new(STDOUT) };
    let chart = chart.map(|(flag, path)| Named { what: format!("{flag} {}", shown_path(path)), path });
    for written in std::iter::once(&stdout).chain(&chart) {
        if let Some(read) = reads.iter().find(|read| same_file(read.path, written.path)) {
            if written.path == Path::new(STDOUT) && fs::metadata(read.path).is_ok_and(|m| m.len() == 0) {
                // Refusing cannot protect it any more: say so rather than imply it.
                return Err(AppError::Usage(format!(
                    "{} is also this run's stdout, and it is empty now: a `>` redirection empties the file \
                     before procpool starts, so what it held is already gone; write stdout to another file",
                    read.what
                )));
            }
            return Err(AppError::Usage(format!(
                "{} is also {}, which would overwrite what this run reads; write {} to another file",
                read.what,
                written.what,
                if written.path == Path::new(STDOUT) { "stdout" } else { "the chart" }
            )));
        }
    }
    if let Some(chart) = chart.filter(|chart| same_file(chart.path, stdout.path)) {
        return Err(AppError::Usage(format!(
            "{} is also this run's stdout: the chart and the results would overwrite each other; \
             write one of them to another file",
            chart.what
        )));
    }
    Ok(())
}

/// True when both paths name one existing regular file.
fn same_file(a: &Path, b: &Path) -> bool {
    let identity = |path: &Path| {
        fs::metadata(path).ok().filter(fs::Metadata::is_file).map(|meta| (meta.dev(), meta.ino()))
    };
    identity(a).is_some_and(|a| Some(a) == identity(b))
}
