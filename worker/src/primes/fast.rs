//! The fast kernel (placeholder: delegates to the book's loop until the fast one lands).

/// Same verdict as [`super::is_prime_book`] for every `u64`.
pub fn is_prime_fast(n: u64) -> bool {
    super::is_prime_book(n)
}
