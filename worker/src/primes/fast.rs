//! The fast kernel: the same trial division as the book, done with a wheel
//! and floating-point SIMD, with an exact integer verdict for every `u64`.
//!
//! # How it works
//!
//! * **Wheel.** After dividing by 2, 3, 5, 7, 11 and 13, only divisors coprime
//!   to `30030 = 2·3·5·7·11·13` are tried: 5760 of every 30030 numbers
//!   (19.2 %) instead of the book's odd numbers (50 %). A number that has a
//!   divisor `1 < d ≤ isqrt(n)` has a prime one, and every prime above 13 is
//!   coprime to the wheel, so no verdict changes. The spokes of one turn are a
//!   constant table of `f64`s built at compile time; the spoke for residue 1 is
//!   stored as `30031`, so block `k` covers `k·30030 + 17 ..= k·30030 + 30031`
//!   and the divisor 1 never appears.
//! * **Divisibility without an integer divide.** For a candidate `d` the kernel
//!   takes `hi = n as f64` (rounded), `q = round(hi / d)` and the residual
//!   `t = fma(-q, d, hi)`, and reports `d | n` iff `t == hi - n`.
//!   *Why it is exact:* the kernel is used only where the true quotient
//!   `n/d < 2^50` (smaller `d` go to the scalar `%` loop). The two roundings
//!   (`n → hi`, the division) put `hi/d` within `(n/d)·2^-52 < 1/4` of `n/d`.
//!   If `d | n`, `n/d` is an integer, so rounding to nearest gives exactly
//!   `q = n/d`; otherwise `q` is `⌊n/d⌋` or `⌊n/d⌋ + 1`, so `n - q·d` is a
//!   non-zero integer in `(-d, d)`. In both cases the exact value of
//!   `hi - q·d = (n - q·d) + (hi - n)` is an integer below `2^34` in size
//!   (`d < 2^33`, `|hi - n| ≤ 2^10`), hence a `f64`, and a fused multiply-add
//!   rounds only once, so `t` *is* that value: `t == hi - n` exactly when
//!   `n - q·d == 0`. No overflow is possible: nothing is squared, and the
//!   bound is `isqrt(n)` as in the book. Without a fused multiply-add the
//!   residual is computed in wrapping `u64` arithmetic instead (same argument).
//! * **SIMD.** Each lane checks one candidate; a block (one wheel turn, 720
//!   vectors of 8) reports whether any lane divides, so the search stops at
//!   the end of the block that holds the smallest factor. Lanes past
//!   `isqrt(n)` in the last block are harmless: any `d` with `1 < d < n` that
//!   divides `n` proves `n` composite, and those lanes stay far below `n`.
//! * **AVX-512 hybrid.** Division alone is limited by the divider (one
//!   8-lane `vdivpd` per ~4 cycles on the EPYC this was tuned on) while the
//!   FMA pipes idle, so with AVX-512F every other vector computes `1/d`
//!   instead: `x₀ = vrcp14pd(d)` (architectural bound: relative error below
//!   `2^-14`), `e = 1 - d·x₀`, `q = (hi·x₀)·(1 + e + e²)`. The truncated
//!   series leaves a relative error `e³ < 2^-42`, the roundings add under
//!   `4·2^-53`, so `q` is within `(n/d)·2^-41.9` of `n/d`. That path is used
//!   only where `n/d < 2^40`, so `q` is again within `1/4` of `n/d` and the
//!   same exact residual test applies. Interleaving the two paths is about
//!   1.5× faster than division alone. Without AVX-512 the portable loop
//!   (compiled for AVX2+FMA when the CPU has them, NEON on aarch64,
//!   auto-vectorised) uses division only.
//!
//! Small `n` (`isqrt(n) < SIMD_MIN_LIMIT`) and the few candidates below
//! `n >> 50` (only when `n ≥ 17·2^50`) use the scalar wheel-30 `%` loop.

#[cfg(target_arch = "x86_64")]
mod avx512;

/// `2·3·5·7·11·13`: one turn of the wheel, the span of one SIMD block.
const WHEEL: u64 = 30030;
/// Numbers in one turn that are coprime to the wheel: φ(30030).
const SPOKES: usize = 5760;
/// `f64x8` vectors in one turn.
const VECTORS: usize = SPOKES / 8;
/// The smallest spoke above 1; the residue 1 is stored as `WHEEL + 1`.
const FIRST_SPOKE: u64 = 17;
/// A block's last, partial turn is trimmed to whole groups of this many lanes
/// (4 vectors of 8, the unit the AVX-512 kernel interleaves).
const GROUP_LANES: usize = 32;
/// The division path is exact while the quotient `n/d` is below `2^50`.
const DIV_QUOTIENT_BITS: u32 = 50;
/// The reciprocal path is exact while the quotient `n/d` is below `2^40`.
const RCP_QUOTIENT_BITS: u32 = 40;
/// Below this `isqrt(n)` the scalar loop is used (measured crossover).
const SIMD_MIN_LIMIT: u64 = 128;
/// The block kernels need `isqrt(n)` at least this large, so that the lanes
/// a trimmed last block checks beyond `isqrt(n)` (at most 31 spokes, under
/// 27·28 = 756 numbers; see the tests) stay below `n ≥ 28·isqrt(n)`.
const SIMD_SAFE_LIMIT: u64 = 28;
const _: () = assert!(SIMD_SAFE_LIMIT >= 28 && SIMD_MIN_LIMIT >= SIMD_SAFE_LIMIT);
/// `2^52`: adding and subtracting it rounds a non-negative `f64` below `2^51`
/// to the nearest integer (ties to even).
const MAGIC: f64 = 4_503_599_627_370_496.0;

