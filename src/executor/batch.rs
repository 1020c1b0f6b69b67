//! What an executor hands its sink: a run of consecutive finished jobs,
//! either as records or as one worker's reply still packed. A packed run
//! becomes records only when a consumer asks for them: a `--quiet` run
//! only counts its results, and with millions of tiny jobs building a
//! record per result was most of what the supervisor did.

use procpool::PrimeResult;
use procpool_worker::protocol::Outcomes;
use procpool_worker::timing::{Outcome, Timed};

use crate::completed::{Completed, FailedJob};

/// Consecutive finished jobs, in submission order.
pub struct Batch<'a> {
    form: Form<'a>,
}

enum Form<'a> {
    Records(&'a [Completed]),
    Packed(Packed<'a>),
}

/// One worker's reply as it came, with the numbers its jobs checked.
struct Packed<'a> {
    first: u64,
    pid: u32,
    names: &'a [u64],
    outcomes: Outcomes<bool>,
    /// Where the records go once asked for (reused from batch to batch).
    records: &'a mut Vec<Completed>,
    built: bool,
}

/// A batch as a consumer that only adds it up sees it (see [`Batch::view`]).
pub enum View<'b> {
    Records(&'b [Completed]),
    /// Jobs that all ran on the worker `pid`.
    Packed {
        pid: u32,
        outcomes: &'b Outcomes<bool>,
    },
}

impl<'a> Batch<'a> {
    /// Records already built.
    pub fn of(records: &'a [Completed]) -> Self {
        Batch { form: Form::Records(records) }
    }

    /// Jobs from index `first` on, run on worker `pid`, that checked `names`
    /// in order; `records` is emptied and filled only if they are asked for.
    pub fn packed(
        first: u64,
        pid: u32,
        names: &'a [u64],
        outcomes: Outcomes<bool>,
        records: &'a mut Vec<Completed>,
    ) -> Self {
        Batch { form: Form::Packed(Packed { first, pid, names, outcomes, records, built: false }) }
    }

    /// How many jobs it holds.
    pub fn len(&self) -> usize {
        match &self.form {
            Form::Records(records) => records.len(),
            Form::Packed(packed) if packed.built => packed.records.len(),
            Form::Packed(packed) => packed.outcomes.len(),
        }
    }

    /// Every job as a record, built now if it was not yet.
    pub fn completed(&mut self) -> &[Completed] {
        match &mut self.form {
            Form::Records(records) => records,
            Form::Packed(packed) => {
                if !packed.built {
                    packed.build();
                }
                packed.records
            }
        }
    }

    /// The batch without building records: what a tally needs.
    pub fn view(&self) -> View<'_> {
        match &self.form {
            Form::Records(records) => View::Records(records),
            Form::Packed(packed) if packed.built => View::Records(packed.records),
            Form::Packed(packed) => View::Packed { pid: packed.pid, outcomes: &packed.outcomes },
        }
    }
}

impl Packed<'_> {
    fn build(&mut self) {
        self.built = true;
        self.records.clear();
        let outcomes = std::mem::take(&mut self.outcomes);
        for (i, timed) in outcomes.enumerate() {
            let index = self.first + i as u64;
            // Named by the executor before they ran; 0 only if it lost count.
            let n = self.names.get(i).copied().unwrap_or_default();
            let Timed { output, started_ns, elapsed_ns, cpu_ns } = timed;
            self.records.push(match output {
                Ok(output) => {
                    let outcome = Outcome { output, started_ns, elapsed_ns, cpu_ns };
                    Completed::Checked(PrimeResult::new(index, n, outcome, self.pid))
                }
                // It panicked or its output could not be sent: no worker died.
                Err(_) => Completed::Failed(FailedJob { index, n, deaths: Vec::new() }),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::Tally;
    use procpool_worker::protocol::{Failed, JobOutcome, Reply};
    use procpool_worker::timing::Segment;

    /// A worker's reply for outcomes `(output, elapsed_ns)`, a `None` output a panic.
    fn reply(outcomes: &[(Option<bool>, u64)]) -> Reply<bool> {
        let mut start = 1_000_000;
        let mut timed: Vec<Timed<JobOutcome<bool>>> = outcomes
            .iter()
            .map(|&(output, elapsed_ns)| {
                let started_ns = start;
                start += elapsed_ns;
                let output = output.ok_or_else(|| Failed::Panicked("told to".into()));
                Timed { output, started_ns, elapsed_ns, cpu_ns: 0 }
            })
            .collect();
        Reply::pack(0, Segment { offset: 0, outcomes: timed.drain(..), cpu_share: 0.75 })
    }

    #[test]
    fn a_packed_batch_counts_as_its_records_do_and_builds_them_named_in_order() {
        let outcomes = [
            (Some(true), 1_500_000_000),
            (None, 7),
            (Some(false), 3),
            (Some(true), 2_000_000_001),
            (None, 0),
        ];
        let reply = reply(&outcomes);
        let jobs = reply.jobs().unwrap();
        let names = [11, 4, 9, 13, 8];
        let mut buffer = Vec::new();
        let mut batch = Batch::packed(40, 7, &names, reply.unpack(jobs), &mut buffer);
        assert_eq!(batch.len(), 5);
        let mut packed = Tally::default();
        packed.add_batch(&batch);

        let records = batch.completed().to_vec();
        assert_eq!(batch.len(), 5);
        let mut one_by_one = Tally::default();
        records.iter().for_each(|completed| one_by_one.add(completed));
        assert_eq!(packed, one_by_one);
        assert_eq!((packed.jobs, packed.primes, packed.failed), (3, 2, 2));
        // Built once, a batch counts from its records.
        let mut again = Tally::default();
        again.add_batch(&batch);
        assert_eq!(again, one_by_one);

        for (i, completed) in records.iter().enumerate() {
            let (index, n) = match completed {
                Completed::Checked(result) => {
                    assert_eq!(Some(result.prime), outcomes[i].0);
                    assert_eq!(result.elapsed.as_nanos(), u128::from(outcomes[i].1));
                    assert_eq!(result.pid, 7);
                    (result.index, result.n)
                }
                Completed::Failed(failed) => {
                    assert_eq!(outcomes[i].0, None);
                    assert!(failed.deaths.is_empty());
                    (failed.index, failed.n)
                }
            };
            assert_eq!((index, n), (40 + i as u64, names[i]));
        }
    }

    #[test]
    fn a_batch_of_only_failures_adds_no_worker() {
        let reply = reply(&[(None, 5)]);
        let jobs = reply.jobs().unwrap();
        let mut buffer = Vec::new();
        let batch = Batch::packed(0, 7, &[3], reply.unpack(jobs), &mut buffer);
        let mut tally = Tally::default();
        tally.add_batch(&batch);
        assert_eq!((tally.jobs, tally.failed), (0, 1));
        assert!(tally.pids.is_empty());
    }
}
