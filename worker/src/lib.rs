//! Everything that runs inside a procpool worker process, and everything the
//! supervisor and the worker must agree on.
//!
//! * [`job`]: the [`Job`] trait users implement.
//! * [`protocol`]: message types, the bincode codec, the handshake and its version;
//!   [`packed`]: the per-job timings of a reply, packed as bytes.
//! * [`build_id`] and [`entry`]: how a worker knows it runs the supervisor's
//!   build and finds the code for the job type without a registry.
//! * [`fork_server`]: the helper that forks workers instead of executing the
//!   binary once per worker.
//! * [`serve`]: the worker's loop: connect, handshake, run batches until EOF,
//!   a panic caught per job.
//! * [`timing`]: the one place a job is timed, for every executor.
//! * [`primes`]: the prime kernels (the book's trial division and the fast
//!   one) and the prime check as a job.
//!
//! This crate never imports the supervisor; the supervisor imports it.

#[cfg(not(target_os = "linux"))]
compile_error!("procpool runs on Linux only: workers rely on PR_SET_PDEATHSIG, /proc and Unix sockets.");

pub mod build_id;
pub mod entry;
pub mod fork_server;
pub mod job;
pub mod packed;
pub mod primes;
pub mod protocol;
mod reply_frames;
pub mod serve;
pub mod timing;

pub use job::Job;
pub use primes::{Kernel, PrimeCheck, PrimeResult};
