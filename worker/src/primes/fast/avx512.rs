//! The AVX-512F block kernel: division and reciprocal lanes interleaved.

use std::arch::x86_64::*;

use super::Dividend;

/// Whether this CPU runs [`search`]'s kernel.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// [`super::search`] with the AVX-512 kernel; `None` if the CPU lacks AVX-512F.
pub(super) fn search(n: u64, limit: u64) -> Option<bool> {
    if !available() {
        return None;
    }
    Some(super::search(n, limit, |x, base, spokes, rcp_exact| {
        // SAFETY: `block` needs AVX-512F only, detected at the top of this function.
        unsafe { block(x, base, spokes, rcp_exact) }
    }))
}

#[target_feature(enable = "avx512f")]
fn block(x: &Dividend, base: f64, spokes: &[[f64; 8]], rcp_exact: bool) -> bool {
    if rcp_exact {
        block_with::<true>(x, base, spokes)
    } else {
        block_with::<false>(x, base, spokes)
    }
}

/// Four vectors at a time: with `HYBRID`, vectors 1 and 3 use the reciprocal
/// path so the divider and the FMA pipes work in parallel.
#[inline]
#[target_feature(enable = "avx512f")]
fn block_with<const HYBRID: bool>(x: &Dividend, base: f64, spokes: &[[f64; 8]]) -> bool {
    let hi = _mm512_set1_pd(x.hi);
    let hi_minus_n = _mm512_set1_pd(x.hi_minus_n);
    let base = _mm512_set1_pd(base);
    let one = _mm512_set1_pd(1.0);
    let mut hits: __mmask8 = 0;
    for group in spokes.chunks_exact(4) {
        for (k, s) in group.iter().enumerate() {
            let d = _mm512_add_pd(base, load(s));
            let q = if HYBRID && k % 2 == 1 { quotient_rcp(hi, d, one) } else { _mm512_div_pd(hi, d) };
            let q = _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q);
            let t = _mm512_fnmadd_pd(q, d, hi);
            hits |= _mm512_cmpeq_pd_mask(t, hi_minus_n);
        }
    }
    hits != 0
}

/// `hi / d` with relative error below `2^-41.9`: `x₀ = rcp14(d)`,
/// `e = 1 - d·x₀`, `q = hi·x₀·(1 + e + e²)`.
#[inline]
#[target_feature(enable = "avx512f")]
fn quotient_rcp(hi: __m512d, d: __m512d, one: __m512d) -> __m512d {
    let x0 = _mm512_rcp14_pd(d);
    let e = _mm512_fnmadd_pd(d, x0, one);
    let p = _mm512_fmadd_pd(e, e, e);
    let y = _mm512_mul_pd(hi, x0);
    _mm512_fmadd_pd(y, p, y)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn load(v: &[f64; 8]) -> __m512d {
    _mm512_setr_pd(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7])
}
