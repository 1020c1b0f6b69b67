use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

mod app;
mod cli;
mod completed;
mod executor;
mod input;
mod out_of_memory;
mod report;

use app::AppError;
use cli::{stray_word_error, Cli};
use report::output::stderr_line;

#[global_allocator]
static ALLOCATOR: out_of_memory::ExitWhenOutOfMemory = out_of_memory::ExitWhenOutOfMemory;

fn main() -> ExitCode {
    procpool::worker_entry();
    out_of_memory::in_supervisor();
    empty_tmpdir_means_tmp();
    writes_past_the_file_size_limit_fail();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version
        Err(e) if !e.use_stderr() => {
            return match e.print().and_then(|()| io::stdout().flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(AppError::Output(e)),
            };
        }
        Err(e) => {
            // clap's whole message: the allowed values, the near match, the usage line.
            let _ = stray_word_error(&e).unwrap_or(e).print();
            return ExitCode::from(2);
        }
    };
    match app::run(&cli) {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

/// `TMPDIR=` (set, but empty) means the default, /tmp, as POSIX tools read
/// it; std, tempfile and ipc-channel would take it for the current
/// directory. Removed here, before any thread exists, so that this process
/// and every worker it starts agree.
fn empty_tmpdir_means_tmp() {
    if std::env::var_os("TMPDIR").is_some_and(|dir| dir.is_empty()) {
        std::env::remove_var("TMPDIR");
    }
}

/// A write past `ulimit -f` then fails with EFBIG and gets the one line of
/// any failed write (a chart is removed, not left cut off), instead of
/// SIGXFSZ killing the program without a word. For every command, `--help`
/// and completions included.
fn writes_past_the_file_size_limit_fail() {
    // SAFETY: SIG_IGN runs no handler code; no thread exists yet.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}

/// One line on stderr and the error's exit code; a reader that left stdout
/// early (`procpool | head`) is no failure and gets neither.
fn fail(error: AppError) -> ExitCode {
    if error.is_broken_pipe() {
        return ExitCode::SUCCESS;
    }
    let line = format!("procpool: {error}");
    out_of_memory::claim_last_word();
    stderr_line(&line);
    error.exit_code()
}