/// The spokes of one turn, ascending, in vectors of 8, aligned so each vector
/// is one cache line.
#[repr(C, align(64))]
struct Spokes([[f64; 8]; VECTORS]);

static SPOKE_TABLE: Spokes = Spokes(build_spokes());

const fn coprime_to_wheel(r: u64) -> bool {
    !(r.is_multiple_of(2)
        || r.is_multiple_of(3)
        || r.is_multiple_of(5)
        || r.is_multiple_of(7)
        || r.is_multiple_of(11)
        || r.is_multiple_of(13))
}

const fn build_spokes() -> [[f64; 8]; VECTORS] {
    let mut table = [[0.0; 8]; VECTORS];
    let mut i = 0;
    let mut r = FIRST_SPOKE;
    while r <= WHEEL + 1 {
        if coprime_to_wheel(r) {
            table[i / 8][i % 8] = r as f64;
            i += 1;
        }
        r += 1;
    }
    assert!(i == SPOKES);
    table
}

/// `n` as the kernels see it: `hi` is `n` rounded to `f64`, `hi_minus_n` the
/// (exact, `|·| ≤ 2^10`) rounding error, which a divisor's residual equals.
#[derive(Clone, Copy, Debug)]
struct Dividend {
    n: u64,
    hi: f64,
    hi_minus_n: f64,
}

impl Dividend {
    fn new(n: u64) -> Dividend {
        let hi = n as f64;
        // `hi` is an integer in [0, 2^64], so the i128 difference is exact and
        // small enough (≤ 2^10) to be exact as an f64 too.
        let hi_minus_n = (hi as i128 - n as i128) as f64;
        Dividend { n, hi, hi_minus_n }
    }
}

/// Same verdict as [`super::is_prime_book`] for every `u64`.
pub fn is_prime_fast(n: u64) -> bool {
    is_prime_with(n, Engine::best())
}

/// Which implementation checks the candidates from 17 up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    /// Wheel-30 `%` loop (the tests' baseline; `is_prime_fast` uses it for
    /// small `n` whatever the engine).
    #[cfg(test)]
    Scalar,
    /// The portable block loop with wrapping-`u64` residuals (no FMA needed).
    PortableInt,
    /// The portable block loop with FMA residuals (`f64::mul_add`; a slow
    /// library call where the target has no FMA instruction).
    PortableFma,
    /// The portable FMA loop compiled for AVX2+FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// The AVX-512F division/reciprocal hybrid.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// Whether the target has a fused multiply-add instruction without any
/// runtime detection, so `f64::mul_add` is one instruction.
const NATIVE_FMA: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

