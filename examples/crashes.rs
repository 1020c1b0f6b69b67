//! Jobs that return, panic, or abort their whole worker process, and what
//! each one gives back; the other jobs are not affected.
//!
//! `cargo run --example crashes`

use procpool::{Job, JobError, ProcessPool, WorkerOutput};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Risky(u64);

impl Job for Risky {
    type Output = u64;
    fn run(self) -> u64 {
        match self.0 % 5 {
            3 => panic!("{} is unlucky", self.0),
            4 if self.0 == 9 => std::process::abort(), // takes its worker down
            _ => self.0 * 10,
        }
    }
}

fn main() {
    procpool::worker_entry();
    let pool = ProcessPool::<Risky>::builder()
        .workers(2)
        .worker_stderr(WorkerOutput::Null) // keep the panic messages out of this demo's output
        .build()
        .expect("pool");
    for (n, outcome) in (0..12).zip(pool.map((0..12).map(Risky))) {
        match outcome {
            Ok(value) => println!("job {n:>2}: returned {value}"),
            Err(JobError::Panicked { message }) => {
                println!("job {n:>2}: panicked: {message} (its worker lives on)")
            }
            Err(e @ JobError::WorkerDied { .. }) => println!("job {n:>2}: {e} (a new worker took its place)"),
            Err(e) => println!("job {n:>2}: {e}"),
        }
    }
}
