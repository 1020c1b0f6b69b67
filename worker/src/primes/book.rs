//! The book's kernel: trial division by every odd number up to isqrt(n).

/// The classic check from Python's concurrent.futures example, made exact for
/// every `u64`: the bound is the integer square root (no float rounding) and
/// the loop compares `i <= isqrt(n)` instead of `i * i <= n`, which would
/// overflow near 2^64.
pub fn is_prime_book(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n == 2 {
        return true;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let limit = n.isqrt();
    let mut i = 3;
    while i <= limit {
        if n.is_multiple_of(i) {
            return false;
        }
        i += 2;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cases() {
        let primes: Vec<u64> = (0..30).filter(|&n| is_prime_book(n)).collect();
        assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
    }

    #[test]
    fn near_u64_max_does_not_overflow() {
        // u64::MAX = 3 * 5 * 17 * 257 * 641 * 65537 * 6700417; these exercise the
        // isqrt bound near 2^64 without a 2^31-step loop (the fast kernel's
        // release tests cover the primes there).
        assert!(!is_prime_book(u64::MAX));
        assert!(!is_prime_book(u64::MAX - 1));
        assert!(!is_prime_book(641 * 6_700_417));
    }

    #[test]
    fn square_of_a_prime_is_caught_at_the_bound() {
        // 67108859 is the largest prime below 2^26: its only divisor is exactly isqrt(n).
        let p = 67_108_859u64;
        assert!(is_prime_book(p));
        assert!(!is_prime_book(p * p));
    }
}