impl Engine {
    /// The fastest engine this CPU runs.
    fn best() -> Engine {
        #[cfg(target_arch = "x86_64")]
        {
            if avx512::available() {
                return Engine::Avx512;
            }
            if avx2_available() {
                return Engine::Avx2;
            }
        }
        if NATIVE_FMA {
            Engine::PortableFma
        } else {
            Engine::PortableInt
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Checks `n` with `engine`. An engine the CPU lacks falls back to the
/// portable loop.
fn is_prime_with(n: u64, engine: Engine) -> bool {
    check(n, engine, SIMD_MIN_LIMIT)
}

/// [`is_prime_with`], using the scalar loop when `isqrt(n) < simd_min_limit`
/// (tests lower it to run the block kernels on small numbers).
fn check(n: u64, engine: Engine, simd_min_limit: u64) -> bool {
    debug_assert!(simd_min_limit >= SIMD_SAFE_LIMIT);
    if n < 2 {
        return false;
    }
    for p in [2, 3, 5, 7, 11, 13] {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let limit = n.isqrt();
    if limit < simd_min_limit {
        return !has_divisor_scalar(n, limit);
    }
    match engine {
        #[cfg(test)]
        Engine::Scalar => !has_divisor_scalar(n, limit),
        Engine::PortableInt => {
            search(n, limit, |x, base, spokes, _| block_portable::<false>(x, base, spokes))
        }
        Engine::PortableFma => search(n, limit, |x, base, spokes, _| block_portable::<true>(x, base, spokes)),
        #[cfg(target_arch = "x86_64")]
        Engine::Avx2 => {
            if avx2_available() {
                search(n, limit, |x, base, spokes, _| {
                    // SAFETY: `block_avx2` needs AVX2 and FMA, detected just above.
                    unsafe { block_avx2(x, base, spokes) }
                })
            } else {
                check(n, Engine::PortableInt, simd_min_limit)
            }
        }
        #[cfg(target_arch = "x86_64")]
        Engine::Avx512 => {
            avx512::search(n, limit).unwrap_or_else(|| check(n, Engine::PortableInt, simd_min_limit))
        }
    }
}

/// Whether some `d` in `17..=hi` that is coprime to 30 divides `n`. Plain
/// `%`: used for small `n`, and for small `d` when `n ≥ 17·2^50`.
fn has_divisor_scalar(n: u64, hi: u64) -> bool {
    const STEPS: [u64; 8] = [1, 7, 11, 13, 17, 19, 23, 29];
    let mut base = 0;
    while base <= hi {
        for s in STEPS {
            let d = base + s;
            if d >= FIRST_SPOKE && d <= hi && n.is_multiple_of(d) {
                return true;
            }
        }
        base += 30;
    }
    false
}

/// Trial division from 17 to `limit` (≥ `SIMD_SAFE_LIMIT`) with a block
/// kernel; candidates too small for it go to the scalar loop.
///
/// `block(x, base, spokes, rcp_exact)` says whether any `base + spoke` divides
/// `x.n`; `search` guarantees that every such `d` has `n/d < 2^50` and
/// `1 < d < n`, and `rcp_exact` that `n/d < 2^40` for all of them.
fn search(n: u64, limit: u64, mut block: impl FnMut(&Dividend, f64, &[[f64; 8]], bool) -> bool) -> bool {
    debug_assert!(limit >= SIMD_SAFE_LIMIT && limit == n.isqrt());
    let x = Dividend::new(n);
    // Smallest d the division path may take (n/d < 2^50), and the reciprocal path (n/d < 2^40).
    let div_min = (n >> DIV_QUOTIENT_BITS) + 1;
    let rcp_min = (n >> RCP_QUOTIENT_BITS) + 1;
    // The first block whose smallest candidate is at least `div_min`.
    let mut base = div_min.saturating_sub(FIRST_SPOKE).div_ceil(WHEEL) * WHEEL;
    if has_divisor_scalar(n, (base + FIRST_SPOKE - 1).min(limit)) {
        return false;
    }
    let all = &SPOKE_TABLE.0[..];
    // Vectors per kernel call: starts at one group and doubles up to a whole
    // turn, so a small factor (most composites have one) ends the search
    // after a few groups instead of a whole turn.
    let mut chunk = GROUP_LANES / 8;
    while base + FIRST_SPOKE <= limit {
        let spokes = if base + WHEEL < limit {
            all
        } else {
            // Last turn: only as many groups as reach `limit`.
            let reach = (limit - base) as f64;
            let count = all.as_flattened().partition_point(|&s| s <= reach);
            &all[..count.div_ceil(GROUP_LANES) * (GROUP_LANES / 8)]
        };
        let rcp_exact = base + FIRST_SPOKE >= rcp_min;
        let mut from = 0;
        while from < spokes.len() {
            let to = (from + chunk).min(spokes.len());
            if block(&x, base as f64, &spokes[from..to], rcp_exact) {
                return false;
            }
            from = to;
            chunk = (chunk * 2).min(VECTORS);
        }
        base += WHEEL;
    }
    true
}

/// The portable block kernel (division only). `FMA` picks the residual:
/// `fma(-q, d, hi) == hi - n`, or `n - q·d == 0` in wrapping `u64`.
#[inline(always)]
fn block_portable<const FMA: bool>(x: &Dividend, base: f64, spokes: &[[f64; 8]]) -> bool {
    let mut hit = false;
    for group in spokes.as_flattened().chunks_exact(GROUP_LANES) {
        let mut any = false;
        for &s in group {
            let d = base + s;
            let q = x.hi / d;
            any |= if FMA {
                let q = (q + MAGIC) - MAGIC;
                (-q).mul_add(d, x.hi) == x.hi_minus_n
            } else {
                // The low bits of q + 2^52 are round(q) (q < 2^50).
                let q = (q + MAGIC).to_bits().wrapping_sub(MAGIC.to_bits());
                x.n.wrapping_sub(q.wrapping_mul(d as u64)) == 0
            };
        }
        hit |= any;
    }
    hit
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn block_avx2(x: &Dividend, base: f64, spokes: &[[f64; 8]]) -> bool {
    block_portable::<true>(x, base, spokes)
}

#[cfg(test)]
mod tests;
