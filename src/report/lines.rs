//! One line per number, exactly as the book prints it.

use procpool::PrimeResult;

use crate::completed::FailedJob;

/// `{n:>16}  {P or space} {seconds:9.6}s`, the format of Python's example.
pub fn result_line(result: &PrimeResult) -> String {
    let mark = if result.prime { 'P' } else { ' ' };
    let elapsed = result.elapsed.as_secs_f64();
    format!("{n:>16}  {mark} {elapsed:9.6}s", n = result.n)
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

    #[test]
    fn matches_the_book() {
        assert_eq!(result_line(&result(9999999999999999, false, 1)), "9999999999999999     0.000001s");
        assert_eq!(result_line(&result(9999999999999917, true, 459349)), "9999999999999917  P  0.459349s");
        assert_eq!(result_line(&result(2, true, 0)), "               2  P  0.000000s");
        assert_eq!(total_line(Duration::from_millis(2064)), "Total time: 2.06s");
    }
}
