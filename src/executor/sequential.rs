//! The one-core baseline: every number checked on the calling thread.

use procpool::PrimeResult;
use procpool_worker::serve::FLUSH_AFTER;
use procpool_worker::timing::check_timed;
use procpool_worker::Kernel;

use super::{take_chunk, Batch, ExecError, Executor, RunFacts, Sink};
use crate::completed::Completed;
use crate::input::Numbers;
use procpool::scheduler::BatchSizer;

/// Checks numbers one after another on the calling thread.
pub struct Sequential {
    pub kernel: Kernel,
}

impl Executor for Sequential {
    fn workers(&self) -> usize {
        1
    }

    fn run(&mut self, numbers: &mut Numbers, sink: &mut Sink<'_>) -> Result<RunFacts, ExecError> {
        let pid = std::process::id();
        let mut sizer = BatchSizer::default();
        let mut index = 0u64;
        let mut batch = Vec::new();
        loop {
            // Chunked like the pool's batches so CPU time is read per chunk, not per job.
            let chunk = take_chunk(numbers, sizer.batch_size(usize::MAX), true);
            if chunk.is_empty() {
                return Ok(RunFacts::default());
            }
            check_timed(self.kernel, &chunk, FLUSH_AFTER, |segment| {
                let (offset, outcomes) = (segment.offset, segment.outcomes);
                let mut total = std::time::Duration::ZERO;
                let count = outcomes.len();
                batch.clear();
                for (i, outcome) in outcomes.enumerate() {
                    let result =
                        PrimeResult::new(index + (offset + i) as u64, chunk[offset + i], outcome, pid);
                    total += result.elapsed;
                    batch.push(Completed::Checked(result));
                }
                sink(&mut Batch::of(&batch), None)?;
                sizer.observe(count, total);
                Ok::<_, std::io::Error>(())
            })?;
            index += chunk.len() as u64;
        }
    }
}
