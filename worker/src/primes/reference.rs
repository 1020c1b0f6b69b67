//! Exact primality oracles that are *not* trial division: a sieve for small
//! ranges and a deterministic Miller-Rabin for any `u64`. They exist so the
//! kernels can be checked against something independent of them, on numbers
//! where the book's loop would take seconds. Not selectable as a `--kernel`.

/// `prime[i]` for every `i < below`, by the sieve of Eratosthenes.
pub fn sieve(below: usize) -> Vec<bool> {
    let mut prime = vec![true; below];
    for p in prime.iter_mut().take(2) {
        *p = false;
    }
    let mut i = 2;
    while i * i < below {
        if prime[i] {
            for multiple in (i * i..below).step_by(i) {
                prime[multiple] = false;
            }
        }
        i += 1;
    }
    prime
}

/// Deterministic Miller-Rabin with Sinclair's seven bases: exact for every `u64`.
pub fn is_prime_miller_rabin(n: u64) -> bool {
    fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
        (u128::from(a) * u128::from(b) % u128::from(m)) as u64
    }
    fn pow_mod(mut a: u64, mut e: u64, m: u64) -> u64 {
        let mut r = 1;
        while e > 0 {
            if e & 1 == 1 {
                r = mul_mod(r, a, m);
            }
            a = mul_mod(a, a, m);
            e >>= 1;
        }
        r
    }
    if n < 2 {
        return false;
    }
    for p in [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'bases: for a in [2, 325, 9375, 28178, 450775, 9780504, 1795265022] {
        let a = a % n;
        if a == 0 {
            continue;
        }
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_oracles_agree_below_a_million() {
        let prime = sieve(1_000_000);
        for (n, &expected) in prime.iter().enumerate() {
            assert_eq!(is_prime_miller_rabin(n as u64), expected, "{n}");
        }
    }

    #[test]
    fn known_values_near_2_pow_64() {
        assert!(is_prime_miller_rabin(u64::MAX - 58));
        assert!(!is_prime_miller_rabin(u64::MAX));
        assert!(!is_prime_miller_rabin(4_294_967_291 * 4_294_967_291));
        // A strong pseudoprime to several small bases: 3215031751 = 151 * 751 * 28351.
        assert!(!is_prime_miller_rabin(3_215_031_751));
    }
}
