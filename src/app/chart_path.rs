//! A chart's path, checked before any work is done: a run of minutes must
//! not end in "cannot write the chart", and a `.png` name must not receive SVG.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::AppError;
use crate::input::{io_reason, shown_path};

/// Ok when `path` names an `.svg` file that can be created or overwritten;
/// otherwise the usage error naming `flag`, the path and what is wrong.
pub fn check(flag: &str, path: &Path) -> Result<(), AppError> {
    let bad = |reason: String| Err(AppError::Usage(format!("{flag} {}: {reason}", shown_path(path))));
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if extension != "svg" {
        let hint = if extension.is_empty() { String::new() } else { format!(", not .{extension}") };
        return bad(format!(
            "charts are written as SVG: name the file .svg{hint} (rsvg-convert or resvg turn it into a PNG)"
        ));
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty() && !dir.is_dir()) {
        return bad(format!("the directory {} does not exist", shown_path(dir)));
    }
    if path.is_dir() {
        return bad("is a directory".into());
    }
    // A FIFO (or a device) would block the open below, and later the
    // drawing, until someone reads it: a stop signal could not end that.
    if path.metadata().is_ok_and(|meta| !meta.is_file()) {
        return bad("is not a regular file".into());
    }
    let existed = path.exists();
    // Opened without truncating, so an existing chart survives a run that
    // fails; never blocking, should a FIFO appear there after the check.
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false).custom_flags(libc::O_NONBLOCK);
    match options.open(path) {
        Ok(_) if !existed => {
            let _ = fs::remove_file(path);
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => bad(format!("cannot be written: {}", io_reason(&e))),
    }
}
