use std::process::ExitCode;

use clap::Parser;

mod app;
mod cli;
mod completed;
mod executor;
mod input;
mod report;

use cli::Cli;

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
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("procpool: {} (see --help)", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    match app::run(&cli) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("procpool: {e}");
            e.exit_code()
        }
    }
}
