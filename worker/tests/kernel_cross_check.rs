//! Cross-checks `is_prime_fast` against independent exact references on more
//! than ten million numbers: a segmented sieve around 2^32, a deterministic
//! Miller-Rabin (Sinclair's seven bases, exact for every `u64`) everywhere
//! else. The book's loop would need hours for numbers this size.
//!
//! The parts are separate tests so the harness runs them in parallel. Where
//! the count is small (near 2^53 and 2^64), each prime costs the fast kernel a
//! full search to `isqrt(n)`: about 1.5 ms near 2^53, 70 ms near 2^64.

use procpool_worker::primes::reference::is_prime_miller_rabin;
use procpool_worker::primes::{is_prime_book, is_prime_fast};
use procpool_worker::Kernel;

const NEAR_2_32: u64 = 3_200_000; // each side: 6.4 M numbers
const NEAR_2_53: u64 = 60_000; // each side: 120 k numbers
const NEAR_2_64: u64 = 3_000; // below 2^64
const RANDOM_SMALL: usize = 3_500_000; // log-uniform sizes up to 2^44
const RANDOM_WITH_FACTOR: usize = 200_000; // any size, a factor below 2^24
const RANDOM_SEMIPRIMES: usize = 10_000; // p·q, p up to 2^26, any size
const RANDOM_ANY: usize = 2_000; // uniform u64

const TOTAL: u64 = 2 * NEAR_2_32
    + 2 * NEAR_2_53
    + NEAR_2_64
    + (RANDOM_SMALL + RANDOM_WITH_FACTOR + RANDOM_SEMIPRIMES + RANDOM_ANY) as u64;
const _: () = assert!(TOTAL >= 10_000_000);

/// SplitMix64: a fixed, reproducible stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `lo..=hi` (bias irrelevant here).
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// A number of `bits` bits drawn uniformly from `lo_bits..=hi_bits`.
    fn log_uniform(&mut self, lo_bits: u32, hi_bits: u32) -> u64 {
        let bits = self.between(lo_bits as u64, hi_bits as u64) as u32;
        let top = 1u64 << (bits - 1);
        top | (self.next() & (top - 1))
    }
}

/// Checks every number against `reference`, reporting the first mismatches.
/// Says what a part checks, uncaptured: the harness captures `eprintln!` of
/// passing tests, and these run for tens of seconds.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "kernel_cross_check: {line}");
}

