//! Small pieces of English the reports share: counted nouns that agree
//! with their number, and durations with enough digits to compare.

use std::time::Duration;

/// `1 core`, `2 cores`: the count and the noun, singular for exactly one.
pub fn count(n: impl Into<u64>, singular: &str, plural: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// A duration with at least three significant digits: `1.234s` from a second
/// up, `12.3 ms` or `0.456 ms` below, so tiny runs still give readable ratios.
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    let ms = s * 1e3;
    if s >= 1.0 {
        format!("{s:.3}s")
    } else if ms >= 100.0 {
        format!("{ms:.1} ms")
    } else if ms >= 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular() {
        assert_eq!(count(1u32, "core", "cores"), "1 core");
        assert_eq!(count(0u32, "core", "cores"), "0 cores");
        assert_eq!(count(12u32, "process", "processes"), "12 processes");
    }

    #[test]
    fn tiny_durations_keep_three_significant_digits() {
        assert_eq!(secs(Duration::from_micros(1_234_567)), "1.235s");
        assert_eq!(secs(Duration::from_micros(372_400)), "372.4 ms");
        assert_eq!(secs(Duration::from_micros(14_210)), "14.21 ms");
        assert_eq!(secs(Duration::from_nanos(4_321)), "0.004 ms");
        assert_eq!(secs(Duration::from_micros(7)), "0.007 ms");
    }
}
