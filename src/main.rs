use std::process::ExitCode;

use clap::Parser;
use procpool::cli::{stray_word_error, Cli};

fn main() -> ExitCode {
    procpool::worker_entry();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's whole message: the allowed values, the near match, the usage line.
            let _ = stray_word_error(&e).unwrap_or(e).print();
            return ExitCode::from(2);
        }
    };
    match procpool::app::run(&cli) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("procpool: {e}");
            e.exit_code()
        }
    }
}
