//! Everything that runs inside a procpool worker process, and everything the
//! supervisor and the worker must agree on.
//!
//! * [`primes`]: the prime kernels (the book's trial division and the fast one).
//! * [`protocol`]: message types, the bincode codec, the handshake and its version.
//! * [`serve`]: the worker's loop: connect, handshake, check batches until EOF.
//!
//! This crate never imports the supervisor; the supervisor imports it.

pub mod primes;
pub mod protocol;
pub mod serve;
pub mod timing;

pub use primes::Kernel;
pub use protocol::PrimeResult;
