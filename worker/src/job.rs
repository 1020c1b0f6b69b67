//! The one trait a user implements: a unit of work that can cross a process
//! boundary and run in a worker.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A unit of work for a [`ProcessPool`](../procpool/struct.ProcessPool.html).
///
/// The job is serialized in the supervisor, deserialized in a worker
/// process and consumed by [`Job::run`]; its output travels back the same
/// way. A panic in `run` is caught in the worker and reported as that job's
/// error; the worker lives on.
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// What running the job gives back.
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// Runs the job, in a worker process.
    fn run(self) -> Self::Output;
}
