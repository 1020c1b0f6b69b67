//! A job type of your own: squares, on worker processes, in order.
//!
//! `cargo run --example custom_job`

use procpool::{Job, ProcessPool};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Square(u64);

impl Job for Square {
    type Output = u64;
    fn run(self) -> u64 {
        self.0 * self.0
    }
}

fn main() {
    procpool::worker_entry(); // first line of main: in a worker it serves jobs and never returns
    procpool::start_fork_server().expect("no thread yet"); // optional: workers forked, not executed
    let pool = ProcessPool::<Square>::builder().workers(4).build().expect("pool");
    let mut sum = 0;
    for (i, outcome) in pool.map((0..1000).map(Square)).enumerate() {
        let square: u64 = outcome.expect("job");
        assert_eq!(square, (i * i) as u64);
        sum += square;
    }
    let handle = pool.submit(Square(7));
    assert_eq!(handle.wait().unwrap(), 49);
    println!("sum of the first 1000 squares: {sum}, computed by workers {:?}", pool.pids());
    pool.shutdown();
}
