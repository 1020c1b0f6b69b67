//! The numbers of the jobs handed to the pool and not yet reported, oldest
//! first: results come back in the same order, so a run of them is named
//! by the same run of numbers here, taken as one slice.

/// Numbers in submission order, from the oldest not yet taken.
#[derive(Debug, Default)]
pub struct InFlight {
    numbers: Vec<u64>,
    /// Where the numbers not yet taken start.
    start: usize,
}

/// Taken numbers kept at the front before they are dropped in one move
/// (of at most as many again), so a take costs no per-number bookkeeping.
const COMPACT_AFTER: usize = 1 << 16;

impl InFlight {
    pub fn push(&mut self, n: u64) {
        self.numbers.push(n);
    }

    pub fn extend(&mut self, numbers: impl IntoIterator<Item = u64>) {
        self.numbers.extend(numbers);
    }

    /// Numbers held and not yet taken.
    pub fn len(&self) -> usize {
        self.numbers.len() - self.start
    }

    /// Takes the oldest `count` (all, if fewer are held).
    pub fn take(&mut self, count: usize) -> &[u64] {
        if self.start >= COMPACT_AFTER && self.start * 2 >= self.numbers.len() {
            self.numbers.drain(..self.start);
            self.start = 0;
        }
        let from = self.start;
        self.start = from.saturating_add(count).min(self.numbers.len());
        &self.numbers[from..self.start]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_come_out_once_in_the_order_they_went_in() {
        let mut in_flight = InFlight::default();
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        // Enough to compact several times, in takes of uneven sizes that
        // keep up on average.
        for round in 0..400u64 {
            in_flight.extend(next_in..next_in + 1000);
            next_in += 1000;
            in_flight.push(next_in);
            next_in += 1;
            let taken = in_flight.take((round as usize * 37) % 2003).to_vec();
            let expected: Vec<u64> = (next_out..next_out + taken.len() as u64).collect();
            assert_eq!(taken, expected);
            next_out += taken.len() as u64;
            assert_eq!(in_flight.len() as u64, next_in - next_out);
        }
        let rest = in_flight.take(usize::MAX).to_vec();
        assert_eq!(rest, (next_out..next_in).collect::<Vec<_>>());
        assert!(in_flight.take(1).is_empty());
    }
}
