//! One job's answer as it travels from a rank to rank 0, and a run of them
//! as rank 0's scheduler holds it.

use std::time::Duration;

use procpool::{Death, Finished, JobError};

use procpool::scheduler::Batch;

/// What a rank's pool made of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Checked {
        prime: bool,
        started_at: Duration,
        elapsed: Duration,
        cpu: Duration,
        pid: u32,
    },
    /// Given up on by the rank's pool: every worker it cost there.
    Failed {
        deaths: Vec<Death>,
    },
}

impl Outcome {
    /// The outcome of a finished job; a pool-wide error is the caller's to handle.
    pub fn of(finished: Finished<bool>) -> Result<Outcome, JobError> {
        match finished.result {
            Ok(prime) => Ok(Outcome::Checked {
                prime,
                started_at: finished.started_at,
                elapsed: finished.elapsed,
                cpu: finished.cpu,
                pid: finished.pid,
            }),
            Err(JobError::Pool(error)) => Err(JobError::Pool(error)),
            Err(error) => Ok(Outcome::Failed { deaths: error.deaths().to_vec() }),
        }
    }
}

/// Answers of consecutive jobs from one rank.
#[derive(Debug)]
pub struct Answers {
    pub rank: usize,
    pub outcomes: Vec<Outcome>,
}

impl Batch for Answers {
    fn len(&self) -> usize {
        self.outcomes.len()
    }

    fn split_off(&mut self, at: usize) -> Self {
        Answers { rank: self.rank, outcomes: self.outcomes.split_off(at) }
    }
}
