//! Prime kernels. Every kernel is exact for every `u64`; the fast one is
//! checked against the book's loop by property tests.

mod book;
mod fast;
pub mod reference;

use serde::{Deserialize, Serialize};

pub use book::is_prime_book;
pub use fast::is_prime_fast;

/// The numbers of Python's concurrent.futures prime example, with whether
/// each is prime, largest first (the order procpool submits them in).
pub const FIXTURE: [(u64, bool); 20] = [
    (9999999999999999, false),
    (9999999999999917, true),
    (7777777777777777, false),
    (7777777777777753, true),
    (7777777536340681, false),
    (6666667141414921, false),
    (6666666666666719, true),
    (6666666666666666, false),
    (5555555555555555, false),
    (5555555555555503, true),
    (5555553133149889, false),
    (4444444488888889, false),
    (4444444444444444, false),
    (4444444444444423, true),
    (3333335652092209, false),
    (3333333333333333, false),
    (3333333333333301, true),
    (299593572317531, true),
    (142702110479723, true),
    (2, true),
];

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

/// The prime checker as a pool job: is `n` prime, by `kernel`?
///
/// On the wire it is one varint, `n * 2 + kernel` (as a u128, so every
/// `u64` fits): a single field costs a million tiny jobs half as much to
/// encode and decode as a number and a kernel byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrimeCheck {
    pub n: u64,
    pub kernel: Kernel,
}

impl Serialize for PrimeCheck {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let packed = u128::from(self.n) * KERNELS + self.kernel as u128;
        // bincode's varints for a u128 below 2^64 are the u64's bytes, and
        // a u64 is much cheaper to encode (a test checks both decode).
        match u64::try_from(packed) {
            Ok(small) => serializer.serialize_u64(small),
            Err(_) => serializer.serialize_u128(packed),
        }
    }
}

/// How many kernels a [`PrimeCheck`]'s wire form tells apart.
const KERNELS: u128 = Kernel::ALL.len() as u128;

impl<'de> Deserialize<'de> for PrimeCheck {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let packed = u128::deserialize(deserializer)?;
        let kernel = Kernel::ALL[(packed % KERNELS) as usize];
        match u64::try_from(packed / KERNELS) {
            Ok(n) => Ok(PrimeCheck { n, kernel }),
            Err(_) => Err(serde::de::Error::custom(format_args!("{packed} is no number and kernel"))),
        }
    }
}

impl crate::Job for PrimeCheck {
    type Output = bool;

    fn run(self) -> bool {
        self.kernel.is_prime(self.n)
    }
}

impl std::fmt::Display for PrimeCheck {
    /// The number, as messages about the job show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.n)
    }
}

/// One checked number, as every executor reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimeResult {
    /// Position in submission order, from 0.
    pub index: u64,
    pub n: u64,
    pub prime: bool,
    /// `CLOCK_MONOTONIC` reading when the check began: comparable across the
    /// processes of one machine, so runs can be drawn on one timeline.
    pub started_at: std::time::Duration,
    /// Wall time of the check, measured where it ran.
    pub elapsed: std::time::Duration,
    /// CPU time of the check; below `elapsed` when the core was shared.
    pub cpu: std::time::Duration,
    /// The process that ran the check.
    pub pid: u32,
}

impl PrimeResult {
    /// Joins a job with its timed verdict.
    pub fn new(index: u64, n: u64, outcome: crate::timing::Outcome, pid: u32) -> Self {
        use std::time::Duration;
        PrimeResult {
            index,
            n,
            prime: outcome.output,
            started_at: Duration::from_nanos(outcome.started_ns),
            elapsed: Duration::from_nanos(outcome.elapsed_ns),
            cpu: Duration::from_nanos(outcome.cpu_ns),
            pid,
        }
    }
}
