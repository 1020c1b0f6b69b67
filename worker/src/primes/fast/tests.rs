//! Tests of the fast kernel: every engine against the sieve, the book and
//! Miller-Rabin, at every boundary where its exactness argument could break.

use super::*;
use crate::primes::is_prime_book;
use crate::primes::reference::{is_prime_miller_rabin, sieve};
use proptest::prelude::*;

/// Every engine this CPU can run.
fn engines() -> Vec<Engine> {
    #[allow(unused_mut)]
    let mut engines = vec![Engine::Scalar, Engine::PortableInt, Engine::PortableFma];
    #[cfg(target_arch = "x86_64")]
    {
        if avx2_available() {
            engines.push(Engine::Avx2);
        }
        if avx512::available() {
            engines.push(Engine::Avx512);
        }
    }
    engines
}

/// Asserts `is_prime_fast(n) == expected`, and the same for every engine
/// with the block kernels forced on for all but the tiniest `n`. Engines
/// slower than the best only run while the search is short.
fn assert_verdict(n: u64, expected: bool) {
    assert_eq!(is_prime_fast(n), expected, "is_prime_fast({n})");
    if n.isqrt() <= 1 << 24 {
        for engine in engines() {
            assert_eq!(check(n, engine, SIMD_SAFE_LIMIT), expected, "{engine:?} on {n}");
        }
    }
}

fn next_prime(mut n: u64) -> u64 {
    while !is_prime_miller_rabin(n) {
        n += 1;
    }
    n
}

fn prev_prime(mut n: u64) -> u64 {
    while !is_prime_miller_rabin(n) {
        n -= 1;
    }
    n
}

#[test]
fn spoke_table_is_one_turn_of_the_wheel() {
    let spokes = SPOKE_TABLE.0.as_flattened();
    assert_eq!(spokes.len(), SPOKES);
    assert_eq!(spokes[0], FIRST_SPOKE as f64);
    assert_eq!(spokes[SPOKES - 1], (WHEEL + 1) as f64);
    assert!(spokes.windows(2).all(|w| w[0] < w[1]));
    // Exactly the residues coprime to the wheel, each once.
    let mut residues: Vec<u64> = spokes.iter().map(|&s| s as u64 % WHEEL).collect();
    residues.sort_unstable();
    let coprime: Vec<u64> = (0..WHEEL).filter(|&r| [2, 3, 5, 7, 11, 13].iter().all(|p| r % p != 0)).collect();
    assert_eq!(residues, coprime);
    // A trimmed block overshoots isqrt(n) by at most 31 spokes; that must
    // stay below 27·SIMD_SAFE_LIMIT ≤ n - isqrt(n).
    let overshoot = spokes.windows(32).map(|w| w[31] - w[0]).fold(0.0, f64::max);
    assert!(overshoot < (27 * SIMD_SAFE_LIMIT) as f64, "overshoot {overshoot}");
}

#[test]
fn matches_a_sieve_below_200_000() {
    let prime = sieve(200_000);
    for (n, &p) in prime.iter().enumerate() {
        assert_verdict(n as u64, p);
    }
}

#[test]
fn squares_and_products_of_primes_below_2_pow_16() {
    let prime = sieve(1 << 16);
    let primes: Vec<u64> = (0..1u64 << 16).filter(|&n| prime[n as usize]).collect();
    for w in primes.windows(2) {
        let (p, q) = (w[0], w[1]);
        assert_verdict(p * p, false);
        assert_verdict(p * q, false);
        assert_verdict(p * p + 2, is_prime_book(p * p + 2));
    }
}

#[test]
fn squares_and_products_of_primes_near_2_pow_32() {
    // 4294967291 is the largest prime below 2^32, 4294967279 the next below it.
    let (p, q) = (4_294_967_291u64, 4_294_967_279u64);
    assert!(is_prime_fast(p) && is_prime_fast(q));
    assert!(!is_prime_fast(p * p));
    assert!(!is_prime_fast(p * q));
    assert!(!is_prime_fast(q * q));
    assert!(!is_prime_fast(3 * p));
    // 65521 is the largest prime below 2^16: its square's only divisor is isqrt.
    assert_verdict(65521 * 65521, false);
}

#[test]
fn near_2_pow_64() {
    assert!(is_prime_fast(18_446_744_073_709_551_557)); // 2^64 - 59, the largest prime
    assert!(!is_prime_fast(u64::MAX));
    assert!(!is_prime_fast(u64::MAX - 1));
    // All of these round to 2^64 as f64: the kernel must use n's exact low bits.
    for n in u64::MAX - 100..=u64::MAX {
        assert_eq!(is_prime_fast(n), is_prime_miller_rabin(n), "{n}");
    }
}

