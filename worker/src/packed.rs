//! Per-job timings packed as bytes: one LEB128 varint per job, so a reply
//! of 8192 tiny jobs crosses the codec as one byte string (a copy) instead
//! of 8192 serde calls, and either side walks it in a tight loop.

/// Appends `value` as a LEB128 varint (7 bits a byte, low bits first).
#[inline]
pub fn push(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads the varint at `*at` and moves past it; `None` if the bytes end
/// inside it or it does not fit in a u64.
#[inline(always)]
pub fn read(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        value |= bits << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// What a run of packed timings adds up to, found in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Varints in it: the jobs it answers.
    pub jobs: usize,
    /// Those with the low bit set (the job failed: it panicked, or its output could not be sent).
    pub failed: usize,
    /// Sum of the values shifted right by one (the jobs' wall time, ns).
    pub elapsed_ns: u64,
    /// Where the first `jobs` varints end.
    pub bytes: usize,
}

/// Totals over the first `limit` varints (all, if fewer); `None` if the
/// bytes are not a whole number of well-formed varints up to there.
pub fn totals(bytes: &[u8], limit: usize) -> Option<Totals> {
    let mut totals = Totals::default();
    let mut at = 0;
    while at < bytes.len() && totals.jobs < limit {
        let value = read(bytes, &mut at)?;
        totals.jobs += 1;
        totals.failed += (value & 1) as usize;
        totals.elapsed_ns = totals.elapsed_ns.saturating_add(value >> 1);
    }
    totals.bytes = at;
    Some(totals)
}

/// Jobs and failed jobs in a whole run of packed timings, counted
/// without decoding (a varint ends at each byte below 0x80, and its low bit
/// is in its first byte), so checking a reply costs a byte or two of work
/// per job; `None` if the bytes end inside a varint.
pub fn count(bytes: &[u8]) -> Option<(usize, usize)> {
    if bytes.last().is_some_and(|&last| last >= 0x80) {
        return None;
    }
    // Sums of 0/1 over two plain slices, which the compiler vectorises
    // (`windows(2)` with a filter it did not): a reply is checked in the
    // dispatcher and in the worker, 8192 jobs at a time.
    let jobs: usize = bytes.iter().map(|&b| usize::from(b < 0x80)).sum();
    let first = bytes.first().map_or(0, |&b| usize::from(b & 1));
    let rest = bytes.get(1..).unwrap_or_default();
    let later: usize =
        bytes.iter().zip(rest).map(|(&end, &next)| usize::from(end < 0x80) & usize::from(next & 1)).sum();
    Some((jobs, first + later))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_values_take_one_byte_and_the_largest_ten() {
        let mut out = Vec::new();
        push(&mut out, 127);
        assert_eq!(out, [127]);
        out.clear();
        push(&mut out, u64::MAX);
        assert_eq!(out.len(), 10);
        assert_eq!(read(&out, &mut 0), Some(u64::MAX));
    }

    #[test]
    fn truncated_or_overlong_varints_are_refused() {
        assert_eq!(read(&[0x80], &mut 0), None);
        assert_eq!(read(&[0xff; 10], &mut 0), None);
        assert_eq!(read(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], &mut 0), None);
        assert_eq!(totals(&[1, 0x80], usize::MAX), None);
        assert_eq!(count(&[1, 0x80]), None);
    }

    proptest! {
        #[test]
        fn values_round_trip_and_add_up(values in proptest::collection::vec(any::<u64>(), 0..100), cut in 0usize..120) {
            let mut bytes = Vec::new();
            values.iter().for_each(|&v| push(&mut bytes, v));
            let mut at = 0;
            let decoded: Vec<u64> = std::iter::from_fn(|| read(&bytes, &mut at)).collect();
            prop_assert_eq!(&decoded, &values);
            let head = &values[..cut.min(values.len())];
            let t = totals(&bytes, cut).unwrap();
            prop_assert_eq!(t.jobs, head.len());
            prop_assert_eq!(t.failed, head.iter().filter(|&&v| v & 1 == 1).count());
            prop_assert_eq!(t.elapsed_ns, head.iter().map(|&v| v >> 1).fold(0, u64::saturating_add));
            let all = totals(&bytes, usize::MAX).unwrap();
            prop_assert_eq!(count(&bytes), Some((all.jobs, all.failed)));
        }
    }
}