fn cross_check(
    what: &str,
    oracle: &str,
    numbers: impl IntoIterator<Item = u64>,
    reference: impl Fn(u64) -> bool,
) {
    let numbers = numbers.into_iter();
    say(&format!("{what}: checking the fast kernel on {} numbers against {oracle}", numbers.size_hint().0));
    let mut checked = 0u64;
    let mut primes = 0u64;
    let mut wrong = Vec::new();
    for n in numbers {
        let expected = reference(n);
        if is_prime_fast(n) != expected {
            wrong.push((n, expected));
        }
        checked += 1;
        primes += expected as u64;
    }
    assert!(
        wrong.is_empty(),
        "{what}: {} of {checked} wrong, first (n, prime): {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    say(&format!("{what}: {checked} numbers ({primes} primes) agree"));
}

#[test]
fn near_2_pow_32_against_a_segmented_sieve() {
    let lo = (1u64 << 32) - NEAR_2_32;
    let hi = (1u64 << 32) + NEAR_2_32;
    say(&format!("near 2^32: sieving {} numbers, checked against Miller-Rabin first", hi - lo));
    // Base primes up to isqrt(hi) by a plain sieve, then cross off the window.
    let root = (hi - 1).isqrt() as usize;
    let mut small = vec![true; root + 1];
    let mut base = Vec::new();
    for i in 2..=root {
        if small[i] {
            base.push(i as u64);
            for j in (i * i..=root).step_by(i) {
                small[j] = false;
            }
        }
    }
    let mut prime = vec![true; (hi - lo) as usize];
    for &p in &base {
        let first = lo.div_ceil(p).max(p) * p;
        for m in (first..hi).step_by(p as usize) {
            prime[(m - lo) as usize] = false;
        }
    }
    // The sieve and Miller-Rabin agree on a sample, so neither reference is off.
    for i in (0..prime.len()).step_by(997) {
        assert_eq!(
            prime[i],
            is_prime_miller_rabin(lo + i as u64),
            "references disagree on {}",
            lo + i as u64
        );
    }
    cross_check("near 2^32", "a segmented sieve", lo..hi, |n| prime[(n - lo) as usize]);
}

#[test]
fn near_2_pow_53() {
    let mid = 1u64 << 53;
    cross_check(
        "near 2^53",
        "a deterministic Miller-Rabin (7 bases)",
        mid - NEAR_2_53..mid + NEAR_2_53,
        is_prime_miller_rabin,
    );
}

#[test]
fn near_2_pow_64() {
    cross_check(
        "near 2^64",
        "a deterministic Miller-Rabin (7 bases)",
        u64::MAX - (NEAR_2_64 - 1)..=u64::MAX,
        is_prime_miller_rabin,
    );
}

#[test]
fn random_sizes_up_to_2_pow_44() {
    let mut rng = Rng(0x5EED_0001);
    let numbers: Vec<u64> = (0..RANDOM_SMALL).map(|_| rng.log_uniform(2, 44)).collect();
    cross_check(
        "random up to 2^44",
        "a deterministic Miller-Rabin (7 bases)",
        numbers,
        is_prime_miller_rabin,
    );
}

#[test]
fn random_u64_with_a_factor_below_2_pow_24() {
    let mut rng = Rng(0x5EED_0002);
    let numbers: Vec<u64> = (0..RANDOM_WITH_FACTOR)
        .map(|_| {
            let p = rng.log_uniform(2, 24);
            (rng.next() / p * p).max(p)
        })
        .collect();
    cross_check(
        "random with a factor below 2^24",
        "a deterministic Miller-Rabin (7 bases)",
        numbers,
        is_prime_miller_rabin,
    );
}

/// `p·q` with primes `p < q`: the kernel must find exactly `p`, or it answers
/// "prime". `p` is log-uniform up to 2^26, `n` log-uniform up to 2^64.
#[test]
fn random_semiprimes() {
    let mut rng = Rng(0x5EED_0003);
    let mut numbers = Vec::with_capacity(RANDOM_SEMIPRIMES);
    while numbers.len() < RANDOM_SEMIPRIMES {
        let mut p = rng.log_uniform(5, 26);
        while !is_prime_miller_rabin(p) {
            p += 1;
        }
        let max_q = u64::MAX / p;
        let q_bits = rng.between(p.ilog2() as u64 + 1, max_q.ilog2() as u64) as u32;
        let mut q = rng.log_uniform(q_bits, q_bits).min(max_q);
        while q > p && !is_prime_miller_rabin(q) {
            q -= 1;
        }
        if q > p {
            numbers.push(p * q);
        }
    }
    cross_check("random semiprimes", "their construction (p·q, never prime)", numbers, |_| false);
}

#[test]
fn random_any_u64() {
    let mut rng = Rng(0x5EED_0004);
    let numbers: Vec<u64> = (0..RANDOM_ANY).map(|_| rng.next()).collect();
    cross_check("random u64", "a deterministic Miller-Rabin (7 bases)", numbers, is_prime_miller_rabin);
}

#[test]
fn kernels_agree_through_the_public_enum() {
    let mut rng = Rng(0x5EED_0005);
    say("the public enum: checking both kernels on 20000 numbers up to 2^36 against each other");
    for _ in 0..20_000 {
        let n = rng.log_uniform(2, 36);
        assert_eq!(Kernel::Fast.is_prime(n), Kernel::Book.is_prime(n), "{n}");
        assert_eq!(is_prime_fast(n), is_prime_book(n), "{n}");
    }
}