#[test]
fn near_2_pow_32_matches_book() {
    for n in (1u64 << 32) - 3000..(1u64 << 32) + 3000 {
        assert_verdict(n, is_prime_book(n));
    }
}

#[test]
fn near_2_pow_53_matches_book() {
    // Above 2^53 odd numbers are no longer f64s: hi ≠ n.
    for n in (1u64 << 53) - 64..(1u64 << 53) + 64 {
        assert_eq!(is_prime_fast(n), is_prime_book(n), "{n}");
    }
    for n in (1u64 << 53) - 3000..(1u64 << 53) + 3000 {
        assert_eq!(is_prime_fast(n), is_prime_miller_rabin(n), "{n}");
    }
}

/// Semiprimes `p·q` (`p < q`, both prime) whose smallest factor `p` sits at
/// the edges the kernel has: the scalar/SIMD hand-over (`n >> 50`), block
/// starts and ends, the division/reciprocal hand-over (`n >> 40`), near
/// `isqrt(n)`; for `n` of several sizes up to 2^64. Missing `p` would make
/// the kernel answer "prime". Every engine runs while `p` is small.
#[test]
fn semiprimes_with_factors_at_the_edges() {
    let mut edges: Vec<u64> = vec![17, 19, 127, 1 << 13, 1 << 14, 1 << 20, 1 << 22];
    for k in [0u64, 1, 2, 7, 100, 558, 559, 560] {
        edges.push(k * WHEEL + 17);
        edges.push(k * WHEEL + WHEEL + 1);
    }
    edges.extend([(1 << 24) - 64, 1 << 24, (1 << 24) + 64, 1 << 26, 1 << 30, (1 << 32) - 300]);
    for &edge in &edges {
        for p in [prev_prime(edge), next_prime(edge)] {
            for q in [53, 56, 58, 60, 62]
                .map(|bits| next_prime((1u64 << bits) / p))
                .into_iter()
                .chain([prev_prime(u64::MAX / p)])
            {
                if q <= p || p.checked_mul(q).is_none() {
                    continue;
                }
                let n = p * q;
                assert!(!is_prime_fast(n), "{p} * {q}");
                if p < 1 << 22 {
                    for engine in engines() {
                        assert!(!check(n, engine, SIMD_SAFE_LIMIT), "{engine:?} on {p} * {q}");
                    }
                }
            }
            // p² is found exactly at isqrt(n)
            if let Some(n) = p.checked_mul(p) {
                assert!(!is_prime_fast(n), "{p}^2");
            }
        }
    }
}

#[test]
fn engines_agree_on_hard_numbers() {
    let numbers = [
        142_702_110_479_723u64, // prime
        299_593_572_317_531,    // prime
        9_007_199_254_740_881,  // 2^53 - 111, prime
        4_444_444_488_888_889,  // 66666667^2
        281_474_976_710_597,    // 2^48 - 59, prime
        1_099_511_627_689,      // 2^40 - 87, prime
    ];
    for n in numbers {
        let expected = is_prime_miller_rabin(n);
        for engine in engines() {
            assert_eq!(check(n, engine, SIMD_SAFE_LIMIT), expected, "{engine:?} on {n}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn agrees_with_book_below_2_pow_40(n in 0u64..1 << 40) {
        prop_assert_eq!(is_prime_fast(n), is_prime_book(n));
        for engine in engines() {
            prop_assert_eq!(check(n, engine, SIMD_SAFE_LIMIT), is_prime_book(n), "{:?}", engine);
        }
    }

    #[test]
    fn agrees_with_book_on_numbers_with_a_small_factor(p in 2u64..1 << 16, m in any::<u64>()) {
        // The book stops at the smallest factor, at most p: quick for any size.
        let n = m / p * p;
        prop_assert_eq!(is_prime_fast(n), is_prime_book(n));
    }

    #[test]
    fn agrees_with_book_on_products_below_2_pow_48(a in 2u64..1 << 24, b in 2u64..1 << 24) {
        let n = a * b;
        prop_assert_eq!(is_prime_fast(n), is_prime_book(n));
    }

    #[test]
    fn agrees_with_reference_on_any_u64_with_a_factor_below_2_pow_20(p in 2u64..1 << 20, m in any::<u64>()) {
        let n = (m / p * p).max(p);
        prop_assert_eq!(is_prime_fast(n), is_prime_miller_rabin(n));
    }
}
