//! Prime kernels. Every kernel is exact for every `u64`; the fast one is
//! checked against the book's loop by property tests.

mod book;
mod fast;
pub mod reference;

use serde::{Deserialize, Serialize};

pub use book::is_prime_book;
pub use fast::is_prime_fast;

/// Which primality check a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kernel {
    /// The classic loop from Python's concurrent.futures example: odd trial divisors up to isqrt(n).
    Book,
    /// Trial division made fast; same verdicts as `Book` for every `u64`.
    Fast,
}

impl Kernel {
    /// Every kernel, for help texts and exhaustive tests.
    pub const ALL: [Kernel; 2] = [Kernel::Book, Kernel::Fast];

    /// Checks `n` with this kernel.
    #[inline]
    pub fn is_prime(self, n: u64) -> bool {
        match self {
            Kernel::Book => is_prime_book(n),
            Kernel::Fast => is_prime_fast(n),
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Book => "book",
            Kernel::Fast => "fast",
        }
    }
}

impl std::fmt::Display for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
