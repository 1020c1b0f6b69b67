//! One line per number, exactly as the book prints it.

use procpool::PrimeResult;

use crate::completed::FailedJob;

/// `{n:>16}  {P or space} {seconds:9.6}s`, the format of Python's example.
#[cfg(test)]
pub fn result_line(result: &PrimeResult) -> String {
    let mut line = Vec::with_capacity(40);
    write_result_line(result, &mut line);
    String::from_utf8(line).unwrap_or_default()
}

/// A result's line, `{n:>16}  {P or space} {seconds:9.6}s`, appended to `out`, with integer arithmetic instead of
/// `format!`: a million lines are a million calls, and float formatting was
/// most of their cost. The same text as `format!`, which a test checks.
pub fn write_result_line(result: &PrimeResult, out: &mut Vec<u8>) {
    let mut digits = [b' '; 20];
    let n = decimal(result.n, &mut digits);
    if n.len() < 16 {
        out.extend_from_slice(&[b' '; 16][n.len()..]);
    }
    out.extend_from_slice(n);
    out.extend_from_slice(if result.prime { b"  P " } else { b"    " });
    let nanos = result.elapsed.as_nanos();
    if nanos % 1000 == 500 || nanos >= 100_000_000_000_000 {
        // A tie at the sixth decimal, or beyond 27 hours (where an f64 of
        // seconds holds no exact microseconds): the float formatter's way.
        let elapsed = result.elapsed.as_secs_f64();
        out.extend_from_slice(format!("{elapsed:9.6}s").as_bytes());
        return;
    }
    let micros = (nanos + 500) / 1000;
    let (seconds, fraction) = ((micros / 1_000_000) as u64, (micros % 1_000_000) as u64);
    let mut whole = [b' '; 20];
    let whole = decimal(seconds, &mut whole);
    if whole.len() < 2 {
        out.push(b' ');
    }
    out.extend_from_slice(whole);
    out.push(b'.');
    let mut six = [b'0'; 20];
    let six_digits = decimal(fraction, &mut six);
    out.extend_from_slice(&b"000000"[six_digits.len()..]);
    out.extend_from_slice(six_digits);
    out.push(b's');
}

/// `value` in decimal, written at the end of `buffer`; the digits' slice.
fn decimal(mut value: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &buffer[at..];
        }
    }
}

/// A number that could not be checked, in the same columns.
pub fn failure_line(failed: &FailedJob) -> String {
    let last = failed.deaths.last().map(ToString::to_string).unwrap_or_default();
    format!(
        "{n:>16}  ! FAILED after {count} worker death(s), last: {last}",
        n = failed.n,
        count = failed.deaths.len()
    )
}

/// `Total time: 2.06s`
pub fn total_line(wall: std::time::Duration) -> String {
    format!("Total time: {:.2}s", wall.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn result(n: u64, prime: bool, micros: u64) -> PrimeResult {
        PrimeResult {
            index: 0,
            n,
            prime,
            started_at: Duration::ZERO,
            elapsed: Duration::from_micros(micros),
            cpu: Duration::ZERO,
            pid: 1,
        }
    }

    proptest::proptest! {
        #[test]
        fn the_fast_line_is_the_formatted_one(n: u64, prime: bool, nanos in 0u64..100_000_000_000_000, tie: bool) {
            let nanos = if tie { nanos / 1000 * 1000 + 500 } else { nanos };
            let result = PrimeResult { elapsed: Duration::from_nanos(nanos), ..result(n, prime, 0) };
            let mark = if prime { 'P' } else { ' ' };
            let elapsed = result.elapsed.as_secs_f64();
            let expected = format!("{n:>16}  {mark} {elapsed:9.6}s");
            proptest::prop_assert_eq!(result_line(&result), expected);
        }
    }

    #[test]
    fn matches_the_book() {
        assert_eq!(result_line(&result(9999999999999999, false, 1)), "9999999999999999     0.000001s");
        assert_eq!(result_line(&result(9999999999999917, true, 459349)), "9999999999999917  P  0.459349s");
        assert_eq!(result_line(&result(2, true, 0)), "               2  P  0.000000s");
        assert_eq!(total_line(Duration::from_millis(2064)), "Total time: 2.06s");
    }
}
